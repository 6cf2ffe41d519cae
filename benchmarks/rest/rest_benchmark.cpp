// rest_benchmark: the REST API of the `processpype` binary (SPEC 5) measured
// with wrk, against a bare RESTinio server configured like the real one.
//
// In one run:
//  1. baseline: an in-process RESTinio server with the real server's settings
//     (traits, body-limit parser callbacks, one pool thread, 24 h
//     handle_request_timeout) whose handler answers a fixed JSON body at once,
//     on its I/O thread;
//  2. the real binary (fork/exec, free port, --log-level error) with a
//     running `echo` instance: GET /services/{name}, GET /services, a
//     start/stop cycle, the echo custom route;
//  3. 10,000 registrations over one keep-alive connection (and, for scale,
//     the same POSTs to the bare server), then GET /services/{name} of the
//     last instance;
//  4. a table, with the ratio of each figure to the baseline, and the aims.
//
// The machine may be shared, so the baseline is not measured once: every
// figure is measured in rounds, each a baseline run next to a run of the
// figure, and its ratio is the median of the rounds' ratios.
//
// Usage: rest_benchmark [--duration S (3)] [--runs ROUNDS (5)] [--threads N (2)]
//                       [--connections N (32)] [--instances N (10000)]
// wrk comes from the PATH, or WRK=/path/to/wrk. Exit code 0 when the run
// completed (the aims are printed, met or not), 1 on a failure, 2 on usage.
//
// Every child (wrk, the server) is killed when the benchmark ends, also on
// failure or on a signal (and by the kernel if the benchmark dies: see
// spawn()). Loopback only; every wait is bounded.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <restinio/all.hpp>

#ifndef PROCESSPYPE_SERVER_BINARY
#error "PROCESSPYPE_SERVER_BINARY must name the processpype binary"
#endif

// -- the baseline's server settings, as in rest/src/server.cpp ----------------
//
// The real server specializes RESTinio's parser callbacks to answer 413 past
// 1 MiB; they run on every request, so the baseline has the same ones.

namespace baseline {

constexpr std::size_t max_body_bytes = 1024 * 1024;

struct BodyLimitedHttpMethods : restinio::default_http_methods_t {};

namespace {

constexpr const char* body_too_large_field = "X-ProcessPype-Body-Too-Large";

restinio::impl::http_parser_ctx_t& context_of(http_parser* parser) {
  return *reinterpret_cast<restinio::impl::http_parser_ctx_t*>(parser->data);
}

bool body_too_large(restinio::impl::http_parser_ctx_t& context) {
  return context.m_header.has_field(body_too_large_field);
}

void mark_body_too_large(restinio::impl::http_parser_ctx_t& context) {
  if (!body_too_large(context)) context.m_header.set_field(body_too_large_field, "true");
  context.m_body.clear();
  context.m_body.shrink_to_fit();
}

int limited_headers_complete(http_parser* parser) {
  auto& context = context_of(parser);
  context.m_header.remove_field(body_too_large_field);
  auto length = parser->content_length;
  bool declared_too_large = length != ULLONG_MAX && length > max_body_bytes;
  if (declared_too_large) parser->content_length = 0;
  int result = restinio::impl::restinio_headers_complete_cb(parser);
  if (declared_too_large) {
    parser->content_length = length;
    mark_body_too_large(context);
  }
  return result;
}

int limited_body(http_parser* parser, const char* at, std::size_t length) {
  auto& context = context_of(parser);
  if (body_too_large(context)) return 0;
  if (context.m_body.size() + length > max_body_bytes) {
    mark_body_too_large(context);
    return 0;
  }
  return restinio::impl::restinio_body_cb(parser, at, length);
}

int limited_chunk_header(http_parser* parser) {
  if (body_too_large(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_header_cb(parser);
}

int limited_chunk_complete(http_parser* parser) {
  if (body_too_large(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_complete_cb(parser);
}

}  // namespace
}  // namespace baseline

template <>
inline http_parser_settings
restinio::impl::create_parser_settings<baseline::BodyLimitedHttpMethods>() noexcept {
  auto settings = create_parser_settings<restinio::default_http_methods_t>();
  settings.on_headers_complete = &baseline::limited_headers_complete;
  settings.on_body = &baseline::limited_body;
  settings.on_chunk_header = &baseline::limited_chunk_header;
  settings.on_chunk_complete = &baseline::limited_chunk_complete;
  return settings;
}

namespace baseline {
namespace {

struct ServerTraits : restinio::default_traits_t {
  using http_methods_mapper_t = BodyLimitedHttpMethods;
};
using HttpServer = restinio::http_server_t<ServerTraits>;

/// The body GET /services/{name} of a running echo instance answers, so that
/// both servers write the same bytes.
constexpr std::string_view fixed_body =
    R"({"error":null,"is_configured":false,"metadata":{},"state":"running"})";

/// The real server's settings (own io_context, one pool thread, a 24 h
/// handle_request_timeout) with a handler that answers at once, on the
/// RESTinio I/O thread, with the real server's status line and headers.
class Server {
 public:
  explicit Server(std::uint16_t port)
      : http_(restinio::own_io_context(),
              [port](auto& settings) {
                settings.address("127.0.0.1")
                    .port(port)
                    .handle_request_timeout(std::chrono::hours(24))
                    .request_handler(&Server::handle);
              }),
        runner_(1, http_) {}
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start() {
    std::promise<void> started;
    auto result = started.get_future();
    runner_.start(
        [&started]() noexcept { started.set_value(); },
        [&started](std::exception_ptr error) noexcept { started.set_exception(std::move(error)); });
    result.get();
    running_ = true;
  }

  void stop() {
    if (!std::exchange(running_, false)) return;
    runner_.stop();
    runner_.wait();
  }

 private:
  static restinio::request_handling_status_t handle(restinio::request_handle_t request) {
    bool too_large = request->header().has_field(body_too_large_field);
    auto response = request->create_response(restinio::http_status_line_t{
        restinio::http_status_code_t{static_cast<std::uint16_t>(too_large ? 413 : 200)},
        too_large ? "Payload Too Large" : "OK"});
    response.append_header(restinio::http_field::content_type, "application/json");
    response.set_body(too_large ? std::string{R"({"detail":"Request body exceeds 1 MiB"})"}
                                : std::string{fixed_body});
    response.done();
    return restinio::request_accepted();
  }

  HttpServer http_;
  restinio::on_pool_runner_t<HttpServer> runner_;
  bool running_ = false;
};

}  // namespace
}  // namespace baseline

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  std::string wrk = "wrk";
  int threads = 2;
  int connections = 32;
  int duration_seconds = 3;
  int runs = 5;
  int instances = 10000;
};

// -- child processes -----------------------------------------------------------

/// The children alive, for the signal handler (which may only kill them).
std::atomic<pid_t> server_pid{0};
std::atomic<pid_t> wrk_pid{0};

/// The temporary files and directory (in creation order), for the signal
/// handler: unlink and rmdir are async-signal-safe, std::filesystem is not.
constexpr int max_temporary_paths = 8;
char temporary_paths[max_temporary_paths][512];
std::atomic<int> temporary_path_count{0};

void remember_temporary_path(const std::string& path) {
  int index = temporary_path_count.load();
  if (index >= max_temporary_paths || path.size() >= sizeof temporary_paths[0]) return;
  std::memcpy(temporary_paths[index], path.c_str(), path.size() + 1);
  temporary_path_count.store(index + 1);
}

extern "C" void on_termination_signal(int signal_number) {
  for (auto* child : {&server_pid, &wrk_pid}) {
    if (pid_t pid = child->exchange(0); pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  for (int i = temporary_path_count.load() - 1; i >= 0; --i)
    if (unlink(temporary_paths[i]) != 0) rmdir(temporary_paths[i]);
  _exit(128 + signal_number);
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = &on_termination_signal;
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT})
    sigaction(signal_number, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

/// fork/exec of `args` with stdout and stderr on `output_fd` (-1: inherited).
/// The child gets SIGKILL if the benchmark dies, and no other descriptor.
pid_t spawn(const std::vector<std::string>& args, int output_fd) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string{"fork: "} + std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls from here: the parent has threads.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE})
      sigaction(signal_number, &action, nullptr);
    if (output_fd >= 0) {
      dup2(output_fd, STDOUT_FILENO);
      dup2(output_fd, STDERR_FILENO);
    }
    if (close_range(3, ~0U, 0) != 0)
      for (int fd = 3; fd < 4096; ++fd) close(fd);
    execvp(argv[0], argv.data());
    static constexpr char failed[] = "exec failed: ";
    [[maybe_unused]] auto ignored = write(STDERR_FILENO, failed, sizeof failed - 1);
    ignored = write(STDERR_FILENO, argv[0], std::strlen(argv[0]));
    ignored = write(STDERR_FILENO, "\n", 1);
    _exit(127);
  }
  return pid;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return "ended";
}

/// Whether `program` (a path, or a name looked up in PATH) can be run.
bool is_executable(const std::string& program) {
  if (program.find('/') != std::string::npos) return access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string_view directories = path != nullptr ? path : "/usr/bin:/bin";
  while (true) {
    auto colon = directories.find(':');
    auto directory = directories.substr(0, colon);
    auto candidate = std::string{directory.empty() ? "." : directory} + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) return false;
    directories.remove_prefix(colon + 1);
  }
}

/// A port that was free a moment ago on 127.0.0.1.
std::uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string{std::strerror(errno)});
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    throw std::runtime_error("cannot find a free port: " + std::string{std::strerror(errno)});
  }
  close(fd);
  return ntohs(address.sin_port);
}

// -- HTTP client for the setup (libcurl, one keep-alive connection) -------------

struct Reply {
  long status = 0;  ///< 0: no HTTP response (see body)
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(std::string base_url) : base_url_(std::move(base_url)) {
    curl_ = curl_easy_init();
    if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, "Expect:");
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &HttpClient::write);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 10000L);
  }
  ~HttpClient() {
    curl_easy_cleanup(curl_);
    curl_slist_free_all(headers_);
  }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Reply get(const std::string& path) {
    curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    return perform(path);
  }

  Reply post(const std::string& path, const std::string& body = {}) {
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    return perform(path);
  }

  /// A 200 or an exception saying what came instead.
  Reply expect_ok(Reply reply, std::string_view what) {
    if (reply.status != 200)
      throw std::runtime_error(fmt::format("{}: {} {}", what, reply.status, reply.body));
    return reply;
  }

  /// TCP connections opened so far (1 while keep-alive holds).
  long connections() const noexcept { return connections_; }

 private:
  static std::size_t write(char* data, std::size_t size, std::size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
  }

  Reply perform(const std::string& path) {
    Reply reply;
    auto url = base_url_ + path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply.body);
    CURLcode code = curl_easy_perform(curl_);
    long connects = 0;
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &connects);
    connections_ += connects;
    if (code != CURLE_OK) {
      reply.body = curl_easy_strerror(code);
      return reply;
    }
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
  }

  std::string base_url_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  long connections_ = 0;
};

// -- the processpype binary ----------------------------------------------------

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess() {
    try {
      stop();
    } catch (...) {
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  /// Starts the binary on a free port and waits (at most 15 s per attempt,
  /// 3 attempts: the port may be taken in between) until GET / answers.
  void start() {
    std::string last_error;
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_port();
      pid_ = spawn({PROCESSPYPE_SERVER_BINARY, "--host", "127.0.0.1", "--port",
                    std::to_string(port_), "--log-level", "error"},
                   -1);
      server_pid = pid_;
      HttpClient probe{base_url()};
      auto deadline = Clock::now() + 15s;
      while (Clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          last_error = "the server " + describe_wait_status(status);
          pid_ = 0;
          server_pid = 0;
          break;
        }
        if (probe.get("/").status == 200) return;
        std::this_thread::sleep_for(50ms);
      }
      if (pid_ > 0) {
        last_error = "GET / did not answer within 15 s";
        kill_now();
      }
    }
    throw std::runtime_error("cannot start " + std::string{PROCESSPYPE_SERVER_BINARY} + ": " +
                             last_error);
  }

  /// SIGTERM, then (after 60 s) SIGKILL; says how it ended.
  std::string stop() {
    if (pid_ <= 0) return "not running";
    auto begin = Clock::now();
    kill(pid_, SIGTERM);
    int status = 0;
    while (Clock::now() - begin < 60s) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        server_pid = 0;
        return fmt::format("{} {:.2f} s after SIGTERM", describe_wait_status(status),
                           std::chrono::duration<double>(Clock::now() - begin).count());
      }
      std::this_thread::sleep_for(20ms);
    }
    kill_now();
    return "did not stop within 60 s of SIGTERM: killed";
  }

  std::string base_url() const { return fmt::format("http://127.0.0.1:{}", port_); }

 private:
  void kill_now() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
    server_pid = 0;
  }

  pid_t pid_ = 0;
  std::uint16_t port_ = 0;
};

// -- wrk -----------------------------------------------------------------------

struct Measurement {
  double requests_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  long requests = 0;
  long non_2xx = 0;
  std::string socket_errors;  ///< wrk's line, empty when none
  std::string script_line;    ///< a line a Lua script's done() printed
};

/// "250.00us" → 0.25 (milliseconds).
std::optional<double> to_milliseconds(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  if (digits == 0) return std::nullopt;
  double value = std::strtod(std::string{text.substr(0, digits)}.c_str(), nullptr);
  auto unit = text.substr(digits);
  if (unit == "us") return value / 1000.0;
  if (unit == "ms") return value;
  if (unit == "s") return value * 1000.0;
  if (unit == "m") return value * 60'000.0;
  if (unit == "h") return value * 3'600'000.0;
  return std::nullopt;
}

std::string trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(" \t\r");
  return std::string{text.substr(first, last - first + 1)};
}

Measurement parse_wrk_output(const std::string& output) {
  Measurement result;
  bool have_rate = false, have_p50 = false, have_p99 = false;
  std::istringstream lines{output};
  std::string raw;
  while (std::getline(lines, raw)) {
    auto line = trim(raw);
    auto value_after = [&line](std::string_view prefix) -> std::optional<std::string> {
      if (!line.starts_with(prefix)) return std::nullopt;
      return trim(std::string_view{line}.substr(prefix.size()));
    };
    if (auto value = value_after("Requests/sec:")) {
      result.requests_per_second = std::strtod(value->c_str(), nullptr);
      have_rate = true;
    } else if (auto value = value_after("50%")) {
      if (auto ms = to_milliseconds(*value)) result.p50_ms = *ms, have_p50 = true;
    } else if (auto value = value_after("99%")) {
      if (auto ms = to_milliseconds(*value)) result.p99_ms = *ms, have_p99 = true;
    } else if (auto value = value_after("Non-2xx or 3xx responses:")) {
      result.non_2xx = std::strtol(value->c_str(), nullptr, 10);
    } else if (line.starts_with("Socket errors:")) {
      result.socket_errors = line;
    } else if (line.starts_with("script:")) {
      result.script_line = line;
    } else if (auto position = line.find(" requests in "); position != std::string::npos) {
      result.requests = std::strtol(line.c_str(), nullptr, 10);
    }
  }
  if (!have_rate || !have_p50 || !have_p99)
    throw std::runtime_error("cannot parse wrk's output:\n" + output);
  return result;
}

/// One wrk run (bounded: killed if it outlives its duration by 30 s).
Measurement run_wrk(const Options& options, const std::string& url, const std::string& script) {
  std::vector<std::string> args{options.wrk,
                                "-t" + std::to_string(options.threads),
                                "-c" + std::to_string(options.connections),
                                "-d" + std::to_string(options.duration_seconds) + "s",
                                "--latency",
                                "--timeout",
                                "10s"};
  if (!script.empty()) args.insert(args.end(), {"-s", script});
  args.push_back(url);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  pid_t pid = spawn(args, fds[1]);
  wrk_pid = pid;
  close(fds[1]);
  std::string output;
  auto deadline = Clock::now() + std::chrono::seconds(options.duration_seconds + 30);
  bool timed_out = false;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) {
      timed_out = true;
      break;
    }
    pollfd poll_fd{fds[0], POLLIN, 0};
    int ready = poll(&poll_fd, 1, static_cast<int>(std::min<long>(left.count(), 250)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buffer[4096];
    auto count = read(fds[0], buffer, sizeof buffer);
    if (count <= 0) break;
    output.append(buffer, static_cast<std::size_t>(count));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  wrk_pid = 0;
  if (timed_out) throw std::runtime_error("wrk did not finish in time:\n" + output);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    throw std::runtime_error("cannot run " + options.wrk + ": " + output);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("wrk " + describe_wait_status(status) + ":\n" + output);
  return parse_wrk_output(output);
}

std::string format_latency(double ms) {
  if (ms < 1.0) return fmt::format("{:.0f}us", ms * 1000.0);
  if (ms < 100.0) return fmt::format("{:.2f}ms", ms);
  return fmt::format("{:.0f}ms", ms);
}

struct Figure {
  std::string name;
  Measurement measurement;  ///< the run with the median requests/s
  double ratio = 1.0;       ///< median over rounds of (this run / its baseline run)
  std::string note;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  auto middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

Measurement median_run(std::vector<Measurement> runs) {
  std::sort(runs.begin(), runs.end(), [](const Measurement& a, const Measurement& b) {
    return a.requests_per_second < b.requests_per_second;
  });
  return runs[(runs.size() - 1) / 2];
}

void print_run(const std::string& name, const std::string& label, const Measurement& run) {
  std::cout << fmt::format("  {:<46} {:<10} {:>9.0f} req/s  p50 {:>8}  p99 {:>8}", name, label,
                           run.requests_per_second, format_latency(run.p50_ms),
                           format_latency(run.p99_ms));
  if (run.non_2xx > 0) std::cout << fmt::format("  non-2xx {}", run.non_2xx);
  if (!run.socket_errors.empty()) std::cout << "  " << run.socket_errors;
  if (!run.script_line.empty()) std::cout << "  " << run.script_line;
  std::cout << std::endl;
}

/// The machine is shared, so its speed drifts over seconds: every figure is
/// measured in `options.runs` rounds, each a baseline run right next to a run
/// of the figure (in alternating order), and its ratio to the baseline is the
/// median of the rounds' ratios. `prepare` (if any) runs before each run of
/// the figure. Every baseline run is appended to `baseline_runs`.
Figure measure(const Options& options, std::string name, const std::string& baseline_url,
               std::vector<Measurement>& baseline_runs, const std::string& url,
               const std::string& script = {}, const std::function<void()>& prepare = {}) {
  std::vector<Measurement> runs;
  std::vector<double> ratios;
  for (int round = 0; round < options.runs; ++round) {
    auto label = fmt::format("{}/{}", round + 1, options.runs);
    auto measure_baseline = [&] {
      baseline_runs.push_back(run_wrk(options, baseline_url, {}));
      print_run("(baseline)", label, baseline_runs.back());
    };
    auto measure_figure = [&] {
      if (prepare) prepare();
      runs.push_back(run_wrk(options, url, script));
      print_run(name, label, runs.back());
    };
    if (round % 2 == 0) {
      measure_baseline();
      measure_figure();
    } else {
      measure_figure();
      measure_baseline();
    }
    ratios.push_back(runs.back().requests_per_second / baseline_runs.back().requests_per_second);
  }
  return Figure{std::move(name), median_run(runs), median(ratios), {}};
}

// -- wrk scripts (written to a temporary directory) ------------------------------

class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    auto pattern = (std::filesystem::temp_directory_path() / "rest_benchmark.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp: " + std::string{std::strerror(errno)});
    path_ = pattern;
    remember_temporary_path(pattern);
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
    temporary_path_count.store(0);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  std::string write(const std::string& name, const std::string& content) const {
    auto file = path_ / name;
    remember_temporary_path(file.string());
    std::ofstream out{file};
    out << content;
    if (!out) throw std::runtime_error("cannot write " + file.string());
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

/// POST /services/<instance>/echo {"message":"hi"}: a static request, so wrk
/// runs no Lua per request.
std::string echo_script() {
  return R"(wrk.method = "POST"
wrk.body = '{"message":"hi"}'
wrk.headers["Content-Type"] = "application/json"
)";
}

/// The start/stop cycle. Each wrk thread owns `per_thread` instances (one
/// more than its connections: wrk calls request() once, unsent, to check the
/// script) and keeps the idle ones in a FIFO queue. request() takes the
/// instance at the head and sends its next transition; response() finds the
/// instance in the reply ("service":name) and queues it with the other
/// transition. So no two requests are in flight for one instance, each one
/// is a real transition, and none is refused; "fallback" counts requests
/// sent without an idle instance (should stay 0).
std::string start_stop_script(const std::string& prefix, int per_thread) {
  return fmt::format(R"lua(local prefix = "{}"
local per_thread = {}
local threads = {{}}
local next_thread = 0

function setup(thread)
  thread:set("first", next_thread * per_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  queue, head, tail = {{}}, 1, 0
  in_flight = {{}}
  fallback, unmatched = 0, 0
  for i = 0, per_thread - 1 do
    tail = tail + 1
    queue[tail] = {{ name = prefix .. (first + i), op = "start" }}
  end
end

function request()
  local item
  if head <= tail then
    item = queue[head]
    queue[head] = nil
    head = head + 1
  else
    fallback = fallback + 1
    item = {{ name = prefix .. first, op = "stop" }}
  end
  in_flight[item.name] = item.op
  return wrk.format("POST", "/services/" .. item.name .. "/" .. item.op,
                    {{ ["Content-Type"] = "application/json" }}, "")
end

function response(status, headers, body)
  local name = string.match(body, '"service":"([^"]+)"') or
               string.match(body, "Service ([%w_.%-]+) ")
  local op = name and in_flight[name]
  if op then
    in_flight[name] = nil
    tail = tail + 1
    queue[tail] = {{ name = name, op = (op == "start") and "stop" or "start" }}
  else
    unmatched = unmatched + 1
  end
end

function done(summary, latency, requests)
  local fallback_total, unmatched_total = 0, 0
  for _, thread in ipairs(threads) do
    fallback_total = fallback_total + thread:get("fallback")
    unmatched_total = unmatched_total + thread:get("unmatched")
  end
  io.write(string.format("script: fallback %d, unmatched %d\n", fallback_total, unmatched_total))
end
)lua",
                     prefix, per_thread);
}

// -- the benchmark -------------------------------------------------------------

Options parse_options(int argc, char** argv) {
  Options options;
  if (const char* wrk = std::getenv("WRK"); wrk != nullptr && *wrk != '\0') options.wrk = wrk;
  auto number = [&](int& index, int minimum, int maximum) {
    if (index + 1 >= argc) throw std::invalid_argument(std::string{argv[index]} + " needs a value");
    int value = std::atoi(argv[++index]);
    if (value < minimum || value > maximum)
      throw std::invalid_argument(
          fmt::format("{} must be within [{}, {}]", argv[index - 1], minimum, maximum));
    return value;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--duration")
      options.duration_seconds = number(i, 1, 600);
    else if (arg == "--threads")
      options.threads = number(i, 1, 64);
    else if (arg == "--connections")
      options.connections = number(i, 1, 1000);
    else if (arg == "--runs")
      options.runs = number(i, 1, 21);
    else if (arg == "--instances")
      options.instances = number(i, 1, 1'000'000);
    else if (arg == "--help" || arg == "-h")
      throw std::invalid_argument("");
    else
      throw std::invalid_argument("unknown option " + std::string{arg});
  }
  if (options.connections < options.threads)
    throw std::invalid_argument("--connections must be at least --threads");
  return options;
}

/// "load average 1.23 (1 min), 2 CPUs", from /proc/loadavg; the figures
/// mean little when other work competes for the CPUs.
std::string machine_load() {
  std::ifstream file{"/proc/loadavg"};
  double one_minute = -1;
  file >> one_minute;
  auto cpus = std::thread::hardware_concurrency();
  if (one_minute < 0) return fmt::format("{} CPUs", cpus);
  return fmt::format("load average {:.2f} (1 min) on {} CPUs{}", one_minute, cpus,
                     one_minute > cpus ? ": busy, expect noisy figures" : "");
}

std::string ratio(double value, double reference) {
  return reference > 0 ? fmt::format("{:.2f}x", value / reference) : "-";
}

int run(const Options& options) {
  if (!is_executable(options.wrk))
    throw std::runtime_error("cannot find wrk ('" + options.wrk +
                             "'): apt-get install -y wrk, or set WRK=/path/to/wrk");
  if (!is_executable(PROCESSPYPE_SERVER_BINARY))
    throw std::runtime_error(std::string{"cannot find the server binary "} +
                             PROCESSPYPE_SERVER_BINARY + ": build the processpype_server target");
  TemporaryDirectory scripts;
  auto echo_lua = scripts.write("echo.lua", echo_script());
  const int per_thread = options.connections / options.threads + 1;
  const int cycle_instances = per_thread * options.threads;
  auto cycle_lua = scripts.write("start_stop.lua", start_stop_script("cycle-", per_thread));

  std::cout << fmt::format(
                   "rest_benchmark: wrk -t{} -c{} -d{}s --latency; {} round(s) per figure, each "
                   "a baseline run next to a run of the figure\nserver: {}\nmachine: {}\n\n",
                   options.threads, options.connections, options.duration_seconds, options.runs,
                   PROCESSPYPE_SERVER_BINARY, machine_load())
            << std::flush;

  // 1. The bare RESTinio server, in this process, for the whole benchmark
  // (idle between its runs).
  auto bare_port = free_port();
  baseline::Server bare_server{bare_port};
  bare_server.start();
  auto bare_url = fmt::format("http://127.0.0.1:{}/services/bench", bare_port);
  {
    HttpClient probe{fmt::format("http://127.0.0.1:{}", bare_port)};
    probe.expect_ok(probe.get("/services/bench"), "baseline GET");
  }
  std::vector<Measurement> bare_runs;

  // 2. The processpype binary, one running echo instance.
  ServerProcess server;
  server.start();
  auto base = server.base_url();
  HttpClient api{base};
  api.expect_ok(
      api.post("/services/register", R"({"service_name":"echo","instance_name":"bench"})"),
      "register bench");
  api.expect_ok(api.post("/services/bench/start"), "start bench");
  api.expect_ok(api.post("/services/bench/echo", R"({"message":"hi"})"), "echo");

  auto status_one =
      measure(options, "GET /services/{name}", bare_url, bare_runs, base + "/services/bench");
  auto list_one =
      measure(options, "GET /services (1 instance)", bare_url, bare_runs, base + "/services");

  for (int i = 0; i < cycle_instances; ++i) {
    auto name = "cycle-" + std::to_string(i);
    api.expect_ok(
        api.post("/services/register",
                 nlohmann::json{{"service_name", "echo"}, {"instance_name", name}}.dump()),
        "register " + name);
  }
  auto stop_cycle_instances = [&] {
    for (int i = 0; i < cycle_instances; ++i)
      api.expect_ok(api.post("/services/cycle-" + std::to_string(i) + "/stop"), "stop cycle");
  };
  auto cycle = measure(options, fmt::format("POST start/stop ({} instances)", cycle_instances),
                       bare_url, bare_runs, base + "/", cycle_lua, stop_cycle_instances);
  cycle.note = "transitions/s";
  auto echo = measure(options, "POST /services/{name}/echo", bare_url, bare_runs,
                      base + "/services/bench/echo", echo_lua);

  // 3. Many instances, registered one after another on one connection. The
  // same requests to the bare server first give the floor: the client, HTTP
  // and loopback part of a sequential request.
  double floor_seconds = 0;
  {
    HttpClient bare_client{fmt::format("http://127.0.0.1:{}", bare_port)};
    auto floor_begin = Clock::now();
    for (int i = 0; i < options.instances; ++i) {
      auto body = fmt::format(R"({{"service_name":"echo","instance_name":"inst-{:05d}"}})", i);
      bare_client.expect_ok(bare_client.post("/services/register", body), "bare POST");
    }
    floor_seconds = std::chrono::duration<double>(Clock::now() - floor_begin).count();
  }
  std::cout << fmt::format("  {} sequential POSTs to the bare server in {:.3f} s\n",
                           options.instances, floor_seconds);
  auto connections_before = api.connections();
  std::string last_name;
  std::vector<double> registration_ms;
  registration_ms.reserve(static_cast<std::size_t>(options.instances));
  auto begin = Clock::now();
  for (int i = 0; i < options.instances; ++i) {
    last_name = fmt::format("inst-{:05d}", i);
    auto body = R"({"service_name":"echo","instance_name":")" + last_name + "\"}";
    auto sent = Clock::now();
    auto reply = api.post("/services/register", body);
    registration_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
    if (reply.status != 200)
      throw std::runtime_error(
          fmt::format("registration {} ({}): {} {}", i, last_name, reply.status, reply.body));
  }
  double registration_seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  long registration_connections = api.connections() - connections_before;
  std::sort(registration_ms.begin(), registration_ms.end());
  auto registration_percentile = [&](double fraction) {
    auto index =
        static_cast<std::size_t>(fraction * static_cast<double>(registration_ms.size() - 1));
    return registration_ms[index];
  };
  std::cout << fmt::format(
                   "  {} registrations in {:.3f} s ({} new connection(s)), per request p50 {} p99 "
                   "{} max {}\n",
                   options.instances, registration_seconds, registration_connections,
                   format_latency(registration_percentile(0.5)),
                   format_latency(registration_percentile(0.99)),
                   format_latency(registration_ms.back()))
            << std::flush;
  auto status_many = measure(
      options, fmt::format("GET /services/{{name}} ({} instances, last)", options.instances),
      bare_url, bare_runs, base + "/services/" + last_name);

  auto load_at_end = machine_load();
  auto stopped = server.stop();
  bare_server.stop();

  // 4. The table and the aims.
  Figure bare{"baseline: bare RESTinio, same settings", median_run(bare_runs), 1.0,
              fmt::format("median of {} runs", bare_runs.size())};
  std::cout << "\n"
            << fmt::format("{:<46} {:>10} {:>9} {:>9} {:>10}  {}\n", "figure", "req/s", "p50",
                           "p99", "/baseline", "notes");
  for (const Figure* figure : {&bare, &status_one, &list_one, &cycle, &echo, &status_many}) {
    const auto& m = figure->measurement;
    std::string notes = figure->note;
    auto add = [&notes](const std::string& text) { notes += (notes.empty() ? "" : "; ") + text; };
    if (m.non_2xx > 0) add(fmt::format("{} non-2xx of {}", m.non_2xx, m.requests));
    if (!m.socket_errors.empty()) add(m.socket_errors);
    if (!m.script_line.empty()) add(m.script_line);
    std::cout << fmt::format("{:<46} {:>10.0f} {:>9} {:>9} {:>9.2f}x  {}\n", figure->name,
                             m.requests_per_second, format_latency(m.p50_ms),
                             format_latency(m.p99_ms), figure->ratio, notes);
  }
  std::cout << fmt::format(
      "{:<46} {:>10.0f}   total {:.3f} s, {} new connection(s), p50 {}, p99 {}\n",
      fmt::format("registration: {} x POST /services/register", options.instances),
      options.instances / registration_seconds, registration_seconds, registration_connections,
      format_latency(registration_percentile(0.5)), format_latency(registration_percentile(0.99)));
  std::cout << fmt::format("{:<46} {:>10.0f}   total {:.3f} s: the floor of the registration\n",
                           fmt::format("same POSTs, sequential, to the bare server"),
                           options.instances / floor_seconds, floor_seconds);

  std::cout << fmt::format(
      "\nreq/s, p50 and p99 are those of the figure's median run; /baseline is the median, over\n"
      "rounds, of the figure's req/s divided by that of the baseline run next to it. A\n"
      "request to the server crosses threads (RESTinio -> CAF worker -> RESTinio), the\n"
      "baseline's does not, so on a busy machine the ratios fall: see the load above.\n"
      "The start/stop figure: {} echo instances, one idle per wrk connection plus one spare\n"
      "per wrk thread; the script sends an instance's next transition only after its previous\n"
      "one was answered (the reply comes when the transition has finished), so every request\n"
      "is a real start or stop and none is refused (409: see non-2xx). Alternating on ONE\n"
      "instance from {} connections would mostly measure cheap 409 refusals instead. Its wrk\n"
      "script runs Lua per request and per response, which the other figures do not.\n",
      cycle_instances, options.connections);

  struct Aim {
    std::string text;
    bool met;
    std::string value;
  };
  const double many_vs_one = status_many.ratio / status_one.ratio;
  std::vector<Aim> aims{
      {"GET /services/{name} >= 0.6x the bare baseline", status_one.ratio >= 0.6,
       fmt::format("{:.2f}x", status_one.ratio)},
      {"GET /services >= 0.6x the bare baseline", list_one.ratio >= 0.6,
       fmt::format("{:.2f}x", list_one.ratio)},
      {fmt::format("GET /services/{{name}} with {} instances >= 0.9x the 1-instance rate",
                   options.instances),
       many_vs_one >= 0.9,
       fmt::format("{:.2f}x (each against its baseline runs; raw req/s ratio {})", many_vs_one,
                   ratio(status_many.measurement.requests_per_second,
                         status_one.measurement.requests_per_second))},
      {fmt::format("{} registrations < 2 s", options.instances), registration_seconds < 2.0,
       fmt::format("{:.3f} s", registration_seconds)},
  };
  std::cout << "\nAims:\n";
  bool all_met = true;
  for (const auto& aim : aims) {
    all_met = all_met && aim.met;
    std::cout << fmt::format("  [{}] {}: {}\n", aim.met ? "met   " : "MISSED", aim.text, aim.value);
  }
  std::cout << "\nServer: " << stopped << "\nMachine at the end: " << load_at_end << "\n";
  std::cout << (all_met ? "All aims met.\n" : "Some aims missed.\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const std::invalid_argument& error) {
    if (*error.what() != '\0') std::cerr << "rest_benchmark: " << error.what() << "\n";
    std::cerr << "usage: rest_benchmark [--duration S (3)] [--runs ROUNDS (5)] [--threads N (2)]\n"
                 "                      [--connections N (32)] [--instances N (10000)]\n"
                 "(wrk from the PATH, or WRK=/path/to/wrk)\n";
    return 2;
  }
  install_signal_handlers();
  unsetenv("ENABLED_SERVICES");  // the server starts with no instance
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int code = 1;
  try {
    code = run(options);
  } catch (const std::exception& error) {
    std::cerr << "rest_benchmark: " << error.what() << "\n";
  }
  curl_global_cleanup();
  return code;
}
