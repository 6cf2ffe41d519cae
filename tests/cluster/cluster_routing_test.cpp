// Where a command on a cluster instance goes (docs/cluster.md, "What a user
// sees"; docs/rest-api.md, "Cluster"): real `processpype` nodes on one real
// etcd. A node whose node instance has a cluster instance's name declines
// the cluster instance (another eligible node runs it) until that node
// instance is deleted, and never answers a carried command with its node
// instance; /nodes/{id}/services/{name} works
// for a cluster instance owned elsewhere; an instance no node may ever run
// can still be deleted. Every wait is a bounded poll.

#include <catch2/catch.hpp>

#include <string>

#include "store_cluster.hpp"

using namespace cluster_tests;

namespace {

std::string base64(const std::string& text) {
  static constexpr char digits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < text.size(); i += 3) {
    auto n = (static_cast<unsigned char>(text[i]) << 16) |
             (static_cast<unsigned char>(text[i + 1]) << 8) |
             static_cast<unsigned char>(text[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += digits[(n >> shift) & 63];
  }
  if (i + 1 == text.size()) {
    auto n = static_cast<unsigned char>(text[i]) << 16;
    out += digits[(n >> 18) & 63];
    out += digits[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == text.size()) {
    auto n = (static_cast<unsigned char>(text[i]) << 16) |
             (static_cast<unsigned char>(text[i + 1]) << 8);
    out += digits[(n >> 18) & 63];
    out += digits[(n >> 12) & 63];
    out += digits[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

/// Puts `value` at `key` in the cluster's etcd (no lease), through its JSON
/// gateway: what an operator's etcdctl could do.
void store_put(StoreCluster& cluster, const std::string& key, const std::string& value) {
  HttpClient store(cluster.etcd.member(0).client_port());
  auto put = store.post("/v3/kv/put", json{{"key", base64(key)}, {"value", base64(value)}});
  E2E_REQUIRE_STATUS(put, 200);
}

/// Starts the node `id` on `cluster`'s store with an application file that
/// has a node instance `name` of the class `counter`, and adds it to the
/// cluster's nodes.
Node& start_with_counter(StoreCluster& cluster, TempDirectory& directory, const std::string& id,
                         const std::string& name) {
  auto config = directory.write(id + ".yaml",
                                "cluster:\n  lease_seconds: 2\n"
                                "services:\n  " +
                                    name + ":\n    type: counter\n");
  auto options = node_options();
  options.args.insert(options.args.end(),
                      {"--cluster-store", cluster.store_endpoints(), "--config", config});
  return cluster.nodes.emplace(id, start_node(id, {}, 0, options)).first->second;
}

/// The counter `name` of node `api` answers its value (it is still there).
void check_counter_there(HttpClient& api, const std::string& name) {
  auto value = api.get("/services/" + name + "/value");
  E2E_CHECK_STATUS(value, 200);
  CHECK(value.field("value") == 0);
  CHECK(api.get("/services/" + name).field("origin") == "file");
}

/// Waits until `api`'s entry of `name` has `declined` as its "declined",
/// `owner` as its owner ("": none) and, unless `state` is empty, that state;
/// fails with the last entry read and `node`'s log.
void require_entry(HttpClient& api, const std::string& name, const json& declined,
                   const std::string& owner, const Node& node, const std::string& state = "") {
  json entry;
  bool reached = wait_until(
      [&] {
        entry = cluster_entry(api, name);
        return entry.is_object() && entry["declined"] == declined &&
               (owner.empty() ? entry["owner"].is_null() : entry["owner"] == owner) &&
               (state.empty() || entry["state"] == state);
      },
      30s, 20ms);
  INFO("entry: " << entry.dump() << "\nnode " << node.id << ": " << node.server->stderr_text());
  REQUIRE(reached);
}

}  // namespace

TEST_CASE(
    "a node whose node instance has a cluster instance's name declines it: another eligible "
    "node runs it, and commands never reach the node instance",
    "[cluster][failover][routing]") {
  StoreCluster cluster({"A"});
  TempDirectory directory{"cluster-routing"};
  auto a = cluster.node("A").client();
  // Neither eligible node is up: it has no owner yet.
  register_cluster_instance(a, "echo", "clash", json{"B", "C"});
  auto& c_node = start_with_counter(cluster, directory, "C", "clash");
  auto c = c_node.client();

  // C is its only live candidate: it takes the owner key, finds its own
  // node instance of that name, declines the instance and lets it go.
  json entry;
  bool declined = wait_until(
      [&] {
        entry = cluster_entry(a, "clash");
        return entry.is_object() && entry["declined"] == json{"C"} && entry["owner"].is_null();
      },
      20s, 20ms);
  INFO("A's entry: " << entry.dump() << "\nC: " << c_node.server->stderr_text());
  REQUIRE(declined);
  auto unowned = a.get("/services/clash/value");
  E2E_CHECK_STATUS(unowned, 503);
  CHECK_THAT(unowned.detail(), Catch::Contains("no owner"));
  check_counter_there(c, "clash");

  // B, eligible and not declining it, runs it; commands through A reach it.
  cluster.nodes.emplace("B", cluster.start("B"));
  CHECK(wait_until([&] { return owner_of(a, "clash") == "B"; }, 20s, 20ms));
  E2E_REQUIRE_STATUS(a.post("/services/clash/start"), 200);
  auto echoed = a.post("/services/clash/echo", json{{"message", "hi"}});
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "Echo: hi");
  E2E_CHECK_STATUS(a.get("/services/clash/value"), 404);  // echo has no /value

  // A DELETE through A removes the cluster instance, not C's counter.
  E2E_CHECK_STATUS(a.del("/services/clash"), 200);
  check_counter_there(c, "clash");
}

TEST_CASE("a command carried to a node that has only a node instance of the name is refused (409)",
          "[cluster][failover][routing]") {
  StoreCluster cluster({"A"});
  TempDirectory directory{"cluster-routing"};
  auto a = cluster.node("A").client();
  // Only Z may run it, and Z never comes: nobody acquires it.
  register_cluster_instance(a, "echo", "twin", json{"Z"});
  auto& c_node = start_with_counter(cluster, directory, "C", "twin");
  auto c = c_node.client();
  cluster.require_all_up();  // A can reach C (a slow build joins later)
  // A stale or hand-written owner key names C: A's view says C owns it.
  store_put(cluster, "/processpype/processpype/owners/twin", R"({"node":"C"})");
  REQUIRE(wait_until([&] { return owner_of(a, "twin") == "C"; }, 10s, 20ms));

  for (const auto* method : {"GET", "DELETE"}) {
    INFO(method);
    auto carried =
        std::string{method} == "GET" ? a.get("/services/twin/value") : a.del("/services/twin");
    E2E_CHECK_STATUS(carried, 409);
    CHECK_THAT(carried.detail(), Catch::Contains("node instance"));
  }
  check_counter_there(c, "twin");
}

TEST_CASE(
    "/nodes/{id}/services/{name} reaches a cluster instance owned by another node, from either "
    "node",
    "[cluster][failover][routing]") {
  StoreCluster cluster({"A", "B"});
  auto a = cluster.node("A").client();
  auto b = cluster.node("B").client();
  register_cluster_instance(a, "echo", "slow", json{"B"});
  REQUIRE(wait_until([&] { return owner_of(a, "slow") == "B"; }, 10s, 20ms));

  // On A, addressed to A: carried to B without the /nodes/A prefix.
  E2E_CHECK_STATUS(a.post("/nodes/A/services/slow/start"), 200);
  auto echoed = a.post("/nodes/A/services/slow/echo", json{{"message", "via A"}});
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "Echo: via A");
  // On B, addressed to A: forwarded to A, which carries it back to B.
  auto from_b = b.post("/nodes/A/services/slow/echo", json{{"message", "via B"}});
  E2E_CHECK_STATUS(from_b, 200);
  CHECK(from_b.field("message") == "Echo: via B");
  E2E_CHECK_STATUS(b.post("/nodes/A/services/slow/stop"), 200);
  CHECK(b.get("/services/slow").field("state") == "stopped");
}

TEST_CASE("a cluster instance no node may run can be deleted", "[cluster][failover][routing]") {
  StoreCluster cluster({"A"});
  auto a = cluster.node("A").client();
  register_cluster_instance(a, "echo", "ghost", json{"zz"});  // no such node
  auto configured = a.post("/services/ghost/configure", json{{"prefix", "X"}});
  E2E_CHECK_STATUS(configured, 503);
  CHECK_THAT(configured.detail(), Catch::Contains("no owner"));

  auto deleted = a.del("/services/ghost");
  E2E_REQUIRE_STATUS(deleted, 200);
  CHECK(deleted.field("status") == "deregistered");
  CHECK(cluster_entry(a, "ghost").is_null());  // the writer's view has it at once
  E2E_CHECK_STATUS(a.del("/services/ghost"), 404);
  // The name is free again (a request replaces a tombstone without owner).
  register_cluster_instance(a, "echo", "ghost", json{"A"});
  CHECK(wait_until([&] { return owner_of(a, "ghost") == "A"; }, 10s, 20ms));
}

TEST_CASE(
    "a node whose node instance of a cluster instance's name is deleted stops declining it and "
    "runs it when it may",
    "[cluster][failover][routing]") {
  StoreCluster cluster({"A"});
  TempDirectory directory{"cluster-routing"};
  auto a = cluster.node("A").client();
  register_cluster_instance(a, "echo", "clash", json{"C"});  // only C may run it
  auto& c_node = start_with_counter(cluster, directory, "C", "clash");
  auto c = c_node.client();
  require_entry(a, "clash", json{"C"}, "", c_node);

  // On C the name is its node instance's: the DELETE removes that, and the
  // decline goes with it.
  auto deleted = c.del("/services/clash");
  E2E_REQUIRE_STATUS(deleted, 200);
  CHECK(deleted.field("status") == "deregistered");
  require_entry(a, "clash", json::array(), "C", c_node);
  CHECK(
      wait_until([&] { return c.get("/services/clash").field("origin") == "cluster"; }, 30s, 20ms));
  E2E_REQUIRE_STATUS(a.post("/services/clash/start"), 200);
  auto echoed = a.post("/services/clash/echo", json{{"message", "hi"}});
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "Echo: hi");
}

TEST_CASE(
    "a cluster instance a node stopped declining stays with its owner and fails over to that "
    "node",
    "[cluster][failover][routing]") {
  StoreCluster cluster({"A"});
  TempDirectory directory{"cluster-routing"};
  auto a = cluster.node("A").client();
  register_cluster_instance(a, "echo", "clash", json{"B", "C"});
  auto& c_node = start_with_counter(cluster, directory, "C", "clash");
  auto c = c_node.client();
  require_entry(a, "clash", json{"C"}, "", c_node);
  auto& b_node = cluster.nodes.emplace("B", cluster.start("B")).first->second;
  require_entry(a, "clash", json{"C"}, "B", b_node);
  E2E_REQUIRE_STATUS(a.post("/services/clash/start"), 200);

  // C may run it again, but B owns it and keeps it.
  E2E_REQUIRE_STATUS(c.del("/services/clash"), 200);
  require_entry(a, "clash", json::array(), "B", c_node, "running");

  // B leaves: C, the only eligible node left, runs it.
  b_node.server->stop();
  require_entry(a, "clash", json::array(), "C", c_node, "running");
  auto echoed = a.post("/services/clash/echo", json{{"message", "after B"}});
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "Echo: after B");
}
