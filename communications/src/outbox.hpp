#pragma once

// One enabled backend inside the Dispatcher: its bounded queue, its sender
// thread (attempts, backoff, counters) and its rate-limited failure log.
// Internal to processpype_communications.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "processpype/communications/dispatcher.hpp"
#include "transfer.hpp"
#include "transport.hpp"

namespace processpype::communications {

using EnvelopePtr = std::shared_ptr<const Envelope>;

class Outbox {
 public:
  /// Starts the sender thread.
  Outbox(const BackendSettings& backend, std::unique_ptr<Transport> transport,
         const DispatcherOptions& options, std::shared_ptr<spdlog::logger> logger);
  /// request_stop(), then waits for the sender thread.
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  bool handles(std::string_view label) const;

  /// Queues `envelope`, or drops and counts it when the queue is full.
  /// Never waits for the sender.
  void offer(const EnvelopePtr& envelope);

  /// Waits until the queue is empty and nothing is in flight, at most
  /// until `deadline`; whether it drained.
  bool wait_drained(std::chrono::steady_clock::time_point deadline);

  /// Ends the sender promptly: its transfer and its backoff are cut short.
  void request_stop();

  BackendCounters counters() const;

 private:
  using SteadyClock = std::chrono::steady_clock;

  void run();
  /// The next message, waiting for one; null once stopping.
  EnvelopePtr next();
  void deliver(const Envelope& envelope);
  Attempt attempt(const Envelope& envelope);
  /// Waits `delay` unless stopping; whether it was not stopped.
  bool pause(std::chrono::milliseconds delay);
  std::chrono::milliseconds delay_after(int attempts, const Attempt& attempt) const;
  void finished_one();
  void note_failure(const std::string& detail, int attempts);
  void note_drop();
  void abandon_queued();

  const std::string name_;
  const std::string type_;
  const std::vector<std::string> labels_;
  const std::unique_ptr<Transport> transport_;
  const std::vector<std::string> secrets_;
  const std::size_t capacity_;
  const std::size_t capacity_bytes_;
  const RetryPolicy retry_;
  const SteadyClock::duration log_interval_;
  const std::shared_ptr<spdlog::logger> logger_;
  Transfer transfer_;

  mutable std::mutex mutex_;
  std::condition_variable work_;     ///< the sender: a message came, or stop
  std::condition_variable drained_;  ///< wait_drained(): nothing left
  std::deque<EnvelopePtr> queue_;
  std::size_t queued_bytes_ = 0;  ///< the Envelope::bytes of those in queue_
  bool in_flight_ = false;
  bool sender_waiting_ = false;  ///< emit wakes the sender only then
  bool stopping_ = false;

  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> failed_{0};
  /// When a drop may be logged next (steady ticks): drops happen on the
  /// callers' threads, which must not contend for more than an atomic.
  std::atomic<SteadyClock::rep> next_drop_log_{0};
  /// The sender thread's own: the last failure logged, and those since.
  std::optional<SteadyClock::time_point> last_failure_log_;
  std::uint64_t unlogged_failures_ = 0;
  /// Whether stopping cut a delivery short (its message counts as dropped).
  bool cut_short_ = false;

  std::thread sender_;  ///< last: it starts once everything above exists
};

}  // namespace processpype::communications
