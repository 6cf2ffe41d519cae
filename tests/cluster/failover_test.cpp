// Cluster instances (docs/cluster.md): real `processpype` nodes on 127.0.0.1 that find each
// other through a real etcd (testing/etcd.hpp), a cluster instance of the `lock` example
// service whose flock proves that two copies never overlap, and what a user sees: it runs on
// one node, commands from any node reach it, and when its node is killed, frozen or drained
// it runs on another with its configuration. Every wait is a bounded poll.

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store_cluster.hpp"

using namespace cluster_tests;

namespace {

/// Which nodes GET /nodes on `api` says are cordoned, by id.
std::map<std::string, bool> cordoned_by_id(HttpClient& api) {
  std::map<std::string, bool> cordoned;
  auto reply = api.get("/nodes");
  if (!reply.body_json.is_object() || !reply.body_json["nodes"].is_array()) return cordoned;
  for (const auto& node : reply.body_json["nodes"])
    cordoned[node.value("id", "")] = node.value("cordoned", false);
  return cordoned;
}

}  // namespace

TEST_CASE("a cluster instance runs on one node and answers from every node",
          "[cluster][failover]") {
  StoreCluster cluster;
  auto api = cluster.node("A").client();
  auto owner = start_lock(api, cluster.lock_path());

  for (auto& [id, node] : cluster.nodes) {
    INFO("asked on " << id);
    auto client = node.client();
    // A node that did not carry the start sees it one status batch and one
    // watch event later (docs/architecture.md, "Status replicas").
    CHECK(wait_until(
        [&] {
          return client.get("/services/lk").field("state") == "running" &&
                 owner_of(client, "lk") == owner;
        },
        5s));
    auto status = client.get("/services/lk");
    E2E_REQUIRE_STATUS(status, 200);
    CHECK(status.body_json["state"] == "running");
    CHECK(status.body_json["placement"] == "cluster");
    CHECK(status.body_json["owner"] == owner);
    CHECK(status.body_json["metadata"]["path"] == cluster.lock_path());
    auto holder = client.get("/services/lk/holder");  // a custom route, carried to the owner
    E2E_REQUIRE_STATUS(holder, 200);
    CHECK(holder.body_json["node"] == owner);
    CHECK(holder.body_json["fencing_token"].is_number_integer());
    // Only the owner lists it among its own instances.
    auto names = service_names(client);
    CHECK((std::find(names.begin(), names.end(), "lk") != names.end()) == (id == owner));
    CHECK(owner_of(client, "lk") == owner);
  }
}

TEST_CASE("a cluster instance's name is unique across the cluster", "[cluster][failover]") {
  StoreCluster cluster({"A", "B"});
  auto a = cluster.node("A").client();
  auto b = cluster.node("B").client();
  E2E_REQUIRE_STATUS(register_service(b, "echo", "taken"), 200);

  auto clash =
      a.post("/services/register",
             json{{"service_name", "echo"}, {"instance_name", "taken"}, {"placement", "cluster"}});
  E2E_CHECK_STATUS(clash, 409);
  CHECK_THAT(clash.detail(), Catch::Contains("taken"));

  const json shared{
      {"service_name", "echo"}, {"instance_name", "shared"}, {"placement", "cluster"}};
  auto first = a.request("POST", "/services/register", shared.dump(), {"X-Request-Id: deploy-42"});
  E2E_REQUIRE_STATUS(first, 200);
  for (auto* api : {&a, &b}) {
    auto again = register_service(*api, "echo", "shared");  // a node instance of that name
    E2E_CHECK_STATUS(again, 409);
    E2E_CHECK_STATUS(api->post("/services/register", shared), 409);
    // The same request again (a client that lost the answer): the record it made stands.
    auto retry =
        api->request("POST", "/services/register", shared.dump(), {"X-Request-Id: deploy-42"});
    E2E_CHECK_STATUS(retry, 200);
  }
  auto placed_on_a_node =
      a.post("/services/register",
             json{{"service_name", "echo"}, {"placement", "cluster"}, {"node", "B"}});
  E2E_CHECK_STATUS(placed_on_a_node, 400);
}

TEST_CASE("a cluster instance that no live node may run is registered at once, without owner",
          "[cluster][failover]") {
  StoreCluster cluster({"A"});
  auto a = cluster.node("A").client();
  auto begin = Clock::now();
  register_cluster_instance(a, "echo", "pinned", json::array({"later"}));  // not up (yet)
  // Nothing to wait for: no owner can register it before a node "later" comes.
  CHECK(elapsed_ms(begin) < 2000);
  auto entry = cluster_entry(a, "pinned");
  REQUIRE(entry.is_object());
  CHECK(entry["owner"].is_null());
}

TEST_CASE("a cluster instance's registered event on its owner names the request that made it",
          "[cluster][failover][events]") {
  // docs/supervision.md, "Events": a registration is caused by its request
  // on whichever node registers it; what a node finds in the store at its
  // start is registered with the cause `startup`.
  StoreCluster cluster({"A", "B"});
  auto a = cluster.node("A").client();
  auto b = cluster.node("B").client();
  auto register_through_a = [&](const std::string& name, const std::string& node,
                                const std::string& request_id) {
    json body{{"service_name", "echo"},
              {"instance_name", name},
              {"placement", "cluster"},
              {"nodes", json::array({node})}};
    // Again after a DELETE: refused until the last owner released the name.
    REQUIRE(wait_until(
        [&] {
          return a.request("POST", "/services/register", body.dump(),
                           {"X-Request-Id: " + request_id})
                     .status == 200;
        },
        10s, 50ms));
  };
  auto last_registered = [](HttpClient& api, const std::string& name) {
    json found = nullptr;
    for (const auto& event : events_of(api, name))
      if (event.value("state", "") == "registered") found = event;
    return found;
  };

  register_through_a("cx", "B", "register-cx");  // carried to B by its record
  auto registered = last_registered(b, "cx");
  REQUIRE(registered.is_object());
  CHECK(registered["cause"] == "request");
  CHECK(registered["request_id"] == "register-cx");

  // Deleted, then registered anew: not a hand-over from its last owner.
  E2E_REQUIRE_STATUS(a.del("/services/cx"), 200);
  register_through_a("cx", "B", "register-cx-again");
  registered = last_registered(b, "cx");
  REQUIRE(registered.is_object());
  CHECK(registered["cause"] == "request");
  CHECK(registered["request_id"] == "register-cx-again");
  CHECK(registered["from_node"].is_null());

  register_through_a("found", "C", "register-found");  // C is not up yet
  cluster.nodes.emplace("C", cluster.start("C"));
  cluster.require_all_up();
  auto c = cluster.node("C").client();
  REQUIRE(wait_until([&] { return last_registered(c, "found").is_object(); }, 10s));
  registered = last_registered(c, "found");
  CHECK(registered["cause"] == "startup");
  CHECK(registered["request_id"].is_null());
}

TEST_CASE(
    "kill -9 of the owner: another node runs the instance within lease + 1 s, with its "
    "configuration",
    "[cluster][failover]") {
  StoreCluster cluster;
  std::string owner;
  {
    auto api = cluster.node("A").client();
    owner = start_lock(api, cluster.lock_path());
  }
  auto first_token = cluster.node(owner).client().get("/services/lk/holder").field("fencing_token");
  auto survivor = other_than(cluster, owner);
  auto api = cluster.node(survivor).client();

  auto killed_at = Clock::now();
  cluster.node(owner).server->process().kill();
  auto new_owner = wait_for_new_owner(api, "lk", owner, lease + slack() + 10s);
  auto took = Clock::now() - killed_at;
  REQUIRE_FALSE(new_owner.empty());
  INFO("running on " << new_owner << " after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                     << " ms");
  CHECK(took <= lease + slack());

  auto holder = api.get("/services/lk/holder");
  E2E_REQUIRE_STATUS(holder, 200);
  CHECK(holder.body_json["node"] == new_owner);
  CHECK(holder.body_json["fencing_token"].get<long long>() > first_token.get<long long>());
  CHECK(api.get("/services/lk").field("metadata")["path"] == cluster.lock_path());

  auto new_owner_api = cluster.node(new_owner).client();
  auto failovers = events_with_cause(new_owner_api, "lk", "failover");
  REQUIRE_FALSE(failovers.empty());
  CHECK(failovers.front()["from_node"] == owner);
  auto metrics = new_owner_api.get("/metrics").body;
  CHECK_THAT(metrics, Catch::Contains("processpype_cluster_failovers_total 1"));
  CHECK_THAT(metrics, Catch::Contains("processpype_cluster_instances_owned 1"));
  CHECK_THAT(metrics, Catch::Contains("processpype_store_request_seconds_count"));
}

TEST_CASE("a cluster instance that autostart started runs again after its owner is killed",
          "[cluster][failover][autostart]") {
  StoreCluster cluster;
  auto api = cluster.node("A").client();
  register_cluster_instance(api, "lock", "lk");
  E2E_REQUIRE_STATUS(
      api.post("/services/lk/configure", json{{"path", cluster.lock_path()}, {"autostart", true}}),
      200);
  std::string owner;
  REQUIRE(wait_until(
      [&] {
        auto entry = cluster_entry(api, "lk");
        if (!entry.is_object() || entry["state"] != "running") return false;
        owner = entry["owner"].get<std::string>();
        return true;
      },
      10s));
  // The record asks for it to run, as a user's start would (docs/state.md).
  CHECK(cluster_entry(api, "lk")["desired"] == "running");

  auto survivor = other_than(cluster, owner);
  auto survivor_api = cluster.node(survivor).client();
  cluster.node(owner).server->process().kill();
  CHECK_FALSE(wait_for_new_owner(survivor_api, "lk", owner, lease + slack() + 10s).empty());
}

TEST_CASE("SIGSTOP of the owner past its lease: the copy stops when it wakes, never two at once",
          "[cluster][failover]") {
  StoreCluster cluster({"A", "B"});
  auto a = cluster.node("A").client();
  register_cluster_instance(a, "lock", "lk");
  // Retries while the frozen copy still holds the flock (its start fails
  // with "lock held by another copy"), so it runs once the old copy stopped.
  E2E_REQUIRE_STATUS(a.post("/services/lk/configure", json{{"path", cluster.lock_path()},
                                                           {"restart", "on-failure"},
                                                           {"restart_delay_seconds", 0.1},
                                                           {"restart_max_delay_seconds", 0.3},
                                                           {"max_restarts", 1000}}),
                     200);
  E2E_REQUIRE_STATUS(a.post("/services/lk/start"), 200);
  auto owner = owner_of(a, "lk");
  auto survivor = other_than(cluster, owner);
  auto api = cluster.node(survivor).client();

  auto& frozen = cluster.node(owner).server->process();
  frozen.signal(SIGSTOP);
  // The survivor takes the instance over once the frozen node's lease has
  // expired; its starts fail while the frozen copy holds the lock.
  REQUIRE(wait_until([&] { return owner_of(api, "lk") == survivor; }, lease + slack() + 10s, 20ms));
  // The store names the new owner a moment before its copy of the instance
  // is there and configured (the holder route answers 404, then 409). Then
  // it names the frozen copy, the one that still holds the lock: never the
  // survivor's own.
  json holder;
  wait_until(
      [&] {
        holder = api.get("/services/lk/holder").field("node");
        CHECK(holder != survivor);
        return holder == owner;
      },
      5s, 20ms);
  CHECK(holder == owner);  // still the frozen one

  frozen.signal(SIGCONT);
  // Awake, the old owner finds its lease gone: it stops its copy at once
  // (or exits with 70 when it cannot), and the survivor's retry runs.
  REQUIRE(wait_until([&] { return api.get("/services/lk/holder").field("node") == survivor; }, 15s,
                     50ms));
  // The status read may come from this node's replica of the survivor's
  // status, one batch behind the holder route that was carried there.
  CHECK(wait_until([&] { return api.get("/services/lk").field("state") == "running"; }, 5s));
  if (frozen.alive()) {
    auto old = cluster.node(owner).client();
    auto names = service_names(old);
    CHECK(std::find(names.begin(), names.end(), "lk") == names.end());
  } else {
    CHECK(frozen.wait(1s).code == 70);
  }
}

TEST_CASE("drain hands a node's cluster instances over and cordons it, uncordon undoes it",
          "[cluster][failover]") {
  StoreCluster cluster({"A", "B"});
  auto a = cluster.node("A").client();
  auto owner = start_lock(a, cluster.lock_path());
  auto other = other_than(cluster, owner);

  auto drained_at = Clock::now();
  auto drained = a.post(cluster.node(owner).path() + "/drain");
  E2E_REQUIRE_STATUS(drained, 200);
  CHECK(drained.body_json["node"] == owner);
  auto new_owner = wait_for_new_owner(a, "lk", owner, 10s);
  CHECK(new_owner == other);
  INFO("handed over in "
       << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - drained_at).count()
       << " ms");
  CHECK(a.get("/services/lk/holder").field("node") == other);
  auto drained_api = cluster.node(owner).client();
  CHECK_FALSE(events_with_cause(drained_api, "lk", "handover").empty());
  // GET /nodes on either node shows the cordon (each node's view of the store).
  std::map<std::string, bool> drained_view{{owner, true}, {other, false}};
  CHECK(cordoned_by_id(drained_api) == drained_view);
  CHECK(wait_until([&] { return cordoned_by_id(a) == drained_view; }, 10s, 50ms));

  // Cordoned: new instances all go to the other node, even those that
  // prefer the drained one (of 12, all but one in 4096 cases).
  constexpr int instances = 12;
  for (int i = 0; i < instances; ++i) register_cluster_instance(a, "echo", "e" + std::to_string(i));
  for (int i = 0; i < instances; ++i) CHECK(owner_of(a, "e" + std::to_string(i)) == other);

  E2E_REQUIRE_STATUS(a.post(cluster.node(owner).path() + "/uncordon"), 200);
  std::map<std::string, bool> uncordoned_view{{owner, false}, {other, false}};
  CHECK(cordoned_by_id(drained_api) == uncordoned_view);
  CHECK(wait_until([&] { return cordoned_by_id(a) == uncordoned_view; }, 10s, 50ms));
  E2E_REQUIRE_STATUS(a.post("/cluster/rebalance"), 200);
  // Rebalanced: those that prefer it move back to their preferred owner.
  CHECK(wait_until(
      [&] {
        for (int i = 0; i < instances; ++i)
          if (owner_of(a, "e" + std::to_string(i)) == owner) return true;
        return false;
      },
      10s, 50ms));
}

namespace {

/// How long the stop of start_slow_stopping_instance's instance takes.
constexpr auto stop_delay = 4s;

/// Starts `slowstop`, a `faulty` cluster instance whose stop takes
/// stop_delay against a stop_timeout_seconds of 1 (answered as timed out
/// while the manager is still in it), through node A; returns its owner.
std::string start_slow_stopping_instance(StoreCluster& cluster) {
  auto api = cluster.node("A").client();
  register_cluster_instance(api, "faulty", "slowstop");
  auto delay_ms = std::chrono::duration_cast<std::chrono::milliseconds>(stop_delay).count();
  E2E_REQUIRE_STATUS(api.post("/services/slowstop/configure",
                              json{{"stop_delay_ms", delay_ms}, {"stop_timeout_seconds", 1}}),
                     200);
  E2E_REQUIRE_STATUS(api.post("/services/slowstop/start"), 200);
  auto owner = owner_of(api, "slowstop");
  REQUIRE_FALSE(owner.empty());
  return owner;
}

}  // namespace

TEST_CASE("drain with a stop that outlives its timeout: the next owner starts it only after",
          "[cluster][failover]") {
  // The stop is answered as timed out, and the instance deregistered, while
  // the manager is still in it: its owner key stays until the call returned
  // (docs/cluster.md, "Drain, uncordon, rebalance").
  StoreCluster cluster({"A", "B"});
  auto owner = start_slow_stopping_instance(cluster);
  auto successor = other_than(cluster, owner);
  auto api = cluster.node(successor).client();

  auto drained_at = Clock::now();
  auto drained = api.post(cluster.node(owner).path() + "/drain");
  E2E_CHECK_STATUS(drained, 200);
  REQUIRE(wait_for_new_owner(api, "slowstop", owner, 20s) == successor);
  auto runs_after = Clock::now() - drained_at;
  INFO("the successor ran it "
       << std::chrono::duration_cast<std::chrono::milliseconds>(runs_after).count()
       << " ms after the drain");
  CHECK(runs_after >= stop_delay);
  CHECK_THAT(cluster.node(owner).server->stderr_text(),
             Catch::Contains("handed over once its manager returns"));
}

TEST_CASE("SIGTERM: the cluster hand-over and the services' stop share closing_timeout_seconds",
          "[cluster][failover][shutdown]") {
  // systemd's TimeoutStopSec is sized on closing_timeout_seconds
  // (docs/packaging.md, "Stopping"): a hand-over that hangs must not get a
  // budget of its own before the node instances get theirs.
  StoreCluster cluster(std::vector<std::string>{});
  cluster.config_file = cluster.directory.write(
      "closing.yaml", "server:\n  closing_timeout_seconds: 4\ncluster:\n  lease_seconds: 2\n");
  cluster.nodes.emplace("A", cluster.start("A"));
  cluster.require_all_up();
  auto api = cluster.node("A").client();
  json hangs_on_stop{{"stop_delay_ms", 30000}};
  register_cluster_instance(api, "faulty", "held", json::array({"A"}));
  E2E_REQUIRE_STATUS(register_service(api, "faulty", "local"), 200);
  for (const std::string name : {"held", "local"}) {
    E2E_REQUIRE_STATUS(api.post("/services/" + name + "/configure", hangs_on_stop), 200);
    E2E_REQUIRE_STATUS(api.post("/services/" + name + "/start"), 200);
  }

  auto signalled_at = Clock::now();
  auto status = cluster.node("A").server->stop(SIGTERM, 30s);
  auto took = Clock::now() - signalled_at;
  INFO("exited after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                       << " ms");
  check_exit(status, 1, cluster.node("A").server->stderr_text());  // "local" did not stop
  CHECK(took < 4s + slack() + 1s);  // one budget, not one for each phase
}

TEST_CASE("SIGTERM with a stop slower than the hand-over: the next owner starts only after it",
          "[cluster][failover][shutdown]") {
  // The hand-over gets half of closing_timeout_seconds (docs/configuration.md,
  // "Signals"). A copy whose stop outlasts it keeps its owner key and the
  // node's lease until it stopped, or the process ended (docs/cluster.md,
  // "Drain, uncordon, rebalance").
  constexpr auto stop_delay = 8s;
  StoreCluster cluster(std::vector<std::string>{});
  cluster.config_file = cluster.directory.write(
      "closing.yaml", "server:\n  closing_timeout_seconds: 10\ncluster:\n  lease_seconds: 2\n");
  for (const std::string id : {"A", "B"}) cluster.nodes.emplace(id, cluster.start(id));
  cluster.require_all_up();
  auto a = cluster.node("A").client();
  auto owner = start_slow_stop(a, stop_delay);
  auto successor = other_than(cluster, owner);
  auto api = cluster.node(successor).client();
  auto& leaving = cluster.node(owner).server->process();

  auto signalled_at = Clock::now();
  leaving.signal(SIGTERM);
  auto since_signal = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled_at);
  };
  std::optional<std::chrono::milliseconds> both_ran_at;
  std::optional<std::chrono::milliseconds> exited_at;
  bool runs_on_successor = false;
  wait_until(
      [&] {
        auto entry = cluster_entry(api, "slowstop");
        runs_on_successor =
            entry.is_object() && entry["owner"] == successor && entry["state"] == "running";
        bool alive = leaving.alive();
        // The leaving copy blocks in its stop until stop_delay after the
        // signal at the earliest: seen running elsewhere before, while
        // the process is still there, two copies ran.
        if (runs_on_successor && alive && since_signal() < stop_delay && !both_ran_at)
          both_ran_at = since_signal();
        if (!alive && !exited_at) exited_at = since_signal();
        return runs_on_successor && exited_at;
      },
      30s, 20ms);
  INFO("the successor ran it " << (both_ran_at ? both_ran_at->count() : -1)
                               << " ms after the SIGTERM, while the copy there still stopped");
  CHECK_FALSE(both_ran_at);
  CHECK(runs_on_successor);
  REQUIRE(exited_at);
  INFO("exited after " << exited_at->count() << " ms\n"
                       << cluster.node(owner).server->stderr_text().substr(0, 3000));
  CHECK(*exited_at < 10s + slack() + 1s);  // within closing_timeout_seconds
}

TEST_CASE("an owner that wakes past its lease with a copy that cannot stop at once exits 70",
          "[cluster][failover]") {
  // docs/cluster.md, "Exit codes": the lease counts as lost while a copy
  // still runs (its stop blocks for 7 s): the node exits rather than let it
  // run beside the next owner's.
  StoreCluster cluster({"A", "B"});
  auto a = cluster.node("A").client();
  auto owner = start_slow_stop(a, 7s);
  auto survivor = other_than(cluster, owner);
  auto api = cluster.node(survivor).client();

  auto& frozen = cluster.node(owner).server->process();
  frozen.signal(SIGSTOP);
  REQUIRE(wait_for_new_owner(api, "slowstop", owner, lease + slack() + 10s) == survivor);
  frozen.signal(SIGCONT);
  auto status = frozen.wait(5s);
  check_exit(status, 70, cluster.node(owner).server->stderr_text());
  CHECK_THAT(cluster.node(owner).server->stderr_text(), Catch::Contains("slowstop"));
}

TEST_CASE("an owner that wakes past its lease stops its fast cluster instances as a normal stop",
          "[cluster][failover]") {
  // docs/cluster.md, "Leases and timing": awake past its lease, the node has
  // no stop budget left, yet each stop gets the grace to return; the `lock`
  // example's stop returns at once, so each is a normal stop: `stopped`, no
  // timeout, no exit 70. Several instances, so that a stop answered as
  // timed out a hair before it returned is all but sure to show.
  constexpr int instance_count = 12;
  StoreCluster cluster({"A"});
  auto a = cluster.node("A").client();
  std::vector<std::string> names;
  for (int index = 1; index <= instance_count; ++index) {
    auto name = "lk" + std::to_string(index);
    register_cluster_instance(a, "lock", name);
    auto path = (cluster.directory.path() / (name + ".lock")).string();
    E2E_REQUIRE_STATUS(a.post("/services/" + name + "/configure", json{{"path", path}}), 200);
    E2E_REQUIRE_STATUS(a.post("/services/" + name + "/start"), 200);
    names.push_back(name);
  }
  E2E_REQUIRE_STATUS(register_service(a, "echo", "local"), 200);
  E2E_REQUIRE_STATUS(a.post("/services/local/start"), 200);
  // B comes once A owns them all: they stay on A until it freezes.
  cluster.nodes.emplace("B", cluster.start("B"));
  cluster.require_all_up();
  auto b = cluster.node("B").client();

  auto& frozen = cluster.node("A").server->process();
  frozen.signal(SIGSTOP);
  for (const auto& name : names)
    REQUIRE(wait_until([&] { return owner_of(b, name) == "B"; }, lease + slack() + 10s, 20ms));
  frozen.signal(SIGCONT);

  auto listed_on_a = [&] {
    auto listed = service_names(a);
    return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
      return std::find(listed.begin(), listed.end(), name) != listed.end();
    });
  };
  wait_until([&] { return !frozen.alive() || !listed_on_a(); }, 15s, 50ms);
  auto log = cluster.node("A").server->stderr_text();
  INFO(log.substr(log.size() > 6000 ? log.size() - 6000 : 0));
  REQUIRE(frozen.alive());
  CHECK_FALSE(listed_on_a());
  CHECK(a.get("/services/local").field("state") == "running");
  for (const auto& name : names) {
    INFO(name);
    auto events = events_of(a, name);
    CHECK(std::none_of(events.begin(), events.end(),
                       [](const json& event) { return event.value("state", "") == "error"; }));
    CHECK(std::any_of(events.begin(), events.end(),
                      [](const json& event) { return event.value("state", "") == "stopped"; }));
  }
  CHECK_THAT(log, !Catch::Contains("Timed out stopping"));
  CHECK(frozen.alive());  // an exit 70 may come a moment after the stops
}

TEST_CASE("DELETE of a cluster instance from any node stops it and removes its record",
          "[cluster][failover]") {
  StoreCluster cluster({"A", "B"});
  auto a = cluster.node("A").client();
  auto owner = start_lock(a, cluster.lock_path());
  auto b = cluster.node(other_than(cluster, "A")).client();

  auto deleted = b.del("/services/lk");
  E2E_REQUIRE_STATUS(deleted, 200);
  CHECK(a.get("/services/lk/holder").status == 404);
  // Each node lists what its watch of the store has delivered: the owner at
  // once, the other within moments (docs/cluster.md, "What a user sees").
  CHECK(wait_until([&] { return cluster_entry(a, "lk").is_null(); }, 5s));
  CHECK(wait_until([&] { return cluster_entry(b, "lk").is_null(); }, 5s));
  E2E_CHECK_STATUS(b.get("/services/lk"), 404);
  // The name is free again, for either placement.
  E2E_CHECK_STATUS(register_service(a, "echo", "lk"), 200);
}

TEST_CASE("after a DELETE of a cluster instance its name is free at once on every node",
          "[cluster][failover]") {
  // A script's "delete, then register again": the DELETE is answered once
  // the owner key is deleted in the store (docs/cluster.md, "Records"), and
  // a registration is decided by the store, not by the node's view: the
  // owner, a node that carried the DELETE to the owner, or any other takes
  // the name again at once, never refused as "already exists" or "being
  // deleted".
  StoreCluster cluster({"A", "B"});
  const json again{{"service_name", "echo"}, {"instance_name", "again"}, {"placement", "cluster"}};
  std::string registrar = "A";
  E2E_REQUIRE_STATUS(cluster.node(registrar).client().post("/services/register", again), 200);
  for (int round = 0; round < 20; ++round) {
    INFO("round " << round << ", registered on " << registrar);
    auto registered_on = cluster.node(registrar).client();
    E2E_REQUIRE_STATUS(registered_on.post("/services/again/start"), 200);
    auto owner = owner_of(registered_on, "again");
    REQUIRE_FALSE(owner.empty());
    // Every other round the DELETE is carried from the other node to the owner.
    auto answering_id = round % 2 == 0 ? other_than(cluster, owner) : owner;
    INFO("owner " << owner << ", DELETE on " << answering_id);
    auto answering = cluster.node(answering_id).client();
    E2E_REQUIRE_STATUS(answering.del("/services/again"), 200);
    E2E_REQUIRE_STATUS(answering.post("/services/register", again), 200);

    E2E_REQUIRE_STATUS(answering.post("/services/again/start"), 200);
    E2E_REQUIRE_STATUS(answering.del("/services/again"), 200);
    registrar = other_than(cluster, answering_id);
    E2E_REQUIRE_STATUS(cluster.node(registrar).client().post("/services/register", again), 200);
  }
}

TEST_CASE("DELETE with a stop that outlives its timeout: the name is free only once it returned",
          "[cluster][failover]") {
  // The DELETE is answered as timed out, and the instance deregistered,
  // while the manager is still in its stop: the owner key stays until that
  // call returned, so a new instance of the name is refused (409) until
  // then and never runs beside the copy still stopping (docs/cluster.md,
  // "Records").
  StoreCluster cluster({"A", "B"});
  auto owner = start_slow_stopping_instance(cluster);
  auto api = cluster.node(other_than(cluster, owner)).client();

  auto deleted_at = Clock::now();
  auto since_delete = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - deleted_at);
  };
  auto deleted = api.del("/services/slowstop");
  auto answered_after = since_delete();
  E2E_CHECK_STATUS(deleted, 200);
  CHECK(deleted.body_json.contains("error"));  // the stop timed out
  CHECK(answered_after < stop_delay);

  // Registered again at once, from the node that does not own it, until
  // the store takes it.
  json again{{"service_name", "faulty"}, {"instance_name", "slowstop"}, {"placement", "cluster"}};
  std::optional<std::chrono::milliseconds> registered_after;
  std::set<std::pair<int, std::string>> refusals;
  wait_until(
      [&] {
        auto registered = api.post("/services/register", again);
        if (registered.status == 200)
          registered_after = since_delete();
        else
          refusals.emplace(registered.status, registered.body_json.value("detail", ""));
        return registered_after.has_value();
      },
      20s, 20ms);
  REQUIRE(registered_after);
  INFO("registered again " << registered_after->count() << " ms after the DELETE, answered after "
                           << answered_after.count() << " ms");
  CHECK(*registered_after >= stop_delay);
  for (const auto& [status, detail] : refusals)
    UNSCOPED_INFO("refused: " << status << " " << detail);
  // Each refusal says why, as docs/cluster.md ("Records") documents.
  CHECK(refusals == std::set<std::pair<int, std::string>>{
                        {409,
                         "Service slowstop is being deleted (its owner is stopping it): "
                         "register it again once it has stopped"}});
  E2E_CHECK_STATUS(api.post("/services/slowstop/start"), 200);
  CHECK(wait_until(
      [&] {
        auto entry = cluster_entry(api, "slowstop");
        return entry.is_object() && entry["state"] == "running";
      },
      5s));
  CHECK_THAT(cluster.node(owner).server->stderr_text(),
             Catch::Contains("deleted; its name stays taken until its manager returns"));
}

TEST_CASE("a store outage: commands on cluster instances 503, node instances and readiness go on",
          "[cluster][failover]") {
  StoreCluster cluster({"A", "B"});
  auto a = cluster.node("A").client();
  register_cluster_instance(a, "echo", "shared");
  E2E_REQUIRE_STATUS(register_service(a, "echo", "local"), 200);

  E2E_REQUIRE_STATUS(a.post("/services/shared/start"), 200);
  auto b = cluster.node("B").client();
  auto runs_shared = [](HttpClient& node) {
    auto names = service_names(node);
    return std::find(names.begin(), names.end(), "shared") != names.end();
  };

  cluster.etcd.member(0).freeze();
  // Once both nodes know, and the owner has stopped its copy (its lease at
  // risk), every command on it names the outage, from either node, whatever
  // their views still say of its owner.
  bool known = wait_until(
      [&] {
        return a.get("/health/ready").field("cluster_store") == "unreachable" &&
               b.get("/health/ready").field("cluster_store") == "unreachable" && !runs_shared(a) &&
               !runs_shared(b);
      },
      lease + slack() + 10s);
  auto refused_a = a.post("/services/shared/configure", json{{"prefix", "X"}});
  auto refused_b = b.post("/services/shared/stop");
  cluster.etcd.member(0).thaw();  // before any CHECK, so a failure does not leave it frozen
  REQUIRE(known);
  E2E_CHECK_STATUS(refused_a, 503);
  CHECK(refused_a.detail() == "cluster store unreachable");
  E2E_CHECK_STATUS(refused_b, 503);
  CHECK(refused_b.detail() == "cluster store unreachable");
  E2E_CHECK_STATUS(a.post("/services/local/start"), 200);
}

TEST_CASE("a store outage: the lease's stop does not wait for a command's write in flight",
          "[cluster][failover]") {
  // docs/cluster.md, "Store outages": a user's stop, sent to the owner as
  // the store freezes, waits for its write (a timeout, then a read back)
  // past the lease. The stop the lease at risk asks for runs at once all
  // the same: the copy has stopped when the lease counts as lost, and the
  // node goes on (no exit 70) with its node instances.
  StoreCluster cluster({"A", "B"});
  auto a = cluster.node("A").client();
  register_cluster_instance(a, "echo", "shared");
  E2E_REQUIRE_STATUS(a.post("/services/shared/start"), 200);
  auto owner_id = owner_of(a, "shared");
  REQUIRE_FALSE(owner_id.empty());
  auto& owner = cluster.node(owner_id);
  auto api = owner.client();
  E2E_REQUIRE_STATUS(register_service(api, "echo", "local"), 200);
  auto state_here = [&](const std::string& name) {
    auto services = api.get("/services").field("services");
    if (services.is_array())
      for (const auto& entry : services)
        if (entry.value("name", "") == name) return entry.value("state", "");
    return std::string{};
  };

  cluster.etcd.member(0).freeze();
  AsyncRequest pending(owner.http_port(), "", "POST", "/services/shared/stop");
  bool answered = wait_until([&] { return pending.done(); }, 30s, 50ms);
  // The lease counts as lost within `lease` of the freeze; an exit follows
  // at once.
  bool exited = wait_until([&] { return !owner.server->process().alive(); }, lease + slack(), 50ms);
  auto local = exited ? HttpResponse{} : api.post("/services/local/start");
  auto shared_state = exited ? std::string{} : state_here("shared");
  cluster.etcd.member(0).thaw();  // before any CHECK, so a failure does not leave it frozen

  INFO(owner.server->stderr_text().substr(0, 3000));
  REQUIRE(answered);
  REQUIRE_FALSE(exited);
  E2E_CHECK_STATUS(pending.response(), 503);
  CHECK(pending.response().detail() == "cluster store unreachable");
  E2E_CHECK_STATUS(local, 200);
  CHECK(shared_state != "running");
  // Once the store answers, the instance runs again (its record still
  // says running: the stop was not written) or can be started again.
  CHECK(wait_until(
      [&] {
        if (cluster_entry(api, "shared")["state"] == "running") return true;
        api.post("/services/shared/start");  // 503 while its owner settles
        return false;
      },
      lease + slack() + 20s, 200ms));
}

TEST_CASE("the store's state shows on /health/ready without taking the node out",
          "[cluster][failover]") {
  StoreCluster cluster({"A"});
  auto a = cluster.node("A").client();
  auto ready = a.get("/health/ready");
  E2E_REQUIRE_STATUS(ready, 200);
  // The node serves before its first call to the store has been answered:
  // until then it says so, and it never reports an outage it has not seen.
  CHECK_THAT(ready.field("cluster_store").get<std::string>(),
             Catch::Equals("connecting") || Catch::Equals("reachable"));
  CHECK(wait_until([&] { return a.get("/health/ready").field("cluster_store") == "reachable"; }, 5s,
                   20ms));

  cluster.etcd.member(0).kill();
  CHECK(wait_until([&] { return a.get("/health/ready").field("cluster_store") == "unreachable"; },
                   lease + 10s, 50ms));
  E2E_CHECK_STATUS(a.get("/health/ready"), 200);
  E2E_CHECK_STATUS(a.get("/services"), 200);
}

TEST_CASE(
    "a node started while the store is down answers 503 for cluster names until its view loads",
    "[cluster][failover]") {
  // docs/cluster.md, "Store outages": a node that has never read the
  // cluster's view knows no cluster instance. It must not say one is
  // absent (404, an empty list): a script would take that for the truth
  // and create it again elsewhere.
  StoreCluster cluster({"A"});
  auto a = cluster.node("A").client();
  register_cluster_instance(a, "echo", "shared");

  REQUIRE(cluster.etcd.member(0).stop());
  auto late = cluster.start("C");
  auto c = late.client();
  auto local_registered = register_service(c, "echo", "local");
  auto status = c.get("/services/shared");
  auto started = c.post("/services/shared/start");
  auto deleted = c.del("/services/shared");
  auto listed = c.get("/cluster/services");
  auto nodes = c.get("/nodes");
  auto new_cluster_instance =
      c.post("/services/register",
             json{{"service_name", "echo"}, {"instance_name", "fresh"}, {"placement", "cluster"}});
  auto local_status = c.get("/services/local");
  cluster.etcd.member(0).start();  // before any CHECK, so a failure does not leave it stopped
  REQUIRE(cluster.etcd.wait_until_healthy(20s).empty());

  for (const auto* refused : {&status, &started, &deleted, &listed}) {
    E2E_CHECK_STATUS(*refused, 503);
    CHECK_THAT(refused->detail(), Catch::StartsWith("cluster store unreachable") &&
                                      Catch::Contains("not loaded the cluster view"));
  }
  E2E_CHECK_STATUS(nodes, 200);
  CHECK(nodes.field("cluster_view") == "not_loaded");
  E2E_CHECK_STATUS(new_cluster_instance, 503);
  E2E_CHECK_STATUS(local_registered, 200);
  E2E_CHECK_STATUS(local_status, 200);

  // Once the store answers, the node reads the view and the name resolves.
  CHECK(wait_until([&] { return c.get("/services/shared").status == 200; }, lease + slack() + 20s,
                   100ms));
  CHECK(cluster_entry(c, "shared").is_object());
  CHECK(c.get("/nodes").field("cluster_view") == "loaded");
}
