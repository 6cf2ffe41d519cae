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

std::map<std::string, double> time_until_state(const std::vector<Node*>& observers,
                                               const std::string& id, const std::string& state,
                                               Clock::time_point since,
                                               std::chrono::milliseconds timeout) {
  std::map<std::string, double> seen;
  std::vector<std::unique_ptr<HttpClient>> clients;  // keep-alive across polls
  for (auto* observer : observers)
    clients.push_back(std::make_unique<HttpClient>(observer->http_port(), "", 2s));
  wait_until(
      [&] {
        for (std::size_t i = 0; i < observers.size(); ++i) {
          if (seen.count(observers[i]->id) != 0) continue;
          if (node_state(*clients[i], id) == state) seen[observers[i]->id] = elapsed_ms(since);
        }
        return seen.size() == observers.size();
      },
      timeout, 20ms);
  for (auto* observer : observers)
    if (seen.count(observer->id) == 0) seen[observer->id] = -1;
  return seen;
}

// ---------------------------------------------------------------------------
// Nodes that start at the same moment, and convergence

namespace {

void start_process(LaunchedNode& node) {
  node.node_port = free_port();
  node.http_port = free_port();
  std::vector<std::string> args = {"--host", "127.0.0.1", "--port", std::to_string(node.http_port)};
  auto more = node_args(node.id, node.node_port, node.join_ports);
  args.insert(args.end(), more.begin(), more.end());
  args.insert(args.end(), node.extra_args.begin(), node.extra_args.end());
  node.process = std::make_unique<ChildProcess>(server_binary(), args);
  ++node.launches;
}

/// Whether a node that exited lost a race for one of its ports.
bool lost_a_port(const std::string& stderr_text) {
  return stderr_text.find("cannot_open_port") != std::string::npos ||
         stderr_text.find("Address already in use") != std::string::npos;
}

}  // namespace

std::string LaunchedNode::path() const {
  return "/nodes/" + percent_encode(id);
}

std::unique_ptr<LaunchedNode> launch_node(const std::string& id, std::vector<int> join_ports,
                                          std::vector<std::string> extra_args) {
  auto node = std::make_unique<LaunchedNode>();
  node->id = id;
  node->join_ports = std::move(join_ports);
  node->extra_args = std::move(extra_args);
  start_process(*node);
  return node;
}

bool is_ready(const LaunchedNode& node) {
  HttpClient probe(node.http_port, "", 1s);
  return probe.get("/").status == 200;
}

std::string wait_until_ready(const std::vector<LaunchedNode*>& nodes,
                             std::chrono::milliseconds timeout) {
  std::set<const LaunchedNode*> ready;
  std::string failure;
  wait_until(
      [&] {
        for (auto* node : nodes) {
          if (ready.count(node) != 0) continue;
          if (!node->process->alive()) {
            auto err = node->process->stderr_text();
            if (lost_a_port(err) && node->launches < 3) {
              start_process(*node);
              continue;
            }
            failure = "node " + node->id + " exited (" + node->process->wait(0ms).describe() +
                      "); stderr:\n" + err.substr(0, 4000);
            return true;
          }
          if (is_ready(*node)) ready.insert(node);
        }
        return ready.size() == nodes.size();
      },
      timeout, 25ms);
  if (!failure.empty()) return failure;
  if (ready.size() == nodes.size()) return "";
  for (auto* node : nodes)
    if (ready.count(node) == 0)
      return "node " + node->id + " did not answer GET / with 200 in time; stderr:\n" +
             node->process->stderr_text().substr(0, 4000);
  return "";
}

bool all_list_all_up(const std::vector<int>& http_ports, const std::set<std::string>& ids) {
  for (int port : http_ports) {
    HttpClient api(port, "", 2s);
    auto nodes = nodes_of(api);
    if (nodes.size() != ids.size()) return false;
    for (const auto& id : ids) {
      auto found = nodes.find(id);
      if (found == nodes.end() || found->second.value("state", "") != "up") return false;
    }
  }
  return true;
}

std::optional<double> time_until_all_up(const std::vector<int>& http_ports,
                                        const std::set<std::string>& ids,
                                        std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  if (!wait_until([&] { return all_list_all_up(http_ports, ids); }, timeout, 20ms))
    return std::nullopt;
  return elapsed_ms(start);
}

std::string describe_views(const std::vector<int>& http_ports) {
  std::string text;
  for (int port : http_ports) {
    HttpClient api(port, "", 2s);
    text += (text.empty() ? "" : "; ") + std::to_string(port) + ":";
    auto nodes = nodes_of(api);
    if (nodes.empty()) text += " (no answer)";
    for (const auto& [id, entry] : nodes) text += " " + id + " " + entry.value("state", "?");
  }
  return text;
}

BusyLoops::BusyLoops(int count) {
  for (int i = 0; i < count; ++i)
    loops_.push_back(std::make_unique<ChildProcess>(
        "/bin/sh", std::vector<std::string>{"-c", "while :; do :; done"}));
}

// ---------------------------------------------------------------------------
// Node TLS

std::vector<std::string> NodeTlsFiles::args() const {
  return {"--node-cert", certificate, "--node-key", key, "--node-ca", ca};
}

TestCa::TestCa(const std::string& name) : directory_("processpype-ca") {
  auto base = directory_.path().string();
  certificate_ = base + "/ca.pem";
  key_ = base + "/ca.key";
  run_openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-keyout", key_, "-out", certificate_, "-days", "2", "-subj",
               "/CN=" + name});
}

NodeTlsFiles TestCa::issue(const std::string& name) {
  auto base = directory_.path().string() + "/node" + std::to_string(++serial_);
  NodeTlsFiles files{base + ".pem", base + ".key", certificate_};
  run_openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-keyout", files.key, "-out", base + ".csr", "-subj", "/CN=" + name});
  run_openssl({"x509", "-req", "-in", base + ".csr", "-CA", certificate_, "-CAkey", key_,
               "-set_serial", std::to_string(serial_), "-out", files.certificate, "-days", "2"});
  return files;
}

void TestCa::run_openssl(const std::vector<std::string>& args) {
  auto openssl = find_program("openssl");
  if (!openssl) throw std::runtime_error("the openssl command is not on the PATH");
  ChildProcess child(*openssl, args);
  auto status = child.wait(30s);
  if (!status.exited || status.code != 0)
    throw std::runtime_error("openssl " + args.front() + " failed (" + status.describe() +
                             "): " + child.stderr_text().substr(0, 2000));
}

}  // namespace processpype::testing
