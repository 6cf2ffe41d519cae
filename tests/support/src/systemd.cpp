#include "processpype/testing/systemd.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace processpype::testing {

namespace {

namespace fs = std::filesystem;

/// Where the host keeps the units a package ships (Debian bookworm: /lib).
const fs::path host_unit_directory = "/lib/systemd/system";
const std::string unit_directory_inside = "/lib/systemd/system";

std::optional<std::string> systemd_analyze() {
  return find_program("systemd-analyze");
}

UnitAnalysis analyze(const std::string& program, const std::vector<std::string>& args) {
  auto result = run_command(program, args, {}, 60s);
  UnitAnalysis analysis;
  analysis.ran = true;
  analysis.code = result.status.code;
  analysis.output = result.out + result.err;
  return analysis;
}

/// Whether systemd-analyze can verify a unit in `root` at all: a minimal
/// unit that is valid wherever the tool works.
UnitAnalysis check_tool(const UnitRoot& root) {
  auto program = systemd_analyze();
  if (!program) return {.ran = false, .output = "systemd-analyze is not installed"};
  auto probe = root.path() / "etc/systemd/system/processpype-analyze-probe.service";
  fs::create_directories(probe.parent_path());
  {
    std::ofstream file{probe};
    file << "[Unit]\nDescription=Whether systemd-analyze works here\n\n"
            "[Service]\nExecStart=/bin/kill -0 1\n";
  }
  auto analysis =
      analyze(*program, {"verify", "--man=no", "--root=" + root.path().string(), probe.string()});
  fs::remove(probe);
  if (analysis.code == 0 && analysis.output.empty()) return analysis;
  return {.ran = false,
          .output = "systemd-analyze cannot verify units here (a minimal unit fails): " +
                    analysis.output};
}

}  // namespace

// -- NotifyMessage --------------------------------------------------------------------

bool NotifyMessage::has(std::string_view assignment) const {
  return std::find(assignments.begin(), assignments.end(), assignment) != assignments.end();
}

std::optional<std::string> NotifyMessage::value(std::string_view variable) const {
  for (const auto& assignment : assignments)
    if (assignment.size() > variable.size() &&
        assignment.compare(0, variable.size(), variable) == 0 && assignment[variable.size()] == '=')
      return assignment.substr(variable.size() + 1);
  return std::nullopt;
}

std::string NotifyMessage::describe() const {
  std::string text;
  for (const auto& assignment : assignments) text += (text.empty() ? "" : " | ") + assignment;
  return text;
}

bool is_watchdog_ping(const NotifyMessage& message) {
  return message.has("WATCHDOG=1");
}

// -- NotifySocket ---------------------------------------------------------------------

NotifySocket::NotifySocket() : path_((directory_.path() / "notify.sock").string()) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path_.size() >= sizeof address.sun_path)
    throw std::runtime_error("notify socket path too long: " + path_);
  std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
  descriptor_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (descriptor_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (::bind(descriptor_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    auto error = errno;
    ::close(descriptor_);
    throw std::runtime_error("bind " + path_ + ": " + std::strerror(error));
  }
}

NotifySocket::~NotifySocket() {
  ::close(descriptor_);
  ::unlink(path_.c_str());
}

std::optional<NotifyMessage> NotifySocket::receive(std::chrono::milliseconds timeout) {
  pollfd ready{.fd = descriptor_, .events = POLLIN, .revents = 0};
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    int polled = ::poll(&ready, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (polled < 0 && errno == EINTR) continue;
    if (polled <= 0) return std::nullopt;
    break;
  }
  char buffer[4096];
  auto received = ::recv(descriptor_, buffer, sizeof buffer, MSG_DONTWAIT);
  if (received < 0) return std::nullopt;
  NotifyMessage message;
  message.received = Clock::now();
  message.assignments = lines_of(std::string(buffer, static_cast<std::size_t>(received)));
  return message;
}

std::optional<NotifyMessage> NotifySocket::receive_until(
    const std::function<bool(const NotifyMessage&)>& wanted, std::chrono::milliseconds timeout,
    std::vector<NotifyMessage>* seen) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto message = receive(left);
    if (!message) return std::nullopt;
    if (seen != nullptr) seen->push_back(*message);
    if (wanted(*message)) return message;
  }
  return std::nullopt;
}

std::vector<NotifyMessage> NotifySocket::drain() {
  std::vector<NotifyMessage> messages;
  while (auto message = receive(0ms)) messages.push_back(std::move(*message));
  return messages;
}

// -- commands and units ---------------------------------------------------------------

RunResult run_command(const std::string& program, const std::vector<std::string>& args,
                      const Environment& env, std::chrono::milliseconds timeout) {
  ChildProcess child(program, args, env);
  RunResult result;
  result.status = child.wait(timeout);
  if (result.status.timed_out()) child.kill();
  result.out = child.stdout_text();
  result.err = child.stderr_text();
  return result;
}

UnitRoot::UnitRoot() : owned_(std::in_place, "processpype-unit-root"), path_(owned_->path()) {
  add_host_units();
}

UnitRoot::UnitRoot(fs::path existing) : path_(std::move(existing)) {
  add_host_units();
}

void UnitRoot::add(const fs::path& source, const std::string& inside) {
  auto target = path_ / fs::path(inside).relative_path();
  fs::create_directories(target.parent_path());
  fs::copy_file(source, target, fs::copy_options::overwrite_existing);
}

void UnitRoot::add_host_units() {
  auto units = path_ / fs::path(unit_directory_inside).relative_path();
  fs::create_directories(units);
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(host_unit_directory, error)) {
    if (entry.path().extension() != ".target" || fs::exists(units / entry.path().filename()))
      continue;
    if (entry.is_symlink())
      fs::copy_symlink(entry.path(), units / entry.path().filename());
    else if (entry.is_regular_file())
      fs::copy_file(entry.path(), units / entry.path().filename());
  }
  if (!fs::exists(path_ / "bin/kill") && fs::exists("/bin/kill")) add("/bin/kill", "/bin/kill");
}

UnitAnalysis verify_unit(const UnitRoot& root, const std::string& inside) {
  auto tool = check_tool(root);
  if (!tool.ran) return tool;
  auto unit = root.path() / fs::path(inside).relative_path();
  return analyze(*systemd_analyze(),
                 {"verify", "--man=no", "--root=" + root.path().string(), unit.string()});
}

UnitAnalysis unit_security(const UnitRoot& root, const std::string& inside) {
  auto tool = check_tool(root);
  if (!tool.ran) return tool;
  return analyze(*systemd_analyze(),
                 {"security", "--offline=yes", "--no-pager", "--root=" + root.path().string(),
                  fs::path(inside).filename().string()});
}

}  // namespace processpype::testing
