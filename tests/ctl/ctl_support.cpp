#include "ctl_support.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include "processpype/testing/systemd.hpp"

namespace processpype::testing::ctl {

namespace {

/// Variables of the caller's environment that would change what ctl does.
const std::vector<std::string> ctl_variables = {"PROCESSPYPE_URL",
                                                "PROCESSPYPE_TOKEN",
                                                "PROCESSPYPE_CA_FILE",
                                                "NO_COLOR",
                                                "http_proxy",
                                                "https_proxy",
                                                "HTTP_PROXY",
                                                "HTTPS_PROXY",
                                                "all_proxy",
                                                "ALL_PROXY",
                                                "TERM"};

std::vector<std::string> with_ctl(const std::vector<std::string>& args) {
  std::vector<std::string> full{"ctl"};
  full.insert(full.end(), args.begin(), args.end());
  return full;
}

}  // namespace

std::string url_of(int port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

Environment ctl_environment(const std::string& url, const Environment& extra) {
  Environment env;
  env.unset = ctl_variables;
  if (!url.empty()) env.set.emplace_back("PROCESSPYPE_URL", url);
  env.set.insert(env.set.end(), extra.set.begin(), extra.set.end());
  env.unset.insert(env.unset.end(), extra.unset.begin(), extra.unset.end());
  return env;
}

std::string CtlRun::describe() const {
  return status.describe() + "\n--- stdout:\n" + out + "--- stderr:\n" + err;
}

CtlRun run_ctl(const std::string& url, const std::vector<std::string>& args,
               const Environment& extra, std::chrono::milliseconds timeout) {
  auto result = run_to_completion(with_ctl(args), ctl_environment(url, extra), timeout);
  return {result.status, result.out, result.err};
}

CtlRun run_in_shell(const std::string& url, const std::string& shell_command,
                    std::chrono::milliseconds timeout) {
  Environment extra;
  extra.set.emplace_back("CTL", server_binary() + " ctl");
  auto result = run_command("/bin/sh", {"-c", shell_command}, ctl_environment(url, extra), timeout);
  return {result.status, result.out, result.err};
}

CtlRun run_ctl_on_terminal(const std::string& url, const std::vector<std::string>& args,
                           const Environment& extra, std::chrono::milliseconds timeout) {
  // Everything the child needs is prepared before the fork.
  auto binary = server_binary();
  std::vector<std::string> argv_strings{binary};
  for (const auto& arg : with_ctl(args)) argv_strings.push_back(arg);
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  auto env_strings = environment_strings(ctl_environment(url, extra));
  std::vector<char*> envp;
  for (auto& variable : env_strings) envp.push_back(variable.data());
  envp.push_back(nullptr);

  int terminal = -1;
  pid_t pid = ::forkpty(&terminal, nullptr, nullptr, nullptr);
  if (pid < 0) throw std::runtime_error(std::string("forkpty: ") + std::strerror(errno));
  if (pid == 0) {
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  CtlRun run;
  auto deadline = Clock::now() + timeout;
  char buffer[4096];
  while (Clock::now() < deadline) {
    pollfd readable{terminal, POLLIN, 0};
    if (::poll(&readable, 1, 50) <= 0) continue;
    auto count = ::read(terminal, buffer, sizeof buffer);
    if (count <= 0) break;  // EIO: the child closed the terminal
    run.out.append(buffer, static_cast<std::size_t>(count));
  }
  ::close(terminal);
  int raw = 0;
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  bool ended = wait_until([&] { return ::waitpid(pid, &raw, WNOHANG) == pid; },
                          std::max(remaining, std::chrono::milliseconds(1000)), 10ms);
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &raw, 0);
    return run;  // timed out: status stays "did not exit"
  }
  run.status.exited = WIFEXITED(raw);
  run.status.code = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return run;
}

RunningCtl::RunningCtl(const std::string& url, const std::vector<std::string>& args,
                       const Environment& extra)
    : process_(std::make_unique<ChildProcess>(server_binary(), with_ctl(args),
                                              ctl_environment(url, extra))) {}

bool RunningCtl::wait_for_line(const std::function<bool(const std::string&)>& matches,
                               std::chrono::milliseconds timeout) {
  return wait_until([&] { return count_lines(matches) > 0; }, timeout);
}

std::size_t RunningCtl::count_lines(const std::function<bool(const std::string&)>& matches) const {
  auto all = lines();
  return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), matches));
}

bool has_words(const std::string& line, const std::vector<std::string>& words) {
  return std::all_of(words.begin(), words.end(),
                     [&](const std::string& word) { return line.find(word) != std::string::npos; });
}

}  // namespace processpype::testing::ctl
