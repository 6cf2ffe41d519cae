#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/actors/protocol.hpp"
#include "processpype/runtime/route_table.hpp"

namespace processpype::rest {

/// The OpenAPI 3.1 document of one node (docs/operations.md): every core
/// route of `core_routes` with its parameters, bodies and responses, and
/// for each registered class its configuration's JSON Schema (under
/// components.schemas) and its custom routes. `x-processpype-classes` maps
/// each class key to its schema and routes, for the dashboard's forms.
nlohmann::json openapi_document(const ApplicationInfo& application, const std::string& api_prefix,
                                const std::vector<RouteInfo>& core_routes);

}  // namespace processpype::rest
