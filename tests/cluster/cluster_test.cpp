// Cluster tests (docs/membership.md): several real `processpype` processes on 127.0.0.1
// that publish their node port (--node-port) and join each other (--join).
// Every route of docs/rest-api.md under /nodes/{id}/..., GET /nodes, membership spread,
// kill -9 of a node and the 5 s bound, in-flight requests to a dying node,
// rejoin, and invalid node ids / addresses. Each test case starts its own
// processes on free ports; every wait is a bounded poll; the processes are
// killed by their ServerProcess/ChildProcess destructors whatever happens.

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "cluster_support.hpp"

using namespace cluster_tests;

namespace {

/// How long membership gets to settle.
constexpr auto membership_timeout = 15s;

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof(buffer) - 1) != 0) return "localhost";
  return buffer;
}

/// The `services` count of node `id` in `api`'s GET /nodes (-1 when absent).
long long node_services(HttpClient& api, const std::string& id) {
  auto nodes = nodes_of(api);
  auto found = nodes.find(id);
  if (found == nodes.end() || !found->second.contains("services") ||
      !found->second["services"].is_number_integer())
    return -1;
  return found->second["services"].get<long long>();
}

/// Polls until `api`'s GET /nodes lists exactly `states` (id -> state).
bool wait_for_nodes(HttpClient& api, const std::map<std::string, std::string>& states,
                    std::chrono::milliseconds timeout = membership_timeout) {
  return wait_until(
      [&] {
        auto nodes = nodes_of(api);
        if (nodes.size() != states.size()) return false;
        for (const auto& [id, state] : states) {
          auto found = nodes.find(id);
          if (found == nodes.end() || found->second.value("state", "") != state) return false;
        }
        return true;
      },
      timeout, 50ms);
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

/// The names GET <path> lists under "services" (path: a services listing).
std::vector<std::string> names_at(HttpClient& api, const std::string& path) {
  std::vector<std::string> names;
  auto services = api.get(path).field("services");
  if (!services.is_array()) return names;
  for (const auto& entry : services)
    if (entry.is_object() && entry.contains("name") && entry["name"].is_string())
      names.push_back(entry["name"].get<std::string>());
  return names;
}

/// Kills `node` with SIGKILL (and reaps it).
Clock::time_point kill_node(Node& node) {
  node.server->process().kill();
  return Clock::now();
}

}  // namespace

// ---------------------------------------------------------------------------
// membership

TEST_CASE_METHOD(ChainOfThree, "cluster: three nodes joining in a chain all list each other up",
                 "[cluster][membership]") {
  for (auto* node : {&a, &b, &c}) {
    auto api = node->client();
    auto nodes = nodes_of(api);
    INFO("GET /nodes on " << node->id << ": " << api.get("/nodes").describe());
    REQUIRE(nodes.size() == 3);
    for (auto* other : {&a, &b, &c}) {
      REQUIRE(nodes.count(other->id) == 1);
      const auto& entry = nodes[other->id];
      CHECK(entry.value("address", "") == node_address(other->node_port));
      CHECK(entry.value("state", "") == "up");
      REQUIRE(entry.contains("services"));
      CHECK(entry["services"] == 0);
    }
  }
}

TEST_CASE("cluster: the default node id is <hostname>:<node-port>", "[cluster][membership]") {
  auto first = start_node("");
  auto second = start_node("", {first.node_port});
  first.id = host_name() + ":" + std::to_string(first.node_port);
  second.id = host_name() + ":" + std::to_string(second.node_port);
  require_mesh({&first, &second});

  // The default id addresses the node's routes, raw and percent-encoded.
  auto api = first.client();
  E2E_CHECK_STATUS(api.get("/nodes/" + second.id + "/services"), 200);
  E2E_CHECK_STATUS(api.get(second.path() + "/services"), 200);
}

TEST_CASE_METHOD(FreshServer, "cluster: without --node-port, /nodes lists the local node alone",
                 "[cluster][membership]") {
  auto response = api.get("/nodes");
  E2E_REQUIRE_STATUS(response, 200);
  auto nodes = response.field("nodes");
  INFO(response.describe());
  REQUIRE(nodes.is_array());
  REQUIRE(nodes.size() == 1);
  CHECK(nodes[0].value("state", "") == "up");
  CHECK(nodes[0]["services"] == 0);
  CHECK(nodes[0]["cordoned"] == false);  // without a store nothing is ever drained
  REQUIRE(nodes[0]["id"].is_string());
  auto id = nodes[0]["id"].get<std::string>();
  // The local node is addressable by its id too.
  E2E_CHECK_STATUS(register_service(api, "echo"), 200);
  auto listed = names_at(api, "/nodes/" + percent_encode(id) + "/services");
  CHECK(contains(listed, "echo"));
  CHECK(node_services(api, id) == 1);
}

// ---------------------------------------------------------------------------
// remote services

TEST_CASE("cluster: register, configure, start, routes, stop, deregister on a remote node",
          "[cluster][remote]") {
  auto a = start_node("A");
  auto b = start_node("B", {a.node_port});
  auto c = start_node("n:1", {b.node_port});  // an id with ':' (percent-encoded in paths)
  require_mesh({&a, &b, &c});
  auto api = a.client();
  auto on_c = c.client();
  const std::string remote = c.path();  // /nodes/n%3A1
  REQUIRE(remote == "/nodes/n%3A1");

  // Register on C from A: through the "node" field and through the prefix.
  auto by_field = api.post("/services/register",
                           {{"service_name", "counter"}, {"instance_name", "cnt"}, {"node", c.id}});
  E2E_REQUIRE_STATUS(by_field, 200);
  CHECK(by_field.field("status") == "registered");
  CHECK(by_field.field("service") == "cnt");
  CHECK(by_field.field("type") == "CounterService");
  auto by_prefix =
      api.post(remote + "/services/register", {{"service_name", "echo"}, {"instance_name", "ech"}});
  E2E_REQUIRE_STATUS(by_prefix, 200);
  CHECK(by_prefix.field("type") == "EchoService");
  // Prefix and an agreeing "node" field.
  E2E_REQUIRE_STATUS(
      api.post(remote + "/services/register",
               {{"service_name", "echo"}, {"instance_name", "ech2"}, {"node", c.id}}),
      200);

  // The instances live on C, not on A.
  auto on_c_names = service_names(on_c);
  CHECK(contains(on_c_names, "cnt"));
  CHECK(contains(on_c_names, "ech"));
  CHECK(contains(on_c_names, "ech2"));
  CHECK(service_names(api).empty());
  auto remote_names = names_at(api, remote + "/services");
  CHECK(remote_names == on_c_names);
  // The raw id (with ':') addresses the node as well.
  CHECK(names_at(api, "/nodes/" + c.id + "/services") == on_c_names);
  // B reaches C too (it joined it directly).
  auto api_b = b.client();
  CHECK(names_at(api_b, remote + "/services") == on_c_names);

  // GET /nodes counts them, on every node.
  for (auto* node : {&a, &b, &c}) {
    auto client = node->client();
    INFO("GET /nodes on " << node->id << ": " << client.get("/nodes").describe());
    CHECK(node_services(client, c.id) == 3);
    CHECK(node_services(client, a.id) == 0);
    CHECK(node_services(client, b.id) == 0);
  }

  // Application status of the remote node.
  auto root = api.get(remote + "/");
  E2E_CHECK_STATUS(root, 200);
  CHECK(root.field("services").is_object());
  CHECK(root.field("services").contains("cnt"));

  // A name taken on C is refused (409); the same name is free on A.
  auto taken = api.post(remote + "/services/register",
                        {{"service_name", "counter"}, {"instance_name", "cnt"}});
  E2E_CHECK_STATUS(taken, 409);
  check_detail(taken);

  // configure: invalid (422 naming the field), then valid.
  auto invalid = api.post(remote + "/services/cnt/configure", {{"step", 0}});
  E2E_CHECK_STATUS(invalid, 422);
  CHECK(invalid.detail().find("step") != std::string::npos);
  auto configured =
      api.post(remote + "/services/cnt/configure", {{"initial_value", 10}, {"step", 5}});
  E2E_REQUIRE_STATUS(configured, 200);
  CHECK(configured.field("status") == "configured");
  CHECK(configured.field("service") == "cnt");
  auto status = api.get(remote + "/services/cnt");
  E2E_REQUIRE_STATUS(status, 200);
  CHECK(status.field("state") == "configured");
  CHECK(status.field("is_configured") == true);
  CHECK(status.field("metadata").value("step", -1) == 5);
  CHECK(status_of(on_c, "cnt") == status.body_json);

  // start, status.
  auto started = api.post(remote + "/services/cnt/start");
  E2E_REQUIRE_STATUS(started, 200);
  CHECK(started.field("status") == "started");
  CHECK(remote_state(api, remote, "cnt") == "running");
  CHECK(state_of(on_c, "cnt") == "running");
  auto again = api.post(remote + "/services/cnt/start");
  E2E_CHECK_STATUS(again, 409);
  check_detail(again);

  // Custom routes: counter.
  auto incremented = api.post(remote + "/services/cnt/increment");
  E2E_REQUIRE_STATUS(incremented, 200);
  CHECK(incremented.field("value") == 15);
  auto value = api.get(remote + "/services/cnt/value");
  E2E_CHECK_STATUS(value, 200);
  CHECK(value.field("value") == 15);
  CHECK(on_c.get("/services/cnt/value").field("value") == 15);  // the state lives on C
  E2E_CHECK_STATUS(api.get(remote + "/services/cnt/no-such-route"), 404);
  auto wrong_method = api.get(remote + "/services/cnt/increment");
  E2E_CHECK_STATUS(wrong_method, 405);
  CHECK_FALSE(wrong_method.header("Allow").empty());

  // Custom routes: echo (configure_and_start, then /echo).
  auto echo_started = api.post(remote + "/services/ech/configure_and_start", {{"prefix", "C"}});
  E2E_REQUIRE_STATUS(echo_started, 200);
  CHECK(echo_started.field("status") == "configured and started");
  auto echoed = api.post(remote + "/services/ech/echo", {{"message", "hi"}});
  E2E_REQUIRE_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "C: hi");
  auto no_message = api.post(remote + "/services/ech/echo", json::object());
  E2E_CHECK_STATUS(no_message, 422);

  // Unknown instance on the remote node.
  E2E_CHECK_STATUS(api.get(remote + "/services/nope"), 404);
  E2E_CHECK_STATUS(api.post(remote + "/services/nope/start"), 404);

  // stop.
  auto stopped = api.post(remote + "/services/cnt/stop");
  E2E_REQUIRE_STATUS(stopped, 200);
  CHECK(stopped.field("status") == "stopped");
  CHECK(remote_state(api, remote, "cnt") == "stopped");
  CHECK(state_of(on_c, "cnt") == "stopped");

  // deregister (ech is running: stopped first).
  for (const std::string name : {"cnt", "ech", "ech2"}) {
    auto removed = api.del(remote + "/services/" + name);
    E2E_REQUIRE_STATUS(removed, 200);
    CHECK(removed.field("status") == "deregistered");
    CHECK(removed.field("service") == name);
    E2E_CHECK_STATUS(api.get(remote + "/services/" + name), 404);
  }
  CHECK(service_names(on_c).empty());
  CHECK(node_services(api, c.id) == 0);
}

TEST_CASE("cluster: register with a 'node' that disagrees with the path, or is unknown",
          "[cluster][remote]") {
  auto [a, c] = start_joined_pair("A", "n:1");
  auto api = a.client();

  auto disagrees = api.post(c.path() + "/services/register",
                            {{"service_name", "echo"}, {"instance_name", "x"}, {"node", a.id}});
  E2E_CHECK_STATUS(disagrees, 400);
  check_detail(disagrees);
  auto disagrees_local =
      api.post("/nodes/A/services/register", {{"service_name", "echo"}, {"node", c.id}});
  E2E_CHECK_STATUS(disagrees_local, 400);
  // Nothing was created anywhere.
  auto on_c = c.client();
  CHECK(service_names(api).empty());
  CHECK(service_names(on_c).empty());

  auto unknown = api.post("/services/register", {{"service_name", "echo"}, {"node", "ghost"}});
  E2E_CHECK_STATUS(unknown, 404);
  CHECK(unknown.detail() == "Node ghost not found");
  auto bad_type = api.post("/services/register", {{"service_name", "echo"}, {"node", 42}});
  E2E_CHECK_STATUS(bad_type, 400);

  // "node" naming the local node registers locally.
  auto local = api.post("/services/register",
                        {{"service_name", "echo"}, {"instance_name", "here"}, {"node", a.id}});
  E2E_CHECK_STATUS(local, 200);
  CHECK(contains(service_names(api), "here"));
  CHECK(service_names(on_c).empty());
}

TEST_CASE("cluster: unknown node ids answer 404 on every route", "[cluster][invalid]") {
  auto a = start_node("A");
  auto api = a.client();
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/nodes/ghost/services"},
           {"GET", "/nodes/ghost/"},
           {"GET", "/nodes/ghost/services/x"},
           {"POST", "/nodes/ghost/services/x/start"},
           {"DELETE", "/nodes/ghost/services/x"},
           {"POST", "/nodes/ghost/services/x/increment"},
           {"POST", "/nodes/ghost/services/register"},
       }) {
    auto response = api.request(method, path,
                                method == "POST" ? std::optional<std::string>{"{}"} : std::nullopt);
    INFO(method << " " << path);
    E2E_CHECK_STATUS(response, 404);
    CHECK(response.detail() == "Node ghost not found");
  }
  // Percent-encoded: the detail names the decoded id.
  auto encoded = api.get("/nodes/gh%3Aost/services");
  E2E_CHECK_STATUS(encoded, 404);
  CHECK(encoded.detail() == "Node gh:ost not found");
  // The node keeps serving.
  E2E_CHECK_STATUS(api.get("/"), 200);
  CHECK(node_state(api, "A") == "up");
}

// ---------------------------------------------------------------------------
// failures

TEST_CASE_METHOD(
    ChainOfThree,
    "cluster: kill -9 of a node: down everywhere within 5 s, 503, in-flight call answered",
    "[cluster][failure]") {
  auto api_b = b.client();

  // A remote service of B, to show that the other peers keep working.
  register_on(api, b, "counter", "cb");
  // A start on C that blocks for 3 s, issued from A and in flight at the kill.
  register_on(api, c, "faulty", "slow");
  command_on(api, c, "slow", "configure",
             {{"start_delay_ms", 3000}, {"start_timeout_seconds", 10}});
  AsyncRequest in_flight(a.http_port(), "", "POST", c.path() + "/services/slow/start");
  auto on_c = c.client();
  bool starting = wait_for_state(on_c, "slow", "starting", 2500ms);
  REQUIRE(starting);
  REQUIRE_FALSE(in_flight.done());

  auto killed_at = kill_node(c);

  // Down on every remaining node within 5 s (measured while the in-flight
  // request runs on its own thread).
  auto seen = time_until_state({&a, &b}, c.id, "down", killed_at, 10s);
  check_seen_within(seen, "C down", default_down_after_ms);

  // The in-flight start gets a 503 (not a timeout of the HTTP client), quickly.
  const auto& reply = in_flight.response();
  auto reply_after_kill_ms =
      std::chrono::duration<double, std::milli>(in_flight.finished_at() - killed_at).count();
  {
    INFO(reply.describe() << " (" << reply_after_kill_ms << " ms after the kill)");
    CHECK(reply.status == 503);
    check_detail(reply);
    CHECK(reply_after_kill_ms < default_down_after_ms);
  }
  CHECK(node_state(api, a.id) == "up");
  CHECK(node_state(api, b.id) == "up");
  CHECK(node_state(api_b, a.id) == "up");

  // Its routes answer 503 at once with a clear detail, on every survivor.
  for (auto* client : {&api, &api_b}) {
    for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
             {"GET", c.path() + "/services"},
             {"GET", c.path() + "/services/slow"},
             {"POST", c.path() + "/services/slow/stop"},
             {"POST", c.path() + "/services/slow/increment"},
             {"DELETE", c.path() + "/services/slow"},
         }) {
      auto response = client->request(method, path);
      INFO(method << " " << path);
      E2E_CHECK_STATUS(response, 503);
      CHECK(response.detail() == "Node C is down");
      CHECK(response.elapsed_ms < 1000);
    }
    auto register_there =
        client->post("/services/register", {{"service_name", "echo"}, {"node", "C"}});
    E2E_CHECK_STATUS(register_there, 503);
    CHECK(register_there.detail() == "Node C is down");
  }

  // The local node keeps serving, and so does the other peer.
  E2E_CHECK_STATUS(api.get("/"), 200);
  E2E_CHECK_STATUS(register_service(api, "echo", "local"), 200);
  E2E_CHECK_STATUS(api.post("/services/local/start"), 200);
  CHECK(state_of(api, "local") == "running");
  E2E_CHECK_STATUS(api.post(b.path() + "/services/cb/start"), 200);
  auto incremented = api.post(b.path() + "/services/cb/increment");
  E2E_CHECK_STATUS(incremented, 200);
  CHECK(incremented.field("value") == 1);
  auto listed = api.get("/nodes");
  E2E_CHECK_STATUS(listed, 200);
  CHECK(listed.elapsed_ms < 2000);
  CHECK(node_services(api, a.id) == 1);
  CHECK(node_services(api, b.id) == 1);
}

TEST_CASE_METHOD(ChainOfThree,
                 "cluster: a killed node restarted on the same port and id rejoins and is up again",
                 "[cluster][failure][rejoin]") {
  register_on(api, c, "echo", "old");

  require_seen(time_until_seen_killed(c, {&a, &b}), "C down");
  E2E_CHECK_STATUS(api.get(c.path() + "/services"), 503);

  // Same node port, same id, joining A this time (C first joined B).
  c.server.reset();
  auto restarted = start_node("C", {a.node_port}, c.node_port);
  require_mesh({&a, &b, &restarted});

  // Remote routes work again, from both survivors; it is a new process.
  auto api_b = b.client();
  auto fresh = names_at(api, c.path() + "/services");
  CHECK_FALSE(contains(fresh, "old"));
  E2E_REQUIRE_STATUS(
      api_b.post("/services/register",
                 {{"service_name", "echo"}, {"instance_name", "new"}, {"node", "C"}}),
      200);
  command_on(api, c, "new", "configure_and_start", {{"prefix", "again"}});
  auto echoed = api.post(c.path() + "/services/new/echo", {{"message", "hi"}});
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "again: hi");
  // Started through A: B's replica of C has it one status batch later
  // (docs/architecture.md, "Status replicas").
  CHECK(wait_until([&] { return remote_state(api_b, c.path(), "new") == "running"; }, 5s));
  CHECK(node_services(api, "C") == 1);
  CHECK(node_services(api_b, "C") == 1);
  // And the restarted node reaches the others.
  auto on_c = restarted.client();
  E2E_CHECK_STATUS(on_c.post(b.path() + "/services/register", {{"service_name", "counter"}}), 200);
  E2E_CHECK_STATUS(on_c.post(b.path() + "/services/counter/increment"), 200);
  CHECK(node_services(on_c, "B") == 1);

  // A second kill of the same id is noticed again.
  check_seen_within(time_until_seen_killed(restarted, {&a, &b}), "C down (again)",
                    default_down_after_ms);
}

TEST_CASE_METHOD(TwoNodes,
                 "cluster: a peer that stops answering (SIGSTOP) makes calls end, never hang",
                 "[cluster][failure]") {
  register_on(api, c, "echo");

  c.server->process().signal(SIGSTOP);
  // kill() only queues the signal: wait until every thread is stopped.
  REQUIRE(wait_until([&] { return all_threads_stopped(c.server->process().pid()); }, 3s, 5ms));
  auto response = api.get(c.path() + "/services");
  {
    INFO(response.describe() << " after " << response.elapsed_ms << " ms");
    // docs/membership.md: a peer that does not answer within the request timeout (5 s) is
    // 504 (503 if it is already known down).
    CHECK((response.status == 504 || response.status == 503));
    check_detail(response);
    CHECK(response.elapsed_ms < 8000);
  }
  // A status read is answered at once: from A's replica of C while C is not
  // known down yet (docs/architecture.md, "Status replicas"), 503 after.
  auto status = api.get(c.path() + "/services/echo");
  {
    INFO(status.describe() << " after " << status.elapsed_ms << " ms");
    CHECK((status.status == 200 || status.status == 503));
    CHECK(status.elapsed_ms < 1000);
  }
  // The local node answers at once meanwhile.
  auto local = api.get("/");
  E2E_CHECK_STATUS(local, 200);
  CHECK(local.elapsed_ms < 1000);
  auto nodes = api.get("/nodes");
  E2E_CHECK_STATUS(nodes, 200);
  CHECK(nodes.elapsed_ms < 8000);

  c.server->process().signal(SIGCONT);
  // Back: its routes work again (if it was not declared down meanwhile).
  bool answers = wait_until(
      [&] {
        if (node_state(api, "C") != "up") return true;  // declared down: fine too
        return api.get(c.path() + "/services/echo").status == 200;
      },
      10s, 50ms);
  CHECK(answers);
}

// ---------------------------------------------------------------------------
// invalid inputs

TEST_CASE("cluster: --join with an invalid address is exit code 2 with one stderr line",
          "[cluster][invalid]") {
  for (const std::string address :
       {"nonsense", "127.0.0.1:0", "127.0.0.1:", ":1234", "127.0.0.1:70000", "127.0.0.1:x"}) {
    INFO("--join " << address);
    auto result = run_node({"--join", address}, 10s);
    check_exit(result.status, 2, result.err);
    CHECK_THAT(result.err, has_lines(1));
    CHECK_THAT(result.err, Catch::Contains(address));
  }
}

TEST_CASE("cluster: --join of a port that is not a node (HTTP) fails in bounded time",
          "[cluster][invalid]") {
  auto a = start_node("A");
  auto started = Clock::now();
  auto result = run_node({"--node-id", "X", "--join", node_address(a.http_port())});
  check_exit(result.status, 2, result.err);
  CHECK(elapsed_ms(started) < 15000);
  // The HTTP server that got the garbage keeps serving.
  auto api = a.client();
  E2E_CHECK_STATUS(api.get("/"), 200);
  CHECK(nodes_of(api).size() == 1);
}

TEST_CASE_METHOD(TwoNodes, "cluster: a node id that is already taken is refused (exit code 2)",
                 "[cluster][invalid]") {
  // Same id as a live member, joining another member.
  auto result = run_node({"--node-id", "A", "--join", node_address(c.node_port)});
  check_exit(result.status, 2, result.err);
  CHECK_FALSE(lines_of(result.err).empty());

  // The cluster is unchanged: two nodes, both up, A at its own address.
  auto api_c = c.client();
  bool unchanged = wait_until(
      [&] {
        auto nodes = nodes_of(api_c);
        return nodes.size() == 2 && nodes["A"].value("state", "") == "up" &&
               nodes["A"].value("address", "") == node_address(a.node_port);
      },
      3s);
  INFO(api_c.get("/nodes").describe());
  CHECK(unchanged);
  E2E_CHECK_STATUS(api_c.get("/nodes/A/services"), 200);
}

// ---------------------------------------------------------------------------
// more remote behaviour

TEST_CASE_METHOD(TwoNodes, "cluster: store routes (PUT/GET/DELETE with a key) on a remote node",
                 "[cluster][remote]") {
  const auto remote = c.path();

  register_on(api, c, "store");
  auto unconfigured = api.post(remote + "/services/store/start");
  E2E_CHECK_STATUS(unconfigured, 409);
  auto missing = api.post(remote + "/services/store/configure", json::object());
  E2E_CHECK_STATUS(missing, 422);
  CHECK(missing.detail().find("capacity") != std::string::npos);
  E2E_CHECK_STATUS(api.post_raw(remote + "/services/store/configure", "{not json"), 400);
  command_on(api, c, "store", "configure_and_start", {{"capacity", 2}});

  auto put = api.put(remote + "/services/store/items/k%201", {{"v", 1}});
  E2E_CHECK_STATUS(put, 200);
  CHECK(put.field("key") == "k 1");
  E2E_CHECK_STATUS(api.put(remote + "/services/store/items/k2", json::array({1, 2})), 200);
  E2E_CHECK_STATUS(api.put(remote + "/services/store/items/k3", 3), 409);  // full
  auto got = api.get(remote + "/services/store/items/k%201");
  E2E_CHECK_STATUS(got, 200);
  CHECK(got.field("value") == json{{"v", 1}});
  E2E_CHECK_STATUS(api.get(remote + "/services/store/items/absent"), 404);
  E2E_CHECK_STATUS(api.del(remote + "/services/store/items/k2"), 200);
  auto keys = api.get(remote + "/services/store/items?ignored=1");
  E2E_CHECK_STATUS(keys, 200);
  CHECK(keys.field("keys") == json::array({"k 1"}));
  // The same data from C's own REST.
  auto on_c = c.client();
  CHECK(on_c.get("/services/store/items").field("keys") == json::array({"k 1"}));
}

TEST_CASE_METHOD(ChainOfThree,
                 "cluster: concurrent requests to a remote service are all answered, serialized",
                 "[cluster][remote]") {
  start_on(api, c, "counter", "n");

  constexpr int per_node = 20;
  std::vector<std::unique_ptr<AsyncRequest>> requests;
  for (auto* from : {&a, &b}) {
    for (int i = 0; i < per_node; ++i)
      requests.push_back(std::make_unique<AsyncRequest>(from->http_port(), "", "POST",
                                                        c.path() + "/services/n/increment"));
  }
  std::set<long long> values;
  for (auto& request : requests) {
    const auto& response = request->response();
    INFO(response.describe());
    CHECK(response.status == 200);
    if (response.field("value").is_number_integer())
      values.insert(response.field("value").get<long long>());
  }
  // Every increment saw a distinct value: 1..2*per_node.
  CHECK(values.size() == 2 * per_node);
  auto on_c = c.client();
  CHECK(on_c.get("/services/n/value").field("value") == 2 * per_node);
}

TEST_CASE("cluster: killing the node the others joined through keeps the rest connected",
          "[cluster][failure]") {
  auto a = start_node("A");
  auto b = start_node("B", {a.node_port});
  auto c = start_node("C", {b.node_port});  // C knows A only through B
  auto d = start_node("D", {c.node_port});  // a longer chain: D knows A, B through C
  require_mesh({&a, &b, &c, &d});
  auto api_a = a.client();
  auto api_c = c.client();
  auto api_d = d.client();

  check_seen_within(time_until_seen_killed(b, {&a, &c, &d}), "B down", default_down_after_ms);
  // A, C and D stay up for each other (a full mesh, not a chain of relays)
  // and reach each other's services.
  std::map<std::string, std::string> states = {
      {"A", "up"}, {"B", "down"}, {"C", "up"}, {"D", "up"}};
  for (auto* client : {&api_a, &api_c, &api_d}) {
    bool settled = wait_for_nodes(*client, states, 3s);
    INFO(client->get("/nodes").describe());
    CHECK(settled);
  }
  E2E_CHECK_STATUS(api_a.post(c.path() + "/services/register", {{"service_name", "echo"}}), 200);
  E2E_CHECK_STATUS(api_d.post(a.path() + "/services/register", {{"service_name", "echo"}}), 200);
  E2E_CHECK_STATUS(api_c.get(d.path() + "/services"), 200);
  CHECK(node_services(api_d, "C") == 1);
  CHECK(node_services(api_c, "A") == 1);
}

TEST_CASE_METHOD(TwoNodes,
                 "cluster: a node that ends with SIGTERM exits 0 and is down on the others",
                 "[cluster][failure]") {
  start_on(api, c, "echo", "e");

  auto stopped_at = Clock::now();
  check_exit(c.server->stop(SIGTERM, 15s), 0, c.server->stderr_text());
  auto seen = time_until_state({&a}, "C", "down", stopped_at, 10s);
  CHECK(seen["A"] >= 0);
  CHECK(seen["A"] < default_down_after_ms);
  E2E_CHECK_STATUS(api.get(c.path() + "/services"), 503);
}

TEST_CASE_METHOD(TwoNodes,
                 "cluster: a node that forwarded requests to a peer still shuts down on SIGTERM",
                 "[cluster][failure][shutdown]") {
  {
    auto api = a.client();
    E2E_REQUIRE_STATUS(api.get(c.path() + "/services"), 200);  // one request A -> C
  }
  // docs/configuration.md: on SIGTERM the node stops its services and exits 0, never hangs.
  auto status = a.server->stop(SIGTERM, 15s);
  CHECK_FALSE(status.timed_out());
  check_exit(status, 0, a.server->stderr_text());
  // The peer that answered is unaffected.
  auto on_c = c.client();
  E2E_CHECK_STATUS(on_c.get("/"), 200);
  CHECK(wait_until([&] { return node_state(on_c, "A") == "down"; }, 5s));
}

TEST_CASE_METHOD(TwoNodes,
                 "cluster: remote start and delete that outlast 5 s answer like local ones",
                 "[cluster][remote][slow]") {
  // docs/architecture.md, "Lifecycle"; docs/rest-api.md: a start/stop reply is sent when the
  // transition has finished; start_timeout_seconds (here 20) bounds the transition, not the 5 s
  // peer request timeout of docs/membership.md (which is for a peer that does not answer).
  HttpClient patient_api(a.http_port(), "", 20s);  // waits out a 6 s start
  register_on(patient_api, c, "faulty", "f");
  command_on(patient_api, c, "f", "configure",
             {{"start_delay_ms", 6000},
              {"stop_delay_ms", 6000},
              {"start_timeout_seconds", 20},
              {"stop_timeout_seconds", 20}});
  // Locally (on C itself) the same start answers 200 after ~6 s.
  auto started = patient_api.post(c.path() + "/services/f/start");
  {
    INFO("remote start: " << started.describe() << " after " << started.elapsed_ms << " ms");
    CHECK(started.status == 200);
    CHECK(started.field("status") == "started");
  }
  CHECK(wait_until([&] { return remote_state(patient_api, c.path(), "f") == "running"; }, 5s));
  auto removed = patient_api.del(c.path() + "/services/f");
  {
    INFO("remote delete: " << removed.describe() << " after " << removed.elapsed_ms << " ms");
    CHECK(removed.status == 200);
    CHECK(removed.field("status") == "deregistered");
  }
  CHECK(wait_until([&] { return patient_api.get(c.path() + "/services/f").status == 404; }, 10s));
}

TEST_CASE_METHOD(
    ThreeJoiningOne,
    "cluster: a node restarted with the same id on another node port is up at the new address",
    "[cluster][failure][rejoin]") {
  require_seen(time_until_seen_killed(c, {&a, &b}), "C down");

  auto moved = start_node("C", {b.node_port});  // a new node port
  require_mesh({&a, &b, &moved});
  for (auto* node : {&a, &b, &moved}) {
    auto client = node->client();
    auto nodes = nodes_of(client);
    INFO("GET /nodes on " << node->id << ": " << client.get("/nodes").describe());
    CHECK(nodes["C"].value("address", "") == node_address(moved.node_port));
    CHECK(nodes.size() == 3);
  }
  E2E_CHECK_STATUS(api.post(moved.path() + "/services/register", {{"service_name", "echo"}}), 200);
  CHECK(names_at(api, moved.path() + "/services") == std::vector<std::string>{"echo"});
}

// ---------------------------------------------------------------------------
// status replicas (docs/architecture.md, "Status replicas")

namespace {

/// How many GET /nodes/{id}/services/{name} node `owner` answered for others.
long long forwarded_status_reads(Node& owner) {
  auto api = owner.client();
  auto text = api.get("/metrics").body;
  const std::string series =
      R"(processpype_http_requests_total{method="GET",route="/nodes/{id}/services/{name}",code="200"} )";
  auto at = text.find(series);
  if (at == std::string::npos) return 0;
  return std::stoll(text.substr(at + series.size()));
}

/// B, and A joining B, up on each other: A reads B's instances, from its
/// replica of B when that has caught up.
struct ReaderOfB {
  ReaderOfB() : b(start_node("B")), a(start_node("A", {b.node_port})) { require_mesh({&a, &b}); }

  /// Whether GET <B>/services/<name> on A shows `state` within 5 s.
  bool reads_state(const std::string& name, const std::string& state) {
    return wait_until([&] { return remote_state(api, b.path(), name) == state; }, 5s, 10ms);
  }

  Node b;
  Node a;
  HttpClient api = a.client();
};

}  // namespace

TEST_CASE_METHOD(
    ReaderOfB,
    "cluster: status reads through a peer are served by its replica and see each command",
    "[cluster][replica]") {
  register_on(api, b, "echo", "x");
  // The replica holds x once B's feed pushed it.
  REQUIRE(reads_state("x", "initialized"));

  // Read-your-writes: every read after a command's reply shows its effect,
  // whether the replica caught up already or the read went to B.
  for (int i = 0; i < 40; ++i) {
    command_on(api, b, "x", "start");
    REQUIRE(remote_state(api, b.path(), "x") == "running");
    command_on(api, b, "x", "stop");
    REQUIRE(remote_state(api, b.path(), "x") == "stopped");
  }

  // Once caught up, reads cost B nothing: 200 reads, not one forwarded.
  REQUIRE(wait_until(
      [&] {
        auto before = forwarded_status_reads(b);
        remote_state(api, b.path(), "x");
        return forwarded_status_reads(b) == before;
      },
      5s, 10ms));
  auto before = forwarded_status_reads(b);
  for (int i = 0; i < 200; ++i) REQUIRE(remote_state(api, b.path(), "x") == "stopped");
  CHECK(forwarded_status_reads(b) == before);
  // The body is B's, byte for byte.
  auto on_b = b.client();
  CHECK(api.get(b.path() + "/services/x").body == on_b.get("/services/x").body);
}

TEST_CASE_METHOD(
    ReaderOfB,
    "cluster: a replica follows changes made elsewhere: commands on the owner, removal, a restart",
    "[cluster][replica]") {
  auto on_b = b.client();
  register_ok(on_b, "echo", "y");
  REQUIRE(reads_state("y", "initialized"));

  // A command on B itself reaches A's replica without A asking.
  command_ok(on_b, "y", "configure_and_start", {{"prefix", "p"}});
  REQUIRE(reads_state("y", "running"));
  CHECK(api.get(b.path() + "/services/y").field("metadata").value("prefix", "") == "p");

  // Deregistered on B: 404 through A, as on B.
  E2E_REQUIRE_STATUS(on_b.del("/services/y"), 200);
  REQUIRE(wait_until([&] { return api.get(b.path() + "/services/y").status == 404; }, 5s, 10ms));

  // B restarted under the same id: A's replica is of the new process.
  register_ok(on_b, "echo", "z");
  command_ok(on_b, "z", "start");
  REQUIRE(reads_state("z", "running"));
  require_seen(time_until_seen_killed(b, {&a}), "B down");
  E2E_CHECK_STATUS(api.get(b.path() + "/services/z"), 503);
  b.server.reset();
  auto restarted = start_node("B", {a.node_port}, b.node_port);
  require_mesh({&a, &restarted});
  E2E_CHECK_STATUS(api.get(b.path() + "/services/z"), 404);
  auto on_new = restarted.client();
  register_ok(on_new, "echo", "z");
  REQUIRE(reads_state("z", "initialized"));
}

TEST_CASE_METHOD(TwoNodes,
                 "cluster: a /nodes/{id}/ request carries its X-Request-Id to the events it causes "
                 "there",
                 "[cluster][request-id]") {
  register_on(api, c, "echo", "traced");
  auto started = api.request("POST", c.path() + "/services/traced/start", std::nullopt,
                             {"X-Request-Id: ops-42"});
  E2E_REQUIRE_STATUS(started, 200);
  CHECK(started.header("X-Request-Id") == "ops-42");  // once, not once per node

  auto on_c = c.client();
  auto events = on_c.get("/events").field("events");
  REQUIRE(events.is_array());
  std::set<std::string> caused;
  for (const auto& event : events)
    if (event.value("service", "") == "traced" && event["request_id"] == "ops-42")
      caused.insert(event.value("state", ""));
  INFO(events.dump());
  CHECK(caused.count("starting") == 1);
  CHECK(caused.count("running") == 1);
}
