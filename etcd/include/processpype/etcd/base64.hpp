#pragma once

// Base64 (RFC 4648, standard alphabet, padded): how etcd's JSON gateway
// carries keys and values, which are bytes.

#include <optional>
#include <string>
#include <string_view>

namespace processpype::etcd {

std::string base64_encode(std::string_view bytes);

/// The bytes of `text`; nullopt when it is not padded standard base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace processpype::etcd
