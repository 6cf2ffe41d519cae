#include "processpype/cluster/keys.hpp"

#include <algorithm>
#include <stdexcept>

namespace processpype::cluster {

namespace {

constexpr std::size_t longest_node_id = 256;

bool starts_with(std::string_view text, std::string_view start) {
  return text.substr(0, start.size()) == start;
}

}  // namespace

bool is_valid_node_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > longest_node_id) return false;
  return std::none_of(id.begin(), id.end(), [](unsigned char c) { return c == '/' || c < 0x20; });
}

KeyLayout::KeyLayout(std::string cluster_name) : cluster_name_(std::move(cluster_name)) {
  if (!is_valid_node_id(cluster_name_))
    throw std::invalid_argument(
        "cluster.name must be non-empty, without '/' or control characters");
  prefix_ = "/processpype/" + cluster_name_ + "/";
}

std::string KeyLayout::node_key(std::string_view node_id) const {
  return nodes_prefix().append(node_id);
}

std::string KeyLayout::instance_key(std::string_view name) const {
  return instances_prefix().append(name);
}

std::string KeyLayout::owner_key(std::string_view name) const {
  return owners_prefix().append(name);
}

ParsedKey KeyLayout::parse(std::string_view key) const {
  if (!starts_with(key, prefix_)) return {};
  key.remove_prefix(prefix_.size());
  if (key == "rebalance") return {KeyKind::rebalance, {}};
  struct Folder {
    std::string_view name;
    KeyKind kind;
  };
  for (auto folder : {Folder{"nodes/", KeyKind::node}, Folder{"instances/", KeyKind::instance},
                      Folder{"owners/", KeyKind::owner}}) {
    if (!starts_with(key, folder.name)) continue;
    auto name = key.substr(folder.name.size());
    if (name.empty() || name.find('/') != std::string_view::npos) return {};
    return {folder.kind, std::string(name)};
  }
  return {};
}

}  // namespace processpype::cluster
