#include "processpype/runtime/routes.hpp"

#include <algorithm>
#include <cctype>

#include "processpype/runtime/errors.hpp"

namespace processpype {

namespace {

RouteResponse refusal(int status, std::string_view detail, std::string route = {}) {
  return {status, {{"detail", detail}}, {}, std::move(route)};
}

}  // namespace

bool same_header_name(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string_view> RouteRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (same_header_name(key, name)) return value;
  return std::nullopt;
}

RouteResponse ServiceRoutes::dispatch(RouteRequest& request) const {
  auto match = table_.resolve(request.method, split_path(request.path));
  if (match.method_not_allowed()) {
    auto response = refusal(405, "Method " + request.method + " not allowed on " + request.path);
    response.allow = std::move(match.allow);
    return response;
  }
  if (!match.found()) return refusal(404, "Route not found: " + request.path);
  request.path_parameters = std::move(match.parameters);
  const auto& pattern = match.route->info.pattern;
  try {
    auto response = match.route->handler(request);
    response.route = pattern;
    return response;
  } catch (const Error& error) {
    return refusal(http_status(error.code()), error.detail(), pattern);
  } catch (const std::exception& error) {
    return refusal(500, std::string{"Route handler failed: "} + error.what(), pattern);
  } catch (...) {
    return refusal(500, "Route handler failed with an unknown exception", pattern);
  }
}

}  // namespace processpype
