#pragma once

// What the coordination tests share: simulated nodes (a Coordinator whose
// callbacks are recorded and acted on as a node would: run what it owns,
// stop at a lease at risk, release when asked), and a register of what runs
// where, which fails a test if two nodes ever run one instance at once.

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/cluster/coordinator.hpp"
#include "processpype/testing/etcd.hpp"
#include "processpype/testing/process.hpp"

namespace processpype::cluster::test {

using namespace std::chrono_literals;
using testing::EtcdCluster;
using testing::wait_until;

/// Which node runs which instance, across the simulated nodes of a test.
class RunRegister {
 public:
  /// `node` starts `name`; a second copy is a violation.
  void start(const std::string& name, const std::string& node) {
    std::lock_guard lock{mutex_};
    auto [found, inserted] = running_.emplace(name, node);
    if (!inserted && found->second != node)
      violations_.push_back(name + " started on " + node + " while it runs on " + found->second);
  }
  void stop(const std::string& name, const std::string& node) {
    std::lock_guard lock{mutex_};
    auto found = running_.find(name);
    if (found != running_.end() && found->second == node) running_.erase(found);
  }
  std::vector<std::string> violations() const {
    std::lock_guard lock{mutex_};
    return violations_;
  }
  /// The node that runs `name` ("" for none).
  std::string runner(const std::string& name) const {
    std::lock_guard lock{mutex_};
    auto found = running_.find(name);
    return found == running_.end() ? "" : found->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> running_;
  std::vector<std::string> violations_;
};

struct SimulatedNodeOptions {
  std::string id;
  std::vector<std::string> endpoints;
  std::vector<std::string> classes{"echo"};
  std::chrono::seconds lease = 2s;
  std::string cluster = "test";
  std::chrono::milliseconds request_timeout = 1000ms;
  std::chrono::milliseconds stop_allowance = 0ms;
  std::chrono::milliseconds placement_delay = 0ms;
  /// Releases at once what on_must_release names (a node that stops at once).
  bool release_when_asked = true;
};

struct TimedAcquisition {
  Acquisition acquisition;
  BootClock::time_point at;
};

struct TimedLeaseEvent {
  LeaseEvent event;
  BootClock::time_point at;
};

struct TimedLoss {
  std::string name;
  Cause cause;
  BootClock::time_point at;
};

/// A node of a test: its coordinator, what its callbacks said, what it runs.
class SimulatedNode {
 public:
  SimulatedNode(SimulatedNodeOptions options, std::shared_ptr<RunRegister> runs)
      : options_(std::move(options)), runs_(std::move(runs)) {
    coordinator_ = std::make_unique<Coordinator>(coordinator_options(), callbacks());
    calls_ = coordinator_.get();
  }
  ~SimulatedNode() { crash(); }
  SimulatedNode(const SimulatedNode&) = delete;
  SimulatedNode& operator=(const SimulatedNode&) = delete;

  const std::string& id() const { return options_.id; }
  Coordinator& coordinator() { return *coordinator_; }

  void start() { coordinator_->start(); }
  bool wait_registered(std::chrono::milliseconds timeout = 10s) {
    return coordinator_->wait_until_registered(timeout);
  }
  /// As if the process died: the coordinator goes, its keys stay until
  /// its lease expires.
  void crash() {
    coordinator_.reset();
    std::lock_guard lock{mutex_};
    for (const auto& name : running_) runs_->stop(name, options_.id);
    running_.clear();
    owned_.clear();
  }
  /// The clean exit: drain, release (at once, as release_when_asked), leave.
  void shut_down() {
    coordinator_->drain();
    wait_until([&] { return coordinator_->owned().empty(); }, 10s);
    coordinator_->leave();
    crash();
  }

  std::vector<TimedAcquisition> acquisitions() const { return locked_copy(acquisitions_); }
  std::vector<TimedLeaseEvent> lease_events() const { return locked_copy(lease_events_); }
  std::vector<TimedLoss> losses() const { return locked_copy(losses_); }
  std::vector<std::pair<std::string, Cause>> release_requests() const {
    return locked_copy(release_requests_);
  }
  std::vector<bool> reachability() const { return locked_copy(reachability_); }
  std::vector<MembershipEvent> membership() const { return locked_copy(membership_); }
  std::vector<std::string> id_conflicts() const { return locked_copy(id_conflicts_); }
  /// What runs here now.
  std::set<std::string> running() const { return locked_copy(running_); }
  /// What the node believes it owns (from the callbacks).
  std::set<std::string> owned() const { return locked_copy(owned_); }
  /// Found by the node itself: something still ran when the lease counted
  /// as lost (a real node exits with code 70 there).
  std::vector<std::string> violations() const { return locked_copy(violations_); }
  std::optional<TimedLeaseEvent> last_lease_event(LeaseHealth health) const {
    std::lock_guard lock{mutex_};
    for (auto event = lease_events_.rbegin(); event != lease_events_.rend(); ++event)
      if (event->event.health == health) return *event;
    return std::nullopt;
  }

 private:
  /// A copy of what the callbacks write, taken under their lock.
  template <typename Recorded>
  Recorded locked_copy(const Recorded& recorded) const {
    std::lock_guard lock{mutex_};
    return recorded;
  }

  CoordinatorOptions coordinator_options() const {
    CoordinatorOptions options;
    options.store.endpoints = options_.endpoints;
    options.store.request_timeout = options_.request_timeout;
    options.store.connect_timeout = std::min(options_.request_timeout, 500ms);
    options.cluster_name = options_.cluster;
    options.node.id = options_.id;
    options.node.rest_url = "http://127.0.0.1:1/" + options_.id;
    options.node.node_address = "127.0.0.1:" + options_.id;
    options.node.classes = options_.classes;
    options.lease_seconds = options_.lease;
    options.stop_allowance = options_.stop_allowance;
    options.placement_delay = options_.placement_delay;
    return options;
  }

  CoordinatorCallbacks callbacks() {
    CoordinatorCallbacks callbacks;
    callbacks.on_acquired = [this](const Acquisition& acquisition) {
      std::lock_guard lock{mutex_};
      acquisitions_.push_back({acquisition, BootClock::now()});
      owned_.insert(acquisition.name);
      if (acquisition.record.desired == DesiredState::running && healthy_) run(acquisition.name);
    };
    callbacks.on_must_release = [this](const std::string& name, Cause cause) {
      {
        std::lock_guard lock{mutex_};
        release_requests_.emplace_back(name, cause);
        if (!options_.release_when_asked) return;
        halt(name);
        owned_.erase(name);
      }
      calls_->release(name, {});  // not coordinator_: crash() may be resetting it
    };
    callbacks.on_lost = [this](const std::string& name, Cause cause) {
      std::lock_guard lock{mutex_};
      losses_.push_back({name, cause, BootClock::now()});
      if (running_.contains(name))
        violations_.push_back(name + " still ran when it was lost (" +
                              std::string(to_string(cause)) + ")");
      halt(name);
      owned_.erase(name);
    };
    callbacks.on_lease = [this](const LeaseEvent& event) {
      std::lock_guard lock{mutex_};
      lease_events_.push_back({event, BootClock::now()});
      healthy_ = event.health == LeaseHealth::secure;
      if (event.health == LeaseHealth::secure) {
        for (const auto& name : owned_) run(name);
        return;
      }
      if (event.health == LeaseHealth::lost && !running_.empty())
        violations_.push_back("instances ran when the lease counted as lost");
      for (const auto& name : std::set<std::string>(running_)) halt(name);
    };
    callbacks.on_store_reachable = [this](bool reachable) {
      std::lock_guard lock{mutex_};
      reachability_.push_back(reachable);
    };
    callbacks.on_membership = [this](const MembershipEvent& event) {
      std::lock_guard lock{mutex_};
      membership_.push_back(event);
    };
    callbacks.on_id_conflict = [this](const std::string& reason) {
      std::lock_guard lock{mutex_};
      id_conflicts_.push_back(reason);
    };
    return callbacks;
  }

  void run(const std::string& name) {
    if (running_.insert(name).second) runs_->start(name, options_.id);
  }
  void halt(const std::string& name) {
    if (running_.erase(name) > 0) runs_->stop(name, options_.id);
  }

  SimulatedNodeOptions options_;
  std::shared_ptr<RunRegister> runs_;
  mutable std::mutex mutex_;
  bool healthy_ = true;
  std::set<std::string> owned_;
  std::set<std::string> running_;
  std::vector<TimedAcquisition> acquisitions_;
  std::vector<TimedLeaseEvent> lease_events_;
  std::vector<TimedLoss> losses_;
  std::vector<std::pair<std::string, Cause>> release_requests_;
  std::vector<bool> reachability_;
  std::vector<MembershipEvent> membership_;
  std::vector<std::string> id_conflicts_;
  std::vector<std::string> violations_;
  std::unique_ptr<Coordinator> coordinator_;
  /// The coordinator for callbacks: valid until its destructor has joined
  /// the threads that call them.
  Coordinator* calls_ = nullptr;
};

/// A record of class "echo" that runs, with `configuration`.
inline InstanceRecord echo_record(nlohmann::json configuration = nlohmann::json::object(),
                                  std::vector<std::string> nodes = {}) {
  InstanceRecord record;
  record.class_key = "echo";
  record.nodes = std::move(nodes);
  record.configuration = std::move(configuration);
  record.desired = DesiredState::running;
  return record;
}

/// Simulated nodes on one etcd, by id, sharing a RunRegister.
class SimulatedCluster {
 public:
  using Tweak = std::function<void(SimulatedNodeOptions&)>;

  SimulatedCluster(std::vector<std::string> endpoints, Tweak tweak = {})
      : endpoints_(std::move(endpoints)), tweak_(std::move(tweak)) {}

  /// Makes and starts node `id`.
  SimulatedNode& add(const std::string& id, Tweak tweak = {}) {
    SimulatedNodeOptions options;
    options.id = id;
    options.endpoints = endpoints_;
    if (tweak_) tweak_(options);
    if (tweak) tweak(options);
    auto& node = nodes_[id] = std::make_unique<SimulatedNode>(options, runs_);
    node->start();
    return *node;
  }
  SimulatedNode& node(const std::string& id) { return *nodes_.at(id); }
  /// Crashes and forgets node `id`.
  void remove(const std::string& id) { nodes_.erase(id); }
  RunRegister& runs() { return *runs_; }
  std::vector<std::string> ids() const {
    std::vector<std::string> ids;
    for (const auto& [id, node] : nodes_) ids.push_back(id);
    return ids;
  }

  /// Makes and starts nodes `ids`, then waits until every node joined.
  bool join(std::initializer_list<const char*> ids, std::chrono::milliseconds timeout = 10s) {
    for (const auto* id : ids) add(id);
    return wait_until_joined(timeout);
  }
  /// Every node registered and seeing every other in its view.
  bool wait_until_joined(std::chrono::milliseconds timeout = 10s) {
    return wait_until(
        [&] {
          for (auto& [id, node] : nodes_)
            if (!node->coordinator().lease_status().registered ||
                node->coordinator().nodes().size() != nodes_.size())
              return false;
          return true;
        },
        timeout);
  }
  /// instance → the nodes that believe they own it (from their callbacks).
  std::map<std::string, std::vector<std::string>> owners() const {
    std::map<std::string, std::vector<std::string>> owners;
    for (const auto& [id, node] : nodes_)
      for (const auto& name : node->owned()) owners[name].push_back(id);
    return owners;
  }
  /// instance → its single owner; "" for none or several.
  std::map<std::string, std::string> single_owners() const {
    std::map<std::string, std::string> single;
    for (const auto& [name, ids] : owners()) single[name] = ids.size() == 1 ? ids.front() : "";
    return single;
  }
  /// Every one of `names` owned by exactly one node, which also runs it,
  /// and every view agrees.
  bool placed(const std::vector<std::string>& names) {
    auto owners_now = owners();
    for (const auto& name : names) {
      auto found = owners_now.find(name);
      if (found == owners_now.end() || found->second.size() != 1) return false;
      if (runs_->runner(name) != found->second.front()) return false;
      for (auto& [id, node] : nodes_) {
        auto seen = node->coordinator().instance(name);
        if (!seen || seen->owner != found->second.front()) return false;
      }
    }
    return true;
  }
  bool wait_until_placed(const std::vector<std::string>& names,
                         std::chrono::milliseconds timeout = 10s) {
    return wait_until([&] { return placed(names); }, timeout);
  }
  /// Creates the records of `names` through node `through` (echo, running).
  void create(const std::string& through, const std::vector<std::string>& names) {
    for (const auto& name : names) {
      auto result = node(through).coordinator().create_record(name, echo_record({{"name", name}}),
                                                              CreateMode::request);
      if (!result.ok()) throw std::runtime_error("create " + name + ": " + result.detail);
    }
  }
  /// Creates `names` through node `through`, then waits until each is placed.
  bool create_placed(const std::string& through, const std::vector<std::string>& names,
                     std::chrono::milliseconds timeout = 10s) {
    create(through, names);
    return wait_until_placed(names, timeout);
  }

 private:
  std::vector<std::string> endpoints_;
  Tweak tweak_;
  std::shared_ptr<RunRegister> runs_ = std::make_shared<RunRegister>();
  std::map<std::string, std::unique_ptr<SimulatedNode>> nodes_;
};

/// "<prefix>-0", "<prefix>-1", ...
inline std::vector<std::string> numbered(const std::string& prefix, int count) {
  std::vector<std::string> names;
  for (int index = 0; index < count; ++index) names.push_back(prefix + "-" + std::to_string(index));
  return names;
}

/// The start of most tests (a Catch2 fixture): a fresh one-member etcd and
/// nodes a, b and c on it, joined; `tweak` adjusts every node's options.
class ThreeNodes {
 public:
  explicit ThreeNodes(SimulatedCluster::Tweak tweak = {})
      : nodes(etcd.endpoints(), std::move(tweak)) {
    REQUIRE(nodes.join({"a", "b", "c"}));
  }

  /// Creates "svc-0" to "svc-<count - 1>" through node a and requires each placed.
  std::vector<std::string> place_services(int count) {
    auto names = numbered("svc", count);
    REQUIRE(nodes.create_placed("a", names));
    return names;
  }

  EtcdCluster etcd;
  SimulatedCluster nodes;
};

/// Milliseconds from `from` to `to` (negative when `to` is earlier).
inline double ms_between(BootClock::time_point from, BootClock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace processpype::cluster::test
