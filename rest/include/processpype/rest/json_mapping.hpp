#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/actors/instance_table.hpp"
#include "processpype/actors/protocol.hpp"

namespace processpype::rest {

/// Serializes a reply body. Strings that are not valid UTF-8 (a name taken
/// from a percent-encoded path, say) are written with U+FFFD, never thrown.
std::string dump(const nlohmann::json& body);

/// `{"detail": detail}`, the body of every refused request.
std::string error_body(std::string_view detail);

/// `{"status": status, "service": name}`, the reply of every command.
nlohmann::json command_reply(std::string_view status, std::string_view service);
/// The same as text, `dump(command_reply(status, service))`, without the
/// tree a command's reply would otherwise build and walk.
std::string command_reply_text(std::string_view status, std::string_view service);

/// The query of GET /services (docs/rest-api.md): filters, a page, and
/// whether the node's counts come with it.
struct ListQuery {
  std::optional<ServiceState> state;
  std::optional<std::string> type;  ///< a class key
  /// Part of the name, in lower case (names match whatever their case).
  std::optional<std::string> search;
  std::optional<std::size_t> limit;
  std::optional<std::string> after;
  bool counts = false;
};

/// Parses `state`, `type`, `search`, `limit` (1-10000), `after` and `counts`
/// (true or false); other parameters are ignored. Throws Error(bad_request)
/// naming the parameter.
ListQuery parse_list_query(std::string_view query);

/// GET /services: `{"services": [{"name","state","is_configured","error"}]}`
/// in registration order, filtered and paged by `query` (with `limit`, also
/// `"next"`; with `counts`, also `"counts"`). Throws Error(bad_request) when
/// `after` names neither an instance nor one removed lately
/// (InstanceTable::order_of).
std::string service_list(const InstanceTable& table, const InstanceListing& listing,
                         const ListQuery& query);

/// `{"total": n, "<state>": n, ...}` for every state: the node's counters,
/// read without walking its instances.
nlohmann::json instance_counts(const InstanceTable& table);

/// GET /: `{"version","state","services": {name: status}}`, `now` giving
/// each pending restart's next_restart_in_seconds.
std::string application_status(
    std::string_view version, ServiceState state, const InstanceListing& listing,
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

/// POST /services/register body → request. Throws Error(bad_request).
RegisterRequest parse_register_request(const nlohmann::json& body);

/// The optional `"node"` of a register body. Throws Error(bad_request).
std::optional<std::string> register_node(const nlohmann::json& body);

/// GET /nodes: `{"nodes": [{"id","address","state","services","version","title",
/// "cordoned"}]}`; `cordoned`: the ids of the nodes drained and not uncordoned.
nlohmann::json node_list(const std::vector<NodeStatus>& nodes,
                         const std::set<std::string>& cordoned);

/// Query parameters: `a=1&b=%20` → {a: "1", b: " "}; a pair without a name
/// is skipped. Throws Error(bad_request) naming the parameter when an escape
/// of its name or value is broken.
std::unordered_map<std::string, std::string> parse_query(std::string_view query);

/// Percent-decodes `text` ('+' as space when `plus_is_space`); nullopt when
/// an escape is broken.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space = false);

}  // namespace processpype::rest
