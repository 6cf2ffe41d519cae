// The real `processpype` binary under systemd's notify protocol
// (docs/packaging.md): NOTIFY_SOCKET points at a datagram socket the test
// owns and WATCHDOG_USEC asks for a watchdog, as systemd does for a
// Type=notify unit with WatchdogSec=.
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "processpype/testing/checks.hpp"
#include "processpype/testing/probed_server.hpp"
#include "processpype/testing/systemd.hpp"

namespace {

using namespace processpype::testing;

/// The watchdog period the tests ask for (WATCHDOG_USEC): the node pings
/// every half of it. Longer under the sanitizers, which slow every hop.
std::chrono::milliseconds watchdog_period() {
  return std::getenv("PROCESSPYPE_TEST_SANITIZED") != nullptr ? 1200ms : 600ms;
}

/// Whether 127.0.0.1:`port` accepts a TCP connection now, at the first try
/// (on loopback a port nobody listens on refuses at once).
bool accepts_connections(int port) {
  int descriptor = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(descriptor >= 0);
  auto address = loopback_address(port);
  bool connected =
      ::connect(descriptor, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(descriptor);
  return connected;
}

/// The binary on a free port, started as systemd starts a Type=notify unit.
class NotifiedNode {
 public:
  explicit NotifiedNode(const std::string& configuration = "") {
    std::vector<std::string> args = {"--host", "127.0.0.1", "--port", std::to_string(port_)};
    if (!configuration.empty()) {
      config_file_.emplace(configuration);
      args.insert(args.end(), {"--config", config_file_->path()});
    }
    auto period = std::chrono::duration_cast<std::chrono::microseconds>(watchdog_period());
    Environment env{.set = {{"NOTIFY_SOCKET", socket_.path()},
                            {"WATCHDOG_USEC", std::to_string(period.count())}},
                    .unset = {"WATCHDOG_PID"}};
    process_ = std::make_unique<ChildProcess>(server_binary(), args, env);
  }

  int port() const { return port_; }
  NotifySocket& socket() { return socket_; }
  ChildProcess& process() { return *process_; }

  /// Waits for READY=1 (what came before it goes to `before`), and checks
  /// that the HTTP port answers at that moment, at the first try.
  NotifyMessage wait_ready(std::vector<NotifyMessage>* before = nullptr) {
    std::vector<NotifyMessage> seen;
    auto ready = socket_.receive_until([](const auto& message) { return message.has("READY=1"); },
                                       15s, &seen);
    INFO("server stderr:\n" << process_->stderr_text());
    REQUIRE(ready);
    CHECK(accepts_connections(port_));
    HttpClient probe(port_, "", 2s);
    auto response = probe.get("/health/ready");
    CHECK(response.status == 200);
    seen.pop_back();
    if (before != nullptr) *before = std::move(seen);
    return *ready;
  }

 private:
  NotifySocket socket_;
  int port_ = free_port();
  std::optional<TempFile> config_file_;
  std::unique_ptr<ChildProcess> process_;
};

std::vector<NotifyMessage> pings_of(const std::vector<NotifyMessage>& messages) {
  std::vector<NotifyMessage> pings;
  std::copy_if(messages.begin(), messages.end(), std::back_inserter(pings), is_watchdog_ping);
  return pings;
}

}  // namespace

TEST_CASE("The node tells systemd it is ready only once its HTTP port answers") {
  NotifiedNode node;
  std::vector<NotifyMessage> before;
  auto ready = node.wait_ready(&before);
  for (const auto& message : before) CHECK_FALSE(message.has("READY=1"));
  CHECK(ready.value("STATUS") == "0 instances");
}

TEST_CASE("The node pings the watchdog every half WATCHDOG_USEC") {
  NotifiedNode node;
  node.wait_ready();
  auto period = watchdog_period();
  auto interval = period / 2;
  auto window = interval * 10;
  std::vector<NotifyMessage> messages;
  auto start = Clock::now();
  node.socket().receive_until([](const auto&) { return false; }, window, &messages);
  auto pings = pings_of(messages);
  INFO(pings.size() << " pings in " << window.count() << " ms");
  // About one per interval: ten, give or take a slow start of the window.
  CHECK(pings.size() >= 8);
  CHECK(pings.size() <= 12);
  // systemd restarts a node that lets a whole period pass without a ping.
  auto previous = start;
  for (const auto& ping : pings) {
    auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(ping.received - previous);
    CHECK(gap < period);
    previous = ping.received;
  }
}

TEST_CASE("A stopped node sends no watchdog ping, and pings again once continued") {
  NotifiedNode node;
  node.wait_ready();
  REQUIRE(node.socket().receive_until(is_watchdog_ping, watchdog_period() * 2));

  node.process().signal(SIGSTOP);
  REQUIRE(wait_until([&] { return all_threads_stopped(node.process().pid()); }, 5s));
  // Whatever it sent before every thread stopped is queued by now.
  node.socket().drain();
  std::vector<NotifyMessage> while_stopped;
  node.socket().receive_until([](const auto&) { return false; }, watchdog_period() * 2,
                              &while_stopped);
  CHECK(pings_of(while_stopped).empty());

  node.process().signal(SIGCONT);
  CHECK(node.socket().receive_until(is_watchdog_ping, watchdog_period()));
  CHECK(http_ready(node.port()));
}

TEST_CASE("STATUS= tells systemd the instance counts, and follows a registration") {
  NotifiedNode node(R"(
services:
  greeter: {type: echo}
  spare: {type: counter, enabled: false}
)");
  auto ready = node.wait_ready();
  INFO(ready.describe());
  CHECK(ready.value("STATUS") == "2 instances: 1 configured, 1 running");

  HttpClient api(node.port());
  register_ok(api, "echo", "late");
  auto status = node.socket().receive_until(
      [](const auto& message) { return message.value("STATUS").has_value(); }, 5s);
  REQUIRE(status);
  CHECK(status->value("STATUS") == "3 instances: 1 initialized, 1 configured, 1 running");
}

TEST_CASE("STOPPING=1 reaches systemd at SIGTERM, while the services still stop") {
  NotifiedNode node(R"(
services:
  slow: {type: faulty, stop_delay_ms: 1500}
)");
  node.wait_ready();
  node.process().signal(SIGTERM);
  auto stopping = node.socket().receive_until(
      [](const auto& message) { return message.has("STOPPING=1"); }, 5s);
  REQUIRE(stopping);
  // STOPPING=1 came before the services stopped (the slow one takes 1.5 s),
  // and so before the exit.
  HttpClient api(node.port());
  auto state = state_of(api, "slow");
  CHECK((state == "running" || state == "stopping"));
  CHECK(node.process().alive());
  auto status = node.process().wait(15s);
  INFO("server stderr:\n" << node.process().stderr_text());
  CHECK(status.exited);
  CHECK(status.code == 0);
}
