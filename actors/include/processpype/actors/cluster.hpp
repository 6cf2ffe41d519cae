#pragma once

// This node as a member of a cluster with a store (docs/cluster.md): the
// Coordinator of processpype::cluster keeps the node's lease, the view of
// the cluster and the owner keys; the node's ClusterActor turns what it
// decides into commands to the Supervisor. Runtime::join_cluster creates
// it; the REST API reads the view here and sends the ClusterActor what
// changes placement.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "processpype/actors/protocol.hpp"
#include "processpype/cluster/coordinator.hpp"

namespace processpype {

/// How this node takes part (docs/cluster.md, "Settings").
struct ClusterOptions {
  /// The store's endpoints and TLS, `cluster.name`, `cluster.lease_seconds`.
  /// The node's registration (id, node address, classes) is filled in by
  /// Runtime::join_cluster; `rest_url` is set by the caller.
  cluster::CoordinatorOptions coordinator;
  /// How this node's REST API is reached (registered in the store, for
  /// `processpype ctl` and operators).
  std::string rest_url;
};

/// An application file's cluster instance: its record is created when the
/// cluster has none and never overwritten (docs/cluster.md, "Records").
struct FileClusterInstance {
  std::string name;
  std::string class_key;
  std::vector<std::string> nodes;
  nlohmann::json configuration = nlohmann::json::object();
  bool enabled = true;
};

/// The durations of this node's calls to the store, for
/// `processpype_store_request_seconds` (any thread).
class StoreLatency {
 public:
  /// Upper bounds of the buckets, in seconds.
  static constexpr std::array<double, 12> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};

  void observe(std::chrono::nanoseconds duration) noexcept;
  /// The histogram in Prometheus' text format.
  std::string prometheus_text() const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};  ///< last: +Inf
  std::atomic<std::uint64_t> sum_nanoseconds_{0};
};

/// This node's part in the cluster; readers never wait for the store.
class Cluster {
 public:
  Cluster(caf::actor_system& system, std::shared_ptr<cluster::Coordinator> coordinator,
          ClusterActor actor, std::shared_ptr<const StoreLatency> latency);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  /// Where registrations, deletions, drain and rebalance go.
  const ClusterActor& actor() const noexcept { return actor_; }

  /// The cluster instances of this node's view (GET /cluster/services).
  std::vector<cluster::ClusterInstance> instances() const;
  std::optional<cluster::ClusterInstance> instance(std::string_view name) const;
  /// Whether this node has read the cluster's view from the store once:
  /// until then (a node started during a store outage) it knows no cluster
  /// instance and no node it would find through the store, and absence
  /// from its view proves nothing.
  bool view_loaded() const;
  /// The live nodes of this node's view, by id (GET /nodes: which are cordoned).
  std::vector<cluster::NodeInfo> nodes() const;
  /// Whether the last call to the store was answered (`/health/ready`);
  /// empty until the store first answers or fails to, just after the start.
  std::optional<bool> store_reachable() const;
  cluster::CoordinatorMetrics metrics() const;
  /// `processpype_cluster_instances_owned`, `processpype_cluster_failovers_total`
  /// and `processpype_store_request_seconds` (docs/operations.md).
  std::string prometheus_text() const;
  const std::string& node_id() const noexcept;

  /// The clean exit (SIGTERM): cordons this node, hands every instance it
  /// owns over (stop, release; the next owner starts them), then revokes
  /// its lease. Waits at most `timeout` for the handovers; returns the
  /// instances not handed over by then: the lease stays, each is released
  /// once its stop finished, and what is left expires with the lease once
  /// the process ended.
  std::vector<std::string> leave(std::chrono::milliseconds timeout);

 private:
  caf::actor_system& system_;
  std::shared_ptr<cluster::Coordinator> coordinator_;
  ClusterActor actor_;
  std::shared_ptr<const StoreLatency> latency_;
};

}  // namespace processpype
