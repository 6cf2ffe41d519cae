// The etcd store client (docs/cluster.md) where time matters: leases that
// expire, calls bounded by their timeout, watches that stop promptly and
// find a silent stream. SERIAL: each bounds a duration.

#include <catch2/catch.hpp>

#include "etcd_test_support.hpp"

using namespace processpype::etcd;
using namespace processpype::etcd::test;
using processpype::testing::Clock;
using processpype::testing::elapsed_ms;
using processpype::testing::EtcdClusterOptions;
using processpype::testing::free_port;

namespace {

/// What a call may take beyond its timeout (scheduling on a busy machine).
constexpr double timeout_margin_ms = 300;

/// Options for `cluster` with `silent` as the first endpoint, calls bounded by 500 ms.
ClientOptions silent_first(const EtcdCluster& cluster, const SilentListener& silent) {
  auto options = options_for(cluster);
  options.endpoints.insert(options.endpoints.begin(), silent.endpoint());
  options.request_timeout = 500ms;
  return options;
}

}  // namespace

TEST_CASE("A lease kept alive keeps its key, and left alone it expires and takes the key along",
          "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  auto lease = client.grant(2);
  CHECK(lease.id != 0);
  CHECK(lease.ttl == 2);
  client.put("/node/a", "here", lease.id);
  CHECK(client.range("/node/a").kvs.at(0).lease == lease.id);

  // Renewed for twice its TTL: still there.
  auto renewed_until = Clock::now() + 4s;
  while (Clock::now() < renewed_until) {
    REQUIRE(client.keep_alive(lease.id) == 2);
    std::this_thread::sleep_for(500ms);  // the renewal period under test, not a wait for a race
  }
  CHECK(client.range("/node/a").kvs.size() == 1);
  auto left = client.time_to_live(lease.id);
  REQUIRE(left.has_value());
  CHECK(*left <= 2);

  // Left alone: gone within its TTL (plus etcd's expiry check).
  auto last_renewal = Clock::now();
  REQUIRE(client.keep_alive(lease.id).has_value());
  REQUIRE(wait_until([&] { return client.range("/node/a").kvs.empty(); }, 6s));
  CHECK(elapsed_ms(last_renewal) >= 1500);
  // The gateway answers a keep-alive of an expired lease without a TTL.
  CHECK(client.keep_alive(lease.id) == std::nullopt);
  CHECK(client.time_to_live(lease.id) == std::nullopt);
  CHECK_FALSE(client.revoke(lease.id));
  // A put under it is refused.
  auto error = [&] {
    try {
      client.put("/node/a", "again", lease.id);
    } catch (const StoreError& caught) {
      return caught.kind();
    }
    return StoreError::Kind::malformed;
  }();
  CHECK(error == StoreError::Kind::rejected);
}

TEST_CASE("Revoking a lease deletes its keys at once", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  auto lease = client.grant(30);
  client.put("/owned/1", "x", lease.id);
  client.put("/owned/2", "y", lease.id);
  client.put("/kept", "z");
  CHECK(client.revoke(lease.id));
  CHECK(client.range_prefix("/owned/").kvs.empty());
  CHECK(client.range("/kept").kvs.size() == 1);
  CHECK(client.keep_alive(lease.id) == std::nullopt);
  CHECK_FALSE(client.revoke(lease.id));
}

TEST_CASE("A watch sees a lease's expiry as erases of all its keys in one revision", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  WatchRecorder recorder;
  auto watch = client.watch({.key = "/members/", .prefix = true}, recorder.callbacks());
  REQUIRE(recorder.wait_for_state(true, 10s));
  auto lease = client.grant(2);
  auto first = client.put("/members/a", "1", lease.id);
  auto second = client.put("/members/b", "2", lease.id);
  REQUIRE(recorder.wait_for_events(4, 8s));
  auto deliveries = recorder.deliveries();
  REQUIRE(deliveries.size() == 3);
  CHECK(deliveries[0].revision == first);
  CHECK(deliveries[0].events.at(0).kv.lease == lease.id);
  CHECK(deliveries[1].revision == second);
  REQUIRE(deliveries[2].events.size() == 2);
  CHECK(deliveries[2].revision == second + 1);
  for (const auto& event : deliveries[2].events) {
    CHECK(event.type == WatchEvent::Type::erase);
    CHECK(event.kv.mod_revision == second + 1);
  }
  CHECK(deliveries[2].events[0].kv.key == "/members/a");
  CHECK(deliveries[2].events[1].kv.key == "/members/b");
}

TEST_CASE("An endpoint that accepts and never answers fails a call within its timeout", "[etcd]") {
  SilentListener silent;
  ClientOptions options;
  options.endpoints = {silent.endpoint()};
  options.request_timeout = 500ms;
  Client client(options);

  auto started = Clock::now();
  try {
    client.put("/k", "v");
    FAIL("a put to a silent endpoint returned");
  } catch (const StoreError& error) {
    CHECK(error.kind() == StoreError::Kind::unreachable);
    // Sent and unanswered: whether it was applied is unknown.
    CHECK(error.outcome_unknown());
    CHECK_THAT(error.what(),
               Catch::Contains(silent.endpoint()) && Catch::Contains("may have been applied"));
  }
  CHECK(elapsed_ms(started) >= 450);
  CHECK(elapsed_ms(started) < 500 + timeout_margin_ms);

  started = Clock::now();
  CHECK_THROWS_AS(client.range("/k"), StoreError);
  CHECK(elapsed_ms(started) < 500 + timeout_margin_ms);
}

TEST_CASE("A silent endpoint costs one call its timeout, and later calls go elsewhere", "[etcd]") {
  EtcdCluster cluster;
  SilentListener silent;
  Client client(silent_first(cluster, silent));
  SECTION("a write") {
    // Sent and unanswered: not sent again elsewhere, it may have been applied.
    CHECK_THROWS_AS(client.put("/k", "v"), StoreError);
    auto started = Clock::now();
    CHECK_NOTHROW(client.put("/k", "v"));
    CHECK(elapsed_ms(started) < timeout_margin_ms);
  }
  SECTION("a read") {
    // A read moves on within its timeout, if time is left: here none is.
    CHECK_THROWS_AS(client.range("/k"), StoreError);
    INFO("in use: " << client.current_endpoint() << ", silent: " << silent.endpoint());
    CHECK(client.range("/k").kvs.empty());
  }
  CHECK(client.current_endpoint() == cluster.member(0).endpoint());
}

TEST_CASE("A store that refuses connections fails every call at once", "[etcd]") {
  ClientOptions options;
  options.endpoints = {"http://127.0.0.1:" + std::to_string(free_port())};
  Client client(options);
  auto started = Clock::now();
  for (int round = 0; round < 10; ++round) CHECK_THROWS_AS(client.grant(5), StoreError);
  CHECK(elapsed_ms(started) < 10 * 100);
}

TEST_CASE("A watch moves on from an endpoint that accepts and never answers", "[etcd]") {
  EtcdCluster cluster;
  SilentListener silent;
  Client client(silent_first(cluster, silent));
  WatchRecorder recorder;
  auto started = Clock::now();
  auto watch = client.watch({.key = "/k", .min_backoff = 50ms}, recorder.callbacks());
  REQUIRE(recorder.wait_for_state(true, 10s));
  CHECK(elapsed_ms(started) < 500 + 50 + 1000 + timeout_margin_ms);
  CHECK(recorder.states() == std::vector<bool>{false, true});
  auto revision = client.put("/k", "v");
  REQUIRE(recorder.wait_for_events(1, 10s));
  CHECK(recorder.revisions() == std::vector<std::int64_t>{revision});
}

TEST_CASE("Destroying a watch stops it at once, idle or waiting to reconnect", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  WatchRecorder recorder;
  SECTION("connected and idle") {
    auto watch = std::make_unique<Watch>(client.watch({.key = "/idle"}, recorder.callbacks()));
    REQUIRE(recorder.wait_for_state(true, 10s));
    std::this_thread::sleep_for(200ms);  // idle: curl waits on the socket
    auto started = Clock::now();
    watch.reset();
    CHECK(elapsed_ms(started) < 100);
  }
  SECTION("waiting to reconnect") {
    auto watch = std::make_unique<Watch>(client.watch(
        {.key = "/idle", .min_backoff = 10s, .max_backoff = 10s}, recorder.callbacks()));
    REQUIRE(recorder.wait_for_state(true, 10s));
    cluster.member(0).kill();
    REQUIRE(recorder.wait_for_state(false, 10s));
    auto started = Clock::now();
    watch.reset();
    CHECK(elapsed_ms(started) < 100);
  }
  SECTION("connecting to an endpoint that never answers") {
    SilentListener silent;
    ClientOptions options;
    options.endpoints = {silent.endpoint()};
    options.request_timeout = 10s;
    Client silent_client(options);
    auto watch =
        std::make_unique<Watch>(silent_client.watch({.key = "/idle"}, recorder.callbacks()));
    REQUIRE(wait_until([&] { return silent_client.requests_sent() == 1; }, 5s));
    std::this_thread::sleep_for(100ms);  // the request is out, waiting for an answer
    auto started = Clock::now();
    watch.reset();
    CHECK(elapsed_ms(started) < 100);
  }
}

TEST_CASE("A frozen etcd is found out by the watch's silence timeout", "[etcd]") {
  EtcdCluster cluster(
      EtcdClusterOptions{.extra_args = {"--experimental-watch-progress-notify-interval", "300ms"}});
  Client client(options_for(cluster));
  WatchRecorder recorder;
  auto watch =
      client.watch({.key = "/f", .min_backoff = 50ms, .silence_timeout = 1s}, recorder.callbacks());
  REQUIRE(recorder.wait_for_state(true, 10s));
  // Progress notifications keep a quiet stream alive.
  std::this_thread::sleep_for(1500ms);
  CHECK(recorder.states() == std::vector<bool>{true});
  auto revision = client.put("/f", "1");

  cluster.member(0).freeze();
  auto frozen = Clock::now();
  REQUIRE(recorder.wait_for_state(false, 5s));
  CHECK(elapsed_ms(frozen) < 1000 + 300 + timeout_margin_ms);
  cluster.member(0).thaw();
  REQUIRE(recorder.wait_for_state(true, 10s));
  auto after = client.put("/f", "2");
  REQUIRE(recorder.wait_for_events(2, 10s));
  CHECK(recorder.revisions() == std::vector<std::int64_t>{revision, after});
}
