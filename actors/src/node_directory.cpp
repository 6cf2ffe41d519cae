#include "processpype/actors/node_directory.hpp"

#include <charconv>

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
  std::lock_guard lock{mutex_};
  std::vector<Node> result;
  result.reserve(order_.size());
  for (const auto& id : order_) result.push_back(nodes_.at(id));
  return result;
}

void NodeDirectory::put(Node node) {
  std::lock_guard lock{mutex_};
  auto [position, inserted] = nodes_.insert_or_assign(node.id, node);
  if (inserted) order_.push_back(position->first);
}

void NodeDirectory::erase(const std::string& id) {
  std::lock_guard lock{mutex_};
  if (nodes_.erase(id) != 0) std::erase(order_, id);
}

void NodeDirectory::mark_down(const std::string& id) {
  caf::actor_addr supervisor;
  std::vector<std::function<void(const caf::actor_addr&)>> listeners;
  {
    std::lock_guard lock{mutex_};
    auto found = nodes_.find(id);
    if (found == nodes_.end() || !found->second.up) return;
    found->second.up = false;
    supervisor = found->second.supervisor.address();
    listeners = down_listeners_;
  }
  for (auto& listener : listeners) listener(supervisor);
}

void NodeDirectory::on_down(std::function<void(const caf::actor_addr&)> listener) {
  std::lock_guard lock{mutex_};
  down_listeners_.push_back(std::move(listener));
}

}  // namespace processpype
