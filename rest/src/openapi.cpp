#include "openapi.hpp"

#include <map>

#include "processpype/runtime/service_registry.hpp"

namespace processpype::rest {

namespace {

using nlohmann::json;

json reference(const std::string& schema) {
  return {{"$ref", "#/components/schemas/" + schema}};
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
      {"RegisterRequest",
       {{"type", "object"},
        {"properties",
         {{"service_name", {{"type", "string"}, {"description", "A class key"}}},
          {"instance_name", {{"type", {"string", "null"}}, {"pattern", "^[A-Za-z0-9_.-]{1,64}$"}}},
          {"node", {{"type", "string"}, {"description", "Create it on that node"}}}}},
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
          {"next", nullable_string}}}}},
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
          {"cause", {{"type", "string"}}}}}}},
  };
}

json name_parameter() {
  return {{"name", "name"},
          {"in", "path"},
          {"required", true},
          {"description", "An instance name"},
          {"schema", {{"type", "string"}}}};
}

json query_parameter(const std::string& name, json schema, const std::string& description) {
  return {{"name", name},
          {"in", "query"},
          {"required", false},
          {"description", description},
          {"schema", std::move(schema)}};
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

/// What each core route takes and answers, by method and pattern.
json core_operation(const RouteInfo& route, const json& configuration_schemas) {
  json operation = {{"summary", route.summary}, {"responses", json::object()}};
  auto& responses = operation["responses"];
  const auto& pattern = route.pattern;
  bool has_name = pattern.find("{name}") != std::string::npos;
  if (has_name) responses["404"] = error_response("No such instance");
  auto parameters = path_parameters(pattern);
  if (!parameters.empty()) operation["parameters"] = std::move(parameters);
  auto command = [&](const std::string& description) {
    responses["200"] = response(description, reference("CommandReply"));
  };
  if (pattern == "/") {
    responses["200"] = response("The application and every instance", {{"type", "object"}});
  } else if (pattern == "/services" && route.method == "GET") {
    operation["parameters"] = {
        query_parameter("state", reference("ServiceState"), "Only instances in this state"),
        query_parameter("type", {{"type", "string"}}, "Only instances of this class key"),
        query_parameter("limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10000}},
                        "At most this many; the reply's next names the next page"),
        query_parameter("after", {{"type", "string"}}, "Start after this instance")};
    responses["200"] = response("Instances in registration order", reference("ServiceList"));
    responses["400"] = error_response("An invalid query parameter");
  } else if (pattern == "/services/register") {
    operation["requestBody"] = {{"required", true},
                                {"content", json_content(reference("RegisterRequest"))}};
    responses["200"] = response("Registered", {{"type", "object"}});
    responses["400"] = error_response("Malformed body or invalid name");
    responses["404"] = error_response("Unknown class");
    responses["409"] = error_response("The name is taken, or the instance limit is reached");
  } else if (pattern == "/services/{name}" && route.method == "GET") {
    responses["200"] = response("The instance's status", reference("ServiceStatus"));
  } else if (pattern == "/services/{name}") {
    command("Deregistered (stopped first if it ran)");
    responses["409"] = error_response("Other instances depend on it");
  } else if (pattern.ends_with("/configure") || pattern.ends_with("/configure_and_start")) {
    operation["requestBody"] = {
        {"required", false},
        {"content", json_content({{"anyOf", configuration_schemas}})},
        {"description", "The whole configuration of the instance's class (no merge)"}};
    command("Configured");
    responses["400"] = error_response("Malformed JSON");
    responses["409"] = error_response("The instance is active");
    responses["422"] = error_response("An invalid field (named in detail)");
    if (pattern.ends_with("_and_start")) responses["500"] = error_response("The start failed");
  } else if (pattern.ends_with("/start") || pattern.ends_with("/stop")) {
    command("The transition finished");
    responses["409"] = error_response("The command does not fit the state");
    responses["500"] = error_response("The manager failed or timed out");
  } else if (pattern == "/events") {
    operation["parameters"] = {
        query_parameter("since", {{"type", "integer"}, {"minimum", 0}}, "Only later events"),
        query_parameter("scope", {{"type", "string"}, {"enum", {"node", "cluster"}}},
                        "cluster: the live events of every node, as one stream")};
    responses["200"] = {
        {"description", "JSON, or Server-Sent Events with Accept: text/event-stream"},
        {"content",
         {{"application/json",
           {{"schema",
             {{"type", "object"},
              {"properties", {{"events", {{"type", "array"}, {"items", reference("Event")}}}}}}}}},
          {"text/event-stream", {{"schema", {{"type", "string"}}}}}}}};
    responses["503"] = error_response("Too many event streams");
  } else if (pattern == "/metrics") {
    responses["200"] = {{"description", "Prometheus text exposition format 0.0.4"},
                        {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}};
  } else if (pattern.starts_with("/health")) {
    responses["200"] = response("Alive / ready", {{"type", "object"}});
    responses["503"] = response("Not alive / not ready", {{"type", "object"}});
  } else if (pattern == "/ui" || pattern == "/docs") {
    responses["200"] = {{"description", "An HTML page"},
                        {"content", {{"text/html", {{"schema", {{"type", "string"}}}}}}}};
  } else if (pattern.ends_with("/{file}")) {
    json text = {{"schema", {{"type", "string"}}}};
    responses["200"] = {{"description", "A file of the page"},
                        {"content",
                         {{"text/javascript", text},
                          {"text/css", text},
                          {"text/html", text},
                          {"image/svg+xml", text}}}};
    responses["404"] = error_response("No such file");
  } else {
    responses["200"] = response("OK", {{"type", "object"}});
  }
  return operation;
}

/// OpenAPI path templates have no `{rest...}`: write it as `{rest}`.
std::string openapi_path(std::string pattern) {
  if (auto dots = pattern.find("...}"); dots != std::string::npos) pattern.erase(dots, 3);
  return pattern;
}

}  // namespace

json openapi_document(const ApplicationInfo& application, const std::string& api_prefix,
                      const std::vector<RouteInfo>& core_routes) {
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
      auto path = "/services/{name}" + openapi_path(route.pattern);
      auto method = lowercase(route.method);
      auto& operation = custom_paths[path][method];
      if (operation.is_null()) {
        operation = {{"summary", service_class->key + ": " + route.summary},
                     {"parameters", path_parameters("/services/{name}" + route.pattern)},
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
    auto path = openapi_path(route.pattern);
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
