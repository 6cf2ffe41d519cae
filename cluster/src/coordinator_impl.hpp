#pragma once

// The coordinator's insides (processpype/cluster/coordinator.hpp), in
// files along its stories: coordinator.cpp (life, the public members, the
// view's readers), coordinator_events.cpp (callbacks, the lease's signals,
// registration, the view's feeding), coordinator_ownership.cpp (placement,
// acquiring, releasing, drain, rebalance, leave), coordinator_records.cpp
// (writing records). Internal to processpype_cluster.
//
// Locks: mutex_ guards the state below it. callback_mutex_ is held while a
// change is made (under mutex_) and then told to the node (without
// mutex_), so that callbacks come one at a time in the order of the
// changes. Store calls are made without either. Lock order:
// NodeLease's signal mutex → callback_mutex_ → mutex_ → NodeLease's state.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "cluster_view.hpp"
#include "node_lease.hpp"
#include "processpype/cluster/coordinator.hpp"
#include "processpype/cluster/keys.hpp"
#include "processpype/cluster/lease_timing.hpp"
#include "processpype/etcd/etcd_client.hpp"
#include "processpype/etcd/etcd_watch.hpp"
#include "task_queue.hpp"

namespace processpype::cluster {

/// What a change tells the node, once the change is made.
using Deliveries = std::vector<std::function<void()>>;

class Coordinator::Impl {
 public:
  Impl(CoordinatorOptions options, CoordinatorCallbacks callbacks);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // -- life (coordinator.cpp) ------------------------------------------------------
  void start();
  void leave();
  /// Throws std::logic_error on a thread where waiting would deadlock.
  void forbid_waiting(const char* member) const;
  WriteResult wait_for(const char* member, const std::function<void(WriteDone)>& start);
  /// Posts an operation of the API: `done` gets `stopping` if it never runs.
  void post_operation(WriteDone done, std::function<void(const WriteDone&)> operation);
  /// Calls an operation's `done` (on the worker), as a callback.
  void finish(const WriteDone& done, WriteResult result);

  // -- events (coordinator_events.cpp) -------------------------------------------
  /// Makes `change` under mutex_ and then delivers what it collected.
  void change_and_tell(const std::function<void(Deliveries&)>& change);
  template <class Callback, class... Args>
  void tell(Deliveries& deliveries, const Callback& callback, Args... args) const {
    if (callback) deliveries.push_back([callback, args...] { callback(args...); });
  }
  /// A store call that reports reachability and counts; rethrows StoreError.
  template <class Call>
  auto call_store(Call&& call) -> decltype(call()) {
    try {
      auto result = call();
      note_reachable(true);
      return result;
    } catch (const etcd::StoreError& error) {
      note_reachable(error.kind() != etcd::StoreError::Kind::unreachable);
      throw;
    }
  }
  void note_reachable(bool reachable);
  internal::NodeLease::Signals lease_signals();
  void on_granted(const internal::LeaseState& state);
  void on_renewed(const internal::LeaseState& state, LeaseHealth previous);
  void on_at_risk(const internal::LeaseState& state);
  void on_lost(const internal::LeaseState& state);
  void on_expired(std::int64_t lease_id);
  /// Tells every owned instance lost; keeps their names to resume them.
  void lose_everything(Deliveries& deliveries, bool resumable);
  LeaseEvent lease_event(bool fresh) const;
  void register_node(std::int64_t lease_id);
  void wait_for_other_registration(std::int64_t lease_id, const etcd::KeyValue& other);
  void registered(std::int64_t lease_id, std::int64_t revision);
  /// Writes this node's registration again (cordon); ok when it is not
  /// registered yet (the next registration carries the change). One that
  /// the store did not take is written again at the next reconcile().
  WriteResult write_registration();
  /// The last write_registration() failed: writes it again, so that other
  /// nodes see what this node does (their placement reads the store's
  /// registration): a decline withdrawn, a refused drain that the store
  /// took all the same (its answer lost).
  void write_unwritten_registration();
  /// Sets `cordoned` and writes the registration; puts it back when the
  /// write fails.
  WriteResult write_cordoned(bool cordoned);
  void load_view();
  std::int64_t resynchronize();
  etcd::WatchCallbacks watch_callbacks();
  /// Tells the node what the view changed, and follows up (mutex_ held).
  void handle_view_changes(internal::ViewChanges& changes, Deliveries& deliveries);
  void handle_erased_owner(const internal::ErasedOwner& erased, Deliveries& deliveries);

  // -- ownership (coordinator_ownership.cpp) -------------------------------------
  void request_reconcile();
  void reconcile();
  /// Whether this node may place and adopt now (mutex_ held).
  bool may_place() const;
  /// Owner keys of this lease that the node was not told of (mutex_ held).
  void adopt(Deliveries& deliveries);
  struct Placement {
    std::string name;
    std::int64_t record_revision = 0;
  };
  std::vector<Placement> placements() const;
  void acquire(const std::vector<Placement>& placements, std::int64_t lease_id);
  bool acquire_batch(const std::vector<Placement>& batch, std::int64_t lease_id);
  void acquired(const std::vector<Placement>& batch, std::int64_t lease_id, std::int64_t revision);
  Acquisition acquisition_of(const std::string& name, std::int64_t token, bool resumed) const;
  void queue_release(const std::string& name, WriteDone done);
  void flush_releases();
  bool release_batch(const std::vector<std::string>& batch, std::int64_t lease_id);
  void released(const std::vector<std::string>& batch, std::int64_t revision, bool by_us);
  /// Adds `name` to (or removes it from) registration_.declined; whether
  /// that changed it.
  bool set_declined(const std::string& name, bool declined);
  void decline(const std::string& name, const WriteDone& done);
  void withdraw_decline(const std::string& name, const WriteDone& done);
  void drain(const WriteDone& done);
  void uncordon(const WriteDone& done);
  void request_rebalance(const WriteDone& done);
  void rebalance_owned();
  bool mark_batch(const std::vector<std::string>& batch, std::int64_t lease_id);
  void release_all_for_leave(const WriteDone& done);
  void stop_placing();

  // -- records (coordinator_records.cpp) -----------------------------------------
  void create_record(const std::string& name, const InstanceRecord& record, CreateMode mode,
                     const WriteDone& done);
  WriteResult replace_tombstone(const std::string& name, const InstanceRecord& record,
                                const etcd::KeyValue& tombstone);
  /// update_record and remove_record: `change` turns the record into the one to write.
  void rewrite_record(const std::string& name, std::int64_t expected_revision,
                      const std::function<void(InstanceRecord&)>& change, const WriteDone& done);
  WriteResult read_back(const std::string& name, const std::string& written,
                        std::int64_t expected_revision);
  void remove_unowned_record(const std::string& name, const WriteDone& done);
  void purge_record(const std::string& name, const WriteDone& done);
  /// Applies this coordinator's own put to the view.
  void apply_own_put(const std::string& key, const std::string& value, std::int64_t lease,
                     std::int64_t create_revision, std::int64_t revision);
  void apply_own_erase(const std::string& key, std::int64_t revision);
  WriteResult store_failure(const etcd::StoreError& error) const;
  bool fail_fast(const WriteDone& done);

  // -- configuration ---------------------------------------------------------------
  CoordinatorOptions options_;
  CoordinatorCallbacks callbacks_;
  KeyLayout layout_;
  LeaseTiming timing_;
  std::shared_ptr<spdlog::logger> log_;
  etcd::Client store_;

  // -- state (mutex_) ----------------------------------------------------------------
  struct LeaseMirror {
    std::int64_t id = 0;
    bool registered = false;
    LeaseHealth health = LeaseHealth::secure;
    BootClock::time_point confirmed_at{};
    BootClock::time_point lost_at{};
  };
  struct OwnedInstance {
    std::int64_t token = 0;     ///< the owner key's create revision
    std::int64_t revision = 0;  ///< the owner key's last write by this node
    OwnerValue value{};         ///< as this node last wrote it
    bool releasing = false;     ///< the node was asked to stop it (on_must_release)
  };

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  internal::ClusterView view_;
  LeaseMirror lease_;
  /// This node's registration as it should be stored (cordoned).
  NodeRegistration registration_;
  std::map<std::string, OwnedInstance> owned_;
  /// Owned when the lease counted as lost: on_acquired(resumed) if it
  /// proves alive.
  std::set<std::string> suspended_;
  /// release() calls whose owner key is not deleted yet, with their callbacks.
  std::map<std::string, std::vector<WriteDone>> pending_releases_;
  std::optional<BootClock::time_point> conflict_since_;
  /// Set at the first registration: placement_delay after it.
  std::optional<BootClock::time_point> placement_from_;
  bool id_conflict_ = false;
  bool left_ = false;
  std::uint64_t failovers_ = 0;
  std::uint64_t acquisitions_ = 0;
  std::uint64_t releases_ = 0;

  // -- without mutex_ ---------------------------------------------------------------
  std::mutex callback_mutex_;
  /// -1 unknown, 0 unreachable, 1 reachable.
  std::atomic<int> reachable_{-1};
  std::atomic<bool> reconcile_posted_{false};
  std::atomic<bool> registration_unwritten_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> leaving_{false};
  std::atomic<std::uint64_t> store_calls_{0};
  std::atomic<std::uint64_t> store_errors_{0};
  /// The watch's thread calls into the coordinator: made by the worker,
  /// destroyed after the worker stopped.
  std::unique_ptr<etcd::Watch> watch_;
  std::unique_ptr<internal::TaskQueue> worker_;
  std::unique_ptr<internal::NodeLease> lease_keeper_;
};

}  // namespace processpype::cluster
