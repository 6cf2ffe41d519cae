#include "processpype/rest/json_mapping.hpp"

namespace processpype::rest {

using nlohmann::json;

std::string dump(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

json error_body(std::string_view detail) {
  return {{"detail", detail}};
}

json service_list(const std::vector<NamedStatus>& services) {
  auto list = json::array();
  for (const auto& [name, status] : services)
    list.push_back({{"name", name},
                    {"state", to_string(status.state)},
                    {"is_configured", status.is_configured},
                    {"error", status.error.empty() ? json(nullptr) : json(status.error)}});
  return {{"services", std::move(list)}};
}

json application_status(std::string_view version, ServiceState state,
                        const std::vector<NamedStatus>& services) {
  auto statuses = json::object();
  for (const auto& [name, status] : services) statuses[name] = to_json(status);
  return {{"version", version}, {"state", to_string(state)}, {"services", std::move(statuses)}};
}

json command_reply(std::string_view status, std::string_view service) {
  return {{"status", status}, {"service", service}};
}

RegisterRequest parse_register_request(const json& body) {
  if (!body.is_object()) throw Error(ErrorCode::bad_request, "Body must be a JSON object");
  auto service_name = body.find("service_name");
  if (service_name == body.end() || !service_name->is_string())
    throw Error(ErrorCode::bad_request, "Field 'service_name' must be a string");
  RegisterRequest request{service_name->get<std::string>(), {}, true};
  auto instance_name = body.find("instance_name");
  if (instance_name != body.end() && !instance_name->is_null()) {
    if (!instance_name->is_string())
      throw Error(ErrorCode::bad_request, "Field 'instance_name' must be a string or null");
    request.instance_name = instance_name->get<std::string>();
    request.auto_name = false;
  }
  return request;
}

std::optional<std::string> register_node(const json& body) {
  auto node = body.find("node");
  if (node == body.end() || node->is_null()) return std::nullopt;
  if (!node->is_string()) throw Error(ErrorCode::bad_request, "Field 'node' must be a string");
  return node->get<std::string>();
}

json node_list(const std::vector<NodeStatus>& nodes) {
  auto list = json::array();
  for (const auto& node : nodes)
    list.push_back({{"id", node.id},
                    {"address", node.address},
                    {"state", node.up ? "up" : "down"},
                    {"services", node.services}});
  return {{"nodes", std::move(list)}};
}

json parse_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object();
  try {
    return json::parse(body);
  } catch (const json::parse_error& error) {
    throw Error(ErrorCode::bad_request, std::string{"Malformed JSON: "} + error.what());
  }
}

}  // namespace processpype::rest
