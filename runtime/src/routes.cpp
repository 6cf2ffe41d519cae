#include "processpype/runtime/routes.hpp"

#include "processpype/runtime/errors.hpp"

namespace processpype {

namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  while (!path.empty()) {
    auto slash = path.find('/');
    auto segment = path.substr(0, slash);
    if (!segment.empty()) segments.emplace_back(segment);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

bool is_placeholder(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& path) {
  if (pattern.size() != path.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i)
    if (!is_placeholder(pattern[i]) && pattern[i] != path[i]) return false;
  return true;
}

}  // namespace

RouteResponse RouteResponse::error(int status, std::string_view detail) {
  return {status, {{"detail", detail}}, {}};
}

ServiceRoutes& ServiceRoutes::add(std::string method, std::string_view pattern,
                                  RouteHandler handler) {
  routes_.push_back({std::move(method), split_path(pattern), std::move(handler)});
  return *this;
}

RouteResponse ServiceRoutes::dispatch(RouteRequest& request) const {
  auto path = split_path(request.path);
  const Route* route = nullptr;
  std::string allow;
  for (const auto& candidate : routes_) {
    if (!matches(candidate.segments, path)) continue;
    if (candidate.method == request.method) {
      route = &candidate;
      break;
    }
    allow += allow.empty() ? candidate.method : ", " + candidate.method;
  }
  if (route == nullptr) {
    if (allow.empty()) return RouteResponse::error(404, "Route not found: " + request.path);
    auto response = RouteResponse::error(405, "Method " + request.method + " not allowed on " + request.path);
    response.allow = std::move(allow);
    return response;
  }
  for (std::size_t i = 0; i < path.size(); ++i)
    if (is_placeholder(route->segments[i]))
      request.path_parameters[route->segments[i].substr(1, route->segments[i].size() - 2)] = path[i];
  try {
    return route->handler(request);
  } catch (const Error& error) {
    return RouteResponse::error(http_status(error.code()), error.what());
  } catch (const std::exception& error) {
    return RouteResponse::error(500, std::string{"Route handler failed: "} + error.what());
  }
}

}  // namespace processpype
