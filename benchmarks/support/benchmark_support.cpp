#include "benchmark_support.hpp"

#include <arpa/inet.h>
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
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace processpype::benchmark {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// -- what the signal handler cleans up -------------------------------------------

/// The children alive, for the signal handler (which may only kill them).
constexpr int max_children = 16;
std::atomic<pid_t> children[max_children];

void remember_child(pid_t pid) {
  for (auto& slot : children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
  // No slot left: PR_SET_PDEATHSIG still kills it if the benchmark dies.
}

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
  for (auto& child : children) {
    if (pid_t pid = child.exchange(0); pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  for (int i = temporary_path_count.load() - 1; i >= 0; --i)
    if (unlink(temporary_paths[i]) != 0) rmdir(temporary_paths[i]);
  _exit(128 + signal_number);
}

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

}  // namespace

// -- options -------------------------------------------------------------------

int parse_number(int argc, char** argv, int& index, int minimum, int maximum) {
  if (index + 1 >= argc) throw std::invalid_argument(std::string{argv[index]} + " needs a value");
  int value = std::atoi(argv[++index]);
  if (value < minimum || value > maximum)
    throw std::invalid_argument(
        fmt::format("{} must be within [{}, {}]", argv[index - 1], minimum, maximum));
  return value;
}

bool parse_wrk_option(int argc, char** argv, int& index, WrkOptions& options) {
  std::string_view arg = argv[index];
  if (arg == "--duration")
    options.duration_seconds = parse_number(argc, argv, index, 1, 600);
  else if (arg == "--threads")
    options.threads = parse_number(argc, argv, index, 1, 64);
  else if (arg == "--connections")
    options.connections = parse_number(argc, argv, index, 1, 1000);
  else if (arg == "--runs")
    options.runs = parse_number(argc, argv, index, 1, 21);
  else
    return false;
  return true;
}

void read_wrk_environment(WrkOptions& options) {
  if (const char* wrk = std::getenv("WRK"); wrk != nullptr && *wrk != '\0') options.wrk = wrk;
}

void check_wrk_options(const WrkOptions& options) {
  if (options.connections < options.threads)
    throw std::invalid_argument("--connections must be at least --threads");
}

int benchmark_main(std::string_view name, std::string_view usage,
                   const std::function<void()>& parse, const std::function<int()>& run) {
  try {
    parse();
  } catch (const std::invalid_argument& error) {
    if (*error.what() != '\0') std::cerr << name << ": " << error.what() << "\n";
    std::cerr << usage;
    return 2;
  }
  install_signal_handlers();
  unsetenv("ENABLED_SERVICES");  // the servers start with no instance
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int code = 1;
  try {
    code = run();
  } catch (const std::exception& error) {
    std::cerr << name << ": " << error.what() << "\n";
  }
  curl_global_cleanup();
  return code;
}

// -- child processes -----------------------------------------------------------

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = &on_termination_signal;
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT})
    sigaction(signal_number, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

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
  remember_child(pid);
  return pid;
}

void forget_child(pid_t pid) {
  for (auto& slot : children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return "ended";
}

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

void require_executables(const WrkOptions& options, const std::string& server_binary) {
  if (!is_executable(options.wrk))
    throw std::runtime_error("cannot find wrk ('" + options.wrk +
                             "'): apt-get install -y wrk, or set WRK=/path/to/wrk");
  if (!is_executable(server_binary))
    throw std::runtime_error("cannot find the server binary " + server_binary +
                             ": build the processpype_server target");
}

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

// -- HTTP client -----------------------------------------------------------------

HttpClient::HttpClient(std::string base_url) : base_url_(std::move(base_url)) {
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

HttpClient::~HttpClient() {
  curl_easy_cleanup(curl_);
  curl_slist_free_all(headers_);
}

Reply HttpClient::get(const std::string& path) {
  curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
  return perform(path);
}

Reply HttpClient::post(const std::string& path, const std::string& body) {
  curl_easy_setopt(curl_, CURLOPT_POST, 1L);
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  return perform(path);
}

Reply HttpClient::expect_ok(Reply reply, std::string_view what) {
  if (reply.status != 200)
    throw std::runtime_error(fmt::format("{}: {} {}", what, reply.status, reply.body));
  return reply;
}

std::size_t HttpClient::write(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

Reply HttpClient::perform(const std::string& path) {
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

// -- the processpype binary ----------------------------------------------------

ServerProcess::ServerProcess(std::string binary, std::string name)
    : binary_(std::move(binary)), name_(std::move(name)) {}

ServerProcess::~ServerProcess() {
  try {
    stop();
  } catch (...) {
  }
}

void ServerProcess::start(const std::function<std::vector<std::string>()>& extra_arguments) {
  std::string last_error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    std::vector<std::string> args{
        binary_, "--host", "127.0.0.1", "--port", std::to_string(port_), "--log-level", "error"};
    if (extra_arguments) {
      auto extra = extra_arguments();
      args.insert(args.end(), extra.begin(), extra.end());
    }
    pid_ = spawn(args, -1);
    HttpClient probe{base_url()};
    auto deadline = Clock::now() + 15s;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        last_error = name_ + " " + describe_wait_status(status);
        forget_child(pid_);
        pid_ = 0;
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
  throw std::runtime_error("cannot start " + binary_ + ": " + last_error);
}

std::string ServerProcess::stop() {
  if (pid_ <= 0) return "not running";
  auto begin = Clock::now();
  kill(pid_, SIGTERM);
  int status = 0;
  while (Clock::now() - begin < 60s) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      forget_child(pid_);
      pid_ = 0;
      return fmt::format("{} {:.2f} s after SIGTERM", describe_wait_status(status),
                         std::chrono::duration<double>(Clock::now() - begin).count());
    }
    std::this_thread::sleep_for(20ms);
  }
  kill_now();
  return "did not stop within 60 s of SIGTERM: killed";
}

std::string ServerProcess::base_url() const {
  return fmt::format("http://127.0.0.1:{}", port_);
}

void ServerProcess::kill_now() {
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  forget_child(pid_);
  pid_ = 0;
}

// -- wrk -----------------------------------------------------------------------

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

Measurement run_wrk(const WrkOptions& options, const std::string& url, const std::string& script) {
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
  forget_child(pid);
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

std::string ratio(double value, double reference) {
  return reference > 0 ? fmt::format("{:.2f}x", value / reference) : "-";
}

std::string machine_load() {
  std::ifstream file{"/proc/loadavg"};
  double one_minute = -1;
  file >> one_minute;
  auto cpus = std::thread::hardware_concurrency();
  if (one_minute < 0) return fmt::format("{} CPUs", cpus);
  return fmt::format("load average {:.2f} (1 min) on {} CPUs{}", one_minute, cpus,
                     one_minute > cpus ? ": busy, expect noisy figures" : "");
}

// -- rounds ----------------------------------------------------------------------

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

Figure measure_against(const WrkOptions& options, const WrkTarget& baseline,
                       std::vector<Measurement>& baseline_runs, const WrkTarget& figure) {
  std::vector<Measurement> runs;
  std::vector<double> ratios;
  for (int round = 0; round < options.runs; ++round) {
    auto label = fmt::format("{}/{}", round + 1, options.runs);
    auto measure_baseline = [&] {
      if (baseline.prepare) baseline.prepare();
      baseline_runs.push_back(run_wrk(options, baseline.url, baseline.script));
      print_run(baseline.name, label, baseline_runs.back());
    };
    auto measure_figure = [&] {
      if (figure.prepare) figure.prepare();
      runs.push_back(run_wrk(options, figure.url, figure.script));
      print_run(figure.name, label, runs.back());
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
  return Figure{figure.name, median_run(runs), median(ratios), {}};
}

// -- wrk scripts -------------------------------------------------------------------

TemporaryDirectory::TemporaryDirectory(std::string_view prefix) {
  auto pattern =
      (std::filesystem::temp_directory_path() / (std::string{prefix} + ".XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp: " + std::string{std::strerror(errno)});
  path_ = pattern;
  remember_temporary_path(pattern);
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
  temporary_path_count.store(0);
}

std::string TemporaryDirectory::write(const std::string& name, const std::string& content) const {
  auto file = path_ / name;
  remember_temporary_path(file.string());
  std::ofstream out{file};
  out << content;
  if (!out) throw std::runtime_error("cannot write " + file.string());
  return file.string();
}

std::string echo_script() {
  return R"(wrk.method = "POST"
wrk.body = '{"message":"hi"}'
wrk.headers["Content-Type"] = "application/json"
)";
}

std::string start_stop_script(const std::string& prefix, int per_thread,
                              std::string_view services_path) {
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
  return wrk.format("POST", "{}" .. item.name .. "/" .. item.op,
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
                     prefix, per_thread, services_path);
}

}  // namespace processpype::benchmark
