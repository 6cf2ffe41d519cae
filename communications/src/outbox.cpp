#include "outbox.hpp"

#include <algorithm>

#include <pthread.h>
#include <signal.h>

#include <fmt/format.h>

#include "text.hpp"

namespace processpype::communications {

namespace {

/// A write to a connection the server closed raises SIGPIPE in the writing
/// thread; with CURLOPT_NOSIGNAL libcurl does not guard every write a TLS
/// library makes. Blocked in the sender thread, it cannot end the process.
void block_sigpipe() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

}  // namespace

Outbox::Outbox(const BackendSettings& backend, std::unique_ptr<Transport> transport,
               const DispatcherOptions& options, std::shared_ptr<spdlog::logger> logger)
    : name_(backend.name),
      type_(type_name(backend)),
      labels_(backend.labels),
      transport_(std::move(transport)),
      secrets_(transport_->secrets()),
      capacity_(options.queue_capacity),
      capacity_bytes_(options.queue_bytes),
      retry_(options.retry),
      log_interval_(options.failure_log_interval),
      logger_(std::move(logger)) {
  sender_ = std::thread([this] {
    block_sigpipe();
    run();
  });
}

Outbox::~Outbox() {
  request_stop();
  if (sender_.joinable()) sender_.join();
}

bool Outbox::handles(std::string_view label) const {
  return std::find(labels_.begin(), labels_.end(), label) != labels_.end();
}

// -- the callers' side --------------------------------------------------------

void Outbox::offer(const EnvelopePtr& envelope) {
  bool queued = false;
  bool wake = false;
  {
    std::lock_guard lock{mutex_};
    if (queue_.size() < capacity_ && queued_bytes_ + envelope->bytes <= capacity_bytes_ &&
        !stopping_) {
      queue_.push_back(envelope);
      queued_bytes_ += envelope->bytes;
      queued = true;
      // A busy sender takes the next message by itself: waking it only when
      // it waits keeps a burst of emits free of system calls.
      wake = sender_waiting_;
    }
  }
  if (wake) work_.notify_one();
  if (!queued) note_drop();
}

void Outbox::note_drop() {
  auto dropped = dropped_.fetch_add(1, std::memory_order_relaxed) + 1;
  auto now = SteadyClock::now().time_since_epoch().count();
  auto next = next_drop_log_.load(std::memory_order_relaxed);
  if (now < next || !next_drop_log_.compare_exchange_strong(next, now + log_interval_.count()))
    return;
  logger_->warn(
      "backend {} ({}): its queue is full ({} messages or {} bytes), messages are dropped ({} so "
      "far)",
      name_, type_, capacity_, capacity_bytes_, dropped);
}

bool Outbox::wait_drained(SteadyClock::time_point deadline) {
  std::unique_lock lock{mutex_};
  return drained_.wait_until(lock, deadline, [&] { return queue_.empty() && !in_flight_; });
}

void Outbox::request_stop() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  work_.notify_all();
  transfer_.interrupt();
}

BackendCounters Outbox::counters() const {
  BackendCounters counters{name_, type_};
  counters.sent = sent_.load(std::memory_order_relaxed);
  counters.dropped = dropped_.load(std::memory_order_relaxed);
  counters.failed = failed_.load(std::memory_order_relaxed);
  std::lock_guard lock{mutex_};
  counters.queued = queue_.size() + (in_flight_ ? 1 : 0);
  return counters;
}

// -- the sender thread --------------------------------------------------------

void Outbox::run() {
  while (auto envelope = next()) {
    deliver(*envelope);
    finished_one();
  }
  abandon_queued();
}

EnvelopePtr Outbox::next() {
  std::unique_lock lock{mutex_};
  sender_waiting_ = true;
  work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
  sender_waiting_ = false;
  if (stopping_) return nullptr;
  auto envelope = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= envelope->bytes;
  in_flight_ = true;
  return envelope;
}

void Outbox::finished_one() {
  bool drained = false;
  {
    std::lock_guard lock{mutex_};
    in_flight_ = false;
    drained = queue_.empty();
  }
  if (drained) drained_.notify_all();
}

void Outbox::deliver(const Envelope& envelope) {
  for (int attempts = 1;; ++attempts) {
    auto result = attempt(envelope);
    switch (result.outcome) {
      case Attempt::Outcome::delivered:
        sent_.fetch_add(1, std::memory_order_relaxed);
        return;
      case Attempt::Outcome::interrupted:
        cut_short_ = true;
        return;
      case Attempt::Outcome::final_failure:
        note_failure(result.detail, attempts);
        return;
      case Attempt::Outcome::transient_failure:
        if (attempts >= retry_.max_attempts) {
          note_failure(result.detail, attempts);
          return;
        }
        if (!pause(delay_after(attempts, result))) {
          cut_short_ = true;
          return;
        }
        break;
    }
  }
}

Attempt Outbox::attempt(const Envelope& envelope) {
  try {
    return transport_->attempt(envelope, transfer_);
  } catch (const std::exception& error) {
    return Attempt::final(fmt::format("could not send: {}", error.what()));
  }
}

bool Outbox::pause(std::chrono::milliseconds delay) {
  std::unique_lock lock{mutex_};
  return !work_.wait_for(lock, delay, [&] { return stopping_; });
}

std::chrono::milliseconds Outbox::delay_after(int attempts, const Attempt& attempt) const {
  if (attempt.retry_after) return std::min(*attempt.retry_after, retry_.max_delay);
  auto delay = retry_.first_delay;
  for (int i = 1; i < attempts && delay < retry_.max_delay; ++i) delay *= 2;
  return std::min(delay, retry_.max_delay);
}

void Outbox::note_failure(const std::string& detail, int attempts) {
  failed_.fetch_add(1, std::memory_order_relaxed);
  auto now = SteadyClock::now();
  if (last_failure_log_ && now - *last_failure_log_ < log_interval_) {
    ++unlogged_failures_;
    return;
  }
  auto earlier = unlogged_failures_ == 0
                     ? std::string()
                     : fmt::format(" ({} more failed since the last report)", unlogged_failures_);
  logger_->warn("backend {} ({}): a message failed after {} attempt{}: {}{}", name_, type_,
                attempts, attempts == 1 ? "" : "s", redact(detail, secrets_), earlier);
  last_failure_log_ = now;
  unlogged_failures_ = 0;
}

void Outbox::abandon_queued() {
  std::size_t left = 0;
  {
    std::lock_guard lock{mutex_};
    left = queue_.size() + (cut_short_ ? 1 : 0);
    queue_.clear();
    queued_bytes_ = 0;
  }
  drained_.notify_all();
  dropped_.fetch_add(left, std::memory_order_relaxed);
  if (left > 0)
    logger_->warn("backend {} ({}): stopped with {} message{} unsent", name_, type_, left,
                  left == 1 ? "" : "s");
  if (unlogged_failures_ > 0)
    logger_->warn("backend {} ({}): {} more message{} failed since the last report", name_, type_,
                  unlogged_failures_, unlogged_failures_ == 1 ? "" : "s");
}

}  // namespace processpype::communications
