#include "openapi.hpp"

#include <map>

#include "processpype/runtime/service_registry.hpp"

namespace processpype::rest {

namespace {

using nlohmann::json;

json reference(const std::string& schema) {
  return schema_ref(schema);
}

json json_content(json schema) {
  return {{"application/json", {{"schema", std::move(schema)}}}};
}

json response(const std::string& description, json schema) {
  return {{"description", description}, {"content", json_content(std::move(schema))}};
}

json error_response(const std::string& description) {
  return response(description, reference("Error"));
}

/// `counts` of GET /services?counts=true: every instance, and per state.
json instance_counts_schema() {
  json count = {{"type", "integer"}, {"minimum", 0}};
  json counts = {{"type", "object"},
                 {"description", "The node's instances: every one (total), and per state"}};
  for (const char* key : {"total", "initialized", "configured", "starting", "running", "stopping",
                          "stopped", "error"}) {
    counts["properties"][key] = count;
    counts["required"].push_back(key);
  }
  return counts;
}

/// The shared schemas of the core API.
json core_schemas() {
  json nullable_string = {{"type", {"string", "null"}}};
  json health_report = {{"type", "object"},
                        {"properties",
                         {{"ok", {{"type", "boolean"}}},
                          {"detail", {{"type", "string"}}},
                          {"checked_at", {{"type", "string"}, {"format", "date-time"}}}}}};
  json status = {{"type", "object"}, {"required", {"state", "error", "metadata", "is_configured"}}};
  status["properties"] = {
      {"state", reference("ServiceState")},
      {"error", nullable_string},
      {"metadata", {{"type", "object"}, {"description", "The full configuration"}}},
      {"is_configured", {{"type", "boolean"}}},
      {"restarts", {{"type", "integer"}, {"minimum", 0}}},
      {"next_restart_in_seconds", {{"type", {"number", "null"}}}},
      {"health", {{"oneOf", {json{{"type", "null"}}, health_report}}}},
      {"origin", {{"type", "string"}, {"enum", {"file", "request", "cluster"}}}},
      {"overrides", {{"type", "array"}, {"items", {{"type", "string"}}}}},
      {"placement", {{"type", "string"}, {"enum", {"node", "cluster"}}}},
      {"nodes",
       {{"type", "array"},
        {"items", {{"type", "string"}}},
        {"description", "A cluster instance's eligible nodes (empty: all)"}}},
      {"owner", {{"type", "string"}, {"description", "The node that owns a cluster instance"}}},
  };
  return {
      {"Error",
       {{"type", "object"},
        {"properties", {{"detail", {{"type", "string"}}}}},
        {"required", {"detail"}}}},
      {"ServiceState",
       {{"type", "string"},
        {"enum",
         {"initialized", "configured", "starting", "running", "stopping", "stopped", "error"}}}},
      {"ServiceStatus", status},
      {"CommandReply",
       {{"type", "object"},
        {"properties", {{"status", {{"type", "string"}}}, {"service", {{"type", "string"}}}}},
        {"required", {"status", "service"}}}},
      {"Registration",
       {{"type", "object"},
        {"properties",
         {{"status", {{"const", "registered"}}},
          {"service", {{"type", "string"}, {"description", "The instance's name"}}},
          {"type", {{"type", "string"}, {"description", "The C++ class name"}}}}},
        {"required", {"status", "service", "type"}}}},
      {"NodeList",
       {{"type", "object"},
        {"properties",
         {{"nodes",
           {{"type", "array"},
            {"items",
             {{"type", "object"},
              {"properties",
               {{"id", {{"type", "string"}}},
                {"address", {{"type", "string"}}},
                {"state", {{"type", "string"}, {"enum", {"up", "down"}}}},
                {"services", {{"type", "integer"}, {"minimum", 0}}},
                {"version", {{"type", "string"}}},
                {"title", {{"type", "string"}}},
                {"cordoned",
                 {{"type", "boolean"},
                  {"description",
                   "Drained and not uncordoned: no cluster instance is placed on it"}}}}}}}}},
          {"cluster_view",
           {{"type", "string"},
            {"enum", {"loaded", "not_loaded"}},
            {"description",
             "With cluster.store: not_loaded until this node has read the cluster's view "
             "from the store, and the list lacks the nodes found through it"}}}}}}},
      {"RegisterRequest",
       {{"type", "object"},
        {"properties",
         {{"service_name", {{"type", "string"}, {"description", "A class key"}}},
          {"instance_name", {{"type", {"string", "null"}}, {"pattern", "^[A-Za-z0-9_.-]{1,64}$"}}},
          {"node", {{"type", "string"}, {"description", "Create it on that node"}}},
          {"placement",
           {{"type", "string"},
            {"enum", {"node", "cluster"}},
            {"default", "node"},
            {"description", "cluster: one node of the cluster runs it at a time"}}},
          {"nodes",
           {{"type", "array"},
            {"items", {{"type", "string"}}},
            {"description", "A cluster instance's eligible nodes (default: all)"}}}}},
        {"required", {"service_name"}}}},
      {"ServiceList",
       {{"type", "object"},
        {"properties",
         {{"services",
           {{"type", "array"},
            {"items",
             {{"type", "object"},
              {"properties",
               {{"name", {{"type", "string"}}},
                {"state", reference("ServiceState")},
                {"is_configured", {{"type", "boolean"}}},
                {"error", nullable_string}}}}}}},
          {"next", nullable_string},
          {"counts", instance_counts_schema()}}}}},
      {"Event",
       {{"type", "object"},
        {"properties",
         {{"seq", {{"type", "integer"}}},
          {"boot", {{"type", "string"}}},
          {"time", {{"type", "string"}, {"format", "date-time"}}},
          {"node", {{"type", "string"}}},
          {"service", {{"type", "string"}}},
          {"state", {{"type", "string"}}},
          {"error", nullable_string},
          {"cause", {{"type", "string"}}},
          {"request_id", nullable_string},
          {"from_node", nullable_string}}}}},
      {"ClusterServices",
       {{"type", "object"},
        {"properties",
         {{"services",
           {{"type", "array"},
            {"items",
             {{"type", "object"},
              {"properties",
               {{"name", {{"type", "string"}}},
                {"type", {{"type", "string"}, {"description", "The class key"}}},
                {"nodes", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                {"owner", nullable_string},
                {"state", {{"oneOf", {json{{"type", "null"}}, reference("ServiceState")}}}},
                {"desired", {{"type", "string"}, {"enum", {"running", "stopped"}}}},
                {"declined",
                 {{"type", "array"},
                  {"items", {{"type", "string"}}},
                  {"description",
                   "Nodes that cannot run it: a node instance of theirs has its "
                   "name"}}}}}}}}}}}}},
  };
}

json name_parameter() {
  return {{"name", "name"},
          {"in", "path"},
          {"required", true},
          {"description", "An instance name"},
          {"schema", {{"type", "string"}}}};
}

std::string lowercase(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

/// `/services/{name}/items/{key}` → the parameters of its placeholders.
json path_parameters(const std::string& pattern) {
  auto parameters = json::array();
  for (std::size_t open = pattern.find('{'); open != std::string::npos;
       open = pattern.find('{', open + 1)) {
    auto close = pattern.find('}', open);
    if (close == std::string::npos) break;
    auto name = pattern.substr(open + 1, close - open - 1);
    if (name.ends_with("...")) name.resize(name.size() - 3);
    if (name == "name") {
      parameters.push_back(name_parameter());
      continue;
    }
    parameters.push_back(
        {{"name", name}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
  }
  return parameters;
}

/// A core route's operation: its documentation, and the parameters of its
/// pattern's placeholders.
json core_operation(const Route& route, const json& configuration_schemas) {
  const auto& doc = route.doc;
  json operation = {{"summary", doc.summary}, {"responses", json::object()}};
  auto parameters = path_parameters("/" + route.pattern);
  for (const auto& parameter : doc.query_parameters) parameters.push_back(parameter);
  if (!parameters.empty()) operation["parameters"] = std::move(parameters);
  if (const auto& request = doc.request) {
    auto schema = request->configuration ? json{{"anyOf", configuration_schemas}} : request->schema;
    operation["requestBody"] = {{"required", request->required},
                                {"content", json_content(std::move(schema))}};
    if (!request->description.empty())
      operation["requestBody"]["description"] = request->description;
  }
  for (const auto& response : doc.responses) {
    auto content = json::object();
    for (const auto& [media_type, schema] : response.content)
      content[media_type] = {{"schema", schema}};
    operation["responses"][std::to_string(response.status)] = {
        {"description", response.description}, {"content", std::move(content)}};
  }
  return operation;
}

/// OpenAPI path templates have no `{rest...}`: write it as `{rest}`.
std::string openapi_path(std::string pattern) {
  if (auto dots = pattern.find("...}"); dots != std::string::npos) pattern.erase(dots, 3);
  return pattern;
}

}  // namespace

json schema_ref(const std::string& name) {
  return {{"$ref", "#/components/schemas/" + name}};
}

ResponseDoc json_reply(int status, std::string description, json schema) {
  return {status, std::move(description), {{"application/json", std::move(schema)}}};
}

ResponseDoc error_reply(int status, std::string description) {
  return json_reply(status, std::move(description), schema_ref("Error"));
}

json query_parameter(const std::string& name, json schema, const std::string& description) {
  return {{"name", name},
          {"in", "query"},
          {"required", false},
          {"description", description},
          {"schema", std::move(schema)}};
}

json openapi_document(const ApplicationInfo& application, const std::string& api_prefix,
                      const std::vector<Route>& core_routes) {
  auto schemas = core_schemas();
  auto classes = json::object();
  auto configuration_schemas = json::array();
  std::map<std::string, json> custom_paths;  // path → method → operation
  for (const auto& service_class : ServiceClassRegistry::global().classes()) {
    auto description = describe(*service_class);
    auto schema_name = service_class->type_name + "Configuration";
    auto schema = description.configuration_schema;
    schema["title"] = service_class->key + " configuration";
    schemas[schema_name] = schema;
    configuration_schemas.push_back(reference(schema_name));
    auto routes = json::array();
    for (const auto& route : description.routes) {
      routes.push_back(
          {{"method", route.method}, {"path", route.pattern}, {"summary", route.summary}});
      auto mount = "/" + std::string{custom_routes_mount};
      auto path = mount + openapi_path(route.pattern);
      auto method = lowercase(route.method);
      auto& operation = custom_paths[path][method];
      if (operation.is_null()) {
        operation = {{"summary", service_class->key + ": " + route.summary},
                     {"parameters", path_parameters(mount + route.pattern)},
                     {"responses",
                      {{"200", response("Defined by the service", {{"type", "object"}})},
                       {"404", error_response("No such instance or route")}}}};
        if (route.method != "GET" && route.method != "DELETE")
          operation["requestBody"] = {{"required", false},
                                      {"content", json_content({{"type", "object"}})}};
      } else {
        operation["summary"] = operation["summary"].get<std::string>() + "; " + service_class->key +
                               ": " + route.summary;
      }
    }
    classes[service_class->key] = {{"type", service_class->type_name},
                                   {"requires_configuration", description.requires_configuration},
                                   {"configuration", reference(schema_name)},
                                   {"routes", std::move(routes)}};
  }
  if (configuration_schemas.empty()) configuration_schemas.push_back({{"type", "object"}});

  auto paths = json::object();
  for (const auto& route : core_routes) {
    auto path = openapi_path("/" + route.pattern);
    paths[path][lowercase(route.method)] = core_operation(route, configuration_schemas);
  }
  for (auto& [path, operations] : custom_paths)
    for (auto& [method, operation] : operations.items())
      if (!paths.contains(path) || !paths[path].contains(method)) paths[path][method] = operation;

  json document = {
      {"openapi", "3.1.0"},
      {"info",
       {{"title", application.title},
        {"version", application.version.empty() ? "0" : application.version},
        {"description",
         "Every path is also served under /nodes/{id}/ for another node of the cluster "
         "(except /ui and /docs)."}}},
      {"paths", std::move(paths)},
      {"components",
       {{"schemas", std::move(schemas)},
        {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}},
      {"security", json::array({{{"bearer", json::array()}}})},
      {"x-processpype-classes", std::move(classes)},
  };
  if (!api_prefix.empty()) document["servers"] = json::array({{{"url", api_prefix}}});
  return document;
}

}  // namespace processpype::rest
