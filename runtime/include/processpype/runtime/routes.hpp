#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/runtime/path_pattern.hpp"

namespace processpype {

/// A request to a custom service route, already parsed: the JSON body
/// (`{}` when empty), the `{placeholders}` of the route's pattern and the
/// query parameters.
struct RouteRequest {
  std::string method;
  std::string path;
  nlohmann::json body = nlohmann::json::object();
  std::unordered_map<std::string, std::string> path_parameters;
  std::unordered_map<std::string, std::string> query_parameters;

  /// The value of `{name}` in the matched pattern.
  const std::string& parameter(const std::string& name) const { return path_parameters.at(name); }
};

/// What a route answers: an HTTP status and a JSON body. For 405 `allow`
/// lists the methods the path accepts.
struct RouteResponse {
  int status = 200;
  nlohmann::json body = nlohmann::json::object();
  std::string allow;

  static RouteResponse ok(nlohmann::json body) { return {200, std::move(body), {}}; }
  /// `{"detail": detail}` with `status`.
  static RouteResponse error(int status, std::string_view detail);
};

/// A route handler runs inside the service's actor, never concurrently with
/// the service's lifecycle or its other routes: service code needs no locks.
/// It may throw processpype::Error; the code picks the HTTP status.
using RouteHandler = std::function<RouteResponse(const RouteRequest&)>;

/// The custom routes of one service, relative to `/services/{name}`.
/// Patterns are PathPatterns: `{key}` matches any one segment.
class ServiceRoutes {
 public:
  ServiceRoutes& add(std::string method, std::string_view pattern, RouteHandler handler);
  ServiceRoutes& get(std::string_view pattern, RouteHandler h) {
    return add("GET", pattern, std::move(h));
  }
  ServiceRoutes& post(std::string_view pattern, RouteHandler h) {
    return add("POST", pattern, std::move(h));
  }
  ServiceRoutes& put(std::string_view pattern, RouteHandler h) {
    return add("PUT", pattern, std::move(h));
  }
  ServiceRoutes& del(std::string_view pattern, RouteHandler h) {
    return add("DELETE", pattern, std::move(h));
  }

  /// Finds the route for `request.method` and `request.path`, fills the path
  /// parameters and runs it. 404 when no pattern matches the path, 405 (with
  /// `allow`) when one does for other methods, 500 when the handler throws
  /// something other than processpype::Error.
  RouteResponse dispatch(RouteRequest& request) const;

  bool empty() const noexcept { return routes_.empty(); }

 private:
  struct Route {
    std::string method;
    PathPattern pattern;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace processpype
