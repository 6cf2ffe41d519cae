#pragma once

// The coordination of cluster instances on etcd (docs/cluster.md): one
// Coordinator per node keeps the node's lease and registration, a view of
// the cluster (nodes, instance records, owners) kept current by a watch,
// places instances by rendezvous hashing, acquires and releases owner
// keys, and writes records as their owner. It runs no service: it tells
// the node, through callbacks, what to start and stop, and the node tells
// it when it has stopped something.
//
//   Coordinator coordinator(options, callbacks);
//   coordinator.start();                        // returns at once
//   coordinator.create_record("echo-1", record, CreateMode::request,
//                             [](const WriteResult& result) { ... });
//   ...
//   coordinator.drain(); ... coordinator.leave();   // on SIGTERM
//
// Threads. A coordinator has a worker thread (every store write but the
// lease's renewals), a renewal thread and a deadline thread for the lease,
// and a watch thread. The members taking a `done` callback return at once
// and call it on the worker thread: call them from a CAF worker or a
// RESTinio thread. The members without one wait for the store: for the
// start of a node, its exit and tests, never from a callback (they throw
// std::logic_error there). The view's readers (instances(), nodes(), ...)
// never wait for the store.
//
// Callbacks run on the coordinator's threads, one at a time, in the order
// of the changes they report, and must be short: hand the event to an
// actor (a message) and return. They may call the members with a `done`
// callback and the view's readers, never a waiting member. What they throw
// is logged and dropped.
//
// Integration contract (what the node must do):
//  - on_acquired: this node owns the instance from now on. Register it,
//    configure it from the record and start it when record.desired is
//    running. Pass fencing_token to what it guards if it needs strict
//    exclusion.
//  - on_must_release: stop the instance (drain, rebalance), then call
//    release(name). Until release, this node still owns it.
//  - on_lease(at_risk): renewals fail; stop every cluster instance by
//    `lost_at` (cap their stop timeouts to fit). They stay owned.
//  - on_lease(secure) after at_risk or lost, not fresh: the lease is alive
//    again: start again the owned instances whose record says running.
//  - on_lease(lost): this is the moment: if a cluster instance still runs,
//    exit with code 70. on_lost(name, lease_lost) follows for each: drop
//    them. If the lease proves alive later, on_acquired(.., resumed) gives
//    them back.
//  - on_lost(name, owner_key_deleted): someone removed the owner key: stop
//    and drop the instance at once.
//  - Commands on a cluster instance go to its owner; the owner calls
//    update_record / remove_record, acts once it succeeded, and answers.
//    After remove_record succeeded it stops the instance and calls
//    release(name).
//  - On a clean exit: drain(), stop what on_must_release names, release,
//    then leave(). Destroying a coordinator without leave() touches
//    nothing in the store, as if the process had died: its keys expire
//    with its lease. While a copy of an owned instance may still run
//    (its stop did not finish), never leave(): leave() deletes every owner
//    key and revokes the lease, and the next owner would start its copy
//    beside this one. Call stop_placing() instead, release each instance
//    once its stop finished, and let the lease end with the process.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/cluster/boot_clock.hpp"
#include "processpype/cluster/records.hpp"
#include "processpype/etcd/etcd_client.hpp"

namespace processpype::cluster {

using namespace std::chrono_literals;

struct CoordinatorOptions {
  /// etcd's endpoints, TLS, timeouts; its on_request sees every call of the
  /// coordinator (for processpype_store_request_seconds).
  etcd::ClientOptions store{};
  /// cluster.name: keys under /processpype/<name>/.
  std::string cluster_name = "processpype";
  /// This node as it registers (`cordoned` is ignored: a node starts
  /// uncordoned).
  NodeRegistration node{};
  /// cluster.lease_seconds (at least 2).
  std::chrono::seconds lease_seconds = 5s;
  /// How long before the lease counts as lost the node is told to stop its
  /// cluster instances (on_lease at_risk); 0: max(0.5 s, lease / 4).
  std::chrono::milliseconds stop_allowance = 0ms;
  /// Owner keys acquired or released per transaction (1 to 64).
  std::size_t batch_size = 64;
  /// After its first registration, the node places nothing for this long
  /// (it adopts what it still owns): nodes of a cluster started together
  /// all register before anything is placed, so that the first one up does
  /// not take every instance (an owner keeps what it has). 0: none.
  std::chrono::milliseconds placement_delay = 0ms;
};

/// What this node knows of its lease.
enum class LeaseHealth {
  secure,   ///< renewed in time
  at_risk,  ///< renewals failed: stop every cluster instance by lost_at
  lost,     ///< counts as lost: nothing may run any more
};

std::string_view to_string(LeaseHealth health) noexcept;

struct LeaseEvent {
  LeaseHealth health = LeaseHealth::secure;
  std::int64_t lease_id = 0;
  /// secure: a new lease under which this node just registered (it owns
  /// nothing yet); false: the lease it had is renewed again.
  bool fresh = false;
  /// T: when the last renewal etcd answered with a TTL was sent.
  BootClock::time_point confirmed_at{};
  /// T + lease − margin: at_risk's stop-by time; lost's moment.
  BootClock::time_point lost_at{};
};

/// The lease now (lease_status()).
struct LeaseStatus {
  std::int64_t lease_id = 0;  ///< 0: none yet (or expired, a new one not granted yet)
  bool registered = false;    ///< this node's registration is written under it
  LeaseHealth health = LeaseHealth::secure;
  BootClock::time_point confirmed_at{};
  BootClock::time_point lost_at{};
};

/// This node owns an instance from now on (on_acquired).
struct Acquisition {
  std::string name{};
  InstanceRecord record{};
  std::int64_t record_revision = 0;
  /// The owner key's create revision: larger for every new owner of this
  /// instance.
  std::int64_t fencing_token = 0;
  /// initial, failover, handover, rebalance or resumed.
  Cause cause = Cause::initial;
  /// The previous owner (failover, handover, rebalance).
  std::optional<std::string> from_node{};
  /// initial, of a record that a registration request created while this
  /// node watched the store: that request's id ("" when it had none). None
  /// for a record this node found at its start, or a file's.
  std::optional<std::string> request_id{};
};

/// A node of the cluster as registered (nodes()).
struct NodeInfo {
  NodeRegistration registration{};
  std::int64_t lease = 0;
};

enum class MembershipChange { joined, changed, left };

struct MembershipEvent {
  MembershipChange change = MembershipChange::joined;
  /// left: the registration as last seen.
  NodeInfo node{};
};

/// A cluster instance in this node's view (GET /cluster/services).
struct ClusterInstance {
  std::string name{};
  InstanceRecord record{};
  std::int64_t record_revision = 0;
  std::optional<std::string> owner{};  ///< nullopt: none
  std::int64_t fencing_token = 0;      ///< 0 without owner
  /// Its owner is handing it over for this reason.
  std::optional<Cause> releasing{};
  /// The live nodes that decline it (a node instance of theirs has its
  /// name): none of them runs it. By id.
  std::vector<std::string> declined_by{};
};

/// A record appeared, changed or was purged (on_record).
struct RecordEvent {
  std::string name{};
  std::optional<InstanceRecord> record{};  ///< nullopt: purged
  std::int64_t revision = 0;
};

/// An instance's owner changed (on_owner).
struct OwnerEvent {
  std::string name{};
  std::optional<std::string> owner{};  ///< nullopt: it has none now
  std::int64_t fencing_token = 0;
  /// When it has none: why the last owner left (failover, handover,
  /// rebalance) and who it was.
  std::optional<Cause> cause{};
  std::optional<std::string> from_node{};
};

struct CoordinatorCallbacks {
  /// The lease's health changed, or a fresh lease is registered.
  std::function<void(const LeaseEvent&)> on_lease{};
  /// Calls to the store started failing (false) or succeed again (true);
  /// the first outcome is reported too.
  std::function<void(bool reachable)> on_store_reachable{};
  std::function<void(const Acquisition&)> on_acquired{};
  /// Stop it, then release(name). cause: handover (drain) or rebalance.
  std::function<void(const std::string& name, Cause cause)> on_must_release{};
  /// This node owns it no more. cause: lease_lost or owner_key_deleted.
  std::function<void(const std::string& name, Cause cause)> on_lost{};
  std::function<void(const MembershipEvent&)> on_membership{};
  std::function<void(const RecordEvent&)> on_record{};
  std::function<void(const OwnerEvent&)> on_owner{};
  /// This node's id is registered by a live node (another lease that did
  /// not expire within lease_seconds): the node should exit (code 2). The
  /// coordinator stops trying to register.
  std::function<void(const std::string& reason)> on_id_conflict{};
};

enum class WriteOutcome {
  ok,
  exists,         ///< create: the record exists (file mode: also a tombstone); nothing written
  conflict,       ///< another write came first (a revision that moved on): 409
  being_deleted,  ///< create: the name's tombstone still has an owner stopping the copy: 409
  not_found,      ///< no record, or a tombstone: 404
  not_owner,      ///< this node does not own the instance (any more)
  invalid,        ///< a name, record or update that cannot be written: 400
  unreachable,    ///< the store did not answer: 503 "cluster store unreachable"
  rejected,       ///< etcd refused the call (detail says why): 500
  stopping,       ///< the coordinator is being destroyed
};

std::string_view to_string(WriteOutcome outcome) noexcept;

struct WriteResult {
  WriteOutcome outcome = WriteOutcome::ok;
  /// ok: the store's revision of the write (a record's new mod revision);
  /// exists and conflict: the stored record's mod revision when known.
  std::int64_t revision = 0;
  std::string detail{};

  bool ok() const noexcept { return outcome == WriteOutcome::ok; }
};

using WriteDone = std::function<void(const WriteResult&)>;

enum class CreateMode {
  file,     ///< create when absent; an existing record or a tombstone stays
  request,  ///< create when absent, or replace a tombstone whose instance has no owner
};

/// What a command changes in a record (class and nodes are fixed).
struct RecordUpdate {
  std::optional<nlohmann::json> configuration{};  ///< a JSON object
  std::optional<DesiredState> desired{};
};

struct CoordinatorMetrics {
  std::size_t instances_owned = 0;    ///< processpype_cluster_instances_owned
  std::uint64_t failovers_total = 0;  ///< processpype_cluster_failovers_total
  std::uint64_t acquisitions_total = 0;
  std::uint64_t releases_total = 0;
  std::uint64_t renewals_total = 0;        ///< renewals etcd confirmed
  std::uint64_t store_calls_total = 0;     ///< calls (a call may try several endpoints)
  std::uint64_t store_errors_total = 0;    ///< calls that failed
  std::uint64_t store_requests_total = 0;  ///< HTTP requests, the watch's included
};

class Coordinator {
 public:
  /// Checks the options (throws std::invalid_argument: a node id or cluster
  /// name that cannot be a key, a lease below 2 s, ...). No store call yet.
  Coordinator(CoordinatorOptions options, CoordinatorCallbacks callbacks);
  /// Stops every thread without touching the store (see leave()).
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  /// Starts the threads and returns: the view loads, the lease is granted,
  /// the node registers and places instances, retrying while the store
  /// does not answer. Once only.
  void start();
  /// Waits until the node is registered under a lease; false on timeout.
  bool wait_until_registered(std::chrono::milliseconds timeout) const;
  /// Waits until the view reflects the store's revision `revision` (or a
  /// later one); false on timeout.
  bool wait_until_view_at(std::int64_t revision, std::chrono::milliseconds timeout) const;

  // -- records -----------------------------------------------------------------
  /// Creates the record of a new cluster instance (see CreateMode). Its
  /// owner is placed afterwards, by the nodes.
  void create_record(std::string name, InstanceRecord record, CreateMode mode, WriteDone done);
  WriteResult create_record(std::string name, InstanceRecord record, CreateMode mode);
  /// As the owner: writes the record if its mod revision is still
  /// `expected_revision` (0: the revision in this node's view now) and this
  /// node still holds the owner key. An outcome that the store left unknown
  /// is read back.
  void update_record(std::string name, RecordUpdate update, std::int64_t expected_revision,
                     WriteDone done);
  WriteResult update_record(std::string name, RecordUpdate update,
                            std::int64_t expected_revision = 0);
  /// As the owner: writes the tombstone (desired stopped). The node then
  /// stops the instance and calls release(name).
  void remove_record(std::string name, WriteDone done);
  WriteResult remove_record(std::string name);
  /// Writes the tombstone of an instance that has no owner (no eligible
  /// node is up: nobody else could delete it), if the owner key is still
  /// absent and the record unchanged in the store. not_owner when it has
  /// an owner (its owner deletes it).
  void remove_unowned_record(std::string name, WriteDone done);
  WriteResult remove_unowned_record(std::string name);
  /// Deletes a tombstone whose instance has no owner (an operator's
  /// cleanup); not_found when there is no tombstone.
  void purge_record(std::string name, WriteDone done);
  WriteResult purge_record(std::string name);

  // -- ownership ---------------------------------------------------------------
  /// The node stopped the instance: deletes this node's owner key. ok also
  /// when it owned nothing by that name. A release the store did not take
  /// (unreachable) is retried by the coordinator. `done` may be empty.
  void release(std::string name, WriteDone done);
  WriteResult release(std::string name);
  /// This node cannot run `name` (a node instance of its own has the
  /// name): adds it to the declined names of this node's registration, so
  /// that no node places it here, then releases its owner key if this node
  /// holds it (another eligible node acquires it). `done` gets the
  /// release's outcome; the registration is written again when the node
  /// registers anew if this write did not reach the store.
  void decline(std::string name, WriteDone done);
  WriteResult decline(std::string name);
  /// The node instance that made this node decline `name` is gone: removes
  /// the name from the declined names of this node's registration, so that
  /// the instance may be placed here again by the usual rules (an owner
  /// keeps it). ok, without a write, when this node does not decline it.
  void withdraw_decline(std::string name, WriteDone done);
  WriteResult withdraw_decline(std::string name);
  /// Cordons this node (nothing is placed on it) and asks the node to hand
  /// over every owned instance (on_must_release, cause handover).
  void drain(WriteDone done);
  WriteResult drain();
  /// Clears the cordon; instances without owner may be placed here again.
  void uncordon(WriteDone done);
  WriteResult uncordon();
  /// Asks every node to hand over the instances another node is preferred
  /// for (on_must_release, cause rebalance, on their owners).
  void rebalance(WriteDone done);
  WriteResult rebalance();
  /// The clean exit: releases what is still owned (the node must have
  /// stopped it), stops renewing and revokes the lease (the registration
  /// goes with it). The coordinator does nothing afterwards.
  void leave();
  /// The exit of a node that still runs a copy of an instance it owns: it
  /// acquires and adopts nothing any more, and keeps renewing its lease
  /// and its owner keys; release() still lets an instance go once the node
  /// stopped it. What it still owns when the process ends moves when the
  /// lease, no longer renewed, expires. Returns at once.
  void stop_placing();

  // -- the view (no store round trip) -------------------------------------------
  /// Every instance with a live record (not a tombstone), by name;
  /// `with_tombstones` adds the tombstones.
  std::vector<ClusterInstance> instances(bool with_tombstones = false) const;
  /// The instance `name` with a live record; `with_tombstones`: also a tombstone.
  std::optional<ClusterInstance> instance(std::string_view name,
                                          bool with_tombstones = false) const;
  /// The live nodes (registered under a lease), by id.
  std::vector<NodeInfo> nodes() const;
  /// The instances this node owns, by name.
  std::vector<std::string> owned() const;
  /// The node the instance should be owned by among the live, eligible,
  /// uncordoned nodes of the view; nullopt: none.
  std::optional<std::string> preferred_owner(std::string_view name) const;
  /// The store revision the view reflects.
  std::int64_t view_revision() const;
  LeaseStatus lease_status() const;
  /// The outcome of the last store call; nullopt before the first.
  std::optional<bool> store_reachable() const;
  CoordinatorMetrics metrics() const;
  const std::string& node_id() const noexcept;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace processpype::cluster
