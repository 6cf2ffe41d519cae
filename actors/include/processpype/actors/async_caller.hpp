#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <caf/all.hpp>

namespace processpype {

/// Sends requests to actors from threads that are not actors (an HTTP
/// handler) and runs a callback with the reply, on the replying actor's
/// thread, when it arrives. Nobody blocks and no actor of its own sits on
/// the path: the request is enqueued straight into the receiver's mailbox
/// and the reply is taken from a caf::actor_companion's enqueue hook. That
/// one-hop path is what keeps a status read close to a bare handler.
///
/// The callback gets the reply's content: the values, or a caf::error (a
/// dead receiver answers sec::request_receiver_down; a request with a
/// timeout that passes gets sec::request_timeout). Callbacks must not block.
class AsyncCaller {
 public:
  using Callback = std::function<void(caf::message& reply)>;

  explicit AsyncCaller(caf::actor_system& system);
  /// Drops the callbacks of requests still in flight, without calling them.
  ~AsyncCaller();
  AsyncCaller(const AsyncCaller&) = delete;
  AsyncCaller& operator=(const AsyncCaller&) = delete;

  /// Sends `message` to `destination` as a request; `callback` runs once.
  template <class... Ts>
  void request(const caf::actor& destination, Callback callback, Ts&&... message) {
    send(destination, caf::make_message(std::forward<Ts>(message)...), std::move(callback),
         std::nullopt);
  }

  /// Answers `error` to every request in flight to `destination` (a node
  /// that went down will never reply).
  void fail_requests_to(const caf::actor_addr& destination, const caf::error& error);

  /// As request, but answers sec::request_timeout after `timeout` if no
  /// reply came (for peers that may vanish without a word).
  template <class... Ts>
  void request_within(caf::timespan timeout, const caf::actor& destination, Callback callback,
                      Ts&&... message) {
    send(destination, caf::make_message(std::forward<Ts>(message)...), std::move(callback),
         timeout);
  }

 private:
  void send(const caf::actor& destination, caf::message message, Callback callback,
            std::optional<caf::timespan> timeout);
  void on_enqueue(caf::mailbox_element_ptr element);
  void finish(std::uint64_t id, caf::message& reply);

  caf::actor_system& system_;
  caf::strong_actor_ptr companion_;
  std::atomic<std::uint64_t> next_id_{1};
  std::mutex mutex_;
  struct Pending {
    Callback callback;
    caf::actor_addr destination;
  };
  std::unordered_map<std::uint64_t, Pending> pending_;
};

}  // namespace processpype
