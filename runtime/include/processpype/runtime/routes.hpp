#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/runtime/route_table.hpp"

namespace processpype {

/// Whether two header names are the same: ASCII case is ignored.
bool same_header_name(std::string_view a, std::string_view b) noexcept;

/// A request to a custom service route, already parsed: the JSON body
/// (`{}` when empty), the `{placeholders}` of the route's pattern, the
/// query parameters and the request's headers.
struct RouteRequest {
  std::string method;
  std::string path;  ///< relative to `/services/{name}`, e.g. `/items/a`
  nlohmann::json body = nlohmann::json::object();
  PathParameters path_parameters;
  std::unordered_map<std::string, std::string> query_parameters;
  /// The request's headers as received, also when another node carried the
  /// request here, but never `Authorization` (the node's own bearer token,
  /// checked before any route runs; docs/rest-api.md).
  std::vector<std::pair<std::string, std::string>> headers;

  /// The value of `{name}` in the matched pattern.
  const std::string& parameter(std::string_view name) const { return path_parameters.at(name); }
  /// The first value of header `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

/// What a route answers: an HTTP status and a JSON body. `allow` lists the
/// methods of a 405; `route` is the matched pattern (for metrics).
struct RouteResponse {
  int status = 200;
  nlohmann::json body = nlohmann::json::object();
  std::string allow;
  std::string route;

  static RouteResponse ok(nlohmann::json body) { return {200, std::move(body), {}, {}}; }
};

/// A route handler runs inside the service's actor, never concurrently with
/// the service's lifecycle or its other routes: service code needs no
/// locks. It refuses a request by throwing processpype::Error, whose code
/// picks the HTTP status.
using RouteHandler = std::function<RouteResponse(const RouteRequest&)>;

/// The custom routes of one service, relative to `/services/{name}`.
class ServiceRoutes {
 public:
  ServiceRoutes& add(std::string method, std::string_view pattern, RouteHandler handler,
                     std::string summary = {}) {
    table_.add(std::move(method), pattern, std::move(handler), std::move(summary));
    return *this;
  }
  ServiceRoutes& get(std::string_view pattern, RouteHandler h, std::string summary = {}) {
    return add("GET", pattern, std::move(h), std::move(summary));
  }
  ServiceRoutes& post(std::string_view pattern, RouteHandler h, std::string summary = {}) {
    return add("POST", pattern, std::move(h), std::move(summary));
  }
  ServiceRoutes& put(std::string_view pattern, RouteHandler h, std::string summary = {}) {
    return add("PUT", pattern, std::move(h), std::move(summary));
  }
  ServiceRoutes& del(std::string_view pattern, RouteHandler h, std::string summary = {}) {
    return add("DELETE", pattern, std::move(h), std::move(summary));
  }

  /// Finds the route for `request.method` and `request.path`, fills the path
  /// parameters and runs it. 404 when no pattern matches the path, 405 (with
  /// `allow`) when one does for other methods; an exception becomes its
  /// error code's status (500 for anything but processpype::Error).
  RouteResponse dispatch(RouteRequest& request) const;

  const RouteTable<RouteHandler>& table() const noexcept { return table_; }

 private:
  RouteTable<RouteHandler> table_;
};

}  // namespace processpype
