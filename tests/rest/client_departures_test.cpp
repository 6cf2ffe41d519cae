// ClientDepartures over Unix socket pairs: the far end stands for a client.
#include "client_departures.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include <catch2/catch.hpp>

using processpype::rest::ClientDepartures;
using processpype::rest::OwnedDescriptor;
using namespace std::chrono_literals;

namespace {

/// A connected pair; `server` is watched, `client` leaves.
struct Connection {
  Connection() {
    int ends[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
    server = ends[0];
    client = ends[1];
  }
  ~Connection() {
    if (server >= 0) ::close(server);
    if (client >= 0) ::close(client);
  }
  OwnedDescriptor watched() const { return OwnedDescriptor::duplicate(server); }
  void client_leaves() { ::close(std::exchange(client, -1)); }
  void server_closes() { ::close(std::exchange(server, -1)); }

  /// Whether the client sees the end of the connection within `timeout`.
  bool client_sees_end(std::chrono::milliseconds timeout) const {
    pollfd ready{client, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(timeout.count())) != 1) return false;
    char byte = 0;
    return ::read(client, &byte, 1) == 0;
  }

  int server = -1;
  int client = -1;
};

}  // namespace

TEST_CASE("a watched client that closes its end is reported once", "[departures]") {
  ClientDepartures departures;
  Connection connection;
  std::promise<void> left;
  int reports = 0;
  auto watch = departures.watch(connection.watched(), [&] {
    if (++reports == 1) left.set_value();
  });
  REQUIRE(watch != nullptr);
  connection.client_leaves();
  REQUIRE(left.get_future().wait_for(5s) == std::future_status::ready);
  std::this_thread::sleep_for(50ms);
  CHECK(reports == 1);
}

TEST_CASE("bytes from the client are no departure, and stay to be read", "[departures]") {
  ClientDepartures departures;
  Connection connection;
  std::promise<void> left;
  auto watch = departures.watch(connection.watched(), [&] { left.set_value(); });
  REQUIRE(::write(connection.client, "GET", 3) == 3);
  auto reported = left.get_future();
  CHECK(reported.wait_for(200ms) == std::future_status::timeout);
  char bytes[8] = {};
  CHECK(::read(connection.server, bytes, sizeof bytes) == 3);
  connection.client_leaves();
  CHECK(reported.wait_for(5s) == std::future_status::ready);
}

TEST_CASE("a watch ended before the client leaves reports nothing and keeps no socket open",
          "[departures]") {
  ClientDepartures departures;
  Connection connection;
  bool reported = false;
  auto watch = departures.watch(connection.watched(), [&] { reported = true; });
  REQUIRE(watch != nullptr);
  watch.reset();
  // The server's own descriptor closes: with the watch's duplicate still
  // open, the client would never see the end of the connection.
  connection.server_closes();
  CHECK(connection.client_sees_end(5s));
  CHECK_FALSE(reported);
}

TEST_CASE("the server may close its descriptor while the watch goes on", "[departures]") {
  ClientDepartures departures;
  Connection connection;
  std::promise<void> left;
  auto watch = departures.watch(connection.watched(), [&] { left.set_value(); });
  connection.server_closes();
  connection.client_leaves();
  CHECK(left.get_future().wait_for(5s) == std::future_status::ready);
}

TEST_CASE("a callback may end its own watch, as a stream that closes does", "[departures]") {
  ClientDepartures departures;
  Connection connection;
  std::promise<void> done;
  std::unique_ptr<ClientDepartures::Watch> watch;
  std::mutex guard;
  {
    std::lock_guard lock{guard};
    watch = departures.watch(connection.watched(), [&] {
      std::unique_ptr<ClientDepartures::Watch> ended;
      {
        std::lock_guard lock{guard};
        ended = std::move(watch);
      }
      ended.reset();
      done.set_value();
    });
  }
  connection.client_leaves();
  REQUIRE(done.get_future().wait_for(5s) == std::future_status::ready);
  // The watcher goes on serving others.
  Connection other;
  std::promise<void> left;
  auto next = departures.watch(other.watched(), [&] { left.set_value(); });
  other.client_leaves();
  CHECK(left.get_future().wait_for(5s) == std::future_status::ready);
}

TEST_CASE("after stop nothing is reported, and a watch may outlive its watcher", "[departures]") {
  Connection connection;
  bool reported = false;
  std::unique_ptr<ClientDepartures::Watch> watch;
  {
    ClientDepartures departures;
    watch = departures.watch(connection.watched(), [&] { reported = true; });
    REQUIRE(watch != nullptr);
    departures.stop();
    CHECK(departures.watch(connection.watched(), [] {}) == nullptr);
    connection.client_leaves();
  }
  // The thread has ended: the departure above was never reported, and the
  // watch still closes its duplicate.
  CHECK_FALSE(reported);
  watch.reset();
}

TEST_CASE("no descriptor, no watch", "[departures]") {
  ClientDepartures departures;
  CHECK(departures.watch(OwnedDescriptor{}, [] {}) == nullptr);
  CHECK_FALSE(OwnedDescriptor::duplicate(-1));
}

TEST_CASE("a lingering socket drops what its client still sends, then closes", "[departures]") {
  ClientDepartures departures;
  Connection connection;
  departures.linger(connection.watched(), 10s);
  connection.server_closes();
  // More than a socket pair buffers: it gets through only if read.
  const std::string rest(4 * 1024 * 1024, 'x');
  std::size_t sent = 0;
  while (sent < rest.size()) {
    auto wrote = ::send(connection.client, rest.data() + sent, rest.size() - sent, MSG_NOSIGNAL);
    REQUIRE(wrote > 0);
    sent += static_cast<std::size_t>(wrote);
  }
  ::shutdown(connection.client, SHUT_WR);
  CHECK(connection.client_sees_end(5s));
}

TEST_CASE("a lingering socket whose client sends nothing closes at its deadline", "[departures]") {
  ClientDepartures departures;
  Connection connection;
  departures.linger(connection.watched(), 100ms);
  connection.server_closes();
  CHECK_FALSE(connection.client_sees_end(20ms));
  CHECK(connection.client_sees_end(5s));
}

TEST_CASE("a closed connection lingers only while its client may still send", "[departures]") {
  ClientDepartures departures;
  Connection open;
  departures.linger(open.watched(), 10s);
  CHECK(departures.lingering() == 1);

  Connection gone;  // the usual end of a keep-alive connection: nothing to wait for
  gone.client_leaves();
  departures.linger(gone.watched(), 10s);
  CHECK(departures.lingering() == 1);
}
