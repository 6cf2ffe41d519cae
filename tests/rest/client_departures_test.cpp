// ClientDepartures over Unix socket pairs: the far end stands for a client.
#include "client_departures.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include <catch2/catch.hpp>

using processpype::rest::ClientDepartures;
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
  void client_leaves() { ::close(std::exchange(client, -1)); }

  int server = -1;
  int client = -1;
};

}  // namespace

TEST_CASE("a watched client that closes its end is reported once", "[departures]") {
  ClientDepartures departures;
  Connection connection;
  std::promise<void> left;
  int reports = 0;
  auto watch = departures.watch(connection.server, [&] {
    if (++reports == 1) left.set_value();
  });
  REQUIRE(watch != nullptr);
  connection.client_leaves();
  REQUIRE(left.get_future().wait_for(5s) == std::future_status::ready);
  // Level-triggered, the hang-up would be reported again and again.
  std::this_thread::sleep_for(50ms);
  CHECK(reports == 1);
}

TEST_CASE("bytes from the client are no departure, and stay to be read", "[departures]") {
  ClientDepartures departures;
  Connection connection;
  std::promise<void> left;
  auto watch = departures.watch(connection.server, [&] { left.set_value(); });
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
  auto watch = departures.watch(connection.server, [&] { reported = true; });
  REQUIRE(watch != nullptr);
  watch.reset();
  // The server's own descriptor closes: with the watch's duplicate still
  // open, the client would never see the end of the connection.
  ::close(std::exchange(connection.server, -1));
  char byte = 0;
  CHECK(::read(connection.client, &byte, 1) == 0);
  CHECK_FALSE(reported);
}

TEST_CASE("the server may close its descriptor while the watch goes on", "[departures]") {
  ClientDepartures departures;
  Connection connection;
  std::promise<void> left;
  auto watch = departures.watch(connection.server, [&] { left.set_value(); });
  ::close(std::exchange(connection.server, -1));
  connection.client_leaves();
  CHECK(left.get_future().wait_for(5s) == std::future_status::ready);
}

TEST_CASE("a descriptor that is no socket is not watched", "[departures]") {
  ClientDepartures departures;
  CHECK(departures.watch(-1, [] {}) == nullptr);
}
