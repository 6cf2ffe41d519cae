#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/actors/protocol.hpp"
#include "route.hpp"

namespace processpype::rest {

/// The OpenAPI 3.1 document of one node (docs/operations.md): every core
/// route of `core_routes` as its description documents it, and
/// for each registered class its configuration's JSON Schema (under
/// components.schemas) and its custom routes. `x-processpype-classes` maps
/// each class key to its schema and routes, for the dashboard's forms.
nlohmann::json openapi_document(const ApplicationInfo& application, const std::string& api_prefix,
                                const std::vector<Route>& core_routes);

}  // namespace processpype::rest
