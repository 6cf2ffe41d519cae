#include "processpype/cluster/rendezvous.hpp"

namespace processpype::cluster {

namespace {

constexpr std::uint64_t fnv_offset_basis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t fnv_prime = 0x100000001b3ULL;

std::uint64_t fnv1a(std::uint64_t hash, std::string_view bytes) noexcept {
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= fnv_prime;
  }
  return hash;
}

/// SplitMix64's finalizer: FNV alone leaves the high bits of similar
/// inputs ("node-1", "node-2") correlated.
std::uint64_t mix(std::uint64_t value) noexcept {
  value ^= value >> 30;
  value *= 0xbf58476d1ce4e5b9ULL;
  value ^= value >> 27;
  value *= 0x94d049bb133111ebULL;
  value ^= value >> 31;
  return value;
}

}  // namespace

std::uint64_t rendezvous_weight(std::string_view name, std::string_view node_id) noexcept {
  // '\0' separates the two: it occurs in neither an instance name nor a node id.
  auto hash = fnv1a(fnv_offset_basis, name);
  hash = fnv1a(hash, std::string_view("\0", 1));
  return mix(fnv1a(hash, node_id));
}

std::optional<std::string> preferred_node(std::string_view name,
                                          const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  std::uint64_t best_weight = 0;
  for (const auto& candidate : candidates) {
    auto weight = rendezvous_weight(name, candidate);
    if (best == nullptr || weight > best_weight || (weight == best_weight && candidate < *best)) {
      best = &candidate;
      best_weight = weight;
    }
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

}  // namespace processpype::cluster
