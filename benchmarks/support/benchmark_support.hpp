// What the wrk-based benchmarks (rest/, cluster/) share: child processes
// (fork/exec with PR_SET_PDEATHSIG, SIGTERM then SIGKILL, killed on a
// termination signal), free loopback ports, the `processpype` binary as a
// child, a libcurl client for the setup, wrk runs and their output, the Lua
// scripts, and rounds that alternate a baseline with a figure (median of the
// rounds' ratios).
//
// Every wait is bounded; everything listens on and talks to 127.0.0.1 only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>

namespace processpype::benchmark {

// -- options -------------------------------------------------------------------

/// How wrk is run, and how many rounds each figure gets.
struct WrkOptions {
  std::string wrk = "wrk";  ///< from the PATH, or WRK=/path/to/wrk (see parse_wrk_option)
  int threads = 2;
  int connections = 32;
  int duration_seconds = 3;
  int runs = 5;
};

/// The value after argv[index] (index moves to it), an integer within
/// [minimum, maximum]; std::invalid_argument otherwise.
int parse_number(int argc, char** argv, int& index, int minimum, int maximum);

/// Takes --duration, --threads, --connections or --runs (and its value) at
/// argv[index]; false when argv[index] is none of them.
bool parse_wrk_option(int argc, char** argv, int& index, WrkOptions& options);

/// WRK from the environment, if set (call before parsing the arguments).
void read_wrk_environment(WrkOptions& options);

/// std::invalid_argument when the options do not fit together.
void check_wrk_options(const WrkOptions& options);

/// What a benchmark's main() does around its work: `parse` (an
/// std::invalid_argument prints "<name>: <what>" and `usage`, exit code 2),
/// signal handlers (see install_signal_handlers), no ENABLED_SERVICES for
/// the servers, libcurl; `run`'s exit code, or 1 after printing an exception.
int benchmark_main(std::string_view name, std::string_view usage,
                   const std::function<void()>& parse, const std::function<int()>& run);

// -- child processes -----------------------------------------------------------

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT kill every child spawn() started
/// (SIGKILL) and remove the temporary files, then exit with 128 + signal;
/// SIGPIPE is ignored.
void install_signal_handlers();

/// fork/exec of `args` with stdout and stderr on `output_fd` (-1: inherited).
/// The child gets SIGKILL if the benchmark dies (PR_SET_PDEATHSIG), and no
/// other descriptor. It is killed by the signal handlers until
/// forget_child(pid).
pid_t spawn(const std::vector<std::string>& args, int output_fd);

/// The child was reaped: the signal handlers leave it alone.
void forget_child(pid_t pid);

/// "exited with code N" / "killed by signal N".
std::string describe_wait_status(int status);

/// Whether `program` (a path, or a name looked up in PATH) can be run.
bool is_executable(const std::string& program);

/// std::runtime_error unless wrk and the server binary can be run.
void require_executables(const WrkOptions& options, const std::string& server_binary);

/// A port that was free a moment ago on 127.0.0.1.
std::uint16_t free_port();

// -- HTTP client for the setup (libcurl, one keep-alive connection) -------------

struct Reply {
  long status = 0;  ///< 0: no HTTP response (see body)
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(std::string base_url);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Reply get(const std::string& path);
  Reply post(const std::string& path, const std::string& body = {});

  /// A 200 or an exception saying what came instead.
  Reply expect_ok(Reply reply, std::string_view what);

  /// TCP connections opened so far (1 while keep-alive holds).
  long connections() const noexcept { return connections_; }

 private:
  static std::size_t write(char* data, std::size_t size, std::size_t count, void* user);
  Reply perform(const std::string& path);

  std::string base_url_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  long connections_ = 0;
};

// -- the processpype binary ----------------------------------------------------

/// The server binary as a child on 127.0.0.1, a free REST port,
/// --log-level error; stopped (SIGTERM, then SIGKILL) when destroyed.
class ServerProcess {
 public:
  /// `name` is used in messages ("the server", "node a").
  explicit ServerProcess(std::string binary, std::string name = "the server");
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  /// Starts the binary on a free port and waits (at most 15 s per attempt,
  /// 3 attempts: the port may be taken in between) until GET / answers.
  /// `extra_arguments` (if set) is called for each attempt and its result
  /// appended to the command line (so it may pick other free ports).
  void start(const std::function<std::vector<std::string>()>& extra_arguments = {});

  /// SIGTERM, then (after 60 s) SIGKILL; says how it ended.
  std::string stop();

  std::string base_url() const;
  std::uint16_t port() const noexcept { return port_; }

 private:
  void kill_now();

  std::string binary_;
  std::string name_;
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

/// wrk --latency's output → a Measurement; std::runtime_error if the rate
/// or a percentile is missing.
Measurement parse_wrk_output(const std::string& output);

/// One wrk run (bounded: killed if it outlives its duration by 30 s).
Measurement run_wrk(const WrkOptions& options, const std::string& url, const std::string& script);

/// 0.25 → "250us", 12.3 → "12.30ms".
std::string format_latency(double ms);

/// "1.23x" (value / reference), "-" without a reference.
std::string ratio(double value, double reference);

/// "load average 1.23 (1 min), 2 CPUs", from /proc/loadavg; the figures
/// mean little when other work competes for the CPUs.
std::string machine_load();

// -- rounds: a baseline next to a figure ------------------------------------------

/// What one wrk run measures.
struct WrkTarget {
  std::string name;  ///< printed with each run
  std::string url;
  std::string script;               ///< a Lua script's path, or empty
  std::function<void()> prepare{};  ///< if set, runs before each run
};

struct Figure {
  std::string name;
  Measurement measurement;  ///< the run with the median requests/s
  double ratio = 1.0;       ///< median over rounds of (this run / its baseline run)
  std::string note;
};

double median(std::vector<double> values);

/// The run with the median requests/s (the lower one of an even count).
Measurement median_run(std::vector<Measurement> runs);

void print_run(const std::string& name, const std::string& label, const Measurement& run);

/// The machine is shared, so its speed drifts over seconds: a figure is
/// measured in `options.runs` rounds, each a baseline run right next to a run
/// of the figure (in alternating order), and its ratio to the baseline is the
/// median of the rounds' ratios. Every baseline run is appended to
/// `baseline_runs`.
Figure measure_against(const WrkOptions& options, const WrkTarget& baseline,
                       std::vector<Measurement>& baseline_runs, const WrkTarget& figure);

// -- wrk scripts (written to a temporary directory) ------------------------------

/// A directory under the system's temporary directory, removed when
/// destroyed (or by the signal handlers).
class TemporaryDirectory {
 public:
  /// `prefix`: the start of the directory's name ("rest_benchmark").
  explicit TemporaryDirectory(std::string_view prefix);
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  /// Writes `content` to the file `name` in the directory; its path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

/// POST <url> {"message":"hi"} (the echo route): a static request, so wrk
/// runs no Lua per request.
std::string echo_script();

/// The start/stop cycle over instances `<prefix>0` .. `<prefix>N-1` (N =
/// per_thread x wrk threads), each request a POST
/// `<services_path><instance>/start|stop` ("/services/", or
/// "/nodes/<id>/services/" for another node). Each wrk thread owns
/// `per_thread` instances (one more than its connections: wrk calls request()
/// once, unsent, to check the script) and keeps the idle ones in a FIFO
/// queue. request() takes the instance at the head and sends its next
/// transition; response() finds the instance in the reply ("service":name)
/// and queues it with the other transition. So no two requests are in
/// flight for one instance, each one is a real transition, and none is
/// refused; "fallback" counts requests sent without an idle instance
/// (should stay 0). The instances must all be stopped before a run.
std::string start_stop_script(const std::string& prefix, int per_thread,
                              std::string_view services_path = "/services/");

/// The instances per wrk thread that start_stop_script needs: one idle
/// instance per connection plus one spare.
inline int start_stop_instances_per_thread(const WrkOptions& options) {
  return options.connections / options.threads + 1;
}

}  // namespace processpype::benchmark
