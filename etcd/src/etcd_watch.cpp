#include "processpype/etcd/etcd_watch.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gateway.hpp"
#include "gateway_json.hpp"
#include "processpype/etcd/base64.hpp"
#include "processpype/etcd/failure_log_limiter.hpp"

namespace processpype::etcd {

using internal::Clock;
using internal::DecodeError;
using internal::json;

namespace {

/// TCP keep-alive of a watch's connection: a host that vanished (power,
/// network cut) is noticed within about idle + 9 probes * interval.
constexpr long keepalive_idle_seconds = 5;
constexpr long keepalive_interval_seconds = 2;

/// A longer line is not etcd's (its messages stay far below this).
constexpr std::size_t max_line_bytes = 64 * 1024 * 1024;

/// The longest curl_multi_poll sleeps; a stop wakes it at once.
constexpr auto longest_poll = std::chrono::milliseconds(1000);

std::string describe(const WatchOptions& options) {
  return fmt::format("{}{}", options.key, options.prefix ? "*" : "");
}

}  // namespace

class Watch::Impl {
 public:
  Impl(std::shared_ptr<internal::Gateway> gateway, WatchOptions options, WatchCallbacks callbacks);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::atomic<bool> connected{false};
  std::atomic<std::int64_t> next_revision{0};
  std::atomic<int> streams{0};

 private:
  /// How a stream ended.
  struct StreamEnd {
    bool established = false;  ///< etcd confirmed the watch
    std::string reason;
  };

  void run();
  StreamEnd stream(std::size_t endpoint);
  /// Runs the stream's transfer until it finished (curl's result), a
  /// message or a timeout ended it, or a stop came (nullopt).
  std::optional<CURLcode> run_transfer();
  /// Reads what the finished transfer left and says why it ended.
  void conclude(CURLcode result, const char* error_buffer);
  std::string request_body() const;
  bool stop_requested();
  /// Waits `delay` unless a stop comes first; false when it did.
  bool pause(std::chrono::milliseconds delay);

  static std::size_t on_data(char* data, std::size_t size, std::size_t count, void* user);
  void consume(std::string_view chunk);
  void handle_message(std::string_view line);
  void handle_result(const json& result);
  void on_created(const json& result);
  void on_canceled(const json& result);
  void deliver(const json& events);
  void emit(const std::vector<WatchEvent>& events, std::int64_t revision);
  void resync(std::int64_t compact_revision);
  void report_state(bool now_connected);
  void end_stream(std::string reason);
  spdlog::logger& log() const { return *options_.logger; }

  std::shared_ptr<internal::Gateway> gateway_;
  WatchOptions options_;
  WatchCallbacks callbacks_;
  CURLM* multi_ = nullptr;
  std::mutex mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;
  std::atomic<bool> stop_flag_{false};

  // The current stream's state: the watch thread's only.
  std::string pending_;  ///< the start of a line not complete yet
  std::size_t endpoint_ = 0;
  bool created_ = false;
  std::string end_reason_;  ///< set once a message ends the stream
  bool reconnect_at_once_ = false;
  Clock::time_point last_data_;
  int reported_state_ = -1;  ///< -1: none yet
  /// The watch thread's own: a store outage fails a reconnection a second.
  FailureLogLimiter<Clock> reconnect_log_;

  std::thread thread_;
};

Watch::Impl::Impl(std::shared_ptr<internal::Gateway> gateway, WatchOptions options,
                  WatchCallbacks callbacks)
    : gateway_(std::move(gateway)),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      multi_(curl_multi_init()) {
  if (multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
  if (!options_.logger) options_.logger = spdlog::default_logger();
  if (options_.min_backoff <= 0ms || options_.max_backoff < options_.min_backoff) {
    curl_multi_cleanup(multi_);
    throw std::invalid_argument("etcd watch backoff: 0 < min_backoff <= max_backoff");
  }
  next_revision.store(std::max<std::int64_t>(options_.start_revision, 0));
  thread_ = std::thread([this] { run(); });
}

Watch::Impl::~Impl() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  stop_flag_.store(true);
  stop_signal_.notify_all();
  curl_multi_wakeup(multi_);
  thread_.join();
  curl_multi_cleanup(multi_);
}

bool Watch::Impl::stop_requested() {
  return stop_flag_.load();
}

bool Watch::Impl::pause(std::chrono::milliseconds delay) {
  std::unique_lock lock{mutex_};
  return !stop_signal_.wait_for(lock, delay, [this] { return stopping_; });
}

void Watch::Impl::run() {
  auto backoff = options_.min_backoff;
  std::size_t endpoint = gateway_->preferred();
  while (!stop_requested()) {
    auto end = stream(endpoint);
    if (stop_requested()) break;
    if (end.established) backoff = options_.min_backoff;
    if (reconnect_at_once_) {  // compacted: resumes where the owner's read left off
      reconnect_at_once_ = false;
      continue;
    }
    report_state(false);
    gateway_->pass_over(endpoint);
    if (auto unlogged = reconnect_log_.failure(Clock::now()))
      log().warn("etcd watch of {} on {}: {}; reconnecting in {} ms{}", describe(options_),
                 gateway_->endpoint(endpoint), end.reason, backoff.count(),
                 unlogged_failures_note(*unlogged));
    // Where the client's calls get through, else the next one.
    auto failed = endpoint;
    endpoint = gateway_->preferred();
    if (endpoint == failed) endpoint = (failed + 1) % gateway_->endpoint_count();
    if (!pause(backoff)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

std::string Watch::Impl::request_body() const {
  json create =
      internal::key_range(options_.key, options_.prefix ? prefix_end(options_.key) : std::string());
  if (auto start = next_revision.load(); start > 0)
    create["start_revision"] = std::to_string(start);
  if (options_.silence_timeout > 0ms) create["progress_notify"] = true;
  return json{{"create_request", create}}.dump();
}

Watch::Impl::StreamEnd Watch::Impl::stream(std::size_t endpoint) {
  endpoint_ = endpoint;
  pending_.clear();
  created_ = false;
  end_reason_.clear();
  auto body = request_body();
  CURL* handle = curl_easy_init();
  if (handle == nullptr) return {false, "curl_easy_init failed"};
  char error_buffer[CURL_ERROR_SIZE] = {};
  gateway_->prepare(handle, gateway_->endpoint(endpoint) + "/v3/watch",
                    gateway_->options().connect_timeout);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPIDLE, keepalive_idle_seconds);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPINTVL, keepalive_interval_seconds);
  gateway_->count_request();
  curl_multi_add_handle(multi_, handle);
  if (auto finished = run_transfer()) conclude(*finished, error_buffer);
  curl_multi_remove_handle(multi_, handle);
  curl_easy_cleanup(handle);
  return {created_, end_reason_};
}

std::optional<CURLcode> Watch::Impl::run_transfer() {
  auto started = Clock::now();
  last_data_ = started;
  auto request_timeout = gateway_->options().request_timeout;
  while (!stop_requested()) {
    int running = 0;
    curl_multi_perform(multi_, &running);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued))
      if (message->msg == CURLMSG_DONE) return message->data.result;
    if (!end_reason_.empty()) return std::nullopt;
    auto now = Clock::now();
    Clock::time_point deadline = now + longest_poll;
    if (!created_) {
      // etcd confirms a watch at once: an endpoint that accepted the
      // connection and stays silent is not serving.
      deadline = std::min(deadline, started + request_timeout);
      if (now >= started + request_timeout)
        end_stream(
            fmt::format("no answer to the watch request within {} ms", request_timeout.count()));
    } else if (options_.silence_timeout > 0ms) {
      deadline = std::min(deadline, last_data_ + options_.silence_timeout);
      if (now >= last_data_ + options_.silence_timeout)
        end_stream(
            fmt::format("no progress notification within {} ms", options_.silence_timeout.count()));
    }
    if (!end_reason_.empty()) return std::nullopt;
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    curl_multi_poll(multi_, nullptr, 0, static_cast<int>(std::max<std::int64_t>(wait.count(), 1)),
                    nullptr);
  }
  return std::nullopt;
}

void Watch::Impl::conclude(CURLcode result, const char* error_buffer) {
  // The last object may come without a line feed (an error before the
  // gateway closes the stream).
  if (end_reason_.empty() && !pending_.empty()) {
    std::string last;
    std::swap(last, pending_);
    handle_message(last);
  }
  if (!end_reason_.empty()) return;
  if (result == CURLE_OK)
    end_stream("the stream ended");
  else if (error_buffer[0] != '\0')
    end_stream(fmt::format("{} ({})", curl_easy_strerror(result), error_buffer));
  else
    end_stream(curl_easy_strerror(result));
}

std::size_t Watch::Impl::on_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* self = static_cast<Impl*>(user);
  self->last_data_ = Clock::now();
  self->consume(std::string_view(data, size * count));
  return size * count;
}

void Watch::Impl::consume(std::string_view chunk) {
  // One JSON object per line; a line may come in several pieces.
  while (!chunk.empty() && end_reason_.empty() && !stop_requested()) {
    auto line_feed = chunk.find('\n');
    if (line_feed == std::string_view::npos) {
      if (pending_.size() + chunk.size() > max_line_bytes)
        end_stream(fmt::format("a line over {} bytes", max_line_bytes));
      else
        pending_.append(chunk);
      return;
    }
    if (pending_.empty()) {
      handle_message(chunk.substr(0, line_feed));
    } else {
      pending_.append(chunk.substr(0, line_feed));
      std::string line;
      std::swap(line, pending_);
      handle_message(line);
    }
    chunk.remove_prefix(line_feed + 1);
  }
}

void Watch::Impl::end_stream(std::string reason) {
  if (end_reason_.empty()) end_reason_ = std::move(reason);
}

void Watch::Impl::handle_message(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
  auto message = json::parse(line, nullptr, false);
  if (!message.is_object()) {
    end_stream("a line that is not a JSON object: " + internal::excerpt(line));
    return;
  }
  // The gateway ends a stream with {"error": {"grpc_code": 14, "message":
  // "transport is closing", ...}} when etcd shuts down.
  if (auto error = message.find("error"); error != message.end()) {
    bool has_message =
        error->is_object() && error->contains("message") && (*error)["message"].is_string();
    auto text = has_message ? (*error)["message"].get<std::string>() : error->dump();
    end_stream("etcd ended the stream: " + internal::excerpt(text));
    return;
  }
  try {
    auto result = message.find("result");
    if (result == message.end() || !result->is_object())
      throw DecodeError("a message without result");
    handle_result(*result);
  } catch (const DecodeError& error) {
    end_stream(std::string("a malformed message: ") + internal::excerpt(error.what()));
  } catch (const json::exception& error) {
    end_stream(std::string("a malformed message: ") + internal::excerpt(error.what()));
  }
}

void Watch::Impl::handle_result(const json& result) {
  if (internal::boolean_field(result, "created")) {
    on_created(result);
    return;
  }
  if (internal::boolean_field(result, "canceled")) {
    on_canceled(result);
    return;
  }
  if (auto events = result.find("events"); events != result.end()) {
    deliver(*events);
    return;
  }
  // A progress notification: every change up to the header's revision has
  // been sent (etcd sends them only to watches that caught up).
  auto revision = internal::header_revision(result);
  if (created_ && revision >= next_revision.load()) next_revision.store(revision + 1);
}

void Watch::Impl::on_created(const json& result) {
  created_ = true;
  gateway_->prefer(endpoint_);  // the client's calls go where the watch got through
  streams.fetch_add(1);
  // Started "from now": the watch sees the changes after the header's
  // revision; from here on, a reconnection resumes after what it delivered.
  if (next_revision.load() == 0) next_revision.store(internal::header_revision(result) + 1);
  // After an outage (not a single reconnection), its warnings get an end.
  if (auto failures = reconnect_log_.success(); failures > 1)
    log().info("etcd watch of {} on {}: watching again after {} failed attempts",
               describe(options_), gateway_->endpoint(endpoint_), failures);
  report_state(true);
}

void Watch::Impl::on_canceled(const json& result) {
  auto compact_revision = internal::integer_field(result, "compact_revision");
  if (compact_revision > 0) {
    resync(compact_revision);
    return;
  }
  auto reason = result.value("cancel_reason", std::string("no reason given"));
  end_stream("etcd canceled the watch: " + reason);
}

void Watch::Impl::resync(std::int64_t compact_revision) {
  log().info("etcd watch of {}: revision {} is compacted (history starts at {}), resynchronizing",
             describe(options_), next_revision.load(), compact_revision);
  if (!callbacks_.on_resync) {
    next_revision.store(compact_revision);
    reconnect_at_once_ = true;
    end_stream("compacted");
    return;
  }
  try {
    auto read_revision = callbacks_.on_resync(compact_revision);
    // Never before the history's start: that would be refused again.
    next_revision.store(std::max(read_revision + 1, compact_revision));
    reconnect_at_once_ = true;
    end_stream("compacted");
  } catch (const std::exception& error) {
    end_stream(fmt::format("the resynchronization failed: {}", error.what()));
  }
}

void Watch::Impl::deliver(const json& events) {
  if (!events.is_array()) throw DecodeError("events is not an array");
  std::vector<WatchEvent> decoded;
  decoded.reserve(events.size());
  for (const auto& event : events) decoded.push_back(internal::decode_event(event));
  // One callback per revision; a revision delivered before (a stream that
  // replays after a reconnection) is not delivered again.
  std::vector<WatchEvent> batch;
  std::int64_t batch_revision = 0;
  for (auto& event : decoded) {
    auto revision = event.kv.mod_revision;
    if (revision < next_revision.load()) continue;
    if (!batch.empty() && revision != batch_revision) {
      emit(batch, batch_revision);
      batch.clear();
    }
    batch_revision = revision;
    batch.push_back(std::move(event));
  }
  if (!batch.empty()) emit(batch, batch_revision);
}

void Watch::Impl::emit(const std::vector<WatchEvent>& events, std::int64_t revision) {
  if (stop_requested()) return;
  next_revision.store(revision + 1);
  if (!callbacks_.on_events) return;
  try {
    callbacks_.on_events(events, revision);
  } catch (const std::exception& error) {
    log().error("etcd watch of {}: the events callback threw at revision {}: {}",
                describe(options_), revision, error.what());
  } catch (...) {
    log().error("etcd watch of {}: the events callback threw at revision {}", describe(options_),
                revision);
  }
}

void Watch::Impl::report_state(bool now_connected) {
  connected.store(now_connected);
  if (reported_state_ == static_cast<int>(now_connected)) return;
  reported_state_ = static_cast<int>(now_connected);
  if (!callbacks_.on_state) return;
  try {
    callbacks_.on_state(now_connected);
  } catch (...) {
    log().error("etcd watch of {}: the state callback threw", describe(options_));
  }
}

// ---------------------------------------------------------------------------
// Watch

Watch::Watch(std::shared_ptr<internal::Gateway> gateway, WatchOptions options,
             WatchCallbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(gateway), std::move(options), std::move(callbacks))) {}

Watch::~Watch() = default;
Watch::Watch(Watch&&) noexcept = default;
Watch& Watch::operator=(Watch&&) noexcept = default;

bool Watch::connected() const noexcept {
  return impl_ != nullptr && impl_->connected.load();
}

std::int64_t Watch::next_revision() const noexcept {
  return impl_ != nullptr ? impl_->next_revision.load() : 0;
}

int Watch::streams() const noexcept {
  return impl_ != nullptr ? impl_->streams.load() : 0;
}

}  // namespace processpype::etcd
