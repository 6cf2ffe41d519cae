#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "processpype/runtime/path_pattern.hpp"

namespace processpype {

/// A route as documents and metrics see it: method, pattern, summary.
struct RouteInfo {
  std::string method;
  std::string pattern;  ///< the template, e.g. `/services/{name}/start`
  std::string summary;
};

/// The one router of the runtime, used by the REST API and by every
/// service's custom routes: routes are tried in the order they were added;
/// the first whose pattern and method match wins. A path that some route's
/// pattern matches, but not for this method, is 405 with the methods that
/// would match in `allow`; a path no pattern matches is 404.
template <class Handler>
class RouteTable {
 public:
  struct Route {
    RouteInfo info;
    PathPattern pattern;
    Handler handler;
  };

  /// What resolve found. `route` is set when a route matched.
  struct Match {
    const Route* route = nullptr;
    PathParameters parameters;
    std::string allow;  ///< for 405: "GET, POST"; empty for 404

    bool found() const noexcept { return route != nullptr; }
    bool method_not_allowed() const noexcept { return route == nullptr && !allow.empty(); }
  };

  RouteTable& add(std::string method, std::string_view pattern, Handler handler,
                  std::string summary = {}) {
    PathPattern compiled{pattern};
    RouteInfo info{std::move(method), compiled.text(), std::move(summary)};
    routes_.push_back({std::move(info), std::move(compiled), std::move(handler)});
    return *this;
  }

  Match resolve(std::string_view method, const std::vector<std::string>& segments) const {
    Match match;
    for (const auto& route : routes_) {
      if (!route.pattern.match(segments)) continue;
      if (route.info.method == method) {
        route.pattern.match(segments, &match.parameters);
        match.route = &route;
        match.allow.clear();
        return match;
      }
      if (match.allow.find(route.info.method) == std::string::npos)
        match.allow += match.allow.empty() ? route.info.method : ", " + route.info.method;
    }
    return match;
  }

  const std::vector<Route>& routes() const noexcept { return routes_; }
  bool empty() const noexcept { return routes_.empty(); }

 private:
  std::vector<Route> routes_;
};

}  // namespace processpype
