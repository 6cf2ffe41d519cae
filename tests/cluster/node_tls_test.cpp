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

#include <processpype/testing/checks.hpp>

using namespace processpype::testing;

namespace {

/// start_node's options with the node TLS arguments of `files`.
ServerOptions tls_options(const NodeTlsFiles& files) {
  auto options = node_options();
  options.args = files.args();
  return options;
}

/// Runs a node `id` that joins `join_port` with `args` until it exits.
RunResult run_joiner(const std::string& id, int join_port, const std::vector<std::string>& args) {
  std::vector<std::string> all = {"--host",      "127.0.0.1",
                                  "--port",      std::to_string(free_port()),
                                  "--node-port", std::to_string(free_port()),
                                  "--node-id",   id,
                                  "--join",      node_address(join_port)};
  all.insert(all.end(), args.begin(), args.end());
  return run_to_completion(all, {}, 30s);
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

TEST_CASE(
    "cluster tls: three nodes with certificates of one CA form the mesh and act on each other",
    "[cluster][tls]") {
  TestCa ca;
  auto a = start_node("A", {}, 0, tls_options(ca.issue("A")));
  auto b = start_node("B", {a.node_port}, 0, tls_options(ca.issue("B")));
  auto c = start_node("C", {b.node_port}, 0, tls_options(ca.issue("C")));
  require_mesh({&a, &b, &c});
  CHECK(a.server->stderr_text().find("(TLS)") != std::string::npos);

  auto api = a.client();
  E2E_REQUIRE_STATUS(
      api.post(c.path() + "/services/register", {{"service_name", "echo"}, {"instance_name", "e"}}),
      200);
  E2E_REQUIRE_STATUS(api.post(c.path() + "/services/e/configure_and_start", {{"prefix", "tls"}}),
                     200);
  auto echoed = api.post(c.path() + "/services/e/echo", {{"message", "hi"}});
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "tls: hi");
  auto api_b = b.client();
  auto status = api_b.get(c.path() + "/services/e");
  E2E_CHECK_STATUS(status, 200);
  CHECK(status.field("state") == "running");
  auto on_c = c.client();
  CHECK(service_names(on_c) == std::vector<std::string>{"e"});
}

TEST_CASE("cluster tls: a node with a certificate of another CA can neither join nor be joined",
          "[cluster][tls]") {
  TestCa ca;
  TestCa other("another CA");
  auto a = start_node("A", {}, 0, tls_options(ca.issue("A")));
  auto b = start_node("B", {a.node_port}, 0, tls_options(ca.issue("B")));
  require_mesh({&a, &b});

  // Its own certificate from another CA, trusting that CA.
  auto stranger = run_joiner("X", a.node_port, other.issue("X").args());
  {
    INFO(stranger.status.describe() << "\nstderr:\n" << stranger.err.substr(0, 2000));
    CHECK(stranger.status.exited);
    CHECK(stranger.status.code == 2);
    CHECK(stranger.err.find("Cannot join node") != std::string::npos);
  }
  // A certificate from another CA, trusting the cluster's CA.
  auto mixed = other.issue("Y");
  mixed.ca = ca.certificate();
  auto impostor = run_joiner("Y", b.node_port, mixed.args());
  {
    INFO(impostor.status.describe() << "\nstderr:\n" << impostor.err.substr(0, 2000));
    CHECK(impostor.status.code == 2);
  }
  check_unchanged({&a, &b});

  // The other way round: a cluster node cannot join a node of another CA.
  auto foreign = start_node("F", {}, 0, tls_options(other.issue("F")));
  auto joiner = run_joiner("J", foreign.node_port, ca.issue("J").args());
  {
    INFO(joiner.status.describe() << "\nstderr:\n" << joiner.err.substr(0, 2000));
    CHECK(joiner.status.code == 2);
  }
  auto on_foreign = foreign.client();
  CHECK(nodes_of(on_foreign).size() == 1);
}

TEST_CASE("cluster tls: a node without TLS and a node with TLS cannot join each other",
          "[cluster][tls]") {
  TestCa ca;
  auto a = start_node("A", {}, 0, tls_options(ca.issue("A")));
  auto b = start_node("B", {a.node_port}, 0, tls_options(ca.issue("B")));
  require_mesh({&a, &b});

  auto plain = run_joiner("P", a.node_port, {});
  {
    INFO(plain.status.describe() << "\nstderr:\n" << plain.err.substr(0, 2000));
    CHECK(plain.status.exited);
    CHECK(plain.status.code == 2);
    CHECK(plain.err.find("Cannot join node at " + node_address(a.node_port)) != std::string::npos);
  }
  check_unchanged({&a, &b});

  auto open = start_node("O");
  auto secured = run_joiner("S", open.node_port, ca.issue("S").args());
  {
    INFO(secured.status.describe() << "\nstderr:\n" << secured.err.substr(0, 2000));
    CHECK(secured.status.exited);
    CHECK(secured.status.code == 2);
  }
  auto on_open = open.client();
  CHECK(nodes_of(on_open).size() == 1);
  E2E_CHECK_STATUS(on_open.get("/"), 200);
}

TEST_CASE("cluster tls: kill -9 of a node is down everywhere within 5 s, its routes 503",
          "[cluster][tls][failure]") {
  TestCa ca;
  auto a = start_node("A", {}, 0, tls_options(ca.issue("A")));
  auto b = start_node("B", {a.node_port}, 0, tls_options(ca.issue("B")));
  auto c = start_node("C", {b.node_port}, 0, tls_options(ca.issue("C")));
  require_mesh({&a, &b, &c});

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
  auto api = a.client();
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
    std::vector<std::string> args = {"--host",      "127.0.0.1",
                                     "--port",      std::to_string(free_port()),
                                     "--node-port", std::to_string(free_port())};
    args.insert(args.end(), each.args.begin(), each.args.end());
    auto result = run_to_completion(args, {}, 10s);
    INFO(each.what << ": " << result.status.describe() << "\nstderr:\n"
                   << result.err.substr(0, 2000));
    CHECK(result.status.exited);
    CHECK(result.status.code == 2);
    CHECK(lines_of(result.err).size() == 1);
    CHECK(result.err.find(each.named) != std::string::npos);
  }
}
