#pragma once

// What the cluster tests share (docs/membership.md): the clusters a test
// starts from (fixtures for TEST_CASE_METHOD), commands on a remote node,
// how long a change took to be seen, and nodes that must refuse to start.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <processpype/testing/checks.hpp>

namespace cluster_tests {

using namespace processpype::testing;

/// The ServerOptions of the node `id` of a fixture (node_options() unless
/// the nodes need certificates, say).
using NodeOptions = std::function<ServerOptions(const std::string& id)>;

inline ServerOptions plain_node(const std::string& /*id*/) {
  return node_options();
}

/// Whom C joins in ThreeNodes: B (a chain A <- B <- C, in which C learns of
/// A through B) or A (a star, like B).
enum class ThirdJoins { b, a };

/// A; B joining A; C joining B or A. All list each other up when the test
/// case begins; `api` is a client of A.
struct ThreeNodes {
  ThreeNodes(ThirdJoins third_joins, const NodeOptions& options)
      : a(start_node("A", {}, 0, options("A"))),
        b(start_node("B", {a.node_port}, 0, options("B"))),
        c(start_node("C", {third_joins == ThirdJoins::b ? b.node_port : a.node_port}, 0,
                     options("C"))) {
    require_mesh({&a, &b, &c});
  }

  Node a;
  Node b;
  Node c;
  HttpClient api = a.client();  ///< A's REST API
};

/// A <- B <- C: C learns of A through B.
struct ChainOfThree : ThreeNodes {
  explicit ChainOfThree(const NodeOptions& options = plain_node)
      : ThreeNodes(ThirdJoins::b, options) {}
};

/// B and C both joined A.
struct ThreeJoiningOne : ThreeNodes {
  ThreeJoiningOne() : ThreeNodes(ThirdJoins::a, plain_node) {}
};

/// A, and C joining A, up on each other when the test case begins; `api`
/// is a client of A.
struct TwoNodes {
  explicit TwoNodes(const NodeOptions& options = plain_node)
      : a(start_node("A", {}, 0, options("A"))),
        c(start_node("C", {a.node_port}, 0, options("C"))) {
    require_mesh({&a, &c});
  }

  Node a;
  Node c;
  HttpClient api = a.client();  ///< A's REST API
};

/// The `state` in GET <prefix>/services/<name> ("" when it cannot be read).
inline std::string remote_state(HttpClient& api, const std::string& prefix,
                                const std::string& name) {
  auto state = api.get(prefix + "/services/" + name).field("state");
  return state.is_string() ? state.get<std::string>() : "";
}

/// Registers an instance of `service_name` (named `instance_name`, by
/// default after the class) on `node`, through `api`; REQUIREs 200.
inline void register_on(HttpClient& api, const Node& node, const std::string& service_name,
                        const std::optional<std::string>& instance_name = std::nullopt) {
  json body = {{"service_name", service_name}};
  if (instance_name) body["instance_name"] = *instance_name;
  E2E_REQUIRE_STATUS(api.post(node.path() + "/services/register", body), 200);
}

/// POSTs <node>/services/<name>/<command> through `api`; REQUIREs 200.
inline HttpResponse command_on(HttpClient& api, const Node& node, const std::string& name,
                               const std::string& command) {
  return post_ok(api, node.path() + "/services/" + name + "/" + command);
}

/// The same with the JSON `body` (configure, configure_and_start).
inline HttpResponse command_on(HttpClient& api, const Node& node, const std::string& name,
                               const std::string& command, const json& body) {
  return post_ok(api, node.path() + "/services/" + name + "/" + command, body);
}

/// Registers an instance of `service_name` named `instance_name` on `node`
/// and starts it, through `api`; REQUIREs 200 for both.
inline void start_on(HttpClient& api, const Node& node, const std::string& service_name,
                     const std::string& instance_name) {
  register_on(api, node, service_name, instance_name);
  command_on(api, node, instance_name, "start");
}

/// Kills `node` (SIGKILL): how long each of `observers` took to list it
/// down (time_until_state, -1: not within 10 s).
inline std::map<std::string, double> time_until_seen_killed(Node& node,
                                                            const std::vector<Node*>& observers) {
  node.server->process().kill();
  return time_until_state(observers, node.id, "down", Clock::now(), std::chrono::seconds(10));
}

/// CHECKs that every observer saw `change` ("C down"), within `bound_ms`.
inline void check_seen_within(const std::map<std::string, double>& seen, const std::string& change,
                              double bound_ms) {
  for (const auto& [observer, ms] : seen) {
    INFO(change << " seen on " << observer << " after " << ms << " ms");
    CHECK(ms >= 0);
    CHECK(ms < bound_ms);
  }
}

/// REQUIREs that every observer saw `change`, however late.
inline void require_seen(const std::map<std::string, double>& seen, const std::string& change) {
  for (const auto& [observer, ms] : seen) {
    INFO(change << " seen on " << observer << " after " << ms << " ms");
    REQUIRE(ms >= 0);
  }
}

/// Runs the binary on a free HTTP port and a free node port, with `args`
/// (--join, --node-id, TLS files...), until it exits; killed after `timeout`.
inline RunResult run_node(const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  std::vector<std::string> all = {"--host",      "127.0.0.1",
                                  "--port",      std::to_string(free_port()),
                                  "--node-port", std::to_string(free_port())};
  all.insert(all.end(), args.begin(), args.end());
  return run_to_completion(all, {}, timeout);
}

}  // namespace cluster_tests
