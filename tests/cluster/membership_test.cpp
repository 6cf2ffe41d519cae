// Membership that converges and heals (docs/membership.md), with
// real `processpype` processes on 127.0.0.1: clusters formed by joins at
// the same moment, repeated, also while busy loops load the machine; a node
// frozen (SIGSTOP) past the down threshold and resumed; a node that leaves
// on SIGTERM; a member forgotten after node.forget_after_seconds; a member
// that comes back without joining; /nodes sorted by id; the refusal of a
// node port open to other machines without TLS.
//
// Every wait is bounded; each repeated case stays within the CTest timeout
// of a case (120 s).

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster_support.hpp"

using namespace cluster_tests;

namespace {

/// docs/membership.md: nodes that joined list each other up within this bound.
constexpr auto convergence_bound = 10s;
/// The default heartbeat interval, the slack of a down detection.
constexpr double heartbeat_ms = 1000;

/// `wanted`, or at most PROCESSPYPE_TEST_REPETITIONS when set (the sanitizer
/// pass of scripts/test.sh, where every node runs several times slower).
int repetitions(int wanted) {
  const char* cap = std::getenv("PROCESSPYPE_TEST_REPETITIONS");
  if (cap == nullptr) return wanted;
  return std::clamp(std::atoi(cap), 1, wanted);
}

/// A seed from the clock, printed on failure so that a run can be replayed.
unsigned test_seed() {
  return static_cast<unsigned>(Clock::now().time_since_epoch().count());
}

std::vector<int> http_ports(const std::vector<std::unique_ptr<LaunchedNode>>& nodes) {
  std::vector<int> ports;
  for (const auto& node : nodes) ports.push_back(node->http_port);
  return ports;
}

std::set<std::string> ids(const std::vector<std::unique_ptr<LaunchedNode>>& nodes) {
  std::set<std::string> result;
  for (const auto& node : nodes) result.insert(node->id);
  return result;
}

std::vector<LaunchedNode*> pointers(const std::vector<std::unique_ptr<LaunchedNode>>& nodes) {
  std::vector<LaunchedNode*> result;
  for (const auto& node : nodes) result.push_back(node.get());
  return result;
}

/// One formation of an eight-node cluster: n1 starts; then seven nodes start
/// at about the same moment (a random 0-40 ms apart), each joining a random
/// node that is up when it starts. Every node must list all eight up within
/// convergence_bound of the moment they all answered (joined).
void form_eight(std::mt19937& random, int repetition) {
  std::vector<std::unique_ptr<LaunchedNode>> nodes;
  nodes.push_back(launch_node("n1", {}));
  auto first = wait_until_ready({nodes.front().get()}, 30s);
  INFO("repetition " << repetition);
  REQUIRE(first.empty());
  std::vector<LaunchedNode*> up = {nodes.front().get()};
  std::string plan;
  auto launched_at = Clock::now();
  for (int k = 2; k <= 8; ++k) {
    for (const auto& node : nodes)
      if (std::find(up.begin(), up.end(), node.get()) == up.end() && is_ready(*node))
        up.push_back(node.get());
    auto* target = up[std::uniform_int_distribution<std::size_t>{0, up.size() - 1}(random)];
    auto id = "n" + std::to_string(k);
    plan += id + "->" + target->id + " ";
    nodes.push_back(launch_node(id, {target->node_port}));
    std::this_thread::sleep_for(
        std::chrono::milliseconds{std::uniform_int_distribution<int>{0, 40}(random)});
  }
  INFO("joins: " << plan);
  auto ready = wait_until_ready(pointers(nodes), 60s);
  REQUIRE(ready.empty());
  auto joined_ms = elapsed_ms(launched_at);
  auto converged = time_until_all_up(http_ports(nodes), ids(nodes), convergence_bound);
  INFO("all joined " << joined_ms << " ms after the first start; GET /nodes: "
                     << describe_views(http_ports(nodes)));
  REQUIRE(converged.has_value());
}

/// One formation of the chain of the original failure: A; B joins A; C
/// joins B (C learns A through B while A learns C from B).
void form_chain(int repetition) {
  std::vector<std::unique_ptr<LaunchedNode>> nodes;
  INFO("repetition " << repetition);
  for (const std::string id : {"A", "B", "C"}) {
    std::vector<int> join;
    if (!nodes.empty()) join.push_back(nodes.back()->node_port);
    nodes.push_back(launch_node(id, join));
    auto ready = wait_until_ready({nodes.back().get()}, 30s);
    REQUIRE(ready.empty());
  }
  auto converged = time_until_all_up(http_ports(nodes), ids(nodes), convergence_bound);
  INFO("GET /nodes: " << describe_views(http_ports(nodes)));
  REQUIRE(converged.has_value());
}

}  // namespace

// ---------------------------------------------------------------------------
// convergence, repeated

TEST_CASE("cluster: eight nodes, seven joining at once through random members, converge (x20)",
          "[cluster][membership][convergence]") {
  auto seed = test_seed();
  INFO("seed " << seed);
  std::mt19937 random{seed};
  for (int repetition = 1; repetition <= repetitions(20); ++repetition)
    form_eight(random, repetition);
}

TEST_CASE("cluster: eight nodes, seven joining at once, converge on a busy machine (x20)",
          "[cluster][membership][convergence][load]") {
  auto seed = test_seed();
  INFO("seed " << seed);
  std::mt19937 random{seed};
  BusyLoops busy{2};
  for (int repetition = 1; repetition <= repetitions(20); ++repetition)
    form_eight(random, repetition);
}

TEST_CASE("cluster: the three-node chain A <- B <- C converges every time (x50)",
          "[cluster][membership][convergence]") {
  for (int repetition = 1; repetition <= repetitions(50); ++repetition) form_chain(repetition);
}

TEST_CASE("cluster: the three-node chain converges on a busy machine every time (x50)",
          "[cluster][membership][convergence][load]") {
  BusyLoops busy{2};
  for (int repetition = 1; repetition <= repetitions(50); ++repetition) form_chain(repetition);
}

// ---------------------------------------------------------------------------
// healing

TEST_CASE_METHOD(
    ChainOfThree,
    "cluster: a node frozen past the down threshold is down, then up again after SIGCONT",
    "[cluster][failure][freeze]") {
  register_on(api, c, "echo", "e");
  command_on(api, c, "e", "configure_and_start", {{"prefix", "C"}});
  auto pid = c.server->process().pid();

  c.server->process().signal(SIGSTOP);
  REQUIRE(wait_until([&] { return all_threads_stopped(pid); }, 3s, 5ms));
  auto stopped_at = Clock::now();
  // Its connections stay open: only its silence tells (node.down_after_seconds, 5 s).
  check_seen_within(time_until_state({&a, &b}, "C", "down", stopped_at, 15s), "C down",
                    default_down_after_ms + 2 * heartbeat_ms + 1000);
  E2E_CHECK_STATUS(api.get(c.path() + "/services"), 503);
  // The others keep serving and keep each other up.
  auto api_b = b.client();
  CHECK(node_state(api, "B") == "up");
  CHECK(node_state(api_b, "A") == "up");
  E2E_CHECK_STATUS(api.get("/"), 200);

  auto resumed_at = Clock::now();
  c.server->process().signal(SIGCONT);
  auto up = time_until_state({&a, &b, &c}, "C", "up", resumed_at, 10s);
  for (const auto& [observer, ms] : up) {
    INFO("C seen up again on " << observer << " after " << ms << " ms");
    CHECK(ms >= 0);
  }
  require_mesh({&a, &b, &c});
  CHECK(c.server->process().pid() == pid);  // the same process: no restart
  auto echoed = api.post(c.path() + "/services/e/echo", {{"message", "back"}});
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "C: back");
  E2E_CHECK_STATUS(api_b.get(c.path() + "/services/e"), 200);
}

TEST_CASE_METHOD(
    ThreeJoiningOne,
    "cluster: a node that ends with SIGTERM is down on its peers at once, before it exits",
    "[cluster][failure][leave]") {
  // A service that takes 3 s to stop keeps C's process alive after SIGTERM.
  register_on(api, c, "faulty", "slow");
  command_on(api, c, "slow", "configure", {{"stop_delay_ms", 3000}, {"stop_timeout_seconds", 10}});
  command_on(api, c, "slow", "start");

  auto stopped_at = Clock::now();
  c.server->process().signal(SIGTERM);
  auto down = time_until_state({&a, &b}, "C", "down", stopped_at, 10s);
  bool alive_then = c.server->process().alive();
  check_seen_within(down, "C down", 1500);
  CHECK(alive_then);  // told, not found out when its connections closed
  E2E_CHECK_STATUS(api.get(c.path() + "/services"), 503);
  check_exit(c.server->process().wait(15s), 0, c.server->stderr_text());
  // A and B stay up for each other.
  auto api_b = b.client();
  CHECK(node_state(api, "B") == "up");
  CHECK(node_state(api_b, "A") == "up");
}

TEST_CASE("cluster: a member down longer than node.forget_after_seconds leaves /nodes",
          "[cluster][membership][forget]") {
  TempFile config("node:\n  forget_after_seconds: 2\n");
  auto options = node_options();
  options.args = {"--config", config.path()};
  auto a = start_node("A", {}, 0, options);
  auto b = start_node("B", {a.node_port}, 0, options);
  require_mesh({&a, &b});
  auto killed_at = Clock::now();
  b.server->process().kill();
  auto down = time_until_state({&a}, "B", "down", killed_at, 10s);
  REQUIRE(down["A"] >= 0);
  auto api = a.client();
  bool forgotten = wait_until([&] { return nodes_of(api).size() == 1; }, 8s, 50ms);
  INFO("GET /nodes: " << api.get("/nodes").describe() << " after " << elapsed_ms(killed_at)
                      << " ms");
  CHECK(forgotten);
  E2E_CHECK_STATUS(api.get(b.path() + "/services"), 404);
}

TEST_CASE_METHOD(ThreeJoiningOne,
                 "cluster: a member back on its address without joining is dialled up again",
                 "[cluster][failure][rejoin]") {
  require_seen(time_until_seen_killed(a, {&b, &c}), "A down");

  // The seed comes back on its node port and joins nobody: B and C keep
  // dialling it (backoff 1, 2, 4 s...) and find it.
  a.server.reset();
  auto again = start_node("A", {}, a.node_port);
  require_mesh({&again, &b, &c});
  auto api = again.client();
  E2E_CHECK_STATUS(api.post(b.path() + "/services/register", {{"service_name", "echo"}}), 200);
}

TEST_CASE("cluster: GET /nodes lists the nodes sorted by id on every node",
          "[cluster][membership]") {
  auto m = start_node("m");
  auto b = start_node("b", {m.node_port});
  auto z = start_node("z", {b.node_port});
  auto a = start_node("a", {z.node_port});
  require_mesh({&m, &b, &z, &a});
  for (auto* node : {&m, &b, &z, &a}) {
    auto api = node->client();
    auto nodes = api.get("/nodes").field("nodes");
    std::vector<std::string> order;
    for (const auto& entry : nodes) order.push_back(entry.value("id", ""));
    INFO("GET /nodes on " << node->id << ": " << nodes.dump());
    CHECK(order == std::vector<std::string>{"a", "b", "m", "z"});
  }
}

TEST_CASE("cluster: a node port on a non-loopback host without node.tls is exit code 2",
          "[cluster][invalid]") {
  auto result = run_node({"--node-host", "0.0.0.0"}, 10s);
  check_exit(result.status, 2, result.err);
  CHECK_THAT(result.err, Catch::Contains("refusing to publish the node port on 0.0.0.0 without "
                                         "node.tls; set node.allow_insecure: true to override"));

  // node.allow_insecure: true overrides it.
  TempFile config("node:\n  allow_insecure: true\n");
  auto options = node_options();
  options.args = {"--config", config.path(), "--node-host", "0.0.0.0"};
  auto node = start_node("open", {}, 0, options);
  auto api = node.client();
  CHECK(node_state(api, "open") == "up");
}

TEST_CASE("cluster: a node whose join target is not listening yet waits for it, then joins",
          "[cluster][join]") {
  auto early_port = free_port();
  auto late = launch_node("late", {early_port});  // starts first; its peer is not there
  // It waits for its peer (and says so) instead of exiting.
  REQUIRE(wait_until(
      [&] { return late->process->stderr_text().find("retrying in") != std::string::npos; }, 10s));
  REQUIRE(late->process->alive());
  auto early = start_node("early", {}, early_port);
  REQUIRE(wait_until_ready({late.get()}, 30s).empty());
  auto api = early.client();
  CHECK(wait_until([&] { return node_state(api, "late") == "up"; }, 10s));
}

TEST_CASE("cluster: a join target that never answers is exit code 75 after join_timeout_seconds",
          "[cluster][join]") {
  TempFile config("node:\n  join_timeout_seconds: 1\n");
  auto begin = Clock::now();
  auto closed = free_port();  // nothing listens there
  auto result = run_node({"--config", config.path(), "--join", node_address(closed)}, 20s);
  check_exit(result.status, 75, result.err);  // worth a restart, unlike a refusal
  CHECK(elapsed_ms(begin) >= 900);
  CHECK_THAT(result.err, Catch::Contains("Cannot join node at " + node_address(closed)));
}
