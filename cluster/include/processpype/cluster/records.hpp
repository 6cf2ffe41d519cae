#pragma once

// What the keys of a cluster hold (processpype/cluster/keys.hpp), as C++
// values, and their JSON in the store. Decoding refuses what a coordinator
// never writes, with a message that names the field.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace processpype::cluster {

enum class DesiredState { running, stopped };

std::string_view to_string(DesiredState state) noexcept;
/// "running" / "stopped"; nullopt otherwise.
std::optional<DesiredState> desired_state_from_string(std::string_view text) noexcept;

/// Why an instance came to a node or left it: the causes of the node's
/// events (docs/cluster.md, "Failover").
enum class Cause {
  initial,     ///< it had no owner that this node saw (new, or every eligible node was down)
  failover,    ///< its owner's lease ended (the node died, froze or lost the store)
  handover,    ///< its owner let it go: drain, SIGTERM, a clean exit
  rebalance,   ///< its owner let it go for POST /cluster/rebalance
  lease_lost,  ///< this node's lease is lost (or counts as lost): it runs nothing any more
  resumed,     ///< this node's lease proved alive after an outage: it still owns the instance
  owner_key_deleted,  ///< someone deleted this node's owner key (not the coordinator; etcdctl)
};

std::string_view to_string(Cause cause) noexcept;
std::optional<Cause> cause_from_string(std::string_view text) noexcept;

/// A node as it registers itself (nodes/<id>).
struct NodeRegistration {
  std::string id{};
  std::string rest_url{};      ///< e.g. "http://10.0.0.5:8080"
  std::string node_address{};  ///< the CAF node's "host:port" ("" without --node-port)
  /// The service classes this node can run (keys, e.g. "echo"); sorted, unique.
  std::vector<std::string> classes{};
  /// Drained: nothing is placed on it.
  bool cordoned = false;
  /// Cluster instances this node cannot run because a node instance of its
  /// own has the name (docs/cluster.md, "Placement"); sorted, unique. No
  /// node places them here.
  std::vector<std::string> declined{};

  bool has_class(std::string_view class_key) const;
  bool declines(std::string_view name) const;
  bool operator==(const NodeRegistration&) const = default;
};

/// A cluster instance's record (instances/<name>).
struct InstanceRecord {
  std::string class_key{};
  /// The eligible node ids, sorted and unique; empty: every node that has
  /// the class. Fixed for the instance's life.
  std::vector<std::string> nodes{};
  /// The whole configuration (a JSON object), as the last configure gave it.
  nlohmann::json configuration = nlohmann::json::object();
  DesiredState desired = DesiredState::stopped;
  /// Deleted: nobody runs it; a file does not create it again.
  bool tombstone = false;
  /// Created by a registration request: that request's id ("" when it had
  /// none), the cause of the registration at its first owner. None for the
  /// record of a file's instance.
  std::optional<std::string> request_id{};

  /// Whether `node` may own it: listed (or no list), has the class.
  bool eligible(const NodeRegistration& node) const;
  bool operator==(const InstanceRecord&) const = default;
};

/// An owner key's value (owners/<name>).
struct OwnerValue {
  std::string node{};
  /// Set while its owner hands it over for a rebalance (the next owner's
  /// cause).
  std::optional<Cause> releasing{};

  bool operator==(const OwnerValue&) const = default;
};

/// A stored value that is not what a coordinator writes.
class RecordError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// JSON text; classes and nodes sorted and made unique.
std::string encode(const NodeRegistration& registration);
std::string encode(const InstanceRecord& record);
std::string encode(const OwnerValue& owner);

/// Throw RecordError naming what is wrong.
NodeRegistration decode_registration(std::string_view text);
InstanceRecord decode_record(std::string_view text);
OwnerValue decode_owner(std::string_view text);

/// `names` sorted, without duplicates.
std::vector<std::string> sorted_set(std::vector<std::string> names);

}  // namespace processpype::cluster
