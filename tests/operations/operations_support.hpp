#pragma once

// Helpers of the operations suite (supervision, dependencies, events,
// health, metrics, OpenAPI, logging) on top of the harness
// processpype_testing: the event log over REST, a Server-Sent Events client
// that reads the stream incrementally (libcurl on its own thread), a raw
// client that never reads, Prometheus exposition parsing, /proc readings and
// running other programs with bounded waits.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <processpype/testing/http.hpp>
#include <processpype/testing/process.hpp>
#include <processpype/testing/server.hpp>

namespace processpype::testing::operations {

// ---------------------------------------------------------------------------
// Events over REST

/// GET /events?since=<since> -> the "events" array (empty when the reply is
/// not the documented shape).
std::vector<json> events_of(HttpClient& api, std::uint64_t since = 0);

/// The events of `events` about `service` (in their order).
std::vector<json> events_about(const std::vector<json>& events, const std::string& service);

/// `status.error` of instance `name` ("" when null or unreadable).
std::string error_of(HttpClient& api, const std::string& name);

/// Polls GET /events until one event satisfies `match`; returns it.
std::optional<json> wait_for_event(HttpClient& api, const std::function<bool(const json&)>& match,
                                   std::chrono::milliseconds timeout = 10s);

/// Whether `event` is about `service`, entering `state`, with `cause` ("" = any).
bool is_event(const json& event, const std::string& service, const std::string& state,
              const std::string& cause = "");

/// "2026-11-27T04:11:54.729Z" -> milliseconds since the Unix epoch; nullopt
/// when the text is not ISO 8601 UTC with milliseconds.
std::optional<std::int64_t> iso_time_ms(const std::string& text);

/// The largest `seq` GET /events lists (0 when none).
std::uint64_t last_seq(HttpClient& api);

// ---------------------------------------------------------------------------
// Server-Sent Events

struct SseMessage {
  std::string id;     ///< "" when the message has no id line
  std::string event;  ///< "" when the message has no event line
  std::string data;   ///< data lines joined with '\n'
  json data_json;     ///< data parsed (discarded when not JSON)
};

/// GET <path> with `Accept: text/event-stream` on a thread of its own;
/// messages are parsed as the bytes arrive (libcurl's write callback). The
/// destructor ends the transfer and joins (within about 20 ms).
class SseClient {
 public:
  SseClient(int port, std::string path, std::vector<std::string> headers = {});
  ~SseClient();
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  /// The messages so far.
  std::vector<SseMessage> messages() const;
  /// The messages so far whose `event` is a state (not gap, node_down).
  std::vector<SseMessage> state_messages() const;
  /// Polls until `done(messages())` holds or the timeout passed; `done`
  /// runs under the client's lock (it must not call the client).
  bool wait_for(const std::function<bool(const std::vector<SseMessage>&)>& done,
                std::chrono::milliseconds timeout = 10s) const;
  /// Whether the response headers arrived with status 200 (waits up to `timeout`).
  bool wait_connected(std::chrono::milliseconds timeout = 10s) const;
  /// Whether the transfer ended (the server closed the stream).
  bool ended() const { return ended_.load(); }
  long status() const { return status_.load(); }
  std::string content_type() const;
  /// libcurl's result when the transfer ended.
  std::string result() const;
  /// The raw bytes received (for failure messages).
  std::string raw() const;

 private:
  static std::size_t on_data(char* data, std::size_t size, std::size_t count, void* user);
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user);
  void feed(const char* data, std::size_t size);

  mutable std::mutex mutex_;
  std::string buffer_;  ///< bytes not yet parsed into a message
  std::string raw_;
  std::vector<SseMessage> messages_;
  std::string content_type_;
  std::string result_;
  std::atomic<long> status_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> ended_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// A client that never reads

/// A TCP connection to 127.0.0.1:`port` with a small receive buffer that
/// sends `request` and then reads nothing until drain() is called.
class StalledClient {
 public:
  StalledClient(int port, const std::string& request, int receive_buffer = 4096);
  ~StalledClient();
  StalledClient(const StalledClient&) = delete;
  StalledClient& operator=(const StalledClient&) = delete;

  /// Whether the server has sent something (e.g. the response headers)
  /// within `timeout`; reads nothing.
  bool wait_readable(std::chrono::milliseconds timeout);

  struct Drained {
    std::string bytes;
    bool eof = false;         ///< the server closed the connection
    bool stream_end = false;  ///< a chunked response ended ("0\r\n\r\n")
  };
  /// Reads what is there until the server ends the response or closes the
  /// connection, or nothing arrives for `quiet`, or `timeout` passed.
  Drained drain(std::chrono::milliseconds timeout, std::chrono::milliseconds quiet = 2s);

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------
// Prometheus text exposition

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// The samples of an exposition (comment lines skipped; labels unescaped).
std::vector<Sample> parse_samples(const std::string& text);

/// The samples named `name` whose labels include every one of `labels`.
std::vector<Sample> samples_of(const std::vector<Sample>& samples, const std::string& name,
                               const std::map<std::string, std::string>& labels = {});

/// The value of the one sample `name{labels...}`, or nullopt when there is
/// not exactly one.
std::optional<double> sample_value(const std::vector<Sample>& samples, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {});

// ---------------------------------------------------------------------------
// Processes

/// VmRSS of `pid` in kB (-1 when it cannot be read).
long rss_kb(pid_t pid);

struct ProgramResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

/// Runs `program` (absolute, or looked up in PATH) with `args` until it
/// exits; killed after `timeout` (status.timed_out() is then true).
ProgramResult run_program(const std::string& program, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = 30s);

/// tests/operations in the source tree (its data: the OpenAPI schema, the
/// validator script).
std::string operations_data_dir();

/// The binary with `--config <config>` and `more` arguments.
inline ServerOptions with_config(const TempFile& config, std::vector<std::string> more = {}) {
  ServerOptions options;
  options.args = {"--config", config.path()};
  options.args.insert(options.args.end(), more.begin(), more.end());
  return options;
}

/// The binary started with `--config` a file that holds `yaml`, and a client of it.
struct ConfiguredServer {
  explicit ConfiguredServer(const std::string& yaml)
      : config(yaml), server(with_config(config)), api(server.client()) {}

  TempFile config;
  ServerProcess server;
  HttpClient api;
};

}  // namespace processpype::testing::operations
