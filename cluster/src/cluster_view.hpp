#pragma once

// A node's view of its cluster: the live nodes, the instance records and
// their owners, as the store held them at revision(). Fed by the watch (one
// revision at a time), by full reads (at the start and after a compaction),
// and by the coordinator's own writes, which it applies before the watch
// brings them back: every key remembers the last revision applied to it,
// so nothing is applied twice or out of order. Not thread-safe: the
// coordinator guards it. Internal to processpype_cluster.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "processpype/cluster/coordinator.hpp"
#include "processpype/cluster/keys.hpp"
#include "processpype/cluster/records.hpp"
#include "processpype/etcd/etcd_watch.hpp"

namespace processpype::cluster::internal {

struct ViewNode {
  NodeRegistration registration{};
  std::int64_t lease = 0;
  std::int64_t revision = 0;
};

struct ViewOwner {
  OwnerValue value{};
  std::int64_t lease = 0;
  std::int64_t token = 0;     ///< create revision
  std::int64_t revision = 0;  ///< mod revision
};

/// How an instance's last owner left it.
struct Vacancy {
  std::string from_node{};
  Cause cause = Cause::handover;
};

struct ViewInstance {
  std::optional<InstanceRecord> record{};
  std::int64_t record_revision = 0;  ///< mod revision
  std::optional<ViewOwner> owner{};
  /// How the last owner left (kept after a new one came: its cause).
  std::optional<Vacancy> vacancy{};
  /// Its record was created (or a tombstone replaced) while this view was
  /// watching, not found by its first full read.
  bool created_while_watching = false;
};

/// An owner key that disappeared.
struct ErasedOwner {
  std::string name{};
  ViewOwner previous{};
  /// Its lease ended in that revision (the node key went with it).
  bool lease_ended = false;
  std::int64_t revision = 0;
};

/// What one application changed, for the coordinator's callbacks.
struct ViewChanges {
  std::vector<MembershipEvent> membership{};
  std::vector<RecordEvent> records{};
  std::vector<OwnerEvent> owners{};
  std::vector<ErasedOwner> erased_owners{};
  /// Node keys that disappeared: (id, lease).
  std::vector<std::pair<std::string, std::int64_t>> erased_nodes{};
  /// Something that may change who should own what.
  bool placement = false;
  /// A rebalance was asked for.
  bool rebalance = false;

  void append(ViewChanges&& other);
};

class ClusterView {
 public:
  ClusterView(KeyLayout layout, std::shared_ptr<spdlog::logger> log);

  /// The events of one revision, as the watch delivers them.
  ViewChanges apply(const std::vector<etcd::WatchEvent>& events, std::int64_t revision);
  /// A full read of the cluster's keys at `revision`: what the view holds
  /// and the read does not is erased. `initial`: the first read (an old
  /// rebalance key asks nothing).
  ViewChanges replace(const std::vector<etcd::KeyValue>& kvs, std::int64_t revision);
  /// A write of this coordinator (kv.mod_revision is its revision).
  ViewChanges put(const etcd::KeyValue& kv);
  /// A delete of this coordinator at `revision`.
  ViewChanges erase(const std::string& key, std::int64_t revision);

  std::int64_t revision() const noexcept { return revision_; }
  bool loaded() const noexcept { return loaded_; }
  const std::map<std::string, ViewNode>& nodes() const noexcept { return nodes_; }
  const std::map<std::string, ViewInstance>& instances() const noexcept { return instances_; }
  const ViewInstance* instance(const std::string& name) const;
  const ViewNode* node(const std::string& id) const;
  /// The live, uncordoned nodes that may own `record` (of the instance
  /// `name`) and do not decline it.
  std::vector<std::string> candidates(const std::string& name, const InstanceRecord& record) const;
  /// The preferred owner of `name` among its candidates.
  std::optional<std::string> preferred_owner(const std::string& name) const;
  ClusterInstance describe(const std::string& name, const ViewInstance& instance) const;
  const KeyLayout& layout() const noexcept { return layout_; }

 private:
  /// Whether `revision` is news for `key` (and remembers it).
  bool fresh(const std::string& key, std::int64_t revision);
  void apply_put(const etcd::KeyValue& kv, ViewChanges& changes);
  void apply_erase(const std::string& key, std::int64_t revision,
                   const std::set<std::int64_t>& ended_leases, ViewChanges& changes);
  void put_node(const std::string& id, const etcd::KeyValue& kv, ViewChanges& changes);
  void put_record(const std::string& name, const etcd::KeyValue& kv, ViewChanges& changes);
  void put_owner(const std::string& name, const etcd::KeyValue& kv, ViewChanges& changes);
  void erase_node(const std::string& id, ViewChanges& changes);
  void erase_record(const std::string& name, std::int64_t revision, ViewChanges& changes);
  void erase_owner(const std::string& name, std::int64_t revision,
                   const std::set<std::int64_t>& ended_leases, ViewChanges& changes);
  Vacancy vacancy_of(const ViewOwner& previous, bool lease_ended) const;
  /// Drops an instance entry that holds nothing any more.
  void forget_if_empty(const std::string& name);
  /// The leases of the node keys that `erased` node ids had.
  std::set<std::int64_t> leases_of(const std::vector<std::string>& erased) const;
  void warn_undecodable(const std::string& key, const std::string& reason);

  KeyLayout layout_;
  std::shared_ptr<spdlog::logger> log_;
  std::int64_t revision_ = 0;
  bool loaded_ = false;
  std::map<std::string, ViewNode> nodes_;
  std::map<std::string, ViewInstance> instances_;
  /// key → the last revision applied to it (a put's mod revision, an
  /// erase's revision).
  std::map<std::string, std::int64_t> seen_;
};

}  // namespace processpype::cluster::internal
