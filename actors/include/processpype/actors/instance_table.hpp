#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/runtime/lifecycle.hpp"
#include "processpype/runtime/service_registry.hpp"
#include "processpype/runtime/service_status.hpp"

namespace processpype {

/// The configuration part of a view: shared by the views of one instance
/// until the next configure.
struct ConfigurationView {
  /// What statuses show: secret fields masked (docs/secrets.md).
  nlohmann::json metadata = nlohmann::json::object();
  /// The configuration to apply again (the Supervisor's revive, the state
  /// file, cluster records): secret fields in clear or as their
  /// `${secret:...}` references (ServiceLifecycle::stored_configuration).
  /// Never rendered into an answer, an event, a log line or a replica.
  /// Shared with the lifecycle; null in the initial view.
  std::shared_ptr<const nlohmann::json> stored;
  bool is_configured = false;
  std::vector<std::string> depends_on;
  bool enabled = true;
  InstanceOrigin origin = InstanceOrigin::request;
  /// The top-level fields that differ from the application file's.
  std::vector<std::string> overrides;
};

/// What the actor running an instance publishes of it: immutable once
/// published; a change publishes a new one.
struct ServiceView {
  ServiceState state = ServiceState::initialized;
  std::string error;
  std::shared_ptr<const ConfigurationView> configuration;
  std::optional<HealthReport> health;
  std::uint64_t restarts = 0;
  std::optional<std::chrono::steady_clock::time_point> next_restart_at;
};

/// Counters of one instance, for the metrics (monotonic, any thread).
struct ServiceCounters {
  std::array<std::atomic<std::uint64_t>, 7> transitions{};  ///< entries into each state
  std::atomic<std::uint64_t> failures{0};
};

/// How many instances of a node are in each state, kept as views are
/// published: readiness and metrics read them without walking the table.
struct InstanceCounts {
  std::array<std::atomic<std::int64_t>, 7> by_state{};
  /// Enabled instances in starting, stopping or error (not ready).
  std::atomic<std::int64_t> enabled_not_ready{0};
  /// Counts entries into `running`, to order instances by when they started.
  std::atomic<std::uint64_t> running_sequence{0};

  void add(const ServiceView& view, std::int64_t delta);
};

/// Which published state of a node's table a reader has seen: `boot` tells
/// runs of the node apart, `sequence` counts the changes published since
/// other nodes began to follow it (docs/architecture.md, "Status replicas").
struct TableVersion {
  std::uint64_t boot = 0;
  std::uint64_t sequence = 0;
};

/// The changes of one table that other nodes follow: which instances
/// changed since the last batch was taken. Costs nothing until followed,
/// then one short lock per published change.
class TableChanges {
 public:
  TableChanges();

  /// Starts (or keeps) recording changes; `wake` is called, on the
  /// publisher's thread, when a change comes after the last take(). Returns
  /// the version now: every view published up to it is visible to a
  /// reader that comes after this call.
  TableVersion follow(std::function<void()> wake);
  /// After instance `name` changed (its view, or it came or went).
  void note(const std::string& name);

  struct Batch {
    TableVersion version;  ///< every change up to it is in this batch or an earlier one
    std::vector<std::string> names;
  };
  /// The instances changed since the last take, with the version now.
  Batch take();

  TableVersion version() const noexcept {
    return {boot_, sequence_.load(std::memory_order_acquire)};
  }

 private:
  const std::uint64_t boot_;
  std::atomic<bool> followed_{false};
  std::atomic<std::uint64_t> sequence_{0};
  std::mutex mutex_;  ///< guards what follows, and each sequence_ step once followed
  std::unordered_set<std::string> changed_;
  bool woken_ = false;
  std::function<void()> wake_;
};

/// One registered instance as every thread may read it. Its view has one
/// writer at a time: the actor running the instance (or the Supervisor
/// while none runs). Readers never wait for it (docs/architecture.md, "The
/// read path").
class InstanceRecord {
 public:
  InstanceRecord(std::string name, std::shared_ptr<const ServiceClass> service_class,
                 std::uint64_t order, std::shared_ptr<InstanceCounts> counts,
                 std::shared_ptr<TableChanges> changes,
                 InstanceOrigin origin = InstanceOrigin::request,
                 std::shared_ptr<const nlohmann::json> file_metadata = nullptr,
                 std::shared_ptr<const ClusterPlacement> cluster = nullptr);

  const std::string& name() const noexcept { return name_; }
  const ServiceClass& service_class() const noexcept { return *service_class_; }
  const std::shared_ptr<const ServiceClass>& shared_class() const noexcept {
    return service_class_;
  }
  /// Where it comes from (docs/state.md); fixed for its life.
  InstanceOrigin origin() const noexcept { return origin_; }
  /// The application file's configuration of it, defaults filled in; null
  /// for a request instance.
  const std::shared_ptr<const nlohmann::json>& file_metadata() const noexcept {
    return file_metadata_;
  }
  /// Registration order: larger is later.
  std::uint64_t order() const noexcept { return order_; }

  std::shared_ptr<const ServiceView> view() const { return view_.load(std::memory_order_acquire); }
  /// The status clients see, `now` giving next_restart_in_seconds.
  ServiceStatus status(
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;
  /// The same, as the JSON of GET /services/{name}.
  nlohmann::json status_json(
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;
  /// The body of GET /services/{name}: rendered once per published view,
  /// unless it depends on the time (a restart is pending).
  std::shared_ptr<const std::string> status_body(
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;
  /// The same for replicas on other nodes, or nullptr while it depends on
  /// the time.
  std::shared_ptr<const std::string> timeless_status_body() const;
  ServiceState state() const { return view()->state; }

  /// Replaces the view. The node's counts follow only while the record is
  /// in the table: a view published before `InstanceTable::insert` (on the
  /// inserting thread) is counted by the insert.
  void publish(std::shared_ptr<const ServiceView> view);

  ServiceCounters& counters() noexcept { return counters_; }
  const ServiceCounters& counters() const noexcept { return counters_; }

  bool removed() const noexcept { return removed_.load(std::memory_order_acquire); }

  /// A cluster instance's placement (docs/cluster.md); null for a node
  /// instance. Fixed while this node owns it.
  const std::shared_ptr<const ClusterPlacement>& cluster() const noexcept { return cluster_; }
  /// Whether a start or stop of its manager outlived its timeout and still
  /// runs on a manager thread: the service may still be active although its
  /// state says otherwise (a cluster node that loses its lease exits then).
  bool manager_overdue() const noexcept { return manager_overdue_.load(std::memory_order_acquire); }
  void set_manager_overdue(bool value) noexcept {
    manager_overdue_.store(value, std::memory_order_release);
  }
  /// When it last reached `running`, in the order of the node's instances
  /// (0: never); its actor sets it as it enters running.
  std::uint64_t running_since() const noexcept {
    return running_since_.load(std::memory_order_relaxed);
  }
  void mark_running() noexcept {
    running_since_.store(counts_->running_sequence.fetch_add(1) + 1, std::memory_order_relaxed);
  }

  /// Whether other instances depend on this one (kept by the Supervisor):
  /// only then does its actor report running and failures to it.
  bool has_dependents() const noexcept { return has_dependents_.load(std::memory_order_acquire); }
  void set_has_dependents(bool value) noexcept {
    has_dependents_.store(value, std::memory_order_release);
  }

 private:
  friend class InstanceTable;

  const std::string name_;
  const std::shared_ptr<const ServiceClass> service_class_;
  const std::uint64_t order_;
  const InstanceOrigin origin_;
  const std::shared_ptr<const nlohmann::json> file_metadata_;
  const std::shared_ptr<const ClusterPlacement> cluster_;
  std::atomic<std::shared_ptr<const ServiceView>> view_;
  /// The body of the view it names (kept alive, so never a reused address).
  struct RenderedStatus {
    std::shared_ptr<const ServiceView> view;
    std::string body;
  };
  std::shared_ptr<const std::string> rendered(const std::shared_ptr<const ServiceView>& view) const;
  mutable std::atomic<std::shared_ptr<const RenderedStatus>> rendered_;
  ServiceCounters counters_;
  std::shared_ptr<InstanceCounts> counts_;
  std::shared_ptr<TableChanges> changes_;
  std::atomic<bool> listed_{false};
  std::atomic<bool> removed_{false};
  std::atomic<std::uint64_t> running_since_{0};
  std::atomic<bool> has_dependents_{false};
  std::atomic<bool> manager_overdue_{false};
};

using RecordPtr = std::shared_ptr<InstanceRecord>;

/// The configuration part of the view of `record`, as `lifecycle`'s service
/// is configured now (its overrides of the application file computed).
std::shared_ptr<const ConfigurationView> describe_configuration(const ServiceLifecycle& lifecycle,
                                                                const InstanceRecord& record);

/// A snapshot of the registered instances in registration order, taken by
/// copying one pointer. Instances removed after the snapshot was taken are
/// skipped as it is read.
class InstanceListing {
 public:
  InstanceListing() = default;

  /// Calls `visit(const InstanceRecord&)` for each live instance registered
  /// after the one with order `after` (0: from the first), until `visit`
  /// returns false.
  template <class Visit>
  void for_each(Visit&& visit, std::uint64_t after = 0) const {
    if (!storage_) return;
    auto begin = first_after(after);
    for (auto i = begin; i < count_; ++i) {
      const auto& record = *storage_->slots[i];
      if (record.removed()) continue;
      if (!visit(record)) return;
    }
  }

 private:
  friend class InstanceTable;
  /// Fixed-capacity slots: the writer fills slot `count` while readers of
  /// older snapshots read below it.
  struct Storage {
    explicit Storage(std::size_t capacity)
        : slots(std::make_unique<RecordPtr[]>(capacity)), capacity(capacity) {}
    std::unique_ptr<RecordPtr[]> slots;
    std::size_t capacity;
  };
  std::size_t first_after(std::uint64_t after) const;

  std::shared_ptr<const Storage> storage_;
  std::size_t count_ = 0;
};

/// The registration orders of the instances removed last, so that a page
/// of GET /services that ended at one of them can continue after it
/// (docs/rest-api.md). Keeps at most `capacity` names, the oldest removal
/// forgotten first; a lookup is one hash lookup under a short lock.
class RemovedOrders {
 public:
  static constexpr std::size_t capacity = 4096;

  void remember(const std::string& name, std::uint64_t order);
  std::optional<std::uint64_t> find(std::string_view name) const;

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
      return std::hash<std::string_view>{}(name);
    }
  };
  mutable std::mutex mutex_;
  /// Oldest first. A name removed twice appears twice; `orders_` holds its
  /// last order, so forgetting the older removal leaves it.
  std::deque<std::pair<std::string, std::uint64_t>> removals_;
  std::unordered_map<std::string, std::uint64_t, NameHash, std::equal_to<>> orders_;
};

/// The registered instances of one node, readable from any thread: the
/// REST layer answers status reads and lists from here with no actor on the
/// path. A lookup by name is one hash lookup under a short lock of one of
/// several shards; a listing is a pointer copy. The Supervisor is the only
/// writer, and publishes each change before it replies to the command.
class InstanceTable {
 public:
  InstanceTable();
  InstanceTable(const InstanceTable&) = delete;
  InstanceTable& operator=(const InstanceTable&) = delete;

  RecordPtr find(std::string_view name) const;
  /// The registration order of instance `name`, or, once it is removed, of
  /// its last registration while it is among the last
  /// RemovedOrders::capacity removed; nothing for a name never registered.
  std::optional<std::uint64_t> order_of(std::string_view name) const;
  InstanceListing listing() const;
  /// Instances registered now.
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  const InstanceCounts& counts() const noexcept { return *counts_; }
  /// What other nodes follow to keep their replicas current.
  TableChanges& changes() const noexcept { return *changes_; }

  // -- the Supervisor only --------------------------------------------------------

  /// A new record for `name` (not registered yet) in state initialized.
  RecordPtr make_record(std::string name, std::shared_ptr<const ServiceClass> service_class,
                        InstanceOrigin origin = InstanceOrigin::request,
                        std::shared_ptr<const nlohmann::json> file_metadata = nullptr,
                        std::shared_ptr<const ClusterPlacement> cluster = nullptr);
  void insert(RecordPtr record);
  void erase(const std::string& name);

 private:
  static constexpr std::size_t shard_count = 16;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string_view, RecordPtr> records;
  };
  Shard& shard_of(std::string_view name) const;
  void publish_listing();
  void compact();

  mutable std::array<Shard, shard_count> shards_;
  std::shared_ptr<InstanceCounts> counts_ = std::make_shared<InstanceCounts>();
  std::shared_ptr<TableChanges> changes_ = std::make_shared<TableChanges>();
  std::atomic<std::size_t> size_{0};
  std::uint64_t next_order_ = 1;
  RemovedOrders removed_orders_;

  // The listing: append-only storage shared with the snapshots; a slot is
  // written before the snapshot that counts it is published. Compacted
  // (copied without removed records) when they outnumber the live ones.
  std::shared_ptr<InstanceListing::Storage> storage_;
  std::size_t count_ = 0;
  std::size_t removed_ = 0;
  mutable std::mutex listing_mutex_;  ///< guards `listing_` (a pointer copy)
  InstanceListing listing_;
};

}  // namespace processpype
