#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace processpype {

/// Why the HTTP listener could not bind `host`:`port`, found by binding a
/// socket there as it does and closing it again: "Address already in use",
/// "not an address of this machine", ...; nullopt when the bind succeeds.
/// Port 0 binds any free port, which checks the host alone.
std::optional<std::string> listen_problem(const std::string& host, std::uint16_t port);

}  // namespace processpype
