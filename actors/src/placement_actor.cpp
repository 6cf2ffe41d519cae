// The node's ClusterActor (docs/cluster.md): what the Coordinator decides
// (this node owns an instance now, must hand one over, its lease is at risk
// or lost) becomes commands to the node's Supervisor; registrations and
// deletions of cluster instances write their records first.
#include "placement_actor.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "cluster_record_writer.hpp"
#include "missing_class.hpp"
#include "processpype/actors/stray_messages.hpp"
#include "processpype/runtime/logging.hpp"

namespace processpype {

namespace {

using cluster::Cause;
using Clock = std::chrono::steady_clock;
using WriteDone = cluster::WriteDone;

/// How often registrations and drains look at the view again.
constexpr auto poll_interval = std::chrono::milliseconds(10);
/// How long a registration waits for a peer to say whether it has a node
/// instance of the name (a peer that does not answer in time has none).
constexpr auto peer_check_timeout = std::chrono::seconds(2);
/// A store write the file's records could not make is tried again after this.
constexpr auto file_record_retry = std::chrono::seconds(1);
/// How long a drain waits for every handover.
constexpr auto drain_wait = std::chrono::minutes(2);
/// Stops at lease risk end this long before the lease counts as lost.
constexpr auto stop_margin = std::chrono::milliseconds(50);
/// How long the node waits, once its lease counts as lost, for the stop
/// of a copy that still runs before it exits (code 70) all the same. Less
/// than the smallest margin between "lost" and etcd's expiry (0.5 s,
/// docs/cluster.md, "Leases and timing"), so that the wait never outlasts
/// the lease.
constexpr auto lost_stop_wait = std::chrono::milliseconds(400);
/// The least time a stop of a lease at risk or lost gets to return: a node
/// that wakes from a freeze past its lease has no time left before "lost",
/// yet a stop that returns within this is a normal stop, not a timeout (and
/// no exit 70). Shorter than lost_stop_wait by the time its answer takes.
constexpr auto stop_grace = std::chrono::milliseconds(350);

/// What an acquisition's `registered` event (and its start) say caused it.
Trigger trigger_of(const cluster::Acquisition& acquisition) {
  auto from = acquisition.from_node.value_or("");
  switch (acquisition.cause) {
    case Cause::failover:
      return {EventCause::failover, {}, std::move(from)};
    case Cause::handover:
      return {EventCause::handover, {}, std::move(from)};
    case Cause::rebalance:
      return {EventCause::rebalance, {}, std::move(from)};
    default:
      // A record a request created while this node ran: that request
      // registers it here (docs/cluster.md, "What a user sees").
      if (acquisition.request_id) return {EventCause::request, *acquisition.request_id};
      return {EventCause::startup};
  }
}

/// Exits the process at once, logs flushed: what a node does when going on
/// could let two copies of an instance run (docs/cluster.md).
[[noreturn]] void exit_now(int code) {
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) { logger->flush(); });
  std::_Exit(code);
}

class Placement final : public PlacementActor::base {
 public:
  Placement(caf::actor_config& config, PlacementSetup setup)
      : PlacementActor::base(config),
        setup_(std::move(setup)),
        coordinator_(*setup_.coordinator),
        log_(make_logger("processpype.cluster")) {
    drop_stray_messages(*this);
  }

  const char* name() const override { return "processpype.placement"; }

  void on_exit() override { setup_.events->remove_listener(listener_); }

  behavior_type make_behavior() override {
    if (!setup_.file_instances.empty()) send(this, files_atom::value);
    follow_events();
    return {
        [this](register_atom, RegisterRequest& request) -> caf::result<Registration> {
          return register_instance(request);
        },
        [this](deregister_atom, const std::string& name, Trigger& trigger)
            -> caf::result<Deregistration> { return deregister(name, std::move(trigger)); },
        [this](drain_atom) -> caf::result<bool> { return drain(); },
        [this](uncordon_atom) -> caf::result<bool> {
          return answer_write([this](WriteDone done) { coordinator_.uncordon(std::move(done)); });
        },
        [this](rebalance_atom) -> caf::result<bool> {
          return answer_write([this](WriteDone done) { coordinator_.rebalance(std::move(done)); });
        },
        [this](acquired_atom, cluster::Acquisition& acquisition) { acquire(acquisition); },
        [this](release_atom, const std::string& name, Cause cause) { hand_over(name, cause); },
        [this](lease_atom, const cluster::LeaseEvent& event) { on_lease(event); },
        [this](lost_atom, const std::string& name, Cause) {
          drop(name, Trigger{EventCause::lease_lost});
        },
        [this](joined_atom, std::string& id, std::string& address) { connect(id, address); },
        [this](written_atom, std::uint64_t ticket, cluster::WriteResult& result) {
          complete_write(ticket, result);
        },
        [this](poll_atom) {
          poll_scheduled_ = false;
          poll();
        },
        [this](conflict_atom, const std::string& reason) {
          log_->critical("{}: exiting (code 2)", reason);
          exit_now(2);
        },
        [this](files_atom) { create_file_records(); },
        [this](logged_atom) { withdraw_declines(); },
        [this](returned_atom, const std::string& name) { release_returned(name); },
    };
  }

 private:
  // -- store writes --------------------------------------------------------------------
  // The Coordinator answers on its own thread; the answer comes back here
  // as (written_atom, ticket, result).

  using WriteNext = std::function<void(const cluster::WriteResult&)>;

  /// Calls `write` with a completion that brings its result back to `next`.
  template <class Write>
  void write_then(Write write, WriteNext next) {
    auto ticket = ++last_ticket_;
    writes_.emplace(ticket, std::move(next));
    write(
        [self = caf::actor_cast<PlacementActor>(this), ticket](const cluster::WriteResult& result) {
          caf::anon_send(self, written_atom::value, ticket, result);
        });
  }

  void complete_write(std::uint64_t ticket, const cluster::WriteResult& result) {
    auto found = writes_.find(ticket);
    if (found == writes_.end()) return;
    auto next = std::move(found->second);
    writes_.erase(found);
    next(result);
  }

  /// A command that is one store write: true once written.
  template <class Write>
  caf::result<bool> answer_write(Write write) {
    auto promise = make_response_promise<bool>();
    write_then(std::move(write), [promise](const cluster::WriteResult& result) mutable {
      if (auto refusal = refusal_of(result, "")) return promise.deliver(refusal), void();
      promise.deliver(true);
    });
    return promise;
  }

  // -- waiting on the view -------------------------------------------------------------
  // Registrations wait until the instance's owner registered it, drains
  // until this node owns nothing: both look at the view every few ms.

  struct Waiting {
    std::function<bool()> ready;
    Clock::time_point deadline;
    std::function<void(bool ready)> done;
  };

  void wait_for(std::function<bool()> ready, Clock::duration limit,
                std::function<void(bool)> done) {
    waiting_.push_back({std::move(ready), Clock::now() + limit, std::move(done)});
    poll();
  }

  void poll() {
    auto now = Clock::now();
    std::vector<std::function<void()>> finished;
    std::erase_if(waiting_, [&](Waiting& waiting) {
      bool ready = waiting.ready();
      if (!ready && now < waiting.deadline) return false;
      finished.push_back([done = std::move(waiting.done), ready] { done(ready); });
      return true;
    });
    for (auto& finish : finished) finish();
    if (!waiting_.empty() && !poll_scheduled_) {
      poll_scheduled_ = true;
      delayed_send(this, poll_interval, poll_atom::value);
    }
  }

  // -- registration and deletion ---------------------------------------------------------

  caf::result<Registration> register_instance(const RegisterRequest& request) {
    if (request.auto_name)
      return make_error(ErrorCode::bad_request,
                        "A cluster instance needs a name: give instance_name");
    const auto& name = request.instance_name;
    if (!is_valid_instance_name(name))
      return make_error(ErrorCode::bad_request,
                        fmt::format("Invalid instance name '{}': use 1-64 characters of "
                                    "[A-Za-z0-9_.-], not '.' or '..'",
                                    name));
    auto service_class = ServiceClassRegistry::global().find(request.class_key);
    if (!service_class && !any_node_has_class(request.class_key))
      return make_error(ErrorCode::not_found,
                        fmt::format("Unknown service class: {}", request.class_key));
    if (auto holder = node_instance_holder(name))
      return make_error(ErrorCode::conflict,
                        fmt::format("Service {} already exists on node {}", name, *holder));
    // Not refused for what the view says: it may not have seen yet the
    // release of a DELETE that another node answered. The store's create
    // decides (docs/cluster.md, "Records").
    cluster::InstanceRecord record;
    record.class_key = request.class_key;
    record.nodes = cluster::sorted_set(request.nodes);
    record.request_id = request.request_id;
    Registration registration{name, service_class ? service_class->type_name : request.class_key};
    auto promise = make_response_promise<Registration>();
    // The replicas may lag behind a registration that just happened on a
    // peer: ask each live peer's Supervisor before the record is created.
    ask_peers_for(
        name, [this, record, registration, promise](std::optional<std::string> holder) mutable {
          if (holder)
            return promise.deliver(make_error(ErrorCode::conflict,
                                              fmt::format("Service {} already exists on node {}",
                                                          registration.name, *holder))),
                   void();
          create_record(std::move(record), std::move(registration), std::move(promise));
        });
    return promise;
  }

  /// Calls `done` with a live peer that has a node instance called `name`
  /// (nullopt: none answered that it has one within peer_check_timeout).
  void ask_peers_for(const std::string& name,
                     std::function<void(std::optional<std::string>)> done) {
    struct Round {
      std::size_t waiting = 0;
      std::optional<std::string> holder;
      std::function<void(std::optional<std::string>)> done;
    };
    auto round = std::make_shared<Round>();
    round->done = std::move(done);
    std::vector<NodeDirectory::Node> peers;
    for (auto& node : setup_.directory->nodes())
      if (!node.local && node.up) peers.push_back(std::move(node));
    round->waiting = peers.size();
    if (peers.empty()) return round->done(std::nullopt);
    for (const auto& peer : peers) {
      auto answered = [round](std::optional<std::string> holder) {
        if (holder && !round->holder) round->holder = std::move(holder);
        if (--round->waiting == 0) round->done(round->holder);
      };
      request(peer.supervisor, peer_check_timeout, status_atom::value, name)
          .then(
              [answered, id = peer.id](const ServiceStatus& status) {
                answered(status.cluster ? std::nullopt : std::optional<std::string>{id});
              },
              [answered](caf::error&) { answered(std::nullopt); });
    }
  }

  void create_record(cluster::InstanceRecord record, Registration registration,
                     caf::typed_response_promise<Registration> promise) {
    auto name = registration.name;
    write_then(
        [this, name, record](WriteDone done) {
          coordinator_.create_record(name, record, cluster::CreateMode::request, std::move(done));
        },
        [this, registration, promise](const cluster::WriteResult& result) mutable {
          if (auto refusal = refusal_of(result, registration.name))
            return promise.deliver(refusal), void();
          // Commands right after the reply find it at its owner; when no
          // live node may run it (its nodes are not up, or cordoned), there
          // is no owner to wait for. The view must have reached the create:
          // before it, it may still name the owner of a deleted instance of
          // the name.
          wait_for(
              [this, name = registration.name, created = result.revision] {
                return coordinator_.view_revision() >= created &&
                       (registered_at_owner(name) || no_owner_may_come(name));
              },
              setup_.registration_wait,
              [registration, promise](bool) mutable { promise.deliver(registration); });
        });
  }

  bool any_node_has_class(const std::string& class_key) const {
    auto nodes = coordinator_.nodes();
    return std::any_of(nodes.begin(), nodes.end(), [&](const cluster::NodeInfo& node) {
      return node.registration.has_class(class_key);
    });
  }

  /// The node that has a node instance called `name`, if any live one does.
  /// A cluster instance of that name is not one: the store decides on it,
  /// and a replica may still list one that was just deleted.
  std::optional<std::string> node_instance_holder(const std::string& name) const {
    if (has_node_instance(name)) return setup_.node_id;
    for (const auto& node : setup_.directory->nodes())
      if (!node.local && node.up && replica_has_node_instance(node.id, name)) return node.id;
    return std::nullopt;
  }

  bool replica_has_node_instance(const std::string& node, const std::string& name) const {
    auto body = setup_.replicas->find(node, name);
    if (!body) return false;
    auto status = nlohmann::json::parse(*body, nullptr, false);
    return !status.is_object() || status.value("placement", "") != "cluster";
  }

  /// Its record is in the view, and no live node may run it.
  bool no_owner_may_come(const std::string& name) const {
    return coordinator_.instance(name) && !coordinator_.preferred_owner(name);
  }

  bool registered_at_owner(const std::string& name) const {
    auto instance = coordinator_.instance(name);
    if (!instance || !instance->owner) return false;
    if (*instance->owner == setup_.node_id) return setup_.table->find(name) != nullptr;
    return setup_.replicas->find(*instance->owner, name) != nullptr;
  }

  /// As the owner: the tombstone first, then the stop, then the release,
  /// once its manager returned (a registration of the name is refused while
  /// the owner key stays). An instance without owner (no eligible node up)
  /// gets its tombstone here, without owner (docs/cluster.md, "Records").
  caf::result<Deregistration> deregister(const std::string& name, Trigger trigger) {
    auto record = setup_.table->find(name);
    if (!record && coordinator_.instance(name)) return remove_unowned(name);
    if (!record || record->origin() != InstanceOrigin::cluster)
      return make_error(ErrorCode::not_found, fmt::format("Service {} not found", name));
    auto promise = make_response_promise<Deregistration>();
    write_then([this, name](WriteDone done) { coordinator_.remove_record(name, std::move(done)); },
               [this, name, trigger, promise](const cluster::WriteResult& result) mutable {
                 if (auto refusal = refusal_of(result, name))
                   return promise.deliver(refusal), void();
                 request(setup_.supervisor, caf::infinite, deregister_atom::value, name, trigger)
                     .then(
                         [this, name, promise](Deregistration& done) mutable {
                           answer_once_released(name, std::move(done), std::move(promise));
                         },
                         [this, name, promise](caf::error& error) mutable {
                           release_when_stopped(name, deleted_note);
                           promise.deliver(error);
                         });
               });
    return promise;
  }

  caf::result<Deregistration> remove_unowned(const std::string& name) {
    auto promise = make_response_promise<Deregistration>();
    write_then(
        [this, name](WriteDone done) { coordinator_.remove_unowned_record(name, std::move(done)); },
        [name, promise](const cluster::WriteResult& result) mutable {
          if (auto refusal = refusal_of(result, name)) return promise.deliver(refusal), void();
          promise.deliver(Deregistration{name, {}, {}});
        });
    return promise;
  }

  // -- what the Coordinator decides --------------------------------------------------------

  void acquire(const cluster::Acquisition& acquisition) {
    const auto& name = acquisition.name;
    if (drops_in_flight_.contains(name)) {
      // Its table entry is about to go (a lost lease dropped it; the
      // deregistration may wait behind a command in flight): registered
      // again once it went, not taken for "still registered here".
      waiting_acquisitions_.insert_or_assign(name, acquisition);
      return;
    }
    bool run = acquisition.record.desired == cluster::DesiredState::running;
    if (auto existing = setup_.table->find(name)) {
      if (existing->origin() != InstanceOrigin::cluster) return decline(name);
      // Still registered here (its lease proved alive): it runs again.
      if (run && !is_active(existing->state())) start(name, Trigger{EventCause::startup});
      return;
    }
    auto instance = prepare(acquisition);
    auto trigger = instance.trigger;
    std::vector<RestoredInstance> instances;
    instances.push_back(std::move(instance));
    request(setup_.supervisor, caf::infinite, restore_atom::value, std::move(instances))
        .then(
            [this, name, run, trigger](std::uint64_t) {
              if (run) start(name, trigger);
            },
            [this, name](caf::error& error) {
              log_->error("Cluster instance {} could not be registered: {}", name,
                          to_error(error).detail());
            });
  }

  /// Its service object, configured from the record (in error with the
  /// reason when the record's configuration or class cannot be used here).
  RestoredInstance prepare(const cluster::Acquisition& acquisition) {
    RestoredInstance instance;
    instance.name = acquisition.name;
    instance.origin = InstanceOrigin::cluster;
    instance.trigger = trigger_of(acquisition);
    instance.cluster = std::make_shared<const ClusterPlacement>(
        ClusterPlacement{acquisition.record.nodes, setup_.node_id, acquisition.fencing_token});
    instance.writer = std::make_shared<ClusterRecordWriter>(setup_.coordinator, acquisition.name,
                                                            acquisition.record_revision);
    const auto& class_key = acquisition.record.class_key;
    std::string problem;
    instance.service_class = ServiceClassRegistry::global().find(class_key);
    if (instance.service_class) {
      try {
        instance.lifecycle =
            std::make_shared<ServiceLifecycle>(instance.service_class->create(acquisition.name));
      } catch (const std::exception& error) {
        problem = fmt::format("Failed to create service {}: {}", acquisition.name, error.what());
      }
    } else {
      problem = missing_class_reason(class_key);
    }
    if (!instance.lifecycle) {
      instance.service_class = missing_class(class_key);
      instance.lifecycle =
          std::make_shared<ServiceLifecycle>(instance.service_class->create(acquisition.name));
      instance.lifecycle->fail(problem);
      return instance;
    }
    if (acquisition.record.configuration.empty()) return instance;
    try {
      instance.lifecycle->configure(acquisition.record.configuration);
    } catch (const Error& error) {
      instance.lifecycle->fail("Cluster record's configuration refused: " + error.detail());
    }
    return instance;
  }

  void start(const std::string& name, const Trigger& trigger) {
    if (lease_at_risk_) return;  // started again once the lease is secure
    request(setup_.supervisor, caf::infinite, start_atom::value, name, trigger)
        .then([](ServiceState) {},
              [this, name](caf::error& error) {
                // Its restart policy runs here; a failed start does not move it.
                log_->warn("Cluster instance {} did not start: {}", name, to_error(error).detail());
              });
  }

  /// Drain or rebalance: stop it, drop it, release it (the next owner starts it).
  void hand_over(const std::string& name, Cause cause) {
    Trigger trigger{cause == Cause::rebalance ? EventCause::rebalance : EventCause::handover};
    request(setup_.supervisor, caf::infinite, deregister_atom::value, name, trigger)
        .then([this, name](Deregistration&) { release_when_stopped(name, handed_over_note); },
              [this, name](caf::error&) { release_when_stopped(name, handed_over_note); });
  }

  /// What the log says of an instance released once its manager returns.
  static constexpr std::string_view handed_over_note =
      "handed over once its manager returns from its call";
  static constexpr std::string_view deleted_note =
      "deleted; its name stays taken until its manager returns from its call";

  /// A stop that outlived its timeout was answered, and its instance
  /// deregistered, while the manager is still in it: the copy may still
  /// run. The owner key stays until that call returned, so that neither a
  /// next owner nor a new instance of the name (after a DELETE) starts
  /// beside this copy (docs/cluster.md, "Records", "Drain, uncordon,
  /// rebalance"); the exit-70 guard counts it meanwhile.
  void release_when_stopped(const std::string& name, std::string_view note) {
    if (!setup_.busy_managers->busy(name)) return coordinator_.release(name, {});
    release_once_returned(name, note);
  }

  /// A deletion is answered once its owner key is deleted in the store (and
  /// in this node's view): a registration of the name right after the 200
  /// is not refused as "being deleted" (docs/cluster.md, "Records"). A stop
  /// that outlived its timeout is answered at once: its key stays until the
  /// manager returns.
  void answer_once_released(const std::string& name, Deregistration deregistration,
                            caf::typed_response_promise<Deregistration> promise) {
    if (setup_.busy_managers->busy(name)) {
      release_once_returned(name, deleted_note);
      return promise.deliver(std::move(deregistration)), void();
    }
    write_then([this, name](WriteDone done) { coordinator_.release(name, std::move(done)); },
               [name, deregistration, promise](const cluster::WriteResult& result) mutable {
                 if (result.ok()) return promise.deliver(deregistration), void();
                 promise.deliver(release_refusal(result, name));
               });
  }

  /// The instance is stopped and its tombstone written, but its name stays
  /// taken until the coordinator's retry of the release gets through.
  static caf::error release_refusal(const cluster::WriteResult& result, const std::string& name) {
    if (result.outcome != cluster::WriteOutcome::unreachable) return refusal_of(result, name);
    return make_error(ErrorCode::node_unavailable,
                      fmt::format("cluster store unreachable: Service {} is stopped and deleted, "
                                  "but its name stays taken until the store takes its release "
                                  "(retried)",
                                  name));
  }

  void release_once_returned(const std::string& name, std::string_view note) {
    log_->warn("Cluster instance {} {}", name, note);
    returning_.insert(name);
    setup_.busy_managers->when_idle(
        name, [self = caf::actor_cast<caf::weak_actor_ptr>(ctrl()), name] {
          if (auto placement = caf::actor_cast<PlacementActor>(self.lock()))
            caf::anon_send(placement, returned_atom::value, name);
        });
  }

  void release_returned(const std::string& name) {
    if (returning_.erase(name) == 0) return;
    log_->info("Cluster instance {}: its manager returned; released", name);
    coordinator_.release(name, {});
  }

  void drop(const std::string& name, const Trigger& trigger) {
    ++drops_in_flight_[name];
    request(setup_.supervisor, caf::infinite, deregister_atom::value, name, trigger)
        .then([this, name](Deregistration&) { dropped(name); },
              [this, name](caf::error&) { dropped(name); });
  }

  /// A drop's deregistration is done: an acquisition that came meanwhile
  /// registers the instance again, if this node still owns it.
  void dropped(const std::string& name) {
    auto in_flight = drops_in_flight_.find(name);
    if (in_flight != drops_in_flight_.end() && --in_flight->second > 0) return;
    drops_in_flight_.erase(name);
    auto waiting = waiting_acquisitions_.extract(name);
    if (waiting.empty()) return;
    auto owned = coordinator_.owned();
    if (std::find(owned.begin(), owned.end(), name) != owned.end()) acquire(waiting.mapped());
  }

  // -- declines (docs/cluster.md, "Placement") ----------------------------------------------
  // A cluster instance cannot run here while a node instance of this node
  // has its name, and its owner key must not stay here either: every
  // command would be carried to this node, which would act on its unrelated
  // node instance. Declined, another eligible node takes it; the decline
  // ends when that node instance is deregistered (the event log tells).

  /// What the event log's listener shares with the actor (the listener
  /// runs on the appending thread).
  struct DeclineWatch {
    /// Some name is declined here: a deregistration may end its decline.
    std::atomic<bool> declining{false};
    /// A logged_atom is on its way.
    std::atomic<bool> pending{false};
  };

  void decline(const std::string& name) {
    log_->error(
        "Cluster instance {} has the name of a node instance of this node: not run here; "
        "declined and released for another eligible node",
        name);
    coordinator_.decline(name, [log = log_, name](const cluster::WriteResult& result) {
      if (!result.ok()) log->warn("Cluster instance {} not released yet: {}", name, result.detail);
    });
    declined_.insert(name);
    decline_watch_->declining.store(true);
    // The node instance may have gone since acquire() looked, while the
    // listener did not heed deregistrations yet: one more look.
    wake_up(caf::actor_cast<caf::weak_actor_ptr>(ctrl()), *decline_watch_);
  }

  void follow_events() {
    listener_ = setup_.events->add_listener([self = caf::actor_cast<caf::weak_actor_ptr>(ctrl()),
                                             watch = decline_watch_](std::uint64_t) {
      if (watch->declining.load()) wake_up(self, *watch);
    });
  }

  static void wake_up(const caf::weak_actor_ptr& self, DeclineWatch& watch) {
    if (watch.pending.exchange(true)) return;  // one is on its way
    if (auto placement = caf::actor_cast<PlacementActor>(self.lock()))
      caf::anon_send(placement, logged_atom::value);
  }

  /// Withdraws the declines whose node instance is gone. A node instance of
  /// the name registered again afterwards makes acquire() decline anew.
  void withdraw_declines() {
    decline_watch_->pending.store(false);
    std::erase_if(declined_, [this](const std::string& name) {
      if (has_node_instance(name)) return false;
      coordinator_.withdraw_decline(name, [log = log_, name](const cluster::WriteResult& result) {
        if (!result.ok()) log->warn("Cluster instance {} still declined: {}", name, result.detail);
      });
      return true;
    });
    decline_watch_->declining.store(!declined_.empty());
  }

  bool has_node_instance(const std::string& name) const {
    auto record = setup_.table->find(name);
    return record && record->origin() != InstanceOrigin::cluster;
  }

  // -- the lease (docs/cluster.md, "Leases and timing") ------------------------------------

  void on_lease(const cluster::LeaseEvent& event) {
    switch (event.health) {
      case cluster::LeaseHealth::at_risk:
        lease_at_risk_ = true;
        stop_cluster_instances(event.lost_at);
        break;
      case cluster::LeaseHealth::secure: {
        bool was_at_risk = std::exchange(lease_at_risk_, false);
        if (was_at_risk && !event.fresh) start_owned_instances();
        break;
      }
      case cluster::LeaseHealth::lost:
        lease_at_risk_ = true;
        stop_or_exit();
        break;
    }
  }

  /// This node's cluster instances in its table that `keep` accepts. The
  /// table, not the coordinator's owned(): once the lease counts as lost,
  /// the coordinator owns nothing any more while their copies may still run.
  template <class Keep>
  std::vector<RecordPtr> cluster_records(Keep keep) const {
    std::vector<std::string> names;
    setup_.table->listing().for_each([&](const InstanceRecord& record) {
      if (record.origin() == InstanceOrigin::cluster && keep(record))
        names.push_back(record.name());
      return true;
    });
    std::vector<RecordPtr> records;
    for (const auto& name : names)
      if (auto record = setup_.table->find(name)) records.push_back(std::move(record));
    return records;
  }

  static bool may_run(const InstanceRecord& record) {
    return is_active(record.state()) || record.manager_overdue();
  }

  /// Stops every cluster instance so that it has stopped by `lost_at`, or
  /// within stop_grace when less time is left: then the wait at "lost"
  /// (stop_or_exit) sees the stop end or exits.
  void stop_cluster_instances(cluster::BootClock::time_point lost_at) {
    std::vector<std::string> names;
    for (const auto& record :
         cluster_records([](const InstanceRecord& record) { return is_active(record.state()); }))
      names.push_back(record->name());
    if (names.empty()) return;
    auto left = lost_at - cluster::BootClock::now() - stop_margin;
    auto within =
        std::max<caf::timespan>(stop_grace, std::chrono::duration_cast<caf::timespan>(left));
    log_->warn("Cluster lease at risk: stopping {} cluster instance(s) within {} ms", names.size(),
               std::chrono::duration_cast<std::chrono::milliseconds>(within).count());
    request(setup_.supervisor, within + std::chrono::seconds(2), stop_atom::value, names,
            Trigger{EventCause::lease_lost}, within)
        .then(
            [this](std::vector<std::string>& active) {
              if (!active.empty())
                log_->error("Cluster instances still active after the stop: {}",
                            fmt::join(active, ", "));
            },
            [](caf::error&) {});
  }

  void start_owned_instances() {
    for (const auto& name : coordinator_.owned()) {
      auto record = setup_.table->find(name);
      if (!record || record->origin() != InstanceOrigin::cluster) continue;
      auto instance = coordinator_.instance(name);
      if (instance && instance->record.desired == cluster::DesiredState::running &&
          !is_active(record->state()))
        start(name, Trigger{EventCause::startup});
    }
  }

  /// The lease counts as lost now: another node may start any instance of
  /// this one's. A copy that still runs here is stopped at once, within
  /// stop_grace (the stop at risk was capped to end by now, or to the grace
  /// when it came later: after a freeze); one still active after that, or
  /// whose manager is still in a call (a handed-over one too), makes the
  /// node exit rather than let two copies run (docs/cluster.md, "Leases and
  /// timing", "Exit codes").
  void stop_or_exit() {
    std::vector<std::string> names;
    for (const auto& record : cluster_records(may_run)) names.push_back(record->name());
    if (names.empty() && returning_.empty()) {
      log_->warn("Cluster lease lost: this node owns no cluster instance any more");
      return;
    }
    request(setup_.supervisor, lost_stop_wait, stop_atom::value, names,
            Trigger{EventCause::lease_lost}, caf::timespan{stop_grace})
        .then(
            [this, names](std::vector<std::string>& still_running) {
              // A stop that was already running when the lease counted as
              // lost (awake past the lease, "at risk" and "lost" come
              // together) may have timed out meanwhile: its instance is no
              // longer active, but its manager is still in stop().
              auto add_if_busy = [&](const std::string& name) {
                if (setup_.busy_managers->busy(name) &&
                    std::find(still_running.begin(), still_running.end(), name) ==
                        still_running.end())
                  still_running.push_back(name);
              };
              std::for_each(names.begin(), names.end(), add_if_busy);
              std::for_each(returning_.begin(), returning_.end(), add_if_busy);
              if (!still_running.empty()) exit_for_lost_lease(still_running);
              log_->warn(
                  "Cluster lease lost: its cluster instances stopped; this node owns none any "
                  "more");
            },
            [this, names](caf::error&) { exit_for_lost_lease(names); });
  }

  [[noreturn]] void exit_for_lost_lease(const std::vector<std::string>& names) {
    std::vector<std::string> described;
    for (const auto& name : names) {
      auto record = setup_.table->find(name);
      auto how = returning_.contains(name)   ? std::string{"deregistered, in its manager"}
                 : !record                   ? std::string{"unknown"}
                 : record->manager_overdue() ? std::string{"in its manager"}
                                             : std::string{to_string(record->state())};
      described.push_back(fmt::format("{} ({})", name, how));
    }
    log_->critical(
        "Cluster lease lost while {} still run(s) here: exiting (code 70) rather than let two "
        "copies run",
        fmt::join(described, ", "));
    exit_now(70);
  }

  // -- membership and the file's records -------------------------------------------------

  /// A node registered in the store: connect to it (nodes of a store find
  /// each other there, without --join).
  void connect(const std::string& id, const std::string& address) {
    if (id == setup_.node_id || address.empty()) return;
    if (auto known = setup_.directory->find(id); known && known->up) return;
    send(setup_.node, member_atom::value, NodeAddress{id, address});
  }

  caf::result<bool> drain() {
    auto promise = make_response_promise<bool>();
    write_then([this](WriteDone done) { coordinator_.drain(std::move(done)); },
               [this, promise](const cluster::WriteResult& result) mutable {
                 if (auto refusal = refusal_of(result, "")) return promise.deliver(refusal), void();
                 wait_for(
                     [this] { return coordinator_.owned().empty(); }, drain_wait,
                     [this, promise](bool handed_over) mutable {
                       if (handed_over) return promise.deliver(true), void();
                       promise.deliver(make_error(
                           ErrorCode::timeout, fmt::format("Not handed over in time: {}",
                                                           fmt::join(coordinator_.owned(), ", "))));
                     });
               });
    return promise;
  }

  /// Creates the records of the file's cluster instances that have none (a
  /// record that exists, or a tombstone, stays); those the store did not
  /// take are tried again.
  void create_file_records() {
    for (auto& instance : setup_.file_instances) {
      if (std::exchange(file_records_pending_[instance.name], true)) continue;
      cluster::InstanceRecord record;
      record.class_key = instance.class_key;
      record.nodes = cluster::sorted_set(instance.nodes);
      record.configuration = instance.configuration;
      record.desired =
          instance.enabled ? cluster::DesiredState::running : cluster::DesiredState::stopped;
      write_then(
          [this, name = instance.name, record](WriteDone done) {
            coordinator_.create_record(name, record, cluster::CreateMode::file, std::move(done));
          },
          [this, name = instance.name](const cluster::WriteResult& result) {
            if (result.ok() || result.outcome == cluster::WriteOutcome::exists) {
              std::erase_if(setup_.file_instances,
                            [&](const FileClusterInstance& done) { return done.name == name; });
              return;
            }
            file_records_pending_[name] = false;
            log_->warn("Cluster record of {} not created yet: {}", name,
                       to_error(refusal_of(result, name)).detail());
            if (!retry_scheduled_) {
              retry_scheduled_ = true;
              delayed_send(this, file_record_retry, files_atom::value);
            }
          });
    }
    retry_scheduled_ = false;
  }

  PlacementSetup setup_;
  cluster::Coordinator& coordinator_;
  std::shared_ptr<spdlog::logger> log_;
  std::uint64_t last_ticket_ = 0;
  std::unordered_map<std::uint64_t, WriteNext> writes_;
  std::vector<Waiting> waiting_;
  bool poll_scheduled_ = false;
  bool lease_at_risk_ = false;
  /// Handed over or deleted, deregistered, but its manager is still in a
  /// call: not released yet.
  std::unordered_set<std::string> returning_;
  std::unordered_map<std::string, bool> file_records_pending_;
  /// Instances whose drop (deregistration) has not finished, and how many.
  std::unordered_map<std::string, int> drops_in_flight_;
  /// Acquisitions that came while their instance's drop was in flight.
  std::unordered_map<std::string, cluster::Acquisition> waiting_acquisitions_;
  bool retry_scheduled_ = false;
  /// Names declined for a node instance of this node.
  std::unordered_set<std::string> declined_;
  std::shared_ptr<DeclineWatch> decline_watch_ = std::make_shared<DeclineWatch>();
  std::uint64_t listener_ = 0;
};

}  // namespace

PlacementActor spawn_placement_actor(caf::actor_system& system, PlacementSetup setup) {
  return system.spawn<Placement>(std::move(setup));
}

cluster::CoordinatorCallbacks placement_callbacks(std::shared_ptr<PlacementActor> actor) {
  cluster::CoordinatorCallbacks callbacks;
  callbacks.on_acquired = [actor](const cluster::Acquisition& acquisition) {
    caf::anon_send(*actor, acquired_atom::value, acquisition);
  };
  callbacks.on_must_release = [actor](const std::string& name, Cause cause) {
    caf::anon_send(*actor, release_atom::value, name, cause);
  };
  callbacks.on_lease = [actor](const cluster::LeaseEvent& event) {
    caf::anon_send(*actor, lease_atom::value, event);
  };
  callbacks.on_lost = [actor](const std::string& name, Cause cause) {
    caf::anon_send(*actor, lost_atom::value, name, cause);
  };
  callbacks.on_membership = [actor](const cluster::MembershipEvent& event) {
    if (event.change != cluster::MembershipChange::left)
      caf::anon_send(*actor, joined_atom::value, event.node.registration.id,
                     event.node.registration.node_address);
  };
  callbacks.on_id_conflict = [actor](const std::string& reason) {
    caf::anon_send(*actor, conflict_atom::value, reason);
  };
  return callbacks;
}

}  // namespace processpype
