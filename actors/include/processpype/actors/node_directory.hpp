#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "processpype/actors/protocol.hpp"

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
    ApplicationInfo application;
    SupervisorActor supervisor;
    EventFeedActor events;
    HttpGatewayActor gateway;
    StatusFeedActor status_feed;
    bool up = true;
    bool local = false;
    /// Down: why, as the Node actor logs it ("its connection closed", "no
    /// heartbeat for 5.2 s", "it left the cluster").
    std::string down_reason{};
    /// Down because it said it leaves (a graceful shutdown), not lost.
    bool left = false;
  };

  std::optional<Node> find(std::string_view id) const;
  /// Every node, sorted by id.
  std::vector<Node> nodes() const;

  /// Adds or updates `node`; tells every up listener when it is up and was
  /// not (new, back, or another process under its id).
  void put(Node node);
  void erase(const std::string& id);
  /// Marks `id` down (`reason`, `left`: Node::down_reason, Node::left) and
  /// tells every down listener about it.
  void mark_down(const std::string& id, std::string reason = {}, bool left = false);

  /// Called (on the Node actor's thread) with a node that went down: lets
  /// callers fail requests in flight to it.
  void on_down(std::function<void(const Node&)> listener);
  /// Called (on the Node actor's thread) with a remote node that is up
  /// again, or new, or another process under a known id.
  void on_up(std::function<void(const Node&)> listener);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Node> nodes_;
  std::vector<std::function<void(const Node&)>> down_listeners_;
  std::vector<std::function<void(const Node&)>> up_listeners_;
};

}  // namespace processpype
