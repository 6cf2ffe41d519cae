#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_set>

#include <spdlog/logger.h>
#include <caf/expected.hpp>
#include <caf/io/middleman_actor.hpp>

#include "node_membership.hpp"

namespace processpype {

/// Reaches the Node actor at another node's port and says hello
/// (docs/membership.md, "Joining"): CAF's connection with its handshakes,
/// through CAF's OpenSSL module with node TLS, then the hello; each step
/// bounded by peer_timeout. A failure comes back in words a person can act
/// on.
class NodeDialler {
 public:
  /// The Welcome of the node dialled, or why it was not reached.
  using Reply = std::function<void(caf::expected<Welcome>)>;

  /// Says hello as `me` (read when the hello goes out).
  NodeDialler(TickingNodeActor::pointer self, const NodeInfo& me, bool tls,
              std::shared_ptr<spdlog::logger> log)
      : self_(self), me_(me), tls_(tls), log_(std::move(log)) {}

  /// Dials the node port at `address`; `reply` runs in the actor once the
  /// dial is no longer under way.
  void dial(const std::string& address, Reply reply);
  /// Whether a dial to `address` is under way.
  bool dialling(const std::string& address) const { return dialling_.count(address) != 0; }
  /// Whether `failure`, of a dial, is a hello that got no answer once the
  /// connection stood: the connection closed under it or peer_timeout
  /// passed, as when two nodes dial each other at the same moment
  /// (docs/membership.md). A refusal, or a port without a node, is not.
  static bool hello_lost(const caf::error& failure);

 private:
  void say_hello(const NodeActor& peer, const std::string& address, Reply reply);
  void reply_to(const std::string& address, const Reply& reply, caf::expected<Welcome> outcome);
  /// CAF's middleman actor, or its OpenSSL counterpart with node TLS.
  caf::io::middleman_actor connector() const;
  /// A failed connection, in words a person can act on.
  caf::error connection_error(const caf::error& error) const;

  TickingNodeActor::pointer self_;
  const NodeInfo& me_;
  bool tls_;
  std::shared_ptr<spdlog::logger> log_;
  std::unordered_set<std::string> dialling_;  ///< addresses with a dial under way
};

}  // namespace processpype
