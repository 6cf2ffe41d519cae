#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_clock.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/response_type.hpp>
#include <caf/timespan.hpp>

namespace processpype {

/// Sends requests to actors from threads that are not actors (an HTTP
/// handler) and runs a callback with the reply, on the replying actor's
/// thread, when it arrives. Nobody blocks and no actor of its own sits on
/// the path: the request is enqueued straight into the receiver's mailbox
/// and the reply is taken from a caf::actor_companion's enqueue hook. That
/// one-hop path is what keeps a command close to a bare handler. Sent from
/// a thread with an open CallingThreadExecution::Scope (an HTTP handler's),
/// the receiver and the callback run on that thread before send returns,
/// when the receiver was idle.
///
/// The callback gets the reply's content: the values, or a caf::error (a
/// dead receiver answers sec::request_receiver_down; a request with a
/// timeout that passes gets sec::request_timeout). Callbacks must not block.
class AsyncCaller {
 public:
  using Callback = std::function<void(caf::message& reply)>;

  /// The reply a typed `Handle` gives to `Ts...` (a caf::detail::type_list).
  template <class Handle, class... Ts>
  using Reply = caf::response_type_t<typename Handle::signatures, std::decay_t<Ts>...>;

  explicit AsyncCaller(caf::actor_system& system);
  /// Drops the callbacks of requests still in flight, without calling them.
  ~AsyncCaller();
  AsyncCaller(const AsyncCaller&) = delete;
  AsyncCaller& operator=(const AsyncCaller&) = delete;

  /// Sends `message` to the typed actor `destination` (which must accept it:
  /// checked at compile time); `callback` runs once. With a `timeout`, it
  /// gets sec::request_timeout if no reply came in time (for peers that may
  /// vanish without a word).
  template <class Handle, class... Ts>
  void request(const Handle& destination, std::optional<caf::timespan> timeout, Callback callback,
               Ts&&... message) {
    static_assert(caf::response_type<typename Handle::signatures, std::decay_t<Ts>...>::valid,
                  "the destination's interface has no handler for this message");
    send(caf::actor_cast<caf::strong_actor_ptr>(destination),
         caf::make_message(std::forward<Ts>(message)...), std::move(callback), timeout);
  }

  /// Answers `error` to every request in flight to `destination` (a node
  /// that went down will never reply).
  void fail_requests_to(const caf::actor_addr& destination, const caf::error& error);

 private:
  void send(const caf::strong_actor_ptr& destination, caf::message message, Callback callback,
            std::optional<caf::timespan> timeout);
  void on_enqueue(caf::mailbox_element_ptr element);
  void finish(std::uint64_t id, caf::message& reply);
  /// Answers sec::request_timeout to every request whose deadline passed,
  /// then asks the clock for the next sweep.
  void sweep();
  /// Notes a sweep at `deadline` unless one comes earlier; returns whether
  /// the caller must schedule it (after releasing mutex_, which it holds).
  bool needs_sweep_at(caf::actor_clock::time_point deadline);
  void schedule_sweep(caf::actor_clock::time_point at);

  caf::actor_system& system_;
  caf::strong_actor_ptr companion_;
  std::atomic<std::uint64_t> next_id_{1};
  std::mutex mutex_;
  struct Pending {
    Callback callback;
    caf::actor_addr destination;
    std::optional<caf::actor_clock::time_point> deadline;
  };
  std::unordered_map<std::uint64_t, Pending> pending_;
  /// The deadlines of the requests in flight that have one, earliest first.
  /// One clock message (a sweep) stands for all of them: a message per
  /// request woke CAF's clock thread once per remote call and kept one
  /// entry per call for the whole timeout (docs/performance.md).
  std::set<std::pair<caf::actor_clock::time_point, std::uint64_t>> deadlines_;
  /// When the earliest sweep the clock holds for us fires; none: no sweep.
  std::optional<caf::actor_clock::time_point> sweep_at_;
};

}  // namespace processpype
