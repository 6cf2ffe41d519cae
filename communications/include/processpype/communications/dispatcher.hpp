#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "processpype/communications/message.hpp"
#include "processpype/communications/settings.hpp"

namespace spdlog {
class logger;
}

namespace processpype::communications {

/// How a backend retries a message: after a transport error (timeout,
/// refused connection), an HTTP 5xx or 429, or an SMTP 4xx, it waits
/// `first_delay`, then twice as long each time up to `max_delay` (or what
/// telegram's `retry_after` says), for at most `max_attempts` attempts in
/// all. Other answers are final: the message counts as failed at once.
struct RetryPolicy {
  int max_attempts = 4;
  std::chrono::milliseconds first_delay{1000};
  std::chrono::milliseconds max_delay{30000};
};

struct DispatcherOptions {
  std::string node{};  ///< the node id that webhook bodies and emails carry (set_node changes it)
  std::size_t queue_capacity = 1000;  ///< per backend; a message beyond it is dropped
  /// Per backend, the size of the messages queued (text, subject and
  /// metadata, roughly): a message beyond it is dropped too, so that large
  /// messages held for a hung backend cannot take the node's memory.
  std::size_t queue_bytes = 16 * 1024 * 1024;
  RetryPolicy retry{};
  /// A backend logs its send failures (and its drops) at most once per
  /// interval, with the count of those in between.
  std::chrono::milliseconds failure_log_interval{60000};
  /// Where failures are logged; null: the logger `processpype.communications`
  /// on ProcessPype's log sink.
  std::shared_ptr<spdlog::logger> logger{};
};

/// One backend's counts since the dispatcher started: what the metrics
/// `processpype_messages_sent_total{backend}` and
/// `processpype_messages_dropped_total{backend}` show.
struct BackendCounters {
  std::string backend{};      ///< its name
  std::string type{};         ///< webhook, email or telegram
  std::uint64_t sent = 0;     ///< delivered (a 2xx answer, an accepted email)
  std::uint64_t dropped = 0;  ///< refused by a full queue, or left queued at shutdown
  std::uint64_t failed = 0;   ///< given up: a final refusal or the last attempt failed
  std::size_t queued = 0;     ///< waiting now, the one being sent included
};

class Outbox;

/// Sends messages to the backends that handle their label
/// (docs/communications.md). emit() never blocks: each enabled backend has
/// a bounded queue and its own sender thread, so a slow or hanging backend
/// delays only its own messages. Thread-safe.
class Dispatcher {
 public:
  /// Validates `backends` (throws InvalidSettings) and starts a sender
  /// thread per enabled backend; disabled backends are left out entirely.
  /// Throws std::invalid_argument for bad options.
  Dispatcher(std::vector<BackendSettings> backends, DispatcherOptions options);
  /// Stops the senders promptly, a transfer in progress aborted (bounded:
  /// a hanging server does not hold it up); what is still queued is counted
  /// dropped and logged. flush() first to deliver it.
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// Queues `message` on every enabled backend whose labels contain its
  /// label, one shared copy for all; a full queue drops it and counts it.
  /// Returns at once: nothing here waits for a sender or the network.
  void emit(Message message);

  /// The node id that messages emitted from now on carry: a node learns its
  /// id when it publishes, after its dispatcher is made.
  void set_node(std::string node);

  /// Waits until every queue is empty and no message is in flight, for at
  /// most `timeout`; whether they all drained.
  bool flush(std::chrono::milliseconds timeout);

  /// Per enabled backend, in the order given.
  std::vector<BackendCounters> counters() const;

 private:
  std::shared_ptr<const std::string> node() const;

  std::vector<std::unique_ptr<Outbox>> outboxes_;
  mutable std::mutex node_mutex_;
  /// Shared by the envelopes that carry it: a message costs no copy of it.
  std::shared_ptr<const std::string> node_;
};

}  // namespace processpype::communications
