#pragma once

// The real servers the communications tests and benchmark send to, each a
// Python child on 127.0.0.1 that records what it receives to a file:
// http_receiver.py (webhooks, the telegram Bot API) and smtp_receiver.py
// (aiosmtpd, Debian python3-aiosmtpd). Plus a log sink to read what a
// Dispatcher logged.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <nlohmann/json.hpp>

#include "processpype/testing/process.hpp"

namespace processpype::testing {

/// A Python 3 that can import `module`: Debian's /usr/bin/python3 first
/// (where python3-aiosmtpd installs), then the PATH's. Throws when none can.
std::string python_with(const std::string& module);

/// A receiver script of this folder run by `python` on a free 127.0.0.1
/// port; it appends a JSON line to its record file for each thing received.
class ScriptReceiver {
 public:
  int port() const { return port_; }

 protected:
  /// Runs `script` with `--record <file>` and `arguments`; waits (bounded)
  /// until it listens, throws when it does not.
  ScriptReceiver(const std::string& python, const std::string& script,
                 const std::vector<std::string>& arguments);
  /// Every line recorded so far, in arrival order.
  std::vector<nlohmann::json> records() const;
  /// Waits (bounded) until at least `count` lines are recorded.
  bool wait_for_records(std::size_t count, std::chrono::milliseconds timeout) const;

 private:
  TempDirectory directory_;
  std::string record_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

struct RecordedRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  ///< names lowercased
  std::string body;
  nlohmann::json body_json;  ///< discarded when the body is not JSON
  double time = 0;           ///< seconds, CLOCK_MONOTONIC
};

struct HttpReceiverOptions {
  int status = 200;
  int fail_first = 0;  ///< the first N requests get `fail_status`
  int fail_status = 500;
  std::optional<double> retry_after{};  ///< in failures' `parameters`, as telegram's 429
  bool hang = false;                    ///< record each request, never answer
};

/// http_receiver.py: answers as the telegram Bot API does.
class HttpReceiver : public ScriptReceiver {
 public:
  explicit HttpReceiver(HttpReceiverOptions options = {});

  /// http://127.0.0.1:<port><path>
  std::string url(const std::string& path = "/") const;
  /// Every request so far, in arrival order.
  std::vector<RecordedRequest> requests() const;
  /// The JSON body of every request so far (discarded where not JSON).
  std::vector<nlohmann::json> bodies() const;
  /// Waits (bounded) until at least `count` requests arrived.
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout = 10s) const;
};

struct SmtpReceiverOptions {
  std::string tls_certificate{};  ///< with tls_key: offer STARTTLS
  std::string tls_key{};
  bool require_starttls = false;
  std::string user{};  ///< with password: require AUTH (after STARTTLS)
  std::string password{};
  int reject_first = 0;  ///< the first N messages' DATA get `reject_code`
  int reject_code = 451;
};

/// smtp_receiver.py. Each message is a JSON object: mail_from, rcpt_tos,
/// tls, authenticated, login, headers, subject, body (decoded), raw, and
/// whether its DATA was rejected (reject_first).
class SmtpReceiver : public ScriptReceiver {
 public:
  explicit SmtpReceiver(SmtpReceiverOptions options = {});

  /// The messages accepted.
  std::vector<nlohmann::json> messages() const;
  /// Every message sent, the rejected ones included.
  std::vector<nlohmann::json> attempts() const { return records(); }
  bool wait_for_messages(std::size_t count, std::chrono::milliseconds timeout = 10s) const;
};

/// A spdlog sink that keeps what it is given, for a logger handed to a
/// Dispatcher; text() is safe while the senders log.
class RecordingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text();

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override;
  void flush_() override {}

 private:
  std::string text_;
};

/// A logger named `processpype.communications` writing to `sink` only,
/// every level.
std::shared_ptr<spdlog::logger> recording_logger(const std::shared_ptr<RecordingSink>& sink);

}  // namespace processpype::testing
