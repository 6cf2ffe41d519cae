#pragma once

// The HTTP layer without sockets: raw bytes of one connection go through the
// server's HTTP parser, parser callbacks and limits (rest/src/restinio_adapter.hpp),
// and every complete request goes to rest::Api::handle as a RecordedExchange,
// as Server::Impl::handle does. Shared by the libFuzzer target (fuzz_http)
// and the regression tests (tests/regression), so a saved input replays
// through exactly the code that found it.
//
// White-box: needs rest/src on the include path (private to the rest library).

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "processpype/actors/runtime.hpp"
#include "processpype/rest/api.hpp"
#include "processpype/rest/http_exchange.hpp"
#include "processpype/rest/json_mapping.hpp"
#include "processpype/rest/server.hpp"
#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/logging.hpp"
#include "restinio_adapter.hpp"

namespace processpype::fuzz {

/// One answer the connection got: from the Api, from a limit (413/414/431)
/// or from the parser (400/431, then the connection closes).
struct HttpReply {
  int status = 0;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// The route template the Api matched ("unmatched" when none did; empty
  /// for answers of the HTTP layer itself).
  std::string route;
  /// `METHOD target`, for messages.
  std::string request;

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [key, value] : headers)
      if (key.size() == name.size() &&
          std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          }))
        return value;
    return std::nullopt;
  }
};

/// What one connection got.
struct HttpOutcome {
  std::vector<HttpReply> replies;
  /// The request that got no response within the bound: a hang.
  std::optional<std::string> hang;
  /// A request the harness did not send because it would legitimately take
  /// long (a faulty service told to sleep in start/stop, a ticker ticking
  /// every millisecond): the input is refused, not a finding.
  bool skipped = false;
};

/// What is wrong with `reply`, if anything (the documented contract of the
/// REST API: JSON bodies are valid JSON, every non-2xx JSON reply carries a
/// string "detail", a 405 says what is allowed).
inline std::optional<std::string> reply_problem(const HttpReply& reply) {
  if (reply.status < 100 || reply.status > 599)
    return "status " + std::to_string(reply.status) + " is not an HTTP status";
  if (reply.status == 405 && reply.header("Allow").value_or("").empty())
    return "405 without an Allow header";
  if (reply.content_type.rfind("application/json", 0) != 0) return std::nullopt;
  bool success = reply.status >= 200 && reply.status < 300;
  // A success is only checked for being JSON, by accept(), which builds no
  // tree. Bodies longer than 16 KiB (the event lists, the OpenAPI document,
  // GET / of many configured instances) are not: checking each would cost
  // more than the rest of the input, and unit tests compare the writers of
  // events, statuses, GET / and lists with the JSON library's dump.
  if (success) {
    if (reply.body.size() > 16384 || nlohmann::json::accept(reply.body)) return std::nullopt;
    return "a JSON reply whose body is not JSON: " + reply.body;
  }
  auto body = nlohmann::json::parse(reply.body, nullptr, false);
  if (body.is_discarded()) return "a JSON reply whose body is not JSON: " + reply.body;
  // The probes answer 503 with their own documented shape ({"status": ...}).
  bool probe = reply.route == "/health/live" || reply.route == "/health/ready";
  if (!probe && (!body.is_object() || !body.contains("detail") || !body["detail"].is_string()))
    return "a " + std::to_string(reply.status) +
           " JSON reply without a string \"detail\": " + reply.body;
  return std::nullopt;
}

/// A RecordedExchange whose client goes away as soon as a stream's head is
/// sent: the stream's first write fails and ends it, so Server-Sent Events
/// streams do not pile up over millions of inputs.
class DisconnectingExchange final : public rest::RecordedExchange {
 public:
  using RecordedExchange::RecordedExchange;

  std::shared_ptr<rest::ResponseStream> stream(rest::HttpResponse head) override {
    auto out = RecordedExchange::stream(std::move(head));
    out->close();
    return out;
  }
};

/// One node (actor system, Runtime) and two Apis on it: open (no tokens)
/// and secured (admin token "admin", read token "read").
class HttpHarness {
 public:
  struct Options {
    /// How long a request may wait for its response before it is a hang.
    std::chrono::milliseconds bound = std::chrono::seconds(5);
    /// Registrations beyond this many instances are refused (keeps the
    /// state small: GET / and GET /services list every instance).
    std::size_t max_instances = 32;
    /// Deregister every instance before the Runtime ends (as a server's
    /// shutdown does); off to end the Runtime with its instances.
    bool clear_on_exit = true;
    /// The harness is a static, destroyed after the main thread's
    /// thread_locals: it ends the actor system on a thread of its own.
    bool is_static = false;
  };

  /// The server's default limits (docs/configuration.md, server.limits)...
  static constexpr std::size_t max_body_bytes = 1024 * 1024;
  static constexpr std::size_t max_header_bytes = 64 * 1024;
  static constexpr std::size_t max_url_bytes = 8192;
  /// ...and small ones, which short inputs can break (413, 414, 431).
  static constexpr std::size_t small_body_bytes = 1024;
  static constexpr std::size_t small_header_bytes = 2048;
  static constexpr std::size_t small_url_bytes = 512;

  HttpHarness() : HttpHarness(Options{}) {}

  explicit HttpHarness(Options options)
      : options_(options),
        limits_{max_body_bytes, max_header_bytes, max_url_bytes},
        small_limits_{small_body_bytes, small_header_bytes, small_url_bytes} {
    configure_logging(spdlog::level::off, LogFormat::text);
    Runtime::add_types(config_);
    config_.set("scheduler.max-threads", 2);
    // A shared queue whose workers are woken when work arrives: with the
    // default work stealing, an idle worker sleeps up to 10 ms before it
    // sees a request from this (non-actor) thread, and every round trip to
    // the Supervisor would cost that. Scheduling only: same semantics.
    config_.set("scheduler.policy", caf::atom("sharing"));
    system_ = std::make_unique<caf::actor_system>(config_);
    RuntimeOptions runtime_options;
    runtime_options.node_id = "fuzz";
    runtime_options.application = {"ProcessPype fuzz", "0.0.0"};
    runtime_options.max_instances = options_.max_instances;
    // GET /events answers every event the log keeps: with the default 1,000,
    // once a run has made that many transitions, inputs that read the log
    // cost 5x the others (the run's executions per second fell from 1,000 to
    // 300 within 20 s). A short log wraps sooner, which the inputs also reach.
    runtime_options.event_capacity = 100;
    runtime_ = std::make_unique<Runtime>(*system_, runtime_options);
    open_ = std::make_unique<rest::Api>(*runtime_, rest::ApiOptions{});
    rest::ApiOptions secured;
    secured.tokens = {"admin", "read"};
    secured_ = std::make_unique<rest::Api>(*runtime_, secured);
  }

  /// Ends everything. CAF 0.17's ~actor_system waits until its logger is
  /// freed, and each thread that sent a message keeps a thread-local
  /// reference to it: a harness in use ends on the thread that used it. A
  /// static one ends after the main thread's thread_locals, where
  /// ~actor_system would set the thread-local logger again and release the
  /// freed one a second time: it ends on a thread of its own.
  ~HttpHarness() {
    auto end = [this] {
      if (options_.clear_on_exit) clear_instances();
      secured_.reset();
      open_.reset();
      runtime_.reset();
      system_.reset();
    };
    if (options_.is_static)
      std::thread{end}.join();
    else
      end();
  }

  HttpHarness(const HttpHarness&) = delete;
  HttpHarness& operator=(const HttpHarness&) = delete;

  Runtime& runtime() { return *runtime_; }

  /// Deregisters every instance (dependents refuse to go first: a few passes).
  void clear_instances() {
    for (int pass = 0; pass < 4; ++pass) {
      std::vector<NamedStatus> instances;
      try {
        instances = runtime_->list();
      } catch (const Error&) {
        continue;
      }
      if (instances.empty()) return;
      for (auto it = instances.rbegin(); it != instances.rend(); ++it) {
        try {
          runtime_->deregister(it->name);
        } catch (const Error&) {
        }
      }
    }
  }

  /// Feeds `bytes` as one connection that the client writes in pieces of
  /// `read_size` bytes (0: all at once), to the secured Api or the open one,
  /// with the default limits or the small ones.
  HttpOutcome connection(std::string_view bytes, bool secured, std::size_t read_size = 0,
                         bool small_limits = false) {
    HttpOutcome outcome;
    rest::RequestReader reader{small_limits ? small_limits_ : limits_};
    std::string_view unread = bytes;  // not received yet
    std::string_view buffered;        // received, not parsed yet
    while (true) {
      if (buffered.empty()) {
        if (unread.empty()) break;  // the client closes the connection
        auto length = read_size == 0 ? unread.size() : std::min(read_size, unread.size());
        buffered = unread.substr(0, length);
        unread.remove_prefix(length);
      }
      auto request = reader.read(buffered);
      if (const auto& reply = reader.malformed_reply()) {
        outcome.replies.push_back(raw_reply(*reply));
        break;
      }
      if (!request) continue;
      if (!handle(*request, secured, outcome)) break;
      // An upgrade request ends what RESTinio reads as HTTP; a reply
      // without keep-alive closes the connection.
      if (request->upgrade || !request->keep_alive) break;
      reader.next();  // the rest of the buffer is the next request
    }
    return outcome;
  }

  /// The request (method, target) a reply was for, shown in messages.
  static std::string describe(const std::string& method, const std::string& target) {
    auto text = method + " " + target;
    if (text.size() > 200) text = text.substr(0, 200) + "...";
    return text;
  }

 private:
  /// Handles a complete request as a listener and the Api do. False when
  /// the connection ends here (a hang, a refused input).
  bool handle(rest::RequestReader::Request& read, bool secured, HttpOutcome& outcome) {
    if (const auto& refusal = read.refusal) {
      outcome.replies.push_back(HttpReply{refusal->status,
                                          "application/json",
                                          {},
                                          rest::error_body(refusal->detail),
                                          "",
                                          describe(read.method, read.target)});
      return !refusal->close;
    }
    auto what = describe(read.method, read.target);
    rest::RecordedExchange::Request request;
    request.method = std::move(read.method);
    request.path = std::move(read.path);
    request.query = std::move(read.query);
    request.body = std::move(read.body);
    request.headers = std::move(read.headers);
    request.peer = "127.0.0.1:40000";
    if (too_slow(request)) {
      outcome.skipped = true;
      return false;
    }

    struct Waiter {
      std::mutex mutex;
      std::condition_variable answered;
      int responses = 0;
      rest::HttpResponse response;
    };
    auto waiter = std::make_shared<Waiter>();
    auto exchange = std::make_shared<DisconnectingExchange>(
        std::move(request), [this, waiter, what](const rest::HttpResponse& response) {
          std::lock_guard lock{waiter->mutex};
          if (++waiter->responses == 1)
            waiter->response = response;
          else
            violation("responded more than once to " + what);
          waiter->answered.notify_all();
        });
    (secured ? *secured_ : *open_).handle(exchange);
    std::unique_lock lock{waiter->mutex};
    if (!waiter->answered.wait_for(lock, options_.bound, [&] { return waiter->responses > 0; })) {
      outcome.hang = what;
      return false;
    }
    const auto& response = waiter->response;
    outcome.replies.push_back(HttpReply{response.status, response.content_type, response.headers,
                                        response.body, exchange->route(), what});
    return true;
  }

  /// Requests that take long by design: a configuration that makes the
  /// faulty service sleep in start/stop (the transition answers when the
  /// sleep or the timeout ends), ticks or health checks every millisecond.
  static bool too_slow(const rest::RecordedExchange::Request& request) {
    if (request.body.empty()) return false;
    nlohmann::json body;
    try {
      body = parse_json(request.body);
    } catch (const Error&) {
      return false;
    }
    if (!body.is_object()) return false;
    auto number = [&](const char* key) -> std::optional<double> {
      auto found = body.find(key);
      if (found == body.end() || !found->is_number()) return std::nullopt;
      return found->get<double>();
    };
    for (const char* key : {"start_delay_ms", "stop_delay_ms"})
      if (auto value = number(key); value && *value > 100) return true;
    for (const char* key : {"interval_seconds", "health_interval_seconds"})
      if (auto value = number(key); value && *value > 0 && *value < 0.05) return true;
    if (auto value = number("fail_after_ms"); value && *value > 0 && *value < 50) return true;
    return false;
  }

  /// The parser's own answer (a full HTTP response) as a reply.
  static HttpReply raw_reply(const std::string& text) {
    HttpReply reply;
    reply.request = "(malformed request)";
    auto head_end = text.find("\r\n\r\n");
    auto head = text.substr(0, head_end);
    if (head.rfind("HTTP/1.1 ", 0) == 0) reply.status = std::atoi(head.c_str() + 9);
    reply.body = head_end == std::string::npos ? "" : text.substr(head_end + 4);
    std::size_t line = head.find("\r\n");
    while (line != std::string::npos) {
      auto next = head.find("\r\n", line + 2);
      auto field = head.substr(line + 2, next == std::string::npos ? next : next - line - 2);
      auto colon = field.find(": ");
      if (colon != std::string::npos)
        reply.headers.emplace_back(field.substr(0, colon), field.substr(colon + 2));
      line = next;
    }
    reply.content_type = reply.header("Content-Type").value_or("");
    if (reply.header("Content-Length") != std::to_string(reply.body.size()))
      reply.status = 0;  // reported as a broken reply
    return reply;
  }

  void violation(std::string what) {
    std::lock_guard lock{violations_mutex_};
    violations_.push_back(std::move(what));
  }

 public:
  /// Contract breaches seen off the calling thread (a second response).
  std::vector<std::string> take_violations() {
    std::lock_guard lock{violations_mutex_};
    return std::exchange(violations_, {});
  }

 private:
  Options options_;
  rest::ServerLimits limits_;
  rest::ServerLimits small_limits_;
  caf::actor_system_config config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<rest::Api> open_;
  std::unique_ptr<rest::Api> secured_;
  std::mutex violations_mutex_;
  std::vector<std::string> violations_;
};

}  // namespace processpype::fuzz
