#include "processpype/runtime/routes.hpp"

#include "processpype/runtime/errors.hpp"

namespace processpype {

RouteResponse RouteResponse::error(int status, std::string_view detail) {
  return {status, {{"detail", detail}}, {}};
}

ServiceRoutes& ServiceRoutes::add(std::string method, std::string_view pattern,
                                  RouteHandler handler) {
  routes_.push_back({std::move(method), PathPattern{pattern}, std::move(handler)});
  return *this;
}

RouteResponse ServiceRoutes::dispatch(RouteRequest& request) const {
  auto path = split_path(request.path);
  const Route* route = nullptr;
  std::string allow;
  for (const auto& candidate : routes_) {
    if (!candidate.pattern.match(path)) continue;
    if (candidate.method == request.method) {
      route = &candidate;
      break;
    }
    allow += allow.empty() ? candidate.method : ", " + candidate.method;
  }
  if (route == nullptr) {
    if (allow.empty()) return RouteResponse::error(404, "Route not found: " + request.path);
    auto response =
        RouteResponse::error(405, "Method " + request.method + " not allowed on " + request.path);
    response.allow = std::move(allow);
    return response;
  }
  route->pattern.match(path, &request.path_parameters);
  try {
    return route->handler(request);
  } catch (const Error& error) {
    return RouteResponse::error(http_status(error.code()), error.detail());
  } catch (const std::exception& error) {
    return RouteResponse::error(500, std::string{"Route handler failed: "} + error.what());
  } catch (...) {
    return RouteResponse::error(500, "Route handler failed with an unknown exception");
  }
}

}  // namespace processpype
