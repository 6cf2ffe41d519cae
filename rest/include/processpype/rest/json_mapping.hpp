#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/actors/protocol.hpp"

namespace processpype::rest {

/// Serializes a reply body. Strings that are not valid UTF-8 (a name taken
/// from a percent-encoded path, say) are written with U+FFFD, never thrown.
std::string dump(const nlohmann::json& body);

/// `{"detail": detail}`, the body of every refused request.
nlohmann::json error_body(std::string_view detail);

/// GET /services: `{"services": [{"name","state","is_configured","error"}]}`.
nlohmann::json service_list(const std::vector<NamedStatus>& services);

/// GET /: `{"version","state","services": {name: status}}`.
nlohmann::json application_status(std::string_view version, ServiceState state,
                                  const std::vector<NamedStatus>& services);

/// `{"status": status, "service": name}`, the reply of every command.
nlohmann::json command_reply(std::string_view status, std::string_view service);

/// POST /services/register body → request. Throws Error(bad_request).
RegisterRequest parse_register_request(const nlohmann::json& body);

/// The optional `"node"` of a register body. Throws Error(bad_request).
std::optional<std::string> register_node(const nlohmann::json& body);

/// GET /nodes: `{"nodes": [{"id","address","state","services"}]}`.
nlohmann::json node_list(const std::vector<NodeStatus>& nodes);

/// Parses a request body: empty means `{}`; malformed JSON throws
/// Error(bad_request) saying where.
nlohmann::json parse_body(std::string_view body);

}  // namespace processpype::rest
