#pragma once

#include <cstdint>
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

  /// Identifies a listener for remove_listener.
  using ListenerId = std::uint64_t;

  /// Called (on the Node actor's thread) with a node that went down: lets
  /// callers fail requests in flight to it.
  ListenerId on_down(std::function<void(const Node&)> listener);
  /// Called (on the Node actor's thread) with a remote node that is up
  /// again, or new, or another process under a known id.
  ListenerId on_up(std::function<void(const Node&)> listener);
  /// Removes a listener; once it returns, the listener is not running and
  /// is never called again, so what it captured may go (an object that
  /// listens and dies before the directory: the Api of an embedding
  /// application, docs/embedding.md). Unknown ids are ignored.
  void remove_listener(ListenerId id);
  /// How many listeners are registered (up and down).
  std::size_t listener_count() const;

 private:
  using Listeners = std::vector<std::pair<ListenerId, std::function<void(const Node&)>>>;
  /// Calls `listeners` with `node` (calling_ held).
  static void call(const Listeners& listeners, const Node& node);

  mutable std::mutex mutex_;
  /// Held while listeners are called, and taken before mutex_: a removal
  /// waits until a call that may use the removed listener has returned.
  /// Recursive: a listener may put, mark down or remove on its thread.
  std::recursive_mutex calling_;
  std::unordered_map<std::string, Node> nodes_;
  ListenerId last_listener_ = 0;
  Listeners down_listeners_;
  Listeners up_listeners_;
};

}  // namespace processpype
