#pragma once

// Cluster nodes (docs/membership.md): `processpype` processes that publish a node port
// (--node-port), name themselves (--node-id) and join others (--join), and
// what their GET /nodes says.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "processpype/testing/http.hpp"
#include "processpype/testing/process.hpp"
#include "processpype/testing/server.hpp"

namespace processpype::testing {

/// node.down_after_seconds' default, in milliseconds: a peer that died or
/// froze is `down` on the others within this (docs/membership.md).
inline constexpr double default_down_after_ms = 5000;

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

/// Polls GET /nodes on every node of `observers` until each lists `id` in
/// `state`; the milliseconds since `since` at which each did (-1: not in
/// time).
std::map<std::string, double> time_until_state(const std::vector<Node*>& observers,
                                               const std::string& id, const std::string& state,
                                               Clock::time_point since,
                                               std::chrono::milliseconds timeout);

// ---------------------------------------------------------------------------
// Nodes that start at the same moment, and convergence

/// A node process started without waiting until it is ready, so that
/// several start (and join) at the same moment; see wait_until_ready.
struct LaunchedNode {
  std::string id;
  int node_port = 0;
  int http_port = 0;
  std::vector<int> join_ports;
  std::vector<std::string> extra_args;
  std::unique_ptr<ChildProcess> process;
  int launches = 0;  ///< how often it was started (a taken port starts it again)

  HttpClient client() const { return HttpClient(http_port); }
  std::string path() const;
};

/// Starts `processpype` with node_args(id, free port, join_ports) and
/// `extra_args` on a free HTTP port, and returns at once.
std::unique_ptr<LaunchedNode> launch_node(const std::string& id, std::vector<int> join_ports,
                                          std::vector<std::string> extra_args = {});

/// Whether `node` answers GET / with 200 (one quick probe).
bool is_ready(const LaunchedNode& node);

/// Waits until every node answers GET / with 200 (it joined its peers). A
/// node that exited because one of its ports was taken meanwhile (free_port
/// races other processes) is started again on new ports, at most twice.
/// Returns "" when all are ready, else why not, with the node's stderr.
std::string wait_until_ready(const std::vector<LaunchedNode*>& nodes,
                             std::chrono::milliseconds timeout);

/// Whether GET /nodes on every HTTP port in `http_ports` lists exactly the
/// nodes `ids`, all `up`.
bool all_list_all_up(const std::vector<int>& http_ports, const std::set<std::string>& ids);

/// Polls all_list_all_up until it holds; the milliseconds it took, nullopt
/// after `timeout`.
std::optional<double> time_until_all_up(const std::vector<int>& http_ports,
                                        const std::set<std::string>& ids,
                                        std::chrono::milliseconds timeout);

/// "<port>: A up, B down; <port>: ..." for failure messages: what GET
/// /nodes says on each of `http_ports`.
std::string describe_views(const std::vector<int>& http_ports);

/// `count` processes that keep a CPU busy (a shell loop) until destroyed:
/// a loaded machine, for tests that must pass then too.
class BusyLoops {
 public:
  explicit BusyLoops(int count);

 private:
  std::vector<std::unique_ptr<ChildProcess>> loops_;
};

// ---------------------------------------------------------------------------
// Node TLS

/// The files of a node's TLS (--node-cert, --node-key, --node-ca).
struct NodeTlsFiles {
  std::string certificate;
  std::string key;
  std::string ca;

  /// --node-cert <certificate> --node-key <key> --node-ca <ca>
  std::vector<std::string> args() const;
};

/// A throwaway certificate authority made with the `openssl` command in a
/// temporary directory, removed with it: certificates for node TLS, made at
/// test time (no private key is ever committed). Throws std::runtime_error
/// when `openssl` fails.
class TestCa {
 public:
  explicit TestCa(const std::string& name = "processpype test CA");

  /// The CA's certificate (what every node of the cluster trusts).
  const std::string& certificate() const { return certificate_; }
  /// A certificate for `name` signed by this CA, its key, and this CA.
  NodeTlsFiles issue(const std::string& name);

 private:
  void run_openssl(const std::vector<std::string>& args);

  TempDirectory directory_;
  std::string certificate_;
  std::string key_;
  int serial_ = 0;
};

}  // namespace processpype::testing
