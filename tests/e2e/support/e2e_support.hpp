#pragma once

// Harness of the end-to-end tests: runs the real `processpype` binary on
// 127.0.0.1 and speaks HTTP to it with libcurl.
//
// - ChildProcess: fork/execve of a program with arguments and an adjusted
//   environment; stdout and stderr go to temporary files; bounded waits; the
//   destructor kills (SIGKILL) a child that is still alive, so no test leaks
//   processes (the child also gets PR_SET_PDEATHSIG, in case the test binary
//   itself dies; it fires when the forking thread ends, so children are
//   started from the test's main thread).
// - ServerProcess: a ChildProcess of the server on a free loopback port that
//   is ready once `GET <prefix>/` answers 200.
// - HttpClient: one libcurl easy handle (keep-alive), bounded timeouts, no
//   proxy, loopback only.
// - run_to_completion: runs the binary until it exits (for --version, --help
//   and the exit-code-2 startup errors).

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>

#include <nlohmann/json.hpp>

namespace e2e {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

/// The `processpype` binary under test.
std::string server_binary();
/// The repository's `examples/` directory.
std::string examples_dir();

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
/// the port, close).
int free_port();

/// Polls `condition` every `interval` until it holds or `timeout` passed;
/// returns whether it held. The one way tests wait for something.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = 20ms);

/// Milliseconds since `start`.
double elapsed_ms(Clock::time_point start);

/// A temporary file with the given content, removed by the destructor.
class TempFile {
 public:
  explicit TempFile(const std::string& content, const std::string& suffix = ".yaml");
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Reads a whole file ("" if it cannot be read).
std::string read_file(const std::string& path);

/// Environment changes for a child: variables to set and variables to unset.
/// ENABLED_SERVICES is always unset unless `set` names it, so that the
/// caller's environment never changes what a test sees.
struct Environment {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::string> unset;
};

/// How a child ended. `code` is the exit code, or 128 + signal when it was
/// killed by a signal, or -1 while it has not ended (timeout).
struct ExitStatus {
  int code = -1;
  bool exited = false;
  bool signaled = false;
  bool timed_out() const { return code == -1; }
  std::string describe() const;
};

class ChildProcess {
 public:
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               const Environment& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  /// Whether the child has not ended yet (reaps it if it has).
  bool alive();
  /// Sends `signal` (no-op once it ended).
  void signal(int signal);
  /// Waits up to `timeout` for the child to end.
  ExitStatus wait(std::chrono::milliseconds timeout);
  /// SIGKILL and reap (no-op once it ended).
  void kill();

  std::string stdout_text() const { return read_file(stdout_path_); }
  std::string stderr_text() const { return read_file(stderr_path_); }

 private:
  bool reap(int options);

  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
  std::string stdout_path_;
  std::string stderr_path_;
};

struct RunResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

/// Runs the server binary with `args` until it exits; kills it after
/// `timeout` (status.timed_out() is then true).
RunResult run_to_completion(const std::vector<std::string>& args, const Environment& env = {},
                            std::chrono::milliseconds timeout = 10s);

// ---------------------------------------------------------------------------
// HTTP

struct HttpResponse {
  long status = 0;                             ///< 0 when the transfer failed
  std::string transport_error;                 ///< libcurl's message when it failed
  std::map<std::string, std::string> headers;  ///< names lowercased
  std::string body;
  json body_json;  ///< the parsed body, or discarded (is_discarded()) when not JSON
  double elapsed_ms = 0;

  bool is_json() const { return !body_json.is_discarded(); }
  /// The header value ("" when absent); `name` is case-insensitive.
  std::string header(const std::string& name) const;
  /// `body_json[key]` when the body is a JSON object holding it, else null.
  json field(const std::string& key) const;
  /// `body_json["detail"]` as a string ("" when absent).
  std::string detail() const;
  /// One line for failure messages.
  std::string describe() const;
};

class HttpClient {
 public:
  /// Requests go to http://127.0.0.1:<port><prefix><path>.
  explicit HttpClient(int port, std::string prefix = "", std::chrono::milliseconds timeout = 10s);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse get(const std::string& path) { return request("GET", path); }
  HttpResponse del(const std::string& path) { return request("DELETE", path); }
  /// POST without a body.
  HttpResponse post(const std::string& path) { return request("POST", path); }
  /// POST `body` serialized as JSON.
  HttpResponse post(const std::string& path, const json& body) {
    return request("POST", path, body.dump());
  }
  HttpResponse put(const std::string& path, const json& body) {
    return request("PUT", path, body.dump());
  }
  /// POST the raw bytes of `body`.
  HttpResponse post_raw(const std::string& path, const std::string& body,
                        const std::string& content_type = "application/json") {
    return request("POST", path, body, {"Content-Type: " + content_type});
  }
  /// POST `body` with `Transfer-Encoding: chunked` (no Content-Length).
  HttpResponse post_chunked(const std::string& path, const std::string& body);

  /// Any method; `body` nullopt sends none. `headers` are "Name: value"
  /// lines; Content-Type defaults to application/json when a body is sent.
  HttpResponse request(const std::string& method, const std::string& path,
                       const std::optional<std::string>& body = std::nullopt,
                       const std::vector<std::string>& headers = {}, bool chunked = false);

  std::string url(const std::string& path) const;

 private:
  void* curl_;  // CURL*
  int port_;
  std::string prefix_;
  std::chrono::milliseconds timeout_;
};

/// One request sent from its own thread and connection, e.g. a start that
/// blocks for seconds while the test keeps querying. The destructor joins.
class AsyncRequest {
 public:
  AsyncRequest(int port, std::string prefix, std::string method, std::string path,
               std::optional<std::string> body = std::nullopt);
  ~AsyncRequest();
  AsyncRequest(const AsyncRequest&) = delete;
  AsyncRequest& operator=(const AsyncRequest&) = delete;

  /// Whether the reply has arrived.
  bool done() const { return done_.load(); }
  /// Waits for the reply and returns it.
  const HttpResponse& response();
  /// When the request was sent and when its reply arrived.
  Clock::time_point sent_at() const { return sent_at_; }
  Clock::time_point finished_at() const { return finished_at_; }

 private:
  HttpResponse response_;
  std::atomic<bool> done_{false};
  Clock::time_point sent_at_;
  Clock::time_point finished_at_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// Server

struct ServerOptions {
  std::vector<std::string> args;  ///< extra command-line arguments
  Environment env;
  /// Adds `--host 127.0.0.1 --port <port>`. When false the server is
  /// expected on `port` (e.g. from a config file).
  bool pass_port = true;
  int port = 0;  ///< 0: a free port is picked
  /// Where the server answers (for the readiness probe and client()).
  std::string api_prefix;
  std::chrono::milliseconds ready_timeout = 10s;
};

class ServerProcess {
 public:
  /// Starts the server and waits until `GET <prefix>/` answers 200. Throws
  /// std::runtime_error (with the server's stderr) when it does not become
  /// ready in time or exits.
  explicit ServerProcess(ServerOptions options = {});
  /// Shorthand: only extra arguments.
  explicit ServerProcess(std::vector<std::string> args);
  ~ServerProcess() = default;

  int port() const { return port_; }
  const std::string& api_prefix() const { return prefix_; }
  ChildProcess& process() { return *process_; }
  bool alive() { return process_->alive(); }
  std::string stderr_text() const { return process_->stderr_text(); }

  /// A new client for this server (prefix included).
  HttpClient client() const { return HttpClient(port_, prefix_); }

  /// Sends `signal` and waits up to `timeout` for the exit; kills it when it
  /// does not exit in time (the status then says timed out).
  ExitStatus stop(int signal = SIGTERM, std::chrono::milliseconds timeout = 15s);

 private:
  int port_;
  std::string prefix_;
  std::unique_ptr<ChildProcess> process_;
};

// ---------------------------------------------------------------------------
// REST helpers (all through a client; each REQUIREs nothing by itself)

/// GET /services/{name} -> the status object (null on error).
json status_of(HttpClient& client, const std::string& name);
/// The `state` of /services/{name} ("" when it cannot be read).
std::string state_of(HttpClient& client, const std::string& name);
/// Polls until /services/{name} has `state` or the timeout passed.
bool wait_for_state(HttpClient& client, const std::string& name, const std::string& state,
                    std::chrono::milliseconds timeout = 10s);
/// POST /services/register.
HttpResponse register_service(HttpClient& client, const std::string& service_name,
                              const std::optional<std::string>& instance_name = std::nullopt);
/// The names listed by GET /services, in order.
std::vector<std::string> service_names(HttpClient& client);

/// Splits text into its non-empty lines.
std::vector<std::string> lines_of(const std::string& text);

}  // namespace e2e

/// REQUIREs `response.status == expected`, printing the response on failure.
#define E2E_REQUIRE_STATUS(response, expected) \
  do {                                         \
    const auto& e2e_r_ = (response);           \
    INFO(e2e_r_.describe());                   \
    REQUIRE(e2e_r_.status == (expected));      \
  } while (false)

/// CHECKs `response.status == expected`, printing the response on failure.
#define E2E_CHECK_STATUS(response, expected) \
  do {                                       \
    const auto& e2e_r_ = (response);         \
    INFO(e2e_r_.describe());                 \
    CHECK(e2e_r_.status == (expected));      \
  } while (false)
