#include "processpype/testing/cluster.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

namespace processpype::testing {

std::string Node::path() const {
  return "/nodes/" + percent_encode(id);
}

std::string node_address(int node_port) {
  return "127.0.0.1:" + std::to_string(node_port);
}

std::string percent_encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string encoded;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded.push_back('%');
      encoded.push_back(hex[c >> 4]);
      encoded.push_back(hex[c & 15]);
    }
  }
  return encoded;
}

std::vector<std::string> node_args(const std::string& id, int node_port,
                                   const std::vector<int>& join_ports) {
  std::vector<std::string> args = {"--node-port", std::to_string(node_port)};
  if (!id.empty()) args.insert(args.end(), {"--node-id", id});
  for (int port : join_ports) args.insert(args.end(), {"--join", node_address(port)});
  return args;
}

ServerOptions node_options() {
  ServerOptions options;
  options.ready_timeout = 30s;
  return options;
}

Node start_node(const std::string& id, const std::vector<int>& join_ports, int node_port,
                ServerOptions options) {
  const auto extra_args = options.args;
  const int attempts = std::max(1, options.attempts);
  options.attempts = 1;  // this loop retries: with a new node port too
  for (int attempt = 1;; ++attempt) {
    Node node;
    node.id = id;
    node.node_port = node_port != 0 ? node_port : free_port();
    options.args = node_args(id, node.node_port, join_ports);
    options.args.insert(options.args.end(), extra_args.begin(), extra_args.end());
    try {
      node.server = std::make_unique<ServerProcess>(options);
      return node;
    } catch (const std::runtime_error&) {
      if (attempt >= attempts) throw;
    }
  }
}

std::map<std::string, json> nodes_of(HttpClient& api) {
  std::map<std::string, json> result;
  auto response = api.get("/nodes");
  auto nodes = response.field("nodes");
  if (response.status != 200 || !nodes.is_array()) return result;
  for (const auto& entry : nodes)
    if (entry.is_object() && entry.contains("id") && entry["id"].is_string())
      result[entry["id"].get<std::string>()] = entry;
  return result;
}

std::string node_state(HttpClient& api, const std::string& id) {
  auto nodes = nodes_of(api);
  auto found = nodes.find(id);
  if (found == nodes.end() || !found->second.contains("state") ||
      !found->second["state"].is_string())
    return "";
  return found->second["state"].get<std::string>();
}

}  // namespace processpype::testing
