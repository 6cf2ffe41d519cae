#pragma once

// Placement by rendezvous (highest random weight) hashing (docs/cluster.md,
// "Placement"): every node computes, for an instance, a weight per
// candidate node from the pair (instance name, node id), and the node with
// the highest weight is the instance's preferred owner. Every node gets the
// same answer from the same candidates, without talking; instances spread
// evenly; and removing a node moves only the instances it was preferred
// for, adding one takes only those it now wins.
//
// The hash is fixed here (FNV-1a 64 with a SplitMix64 finalizer), not
// std::hash, so that nodes built by different compilers agree.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace processpype::cluster {

/// The weight of `node_id` for the instance `name`.
std::uint64_t rendezvous_weight(std::string_view name, std::string_view node_id) noexcept;

/// The candidate with the highest weight for `name` (on a tie, the smaller
/// id); nullopt without candidates.
std::optional<std::string> preferred_node(std::string_view name,
                                          const std::vector<std::string>& candidates);

}  // namespace processpype::cluster
