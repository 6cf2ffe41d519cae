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

void NodeDirectory::call(const Listeners& listeners, const Node& node) {
  for (const auto& [id, listener] : listeners) listener(node);
}

void NodeDirectory::put(Node node) {
  std::lock_guard calling{calling_};
  Listeners listeners;
  {
    std::lock_guard lock{mutex_};
    auto found = nodes_.find(node.id);
    bool news =
        found == nodes_.end() || !found->second.up || found->second.supervisor != node.supervisor;
    if (news && node.up && !node.local) listeners = up_listeners_;
    auto id = node.id;
    nodes_.insert_or_assign(std::move(id), node);
  }
  call(listeners, node);
}

void NodeDirectory::erase(const std::string& id) {
  std::lock_guard lock{mutex_};
  nodes_.erase(id);
}

void NodeDirectory::mark_down(const std::string& id, std::string reason, bool left) {
  std::lock_guard calling{calling_};
  Node node;
  Listeners listeners;
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
  call(listeners, node);
}

NodeDirectory::ListenerId NodeDirectory::on_down(std::function<void(const Node&)> listener) {
  std::lock_guard lock{mutex_};
  down_listeners_.emplace_back(++last_listener_, std::move(listener));
  return last_listener_;
}

NodeDirectory::ListenerId NodeDirectory::on_up(std::function<void(const Node&)> listener) {
  std::lock_guard lock{mutex_};
  up_listeners_.emplace_back(++last_listener_, std::move(listener));
  return last_listener_;
}

void NodeDirectory::remove_listener(ListenerId id) {
  {
    std::lock_guard lock{mutex_};
    auto same = [id](const auto& entry) { return entry.first == id; };
    std::erase_if(down_listeners_, same);
    std::erase_if(up_listeners_, same);
  }
  // A call that copied the listeners before the removal has returned once
  // this lock is ours; later calls copy them without it.
  std::lock_guard calling{calling_};
}

std::size_t NodeDirectory::listener_count() const {
  std::lock_guard lock{mutex_};
  return down_listeners_.size() + up_listeners_.size();
}

}  // namespace processpype
