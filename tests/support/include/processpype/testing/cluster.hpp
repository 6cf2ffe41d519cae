#pragma once

// Cluster nodes (SPEC 7): `processpype` processes that publish a node port
// (--node-port), name themselves (--node-id) and join others (--join), and
// what their GET /nodes says.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "processpype/testing/http.hpp"
#include "processpype/testing/server.hpp"

namespace processpype::testing {

/// One processpype process with a node port.
struct Node {
  std::string id;  ///< as given by --node-id ("" when the default is used)
  int node_port = 0;
  std::unique_ptr<ServerProcess> server;

  int http_port() const { return server->port(); }
  HttpClient client() const { return server->client(); }
  /// `/nodes/<percent-encoded id>` (prefix of this node's routes elsewhere).
  std::string path() const;
};

/// "127.0.0.1:<node_port>": what --join takes and GET /nodes lists.
std::string node_address(int node_port);

/// Percent-encodes every byte outside [A-Za-z0-9_.-~].
std::string percent_encode(const std::string& text);

/// Arguments of a node process: --node-port, --node-id (unless `id` is
/// empty: the default id), one --join per port.
std::vector<std::string> node_args(const std::string& id, int node_port,
                                   const std::vector<int>& join_ports);

/// The ServerOptions start_node uses by default: a node gets 30 s to become
/// ready (it answers after its joins; 2 shared cores: generous).
ServerOptions node_options();

/// Starts a node (ready once GET / answers 200, i.e. after its joins) on
/// `node_port` (0: a free one). `options.args` are appended to node_args.
/// With options.attempts > 1, each attempt takes new free ports.
Node start_node(const std::string& id, const std::vector<int>& join_ports = {}, int node_port = 0,
                ServerOptions options = node_options());

/// GET /nodes as id -> entry (empty when the reply is not the documented shape).
std::map<std::string, json> nodes_of(HttpClient& api);

/// The `state` of node `id` in `api`'s GET /nodes ("" when absent).
std::string node_state(HttpClient& api, const std::string& id);

}  // namespace processpype::testing
