#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/all.hpp>

namespace processpype {

/// "host:port" → host and port; nullopt when malformed (or port 0).
std::optional<std::pair<std::string, std::uint16_t>> parse_node_address(std::string_view address);

/// The nodes this process knows, readable from any thread without asking an
/// actor: the REST layer resolves `/nodes/{id}` here with one hash lookup.
/// The Node actor is the only writer.
class NodeDirectory {
 public:
  struct Node {
    std::string id;
    std::string address;
    caf::actor supervisor;
    bool up = true;
    bool local = false;
  };

  std::optional<Node> find(std::string_view id) const;
  std::vector<Node> nodes() const;

  void put(Node node);
  void erase(const std::string& id);
  /// Marks `id` down and tells every down listener about its supervisor.
  void mark_down(const std::string& id);

  /// Called (on the Node actor's thread) with the supervisor address of a
  /// node that went down: lets callers fail requests in flight to it.
  void on_down(std::function<void(const caf::actor_addr&)> listener);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Node> nodes_;
  std::vector<std::string> order_;
  std::vector<std::function<void(const caf::actor_addr&)>> down_listeners_;
};

}  // namespace processpype
