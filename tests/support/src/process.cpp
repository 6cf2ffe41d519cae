#include "processpype/testing/process.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;  // NOLINT: POSIX

namespace processpype::testing {

namespace {

// -- what the termination handlers clean up ---------------------------------------
// Fixed tables of atomics: a signal handler may only read them, kill, waitpid,
// unlink and rmdir (async-signal-safe), not std::filesystem.

/// The live children. Without a free slot a child is only killed by its
/// destructor (and by PR_SET_PDEATHSIG if the parent dies).
constexpr int max_children = 64;
std::atomic<pid_t> children[max_children];

void remember_child(pid_t pid) {
  for (auto& slot : children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void forget_child(pid_t pid) {
  for (auto& slot : children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

/// The temporary files and directories: state 0 free, 1 being written, 2 in use.
struct PathSlot {
  std::atomic<int> state{0};
  char path[512];
};
constexpr int max_paths = 128;
PathSlot temporary_paths[max_paths];

void remember_path(const std::string& path) {
  if (path.size() >= sizeof temporary_paths[0].path) return;
  for (auto& slot : temporary_paths) {
    int free = 0;
    if (!slot.state.compare_exchange_strong(free, 1)) continue;
    std::memcpy(slot.path, path.c_str(), path.size() + 1);
    slot.state.store(2);
    return;
  }
}

void forget_path(const std::string& path) {
  for (auto& slot : temporary_paths)
    if (slot.state.load() == 2 && path == slot.path) {
      slot.state.store(0);
      return;
    }
}

extern "C" void on_termination_signal(int signal_number) {
  for (auto& child : children) {
    if (pid_t pid = child.exchange(0); pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  // Files first, then the (then empty) directories.
  for (auto& slot : temporary_paths)
    if (slot.state.load() == 2) ::unlink(slot.path);
  for (auto& slot : temporary_paths)
    if (slot.state.load() == 2) ::rmdir(slot.path);
  ::_exit(128 + signal_number);
}

std::string temp_dir() {
  const char* dir = std::getenv("TMPDIR");
  return (dir != nullptr && *dir != '\0') ? dir : "/tmp";
}

/// Creates an empty temporary file and returns its path (remembered for the
/// termination handlers).
std::string make_temp_file(const std::string& tag, const std::string& suffix = "") {
  std::string pattern = temp_dir() + "/processpype-" + tag + "-XXXXXX" + suffix;
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  int fd = ::mkstemps(buffer.data(), static_cast<int>(suffix.size()));
  if (fd < 0) throw std::runtime_error(std::string("mkstemps: ") + std::strerror(errno));
  ::close(fd);
  std::string path(buffer.data());
  remember_path(path);
  return path;
}

void remove_temp_file(const std::string& path) {
  if (path.empty()) return;
  forget_path(path);
  ::unlink(path.c_str());
}

bool is_blank(const std::string& text) {
  return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

}  // namespace

namespace {

/// A port the kernel picks for a socket bound to port 0 on 127.0.0.1.
int unbound_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  auto address = loopback_address(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
  }
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("getsockname: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace

sockaddr_in loopback_address(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  return address;
}

int free_port() {
  // Once its socket is closed the kernel may pick the same port again: a
  // node's node port and HTTP port, taken one after the other, were once
  // the same (the server then failed to bind its HTTP port). A port is
  // handed out once per process.
  static std::mutex mutex;
  static std::unordered_set<int> handed_out;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int port = unbound_port();
    std::lock_guard lock{mutex};
    if (handed_out.insert(port).second) return port;
  }
  throw std::runtime_error("free_port: every port the kernel offered was handed out already");
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

double elapsed_ms(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

bool all_threads_stopped(pid_t pid) {
  std::error_code error;
  std::filesystem::directory_iterator tasks("/proc/" + std::to_string(pid) + "/task", error);
  if (error) return false;
  bool any = false;
  for (const auto& task : tasks) {
    auto stat = read_file(task.path().string() + "/stat");
    auto paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
    if (stat[paren + 2] != 'T' && stat[paren + 2] != 't') return false;
    any = true;
  }
  return any;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!is_blank(line)) lines.push_back(line);
  }
  return lines;
}

// ---------------------------------------------------------------------------
// Temporary files and directories

TempFile::TempFile(const std::string& content, const std::string& suffix)
    : path_(make_temp_file("file", suffix)) {
  std::ofstream out(path_, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path_);
}

TempFile::~TempFile() {
  remove_temp_file(path_);
}

TempDirectory::TempDirectory(std::string_view prefix) {
  auto pattern = temp_dir() + "/" + std::string(prefix) + ".XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  path_ = pattern;
  remember_path(pattern);
}

TempDirectory::~TempDirectory() {
  for (const auto& file : files_) forget_path(file);
  forget_path(path_.string());
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDirectory::write(const std::string& name, const std::string& content) {
  auto file = (path_ / name).string();
  if (std::find(files_.begin(), files_.end(), file) == files_.end()) {
    remember_path(file);
    files_.push_back(file);
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + file);
  return file;
}

std::optional<std::string> find_program(const std::string& program) {
  if (program.empty()) return std::nullopt;
  if (program.find('/') != std::string::npos) {
    if (::access(program.c_str(), X_OK) == 0) return program;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string_view directories = path != nullptr ? path : "/usr/bin:/bin";
  while (true) {
    auto colon = directories.find(':');
    auto directory = directories.substr(0, colon);
    auto candidate = std::string(directory.empty() ? "." : directory) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) return std::nullopt;
    directories.remove_prefix(colon + 1);
  }
}

// ---------------------------------------------------------------------------
// Processes

std::string ExitStatus::describe() const {
  if (timed_out()) return "did not exit in time";
  if (signaled) return "killed by signal " + std::to_string(code - 128);
  return "exit code " + std::to_string(code);
}

std::vector<std::string> environment_strings(const Environment& env) {
  auto overridden = [&](const std::string& name) {
    if (name == "ENABLED_SERVICES") return true;
    for (const auto& unset : env.unset)
      if (unset == name) return true;
    for (const auto& [key, value] : env.set)
      if (key == name) return true;
    return false;
  };
  std::vector<std::string> strings;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string variable(*entry);
    auto equals = variable.find('=');
    if (equals != std::string::npos && overridden(variable.substr(0, equals))) continue;
    strings.push_back(std::move(variable));
  }
  for (const auto& [key, value] : env.set) strings.push_back(key + "=" + value);
  return strings;
}

ChildProcess::ChildProcess(const std::string& program, const std::vector<std::string>& args,
                           const Environment& env, Output output) {
  if (output == Output::capture) {
    stdout_path_ = make_temp_file("stdout");
    stderr_path_ = make_temp_file("stderr");
  }
  // Everything the child needs is prepared here: between fork and execve the
  // child only makes async-signal-safe calls (the parent has threads).
  std::string executable = find_program(program).value_or(program);
  std::vector<std::string> argv_strings;
  argv_strings.push_back(program);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  auto env_strings = environment_strings(env);
  std::vector<char*> envp;
  for (auto& variable : env_strings) envp.push_back(variable.data());
  envp.push_back(nullptr);

  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_fd = output == Output::capture
                   ? ::open(stdout_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC)
                   : ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  int err_fd = output == Output::capture
                   ? ::open(stderr_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC)
                   : ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  auto close_all = [&] {
    for (int fd : {null_fd, out_fd, err_fd})
      if (fd >= 0) ::close(fd);
  };
  if (null_fd < 0 || out_fd < 0 || err_fd < 0) {
    close_all();
    remove_temp_file(stdout_path_);
    remove_temp_file(stderr_path_);
    throw std::runtime_error("cannot open the child's stdio files");
  }

  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    int error = errno;
    close_all();
    remove_temp_file(stdout_path_);
    remove_temp_file(stderr_path_);
    throw std::runtime_error(std::string("fork: ") + std::strerror(error));
  }
  if (pid_ == 0) {
    // Dies with the parent, whatever happens to it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    // No other descriptor of the parent (sockets, pipes) reaches the child.
    if (::close_range(3, ~0U, 0) != 0)
      for (int fd = 3; fd < 4096; ++fd) ::close(fd);
    // Ignored signals and the signal mask survive execve: give the child
    // the defaults a shell would.
    sigset_t all;
    ::sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    ::sigemptyset(&action.sa_mask);
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE})
      ::sigaction(signal_number, &action, nullptr);
    ::execve(executable.c_str(), argv.data(), envp.data());
    static constexpr char failed[] = "exec failed: ";
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, failed, sizeof failed - 1);
    ignored = ::write(STDERR_FILENO, argv[0], std::strlen(argv[0]));
    ignored = ::write(STDERR_FILENO, "\n", 1);
    ::_exit(127);
  }
  remember_child(pid_);
  close_all();
}

ChildProcess::~ChildProcess() {
  kill();
  remove_temp_file(stdout_path_);
  remove_temp_file(stderr_path_);
}

bool ChildProcess::reap(int options) {
  if (status_) return true;
  if (pid_ <= 0) return true;
  int raw = 0;
  pid_t result;
  do {
    result = ::waitpid(pid_, &raw, options);
  } while (result < 0 && errno == EINTR);
  if (result == pid_) {
    ExitStatus status;
    if (WIFEXITED(raw)) {
      status.exited = true;
      status.code = WEXITSTATUS(raw);
    } else if (WIFSIGNALED(raw)) {
      status.signaled = true;
      status.code = 128 + WTERMSIG(raw);
    } else {
      return false;  // stopped/continued: still alive
    }
    status_ = status;
    forget_child(pid_);
    return true;
  }
  if (result < 0) {  // ECHILD: nothing left to wait for
    status_ = ExitStatus{};
    status_->code = 255;
    forget_child(pid_);
    return true;
  }
  return false;
}

bool ChildProcess::alive() {
  return !reap(WNOHANG);
}

void ChildProcess::signal(int signal) {
  if (alive()) ::kill(pid_, signal);
}

ExitStatus ChildProcess::wait(std::chrono::milliseconds timeout) {
  wait_until([&] { return reap(WNOHANG); }, timeout, 10ms);
  return status_ ? *status_ : ExitStatus{};
}

ExitStatus ChildProcess::stop(int signal_number, std::chrono::milliseconds timeout) {
  signal(signal_number);
  auto status = wait(timeout);
  if (status.timed_out()) kill();
  return status;
}

void ChildProcess::kill() {
  if (!alive()) return;
  ::kill(pid_, SIGKILL);
  reap(0);
}

void install_termination_handlers() {
  struct sigaction action {};
  action.sa_handler = on_termination_signal;
  ::sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT})
    ::sigaction(signal_number, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

}  // namespace processpype::testing
