#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>

#include "processpype/runtime/dependencies.hpp"
#include "processpype/runtime/instance_registry.hpp"
#include "supervised_instance.hpp"

namespace processpype {

/// The dependency graph of a node's instances (docs/supervision.md,
/// "Dependencies"), as the Supervisor keeps it: an instance's dependencies
/// as last configured are on its SupervisedInstance, the reverse edges
/// (its dependents) here. An instance's record says whether others depend
/// on it: its actor then reports when it runs and when it fails.
class DependencyGraph {
 public:
  explicit DependencyGraph(InstanceRegistry<SupervisedInstance>& instances)
      : instances_(instances) {}

  /// Gives `instance` the dependencies `depends_on` (none: before it leaves).
  void set_dependencies(SupervisedInstance& instance, std::vector<std::string> depends_on);
  /// Whether instances depend on `name`, registered or not yet.
  bool has_dependents(const std::string& name) const { return dependents_.count(name) != 0; }
  /// The instances that depend on `name` directly.
  const std::vector<std::string>& dependents_of(const std::string& name) const;
  /// The registered instances, not being removed, that depend on `name`
  /// directly.
  std::vector<std::string> registered_dependents(const std::string& name) const;

  /// Why `name` may not start now, if it may not: a dependency cycle, or a
  /// dependency that does not run.
  std::optional<caf::error> start_refusal(const std::string& name) const;
  /// The active instances that depend on `name` (directly or not), each
  /// before what it depends on; `name` itself is not included.
  std::vector<std::string> active_dependents(const std::string& name) const;
  /// What `roots` reach along their dependents, each dependent before what
  /// it depends on: a stop order.
  DependencyOrder stop_order(const std::vector<std::string>& roots) const;

  void clear() { dependents_.clear(); }

 private:
  /// Tells `name`'s record whether others depend on it.
  void mark_dependents(const std::string& name, bool has_dependents);

  InstanceRegistry<SupervisedInstance>& instances_;
  std::unordered_map<std::string, std::vector<std::string>> dependents_;
};

}  // namespace processpype
