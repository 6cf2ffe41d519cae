#pragma once

// The keys of one cluster in etcd (docs/cluster.md, "The keys"). Every key
// of cluster `<cluster>` starts with `/processpype/<cluster>/`:
//
//   nodes/<node id>          a node's registration, attached to its node lease:
//                            {"id", "rest_url", "node_address", "classes": [..],
//                             "cordoned": bool}
//                            It disappears with the lease: a live key is a live node.
//   instances/<name>         a cluster instance's record, attached to no lease:
//                            {"class", "nodes": [ids], "configuration": {..},
//                             "desired": "running"|"stopped", "tombstone": bool}
//                            Created once (create-if-absent); written afterwards
//                            only by the owner, in a transaction that compares the
//                            record's mod revision and the owner key. A tombstone
//                            is a deleted instance's record: it keeps a file from
//                            creating the instance again.
//   owners/<name>            who runs the instance, attached to the owner's node
//                            lease: {"node": id} (+ "releasing": "rebalance" while
//                            a rebalance moves it). Created if absent, so there is
//                            one owner at a time; its create revision is the
//                            fencing token. It disappears with the owner's lease,
//                            in the same revision as the owner's nodes/ key.
//   rebalance                {"by": node id}: each put asks every owner to hand
//                            over what another node should own.
//
// Node ids and cluster names are non-empty and contain no '/'; instance
// names follow the instance-name rule (docs/configuration.md).

#include <optional>
#include <string>
#include <string_view>

namespace processpype::cluster {

/// What a key of the cluster is.
enum class KeyKind { node, instance, owner, rebalance, other };

struct ParsedKey {
  KeyKind kind = KeyKind::other;
  std::string name{};  ///< the node id or instance name ("" for rebalance and other)
};

class KeyLayout {
 public:
  /// Throws std::invalid_argument for an empty cluster name or one with '/'.
  explicit KeyLayout(std::string cluster_name);

  const std::string& cluster_name() const noexcept { return cluster_name_; }
  /// "/processpype/<cluster>/": the prefix of every key of the cluster.
  const std::string& prefix() const noexcept { return prefix_; }
  std::string nodes_prefix() const { return prefix_ + "nodes/"; }
  std::string instances_prefix() const { return prefix_ + "instances/"; }
  std::string owners_prefix() const { return prefix_ + "owners/"; }

  std::string node_key(std::string_view node_id) const;
  std::string instance_key(std::string_view name) const;
  std::string owner_key(std::string_view name) const;
  std::string rebalance_key() const { return prefix_ + "rebalance"; }

  /// What `key` is; `other` for keys outside the cluster or unknown to it.
  ParsedKey parse(std::string_view key) const;

 private:
  std::string cluster_name_;
  std::string prefix_;
};

/// Whether `id` can name a node in a key (non-empty, no '/', no control
/// characters, at most 256 bytes).
bool is_valid_node_id(std::string_view id) noexcept;

}  // namespace processpype::cluster
