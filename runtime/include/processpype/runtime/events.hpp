#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace processpype {

/// Why an instance changed state (docs/supervision.md, "Events").
enum class EventCause : std::uint8_t {
  request,     ///< a user's command (REST or the embedding API)
  autostart,   ///< a configure with `autostart: true`
  startup,     ///< the application starting its enabled services
  restart,     ///< the supervisor restarting a failed service
  failure,     ///< a manager that threw or timed out, a runtime report, a dead actor
  health,      ///< failed health checks
  dependency,  ///< a dependency stopped, failed or runs again
  shutdown,    ///< the application stopping
  // Cluster instances (docs/cluster.md, "Failover"):
  failover,    ///< its owner's lease ended; this node took it over (from_node: the old owner)
  handover,    ///< its owner let it go: drain, SIGTERM
  rebalance,   ///< its owner let it go for POST /cluster/rebalance
  lease_lost,  ///< this node's lease is lost: it runs the instance no more
};

std::string_view to_string(EventCause cause) noexcept;
std::optional<EventCause> event_cause_from_string(std::string_view text) noexcept;

/// What set a command in motion: the cause its events carry and, when an
/// HTTP request asked for it, that request's id (docs/operations.md,
/// "Request ids"), which the events it causes carry too.
struct Trigger {
  EventCause cause = EventCause::request;
  std::string request_id;  ///< empty: no request caused it
  /// A cluster instance's previous owner (failover, handover, rebalance);
  /// empty: none.
  std::string from_node;

  Trigger() = default;
  Trigger(EventCause cause_, std::string request_id_ = {},  // NOLINT: a cause alone is a trigger
          std::string from_node_ = {})
      : cause(cause_), request_id(std::move(request_id_)), from_node(std::move(from_node_)) {}

  friend bool operator==(const Trigger&, const Trigger&) = default;
};

/// One state change (or registration) of one instance on one node.
struct Event {
  std::uint64_t seq = 0;  ///< increasing per node from 1
  std::string boot;       ///< the node's boot id: seqs of different boots are unrelated
  std::chrono::system_clock::time_point time;
  std::string node;
  std::string service;
  std::string state;  ///< a state name, `registered` or `deregistered`
  std::string error;  ///< empty: none (null on the wire)
  EventCause cause = EventCause::request;
  std::string request_id;  ///< of the request that caused it; empty: none (null on the wire)
  std::string from_node;   ///< a cluster instance's previous owner; empty: none (null)
  /// An `error` with which the restart policy gave up: no restart follows
  /// (the alerts of docs/communications.md always send it). Not in the
  /// JSON, whose `error` ends with `; gave up after ...` then.
  bool gave_up = false;

  friend bool operator==(const Event&, const Event&) = default;
};

/// `{"seq", "boot", "time", "node", "service", "state", "error", "cause",
/// "request_id", "from_node"}`.
nlohmann::json to_json(const Event& event);

/// The same as compact text, exactly what `json_text(to_json(event))`
/// gives, written without building the tree: `GET /events` lists up to
/// 1,000 of them, and every stream sends each one.
std::string event_text(const Event& event);

/// A read of the log: the events after some seq, oldest first. `gap` says
/// that events were lost in between (the seq asked for is older than the
/// buffer, or of another boot); `oldest_seq` is the first one kept.
struct EventSlice {
  std::vector<Event> events;
  bool gap = false;
  std::uint64_t oldest_seq = 0;
  std::uint64_t last_seq = 0;  ///< the log's last seq when the slice was read
};

/// The last `capacity()` events of a node, in a ring buffer. Thread-safe:
/// service actors append as they change state; readers copy slices.
/// Listeners hear of every append (the event streams follow them); they run
/// on the appending thread, outside the lock, and must not block.
class EventLog {
 public:
  /// The most a log keeps, and what a node's log keeps unless its embedder
  /// asks for fewer (RuntimeOptions::event_capacity).
  static constexpr std::size_t max_capacity = 1000;
  using Listener = std::function<void(std::uint64_t seq)>;

  /// `boot`: empty picks a random id. `capacity` is clamped to
  /// [1, max_capacity].
  explicit EventLog(std::string node, std::string boot = {}, std::size_t capacity = max_capacity);

  std::size_t capacity() const noexcept { return capacity_; }

  const std::string& boot() const noexcept { return boot_; }
  std::string node() const;
  /// The node id in later events (a node learns its id when it publishes).
  void set_node(std::string node);

  /// Appends an event now; returns its seq. `gave_up`: Event::gave_up.
  std::uint64_t append(std::string_view service, std::string_view state, std::string_view error,
                       const Trigger& trigger, bool gave_up = false);

  /// The events with seq > `after`, oldest first.
  EventSlice since(std::uint64_t after) const;
  std::uint64_t last_seq() const;

  /// Adds a listener; returns an id for remove_listener.
  std::uint64_t add_listener(Listener listener);
  void remove_listener(std::uint64_t id);

 private:
  const std::string boot_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::string node_;
  std::vector<Event> ring_;  ///< grows to capacity, then wraps
  std::uint64_t last_seq_ = 0;
  std::uint64_t next_listener_ = 1;
  /// Copied on change, so appends call listeners without the lock.
  std::shared_ptr<const std::vector<std::pair<std::uint64_t, Listener>>> listeners_;
};

}  // namespace processpype
