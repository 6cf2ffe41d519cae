// ctl_benchmark: how long an operator waits for `processpype ctl status NAME`
// (docs/cli.md), from the process's start to its exit, against `curl -s`
// making the same request in the same run; and `processpype ctl completion
// bash`, which starts the same binary without a request, to show how much
// of that is the start of the process itself (loading the binary's shared
// libraries: docs/cli.md, "Performance"). The runs alternate, so a busy
// moment of the shared machine costs both sides alike.
//
//   ctl_benchmark [--runs N]      (default 50; the aim: ctl p50 <= 20 ms)

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "benchmark_support.hpp"

extern char** environ;  // NOLINT: POSIX

namespace {

using namespace processpype;
using testing::Clock;
using namespace std::chrono_literals;

constexpr double aim_p50_ms = 20;

/// One command line, and the time each of its runs took.
struct Contender {
  std::string name;
  std::vector<std::string> argv;
  std::vector<double> times_ms;
};

/// Runs `argv` with its output on /dev/null and returns the milliseconds
/// from before the spawn to after the exit; std::runtime_error unless it
/// exits 0. (posix_spawn and a blocking waitpid: nothing polls.)
double timed_run(const std::vector<std::string>& argv) {
  std::vector<char*> pointers;
  for (const auto& arg : argv) pointers.push_back(const_cast<char*>(arg.c_str()));
  pointers.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  auto start = Clock::now();
  pid_t pid = 0;
  int error = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::runtime_error(argv[0] + ": " + std::strerror(error));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  auto elapsed = testing::elapsed_ms(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(fmt::format("{} did not exit 0", fmt::join(argv, " ")));
  return elapsed;
}

/// The value below which `share` of `values` lie (nearest rank).
double percentile(std::vector<double> values, double share) {
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(share * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(rank, values.size() - 1)];
}

/// What `argv` prints (stdout), to check once that it does the real work.
std::string output_of(const std::vector<std::string>& argv) {
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  testing::ChildProcess child(argv[0], args);
  auto status = child.wait(30s);
  if (status.code != 0)
    throw std::runtime_error(
        fmt::format("{}: {}\n{}", fmt::join(argv, " "), status.describe(), child.stderr_text()));
  return child.stdout_text();
}

int parse_runs(int argc, char** argv) {
  int runs = 50;
  for (int index = 1; index < argc; ++index) {
    std::string arg = argv[index];
    if (arg == "--runs") {
      runs = benchmark::parse_number(argc, argv, index, 5, 100000);
    } else {
      throw std::invalid_argument("usage: ctl_benchmark [--runs N]  (unknown: " + arg + ")");
    }
  }
  return runs;
}

int run(int runs) {
  auto binary = testing::server_binary();
  fmt::print("ctl_benchmark: {} runs each, alternating; {}\n", runs, benchmark::machine_load());
  fmt::print("binary: {}\n", binary);
  testing::ServerProcess server(benchmark::server_options());
  auto api = server.client();
  testing::expect_ok(testing::register_service(api, "echo", "greeter"), "register greeter");
  testing::expect_ok(api.post("/services/greeter/configure_and_start"), "start greeter");
  auto url = fmt::format("http://127.0.0.1:{}", server.port());

  std::vector<Contender> contenders = {
      {"processpype ctl status greeter", {binary, "ctl", "--url", url, "status", "greeter"}, {}},
      {"processpype ctl completion bash (no request)", {binary, "ctl", "completion", "bash"}, {}},
  };
  if (auto curl = testing::find_program("curl"))
    contenders.push_back({"curl -s (the same GET)", {*curl, "-s", url + "/services/greeter"}, {}});
  else
    fmt::print("curl is not on the PATH: no baseline\n");

  // Each does the real work: ctl prints the state, curl the JSON.
  if (output_of(contenders[0].argv).find("running") == std::string::npos)
    throw std::runtime_error("ctl status greeter did not print the running state");
  if (contenders.size() > 2 &&
      output_of(contenders[2].argv).find("\"state\":\"running\"") == std::string::npos)
    throw std::runtime_error("curl did not print greeter's status");

  for (int round = 0; round < runs; ++round)
    for (auto& contender : contenders) contender.times_ms.push_back(timed_run(contender.argv));

  fmt::print("\n{:<46} {:>8} {:>8} {:>8} {:>8}\n", "end to end, process start to exit", "p50",
             "p90", "min", "max");
  for (const auto& contender : contenders)
    fmt::print("{:<46} {:>6.2f}ms {:>6.2f}ms {:>6.2f}ms {:>6.2f}ms\n", contender.name,
               percentile(contender.times_ms, 0.5), percentile(contender.times_ms, 0.9),
               percentile(contender.times_ms, 0), percentile(contender.times_ms, 1));
  auto ctl_p50 = percentile(contenders[0].times_ms, 0.5);
  if (contenders.size() > 2)
    fmt::print("ctl / curl at p50: {}\n",
               benchmark::ratio(ctl_p50, percentile(contenders[2].times_ms, 0.5)));
  fmt::print("aim: ctl status p50 <= {:.0f} ms: {} ({:.2f} ms); {}\n", aim_p50_ms,
             ctl_p50 <= aim_p50_ms ? "met" : "NOT met", ctl_p50, benchmark::machine_load());
  fmt::print("server: {}\n", benchmark::stop_server(server));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  testing::install_termination_handlers();
  try {
    return run(parse_runs(argc, argv));
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "ctl_benchmark: %s\n", error.what());
    return 1;
  }
}
