#include "processpype/actors/cluster.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>
#include <caf/all.hpp>

#include "blocking_request.hpp"

namespace processpype {

void StoreLatency::observe(std::chrono::nanoseconds duration) noexcept {
  double seconds = std::chrono::duration<double>(duration).count();
  auto bucket = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
  buckets_[static_cast<std::size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  sum_nanoseconds_.fetch_add(static_cast<std::uint64_t>(duration.count()),
                             std::memory_order_relaxed);
}

std::string StoreLatency::prometheus_text() const {
  std::string out =
      "# HELP processpype_store_request_seconds Calls of this node to the cluster store.\n"
      "# TYPE processpype_store_request_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    auto bound = i < bounds.size() ? fmt::format("{}", bounds[i]) : std::string{"+Inf"};
    fmt::format_to(std::back_inserter(out),
                   "processpype_store_request_seconds_bucket{{le=\"{}\"}} {}\n", bound, cumulative);
  }
  fmt::format_to(std::back_inserter(out),
                 "processpype_store_request_seconds_sum {}\n"
                 "processpype_store_request_seconds_count {}\n",
                 static_cast<double>(sum_nanoseconds_.load(std::memory_order_relaxed)) / 1e9,
                 cumulative);
  return out;
}

Cluster::Cluster(caf::actor_system& system, std::shared_ptr<cluster::Coordinator> coordinator,
                 ClusterActor actor, std::shared_ptr<const StoreLatency> latency)
    : system_(system),
      coordinator_(std::move(coordinator)),
      actor_(std::move(actor)),
      latency_(std::move(latency)) {}

Cluster::~Cluster() {
  caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
}

std::vector<cluster::ClusterInstance> Cluster::instances() const {
  return coordinator_->instances();
}

std::optional<cluster::ClusterInstance> Cluster::instance(std::string_view name) const {
  return coordinator_->instance(name);
}

bool Cluster::view_loaded() const {
  // The view takes the store's revision (never 0) with its first full read.
  return coordinator_->view_revision() > 0;
}

std::vector<cluster::NodeInfo> Cluster::nodes() const {
  return coordinator_->nodes();
}

std::optional<bool> Cluster::store_reachable() const {
  return coordinator_->store_reachable();
}

cluster::CoordinatorMetrics Cluster::metrics() const {
  return coordinator_->metrics();
}

std::string Cluster::prometheus_text() const {
  auto counts = coordinator_->metrics();
  return fmt::format(
             "# HELP processpype_cluster_instances_owned Cluster instances this node owns.\n"
             "# TYPE processpype_cluster_instances_owned gauge\n"
             "processpype_cluster_instances_owned {}\n"
             "# HELP processpype_cluster_failovers_total Cluster instances this node took over "
             "from a node whose lease ended.\n"
             "# TYPE processpype_cluster_failovers_total counter\n"
             "processpype_cluster_failovers_total {}\n",
             counts.instances_owned, counts.failovers_total) +
         latency_->prometheus_text();
}

const std::string& Cluster::node_id() const noexcept {
  return coordinator_->node_id();
}

std::vector<std::string> Cluster::leave(std::chrono::milliseconds timeout) {
  // A drain: cordoned, every instance handed over (stop, drop, release).
  try {
    blocking_request<bool>(system_, actor_, caf::duration{timeout}, drain_atom::value);
  } catch (const Error&) {
    // Not all in time, or the store did not take the drain: seen below.
  }
  coordinator_->stop_placing();
  auto left_behind = coordinator_->owned();
  // What is still owned may still run here: its owner key and the lease
  // stay until its stop finished (the hand-over releases it then) or the
  // process ended (the lease expires), so that the next owner never starts
  // it beside this copy (docs/cluster.md, "Drain, uncordon, rebalance").
  if (left_behind.empty()) coordinator_->leave();
  return left_behind;
}

}  // namespace processpype
