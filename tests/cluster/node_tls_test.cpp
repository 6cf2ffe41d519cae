// TLS between nodes (node.tls, --node-cert/--node-key/--node-ca): real
// `processpype` processes whose node protocol runs over CAF's OpenSSL
// module with mutual verification. The certificates come from throwaway CAs
// made with the `openssl` command at test time (TestCa); no key is ever
// committed.

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster_support.hpp"

using namespace cluster_tests;

namespace {

/// start_node's options with the node TLS arguments of `files`.
ServerOptions tls_options(const NodeTlsFiles& files) {
  auto options = node_options();
  options.args = files.args();
  return options;
}

/// The cluster's certificate authority, made before any node of a fixture.
struct ClusterCa {
  TestCa ca;

  /// Options of a node `id` with a certificate of `ca`.
  NodeOptions certified() {
    return [this](const std::string& id) { return tls_options(ca.issue(id)); };
  }
};

/// ChainOfThree with node TLS: every node has a certificate of one CA.
struct CertifiedChainOfThree : ClusterCa, ChainOfThree {
  CertifiedChainOfThree() : ChainOfThree(certified()) {}
};

/// TwoNodes with node TLS: both have a certificate of one CA.
struct CertifiedTwoNodes : ClusterCa, TwoNodes {
  CertifiedTwoNodes() : TwoNodes(certified()) {}
};

/// Runs a node `id` that joins `join_port` with `args` until it exits.
RunResult run_joiner(const std::string& id, int join_port, const std::vector<std::string>& args) {
  std::vector<std::string> all = {"--node-id", id, "--join", node_address(join_port)};
  all.insert(all.end(), args.begin(), args.end());
  return run_node(all, 30s);
}

/// The cluster of `nodes` keeps exactly its members after a refused join:
/// nobody else is listed, and each lists all of them up (within 10 s: when
/// the TLS handshake with the refused node fails, CAF 0.17's OpenSSL module
/// can drop a member's link too, and the membership heals it; see
/// docs/membership.md).
void check_unchanged(const std::vector<Node*>& nodes) {
  std::vector<int> ports;
  std::set<std::string> names;
  for (auto* node : nodes) {
    ports.push_back(node->http_port());
    names.insert(node->id);
  }
  std::this_thread::sleep_for(1500ms);  // time for a wrong member to spread, were there one
  auto healed = time_until_all_up(ports, names, 10s);
  INFO("GET /nodes: " << describe_views(ports));
  CHECK(healed.has_value());
}

}  // namespace

TEST_CASE_METHOD(
    CertifiedChainOfThree,
    "cluster tls: three nodes with certificates of one CA form the mesh and act on each other",
    "[cluster][tls]") {
  CHECK(a.server->stderr_text().find("(TLS)") != std::string::npos);

  register_on(api, c, "echo", "e");
  command_on(api, c, "e", "configure_and_start", {{"prefix", "tls"}});
  auto echoed = api.post(c.path() + "/services/e/echo", {{"message", "hi"}});
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "tls: hi");
  // Started through A: B's replica of C has it one status batch later
  // (docs/architecture.md, "Status replicas").
  auto api_b = b.client();
  CHECK(wait_until([&] { return remote_state(api_b, c.path(), "e") == "running"; }, 5s));
  auto on_c = c.client();
  CHECK(service_names(on_c) == std::vector<std::string>{"e"});
}

TEST_CASE_METHOD(
    CertifiedTwoNodes,
    "cluster tls: a node with a certificate of another CA can neither join nor be joined",
    "[cluster][tls]") {
  TestCa other("another CA");

  // Its own certificate from another CA, trusting that CA.
  auto stranger = run_joiner("X", a.node_port, other.issue("X").args());
  check_exit(stranger.status, 2, stranger.err);
  CHECK_THAT(stranger.err, Catch::Contains("Cannot join node"));
  // A certificate from another CA, trusting the cluster's CA.
  auto mixed = other.issue("Y");
  mixed.ca = ca.certificate();
  auto impostor = run_joiner("Y", c.node_port, mixed.args());
  check_exit(impostor.status, 2, impostor.err);
  check_unchanged({&a, &c});

  // The other way round: a cluster node cannot join a node of another CA.
  auto foreign = start_node("F", {}, 0, tls_options(other.issue("F")));
  auto joiner = run_joiner("J", foreign.node_port, ca.issue("J").args());
  check_exit(joiner.status, 2, joiner.err);
  auto on_foreign = foreign.client();
  CHECK(nodes_of(on_foreign).size() == 1);
}

TEST_CASE_METHOD(CertifiedTwoNodes,
                 "cluster tls: a node without TLS and a node with TLS cannot join each other",
                 "[cluster][tls]") {
  auto plain = run_joiner("P", a.node_port, {});
  check_exit(plain.status, 2, plain.err);
  CHECK_THAT(plain.err, Catch::Contains("Cannot join node at " + node_address(a.node_port)));
  // Something answers there, so waiting would not help: no retry.
  CHECK_THAT(plain.err, !Catch::Contains("retrying"));
  check_unchanged({&a, &c});

  auto open = start_node("O");
  auto secured = run_joiner("S", open.node_port, ca.issue("S").args());
  check_exit(secured.status, 2, secured.err);
  auto on_open = open.client();
  CHECK(nodes_of(on_open).size() == 1);
  E2E_CHECK_STATUS(on_open.get("/"), 200);
}

TEST_CASE_METHOD(CertifiedChainOfThree,
                 "cluster tls: kill -9 of a node is down everywhere within 5 s, its routes 503",
                 "[cluster][tls][failure]") {
  c.server->process().kill();
  auto killed_at = Clock::now();
  std::map<std::string, double> seen;
  wait_until(
      [&] {
        for (auto* observer : {&a, &b}) {
          if (seen.count(observer->id) != 0) continue;
          HttpClient api(observer->http_port(), "", 2s);
          if (node_state(api, "C") == "down") seen[observer->id] = elapsed_ms(killed_at);
        }
        return seen.size() == 2;
      },
      10s, 20ms);
  for (auto* observer : {&a, &b}) {
    INFO("C seen down on " << observer->id << " after "
                           << (seen.count(observer->id) ? seen[observer->id] : -1) << " ms");
    REQUIRE(seen.count(observer->id) == 1);
    CHECK(seen[observer->id] < default_down_after_ms);
  }
  auto response = api.get(c.path() + "/services");
  E2E_CHECK_STATUS(response, 503);
  CHECK(response.detail() == "Node C is down");
  CHECK(node_state(api, "B") == "up");
}

TEST_CASE("cluster tls: unusable node TLS files are exit code 2 naming the file",
          "[cluster][tls][invalid]") {
  TestCa ca;
  auto good = ca.issue("N");
  auto other = ca.issue("O");
  TempDirectory scratch("processpype-tls");
  auto not_pem = scratch.write("not-pem.pem", "not a certificate\n");
  auto missing = (scratch.path() / "missing.pem").string();

  struct Case {
    std::string what;
    std::vector<std::string> args;
    std::string named;  ///< the stderr names this
  };
  std::vector<Case> cases = {
      {"missing certificate",
       {"--node-cert", missing, "--node-key", good.key, "--node-ca", good.ca},
       missing},
      {"certificate not PEM",
       {"--node-cert", not_pem, "--node-key", good.key, "--node-ca", good.ca},
       not_pem},
      {"key of another certificate",
       {"--node-cert", good.certificate, "--node-key", other.key, "--node-ca", good.ca},
       other.key},
      {"CA not PEM",
       {"--node-cert", good.certificate, "--node-key", good.key, "--node-ca", not_pem},
       not_pem},
      {"no CA", {"--node-cert", good.certificate, "--node-key", good.key}, "ca"},
  };
  for (const auto& each : cases) {
    INFO(each.what);
    auto result = run_node(each.args, 10s);
    check_exit(result.status, 2, result.err);
    CHECK_THAT(result.err, has_lines(1));
    CHECK_THAT(result.err, Catch::Contains(each.named));
  }
}
