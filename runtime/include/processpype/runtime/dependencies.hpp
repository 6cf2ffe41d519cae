#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace processpype {

/// The edges of one instance in a dependency graph (its dependencies, or
/// its dependents); null for an instance the graph does not know.
using DependencyEdges = std::function<const std::vector<std::string>*(const std::string& name)>;

/// Instances in an order that respects the edges, or the cycle that
/// prevents one.
struct DependencyOrder {
  /// Every instance reachable from the roots (the roots included), each
  /// after every instance it has an edge to.
  std::vector<std::string> order;
  /// A cycle found on the way, as a path that ends where it starts.
  std::optional<std::vector<std::string>> cycle;
  /// Names reached through an edge that the graph does not know.
  std::vector<std::string> unknown;
};

/// Orders what `roots` reach along `edges`. With dependencies as edges the
/// order is a start order (dependencies first); with dependents as edges it
/// is a stop order (dependents first). Iterative: any depth is safe.
DependencyOrder order_along(const std::vector<std::string>& roots, const DependencyEdges& edges);

/// `a -> b -> a`.
std::string describe_cycle(const std::vector<std::string>& cycle);

}  // namespace processpype
