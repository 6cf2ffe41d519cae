#include "processpype/actors/node_directory.hpp"

#include <algorithm>
#include <charconv>

#include <caf/actor_addr.hpp>

namespace processpype {

std::optional<std::pair<std::string, std::uint16_t>> parse_node_address(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size())
    return std::nullopt;
  auto digits = address.substr(colon + 1);
  std::uint16_t port = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (error != std::errc{} || end != digits.data() + digits.size() || port == 0)
    return std::nullopt;
  return std::pair{std::string{address.substr(0, colon)}, port};
}

std::optional<NodeDirectory::Node> NodeDirectory::find(std::string_view id) const {
  std::lock_guard lock{mutex_};
  auto found = nodes_.find(std::string{id});
  if (found == nodes_.end()) return std::nullopt;
  return found->second;
}

std::vector<NodeDirectory::Node> NodeDirectory::nodes() const {
  std::vector<Node> result;
  {
    std::lock_guard lock{mutex_};
    result.reserve(nodes_.size());
    for (const auto& [id, node] : nodes_) result.push_back(node);
  }
  std::sort(result.begin(), result.end(), [](const Node& a, const Node& b) { return a.id < b.id; });
  return result;
}

void NodeDirectory::put(Node node) {
  std::vector<std::function<void(const Node&)>> listeners;
  {
    std::lock_guard lock{mutex_};
    auto found = nodes_.find(node.id);
    bool news =
        found == nodes_.end() || !found->second.up || found->second.supervisor != node.supervisor;
    if (news && node.up && !node.local) listeners = up_listeners_;
    auto id = node.id;
    nodes_.insert_or_assign(std::move(id), node);
  }
  for (auto& listener : listeners) listener(node);
}

void NodeDirectory::erase(const std::string& id) {
  std::lock_guard lock{mutex_};
  nodes_.erase(id);
}

void NodeDirectory::mark_down(const std::string& id, std::string reason, bool left) {
  Node node;
  std::vector<std::function<void(const Node&)>> listeners;
  {
    std::lock_guard lock{mutex_};
    auto found = nodes_.find(id);
    if (found == nodes_.end() || !found->second.up) return;
    found->second.up = false;
    found->second.down_reason = std::move(reason);
    found->second.left = left;
    node = found->second;
    listeners = down_listeners_;
  }
  for (auto& listener : listeners) listener(node);
}

void NodeDirectory::on_down(std::function<void(const Node&)> listener) {
  std::lock_guard lock{mutex_};
  down_listeners_.push_back(std::move(listener));
}

void NodeDirectory::on_up(std::function<void(const Node&)> listener) {
  std::lock_guard lock{mutex_};
  up_listeners_.push_back(std::move(listener));
}

}  // namespace processpype
