#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "processpype/actors/instance_table.hpp"
#include "processpype/actors/protocol.hpp"

namespace caf {
class actor_system;
}

namespace processpype {

class NodeDirectory;

/// Replicas of other nodes' instance status, readable from any thread: the
/// REST layer answers `GET /nodes/{id}/services/{name}` from here without a
/// network round trip when the replica is exact enough
/// (docs/architecture.md, "Status replicas"):
///
/// - a read never shows a state older than one this node has already shown
///   or been told of: every reply that comes back from a node carries its
///   TableVersion, and until the replica has caught up with the newest one,
///   reads of that node are forwarded to it (so a read after a command's
///   reply sees the command's effect, as on the node itself);
/// - otherwise a replica lags its node by the time one batch takes to cross
///   (the node pushes each change as it publishes it);
/// - an instance whose status depends on the time (a restart pending), or
///   that the replica does not hold, is asked of its node.
class StatusReplicas {
 public:
  /// The body of GET /services/{name} of instance `name` on node `node` as
  /// that node would answer it now; nullptr: ask the node.
  std::shared_ptr<const std::string> find(std::string_view node, std::string_view name) const;
  /// A reply from `node` reflected `version`.
  void note_reply(const std::string& node, TableVersion version);
  /// Applies a batch of the node's feed (in the order the feed sent them).
  void apply(StatusBatch batch);
  /// Forgets what is known of `node` (it went down, or another process
  /// took its id).
  void forget(const std::string& node);

 private:
  struct Replica {
    mutable std::mutex mutex;
    TableVersion applied;   ///< boot 0: no full batch yet
    TableVersion required;  ///< boot 0: no reply noted
    std::unordered_map<std::string, std::shared_ptr<const std::string>> bodies;
  };
  std::shared_ptr<Replica> find_replica(std::string_view node) const;
  std::shared_ptr<Replica> replica(const std::string& node);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Replica>> replicas_;
};

/// Spawns the feed of `table`'s changes that other nodes' replicas follow.
StatusFeedActor spawn_status_feed(caf::actor_system& system, std::string node_id,
                                  std::shared_ptr<InstanceTable> table);

/// Spawns the actor that keeps `replicas` current: it follows the feed of
/// every remote node that `directory` lists up, from now on.
StatusFollowerActor spawn_status_follower(caf::actor_system& system,
                                          std::shared_ptr<StatusReplicas> replicas,
                                          NodeDirectory& directory);

}  // namespace processpype
