#pragma once

// What the failover tests share (docs/cluster.md): nodes that find each other
// through a real etcd (testing/etcd.hpp), and what a user reads of a cluster
// instance: its entry in GET /cluster/services, its owner, its events.

#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cluster_support.hpp"
#include "processpype/testing/etcd.hpp"

namespace cluster_tests {

/// The lease the nodes of these tests keep (the smallest allowed): failover
/// within lease + 1 s is what a user is promised.
inline constexpr auto lease = 2s;

/// Whether this is the sanitizer pass (everything is slower there).
inline bool sanitized() {
  return std::getenv("PROCESSPYPE_TEST_SANITIZED") != nullptr;
}

/// Under the sanitizers everything is slower: a bound on a failover gets
/// more slack there (the promise is checked by the normal pass).
inline std::chrono::milliseconds slack() {
  return sanitized() ? 4s : 1s;
}

/// A cluster of `ids` on an etcd of `etcd_options` (one member by default),
/// each node with its own REST API and node port, finding the others through
/// the store (no --join). Nodes that need more (another network) are
/// started by the test with start() or their own options and added to
/// `nodes`.
struct StoreCluster {
  explicit StoreCluster(std::vector<std::string> ids = {"A", "B", "C"},
                        EtcdClusterOptions etcd_options = {})
      : etcd(std::move(etcd_options)) {
    config_file = directory.write("node.yaml", "cluster:\n  lease_seconds: 2\n");
    for (const auto& id : ids) nodes.emplace(id, start(id));
    if (!ids.empty()) require_all_up();
  }

  /// The file the `lock` instance lk locks (start_lock): in this cluster's directory.
  std::string lock_path() const { return (directory.path() / "lk.lock").string(); }

  /// Every member's client URL, as --cluster-store takes them.
  std::string store_endpoints() const {
    std::string joined;
    for (const auto& endpoint : etcd.endpoints()) joined += (joined.empty() ? "" : ",") + endpoint;
    return joined;
  }

  /// The node `id` on this cluster's store; `options` (node_options() by
  /// default) gain the store and the lease.
  Node start(const std::string& id, ServerOptions options = node_options(),
             const std::string& store = "") {
    options.args.insert(
        options.args.end(),
        {"--cluster-store", store.empty() ? store_endpoints() : store, "--config", config_file});
    return start_node(id, {}, 0, options);
  }

  void require_all_up() {
    std::vector<int> ports;
    std::set<std::string> ids;
    for (auto& [id, node] : nodes) {
      ports.push_back(node.http_port());
      ids.insert(id);
    }
    INFO(describe_views(ports));
    REQUIRE(time_until_all_up(ports, ids, 20s));
  }

  Node& node(const std::string& id) { return nodes.at(id); }

  EtcdCluster etcd;
  TempDirectory directory{"failover-test"};
  std::string config_file;
  std::map<std::string, Node> nodes;
};

/// The entry of `name` in GET /cluster/services on `api` (null when absent).
inline json cluster_entry(HttpClient& api, const std::string& name) {
  auto services = api.get("/cluster/services").field("services");
  if (!services.is_array()) return nullptr;
  for (const auto& entry : services)
    if (entry.value("name", "") == name) return entry;
  return nullptr;
}

/// GET /cluster/services on `api` as name -> owner ("" for none); empty
/// when it cannot be read.
inline std::map<std::string, std::string> owners(HttpClient& api) {
  std::map<std::string, std::string> found;
  auto services = api.get("/cluster/services").field("services");
  if (!services.is_array()) return found;
  for (const auto& entry : services)
    found[entry.value("name", "")] =
        entry["owner"].is_string() ? entry["owner"].get<std::string>() : "";
  return found;
}

/// The owner of `name` as `api` sees it ("" when none).
inline std::string owner_of(HttpClient& api, const std::string& name) {
  auto entry = cluster_entry(api, name);
  return entry.is_object() && entry["owner"].is_string() ? entry["owner"].get<std::string>() : "";
}

inline void register_cluster_instance(HttpClient& api, const std::string& service_name,
                                      const std::string& name, json nodes = nullptr) {
  json body{{"service_name", service_name}, {"instance_name", name}, {"placement", "cluster"}};
  if (!nodes.is_null()) body["nodes"] = std::move(nodes);
  E2E_REQUIRE_STATUS(api.post("/services/register", body), 200);
}

/// Polls until `api` sees `name` owned by a node other than `not_owner`
/// and running there; that owner ("" when not in time).
inline std::string wait_for_new_owner(HttpClient& api, const std::string& name,
                                      const std::string& not_owner,
                                      std::chrono::milliseconds timeout) {
  std::string owner;
  wait_until(
      [&] {
        auto entry = cluster_entry(api, name);
        if (!entry.is_object() || !entry["owner"].is_string()) return false;
        owner = entry["owner"].get<std::string>();
        return owner != not_owner && entry["state"] == "running";
      },
      timeout, 20ms);
  return owner != not_owner ? owner : "";
}

/// Registers, configures and starts the cluster instance `lk` of `lock` on
/// `path` through `api`; its owner.
inline std::string start_lock(HttpClient& api, const std::string& path) {
  register_cluster_instance(api, "lock", "lk");
  E2E_REQUIRE_STATUS(api.post("/services/lk/configure", json{{"path", path}}), 200);
  E2E_REQUIRE_STATUS(api.post("/services/lk/start"), 200);
  auto owner = owner_of(api, "lk");
  REQUIRE_FALSE(owner.empty());
  return owner;
}

/// Registers the cluster instance `slowstop` of the `faulty` example,
/// whose stop blocks for `stop_delay`, and starts it through `api`; its owner.
inline std::string start_slow_stop(HttpClient& api, std::chrono::milliseconds stop_delay) {
  register_cluster_instance(api, "faulty", "slowstop");
  E2E_REQUIRE_STATUS(
      api.post("/services/slowstop/configure", json{{"stop_delay_ms", stop_delay.count()}}), 200);
  E2E_REQUIRE_STATUS(api.post("/services/slowstop/start"), 200);
  auto owner = owner_of(api, "slowstop");
  REQUIRE_FALSE(owner.empty());
  return owner;
}

/// The events of GET /events on `api` about `name` with `cause`.
inline std::vector<json> events_with_cause(HttpClient& api, const std::string& name,
                                           const std::string& cause) {
  std::vector<json> found;
  auto events = api.get("/events").field("events");
  if (!events.is_array()) return found;
  for (const auto& event : events)
    if (event.value("service", "") == name && event.value("cause", "") == cause)
      found.push_back(event);
  return found;
}

/// The events of GET /events on `api` about `name`, oldest first.
inline std::vector<json> events_of(HttpClient& api, const std::string& name) {
  std::vector<json> found;
  auto events = api.get("/events").field("events");
  if (!events.is_array()) return found;
  for (const auto& event : events)
    if (event.value("service", "") == name) found.push_back(event);
  return found;
}

inline std::string other_than(const StoreCluster& cluster, const std::string& id) {
  for (const auto& [each, node] : cluster.nodes)
    if (each != id) return each;
  return "";
}

}  // namespace cluster_tests
