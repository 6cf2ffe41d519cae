// The coordination's pure parts (docs/cluster.md): rendezvous placement,
// lease timing, the keys and the JSON of what they hold, the boot clock.

#include <catch2/catch.hpp>

#include <map>
#include <thread>

#include "processpype/cluster/boot_clock.hpp"
#include "processpype/cluster/keys.hpp"
#include "processpype/cluster/lease_timing.hpp"
#include "processpype/cluster/records.hpp"
#include "processpype/cluster/rendezvous.hpp"
#include "processpype/etcd/failure_log_limiter.hpp"

using namespace processpype::cluster;
using namespace std::chrono_literals;

namespace {

std::map<std::string, int> spread(int instances, const std::vector<std::string>& nodes) {
  std::map<std::string, int> counts;
  for (const auto& node : nodes) counts[node] = 0;
  for (int index = 0; index < instances; ++index)
    ++counts[*preferred_node("instance-" + std::to_string(index), nodes)];
  return counts;
}

/// Places `instances` on `nodes` and checks that each gets `least` to `most`.
void check_spread(int instances, const std::vector<std::string>& nodes, int least, int most) {
  for (const auto& [node, count] : spread(instances, nodes)) {
    INFO(node << ": " << count << " of " << instances);
    CHECK(count >= least);
    CHECK(count <= most);
  }
}

double ms(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

}  // namespace

TEST_CASE("Rendezvous hashing spreads 30 instances over 3 nodes with 3 to 17 on each",
          "[cluster][placement]") {
  for (const auto& nodes :
       std::vector<std::vector<std::string>>{{"a", "b", "c"},
                                             {"node-1", "node-2", "node-3"},
                                             {"10.0.0.1:4000", "10.0.0.2:4000", "10.0.0.3:4000"}}) {
    check_spread(30, nodes, 3, 17);
  }
}

TEST_CASE("Rendezvous hashing spreads 10,000 instances over 3 nodes within 10 % of a third each",
          "[cluster][placement]") {
  check_spread(10'000, {"node-a", "node-b", "node-c"}, 3000, 3667);
}

TEST_CASE("Removing a node moves only its instances, and adding one takes only what it now wins",
          "[cluster][placement]") {
  std::vector<std::string> three{"a", "b", "c"};
  std::vector<std::string> two{"a", "c"};
  std::vector<std::string> four{"a", "b", "c", "d"};
  int moved_to_d = 0;
  for (int index = 0; index < 1000; ++index) {
    auto name = "svc-" + std::to_string(index);
    auto before = *preferred_node(name, three);
    auto without_b = *preferred_node(name, two);
    if (before != "b") CHECK(without_b == before);
    auto with_d = *preferred_node(name, four);
    if (with_d != "d")
      CHECK(with_d == before);
    else
      ++moved_to_d;
  }
  // About a quarter moves to the new node.
  CHECK(moved_to_d > 200);
  CHECK(moved_to_d < 300);
}

TEST_CASE("Rendezvous placement is the same whatever the order of the candidates",
          "[cluster][placement]") {
  CHECK(preferred_node("x", {}) == std::nullopt);
  CHECK(preferred_node("x", {"only"}) == "only");
  for (int index = 0; index < 100; ++index) {
    auto name = "n" + std::to_string(index);
    CHECK(preferred_node(name, {"a", "b", "c"}) == preferred_node(name, {"c", "a", "b"}));
  }
  // Pinned values (computed apart from this code): nodes built by other
  // compilers or versions must agree on every weight.
  CHECK(rendezvous_weight("echo-1", "node-a") == 0xbe4280359dfbd433ULL);
  CHECK(rendezvous_weight("echo-1", "node-b") == 0xa7f6b0bc76409653ULL);
  CHECK(rendezvous_weight("ab", "c") != rendezvous_weight("a", "bc"));
}

TEST_CASE("Lease timing: renewals every third, lost at lease minus max(0.5 s, lease / 4)",
          "[cluster][lease]") {
  LeaseTiming two(2s);
  CHECK(two.renewal_period() == 666ms);
  CHECK(two.margin() == 500ms);
  CHECK(two.lost_after() == 1500ms);
  CHECK(two.stop_allowance() == 500ms);
  CHECK(two.at_risk_after() == 1000ms);
  CHECK(two.renewal_timeout() == 333ms);

  LeaseTiming five(5s);
  CHECK(five.renewal_period() == 1666ms);
  CHECK(five.margin() == 1250ms);
  CHECK(five.lost_after() == 3750ms);
  CHECK(five.at_risk_after() == 2500ms);

  LeaseTiming twenty(20s, 4000ms);
  CHECK(twenty.margin() == 5000ms);
  CHECK(twenty.at_risk_after() == 11000ms);

  auto confirmed = BootClock::time_point(10s);
  CHECK(five.lost_at(confirmed) == confirmed + 3750ms);
  CHECK(five.at_risk_at(confirmed) == confirmed + 2500ms);
  // A TTL below the lease (etcd's answer) counts from that TTL.
  CHECK(five.lost_at(confirmed, 3) == confirmed + 1750ms);
  CHECK(five.lost_at(confirmed, 60) == confirmed + 3750ms);
}

TEST_CASE("Lease timing refuses a lease under 2 s and a stop allowance that leaves no renewal",
          "[cluster][lease]") {
  CHECK_THROWS_WITH(LeaseTiming(1s), Catch::Contains("at least 2"));
  CHECK_NOTHROW(LeaseTiming(2s, 834ms));
  CHECK_THROWS_WITH(LeaseTiming(2s, 900ms), Catch::Contains("between 0 and 834 ms"));
  CHECK_THROWS_AS(LeaseTiming(5s, -1ms), std::invalid_argument);
}

TEST_CASE("Repeated store failures get their first line at once and then one per interval",
          "[cluster][lease]") {
  // docs/operations.md, "Store outages": a renewal fails every 250 ms.
  processpype::etcd::FailureLogLimiter<BootClock> limiter(30s);
  auto start = BootClock::time_point(100s);
  CHECK(limiter.failure(start) == std::uint64_t{0});
  std::size_t lines = 0;
  std::optional<std::uint64_t> said;
  for (auto at = start + 250ms; at <= start + 60s; at += 250ms)
    if (auto unlogged = limiter.failure(at)) {
      ++lines;
      said = unlogged;
    }
  CHECK(lines == 2);                  // at 30 s and at 60 s
  CHECK(said == std::uint64_t{119});  // those of the 30 s before the line
  CHECK(limiter.success() == 241);    // the whole run

  // A success ends the run: the next failure is said at once, and a lone
  // one leaves nothing unsaid.
  CHECK(limiter.failure(start + 61s) == std::uint64_t{0});
  CHECK(limiter.success() == 1);
  CHECK(processpype::etcd::unlogged_failures_note(0).empty());
  CHECK(processpype::etcd::unlogged_failures_note(119) ==
        " (119 more failed since the last report)");
}

TEST_CASE("The keys of a cluster live under /processpype/<name>/ and parse back",
          "[cluster][keys]") {
  KeyLayout layout("prod");
  CHECK(layout.prefix() == "/processpype/prod/");
  CHECK(layout.node_key("host:4000") == "/processpype/prod/nodes/host:4000");
  CHECK(layout.instance_key("echo-1") == "/processpype/prod/instances/echo-1");
  CHECK(layout.owner_key("echo-1") == "/processpype/prod/owners/echo-1");
  CHECK(layout.rebalance_key() == "/processpype/prod/rebalance");

  auto node = layout.parse("/processpype/prod/nodes/host:4000");
  CHECK(node.kind == KeyKind::node);
  CHECK(node.name == "host:4000");
  CHECK(layout.parse("/processpype/prod/owners/echo-1").kind == KeyKind::owner);
  CHECK(layout.parse("/processpype/prod/instances/echo-1").name == "echo-1");
  CHECK(layout.parse("/processpype/prod/rebalance").kind == KeyKind::rebalance);
  CHECK(layout.parse("/processpype/other/nodes/a").kind == KeyKind::other);
  CHECK(layout.parse("/processpype/prod/nodes/").kind == KeyKind::other);
  CHECK(layout.parse("/processpype/prod/nodes/a/b").kind == KeyKind::other);
  CHECK(layout.parse("/processpype/prod/unknown/a").kind == KeyKind::other);

  CHECK_THROWS_AS(KeyLayout(""), std::invalid_argument);
  CHECK_THROWS_AS(KeyLayout("a/b"), std::invalid_argument);
  CHECK(is_valid_node_id("host:4000"));
  CHECK_FALSE(is_valid_node_id(""));
  CHECK_FALSE(is_valid_node_id("a/b"));
  CHECK_FALSE(is_valid_node_id(std::string("a\nb")));
}

TEST_CASE("Registrations, records and owner values come back from their JSON as written",
          "[cluster][records]") {
  NodeRegistration node{
      "a", "http://127.0.0.1:8080", "127.0.0.1:4000", {"lock", "echo", "echo"}, true};
  auto decoded_node = decode_registration(encode(node));
  CHECK(decoded_node.classes == std::vector<std::string>{"echo", "lock"});
  CHECK(decoded_node.cordoned);
  CHECK(decoded_node.rest_url == node.rest_url);
  CHECK(decoded_node.has_class("lock"));
  CHECK_FALSE(decoded_node.has_class("counter"));

  InstanceRecord record{"echo", {"c", "a"}, {{"greeting", "hi"}}, DesiredState::running, false};
  auto decoded_record = decode_record(encode(record));
  CHECK(decoded_record.nodes == std::vector<std::string>{"a", "c"});
  CHECK(decoded_record.configuration == record.configuration);
  CHECK(decoded_record.desired == DesiredState::running);
  CHECK_FALSE(decoded_record.tombstone);
  CHECK(decoded_record.eligible(decoded_node));
  decoded_node.id = "b";
  CHECK_FALSE(decoded_record.eligible(decoded_node));

  OwnerValue owner{"a", Cause::rebalance};
  CHECK(decode_owner(encode(owner)) == owner);
  CHECK(decode_owner(encode(OwnerValue{"a"})).releasing == std::nullopt);
}

TEST_CASE("A stored value that a coordinator never writes is refused, naming what is wrong",
          "[cluster][records]") {
  CHECK_THROWS_WITH(decode_record("not json"), Catch::Contains("not JSON"));
  CHECK_THROWS_WITH(decode_record("[1]"), Catch::Contains("not a JSON object"));
  CHECK_THROWS_WITH(decode_record(R"({"desired":"running"})"), Catch::Contains("\"class\""));
  CHECK_THROWS_WITH(decode_record(R"({"class":"echo","desired":"paused"})"),
                    Catch::Contains("\"desired\""));
  CHECK_THROWS_WITH(decode_record(R"({"class":"echo","desired":"running","configuration":[]})"),
                    Catch::Contains("\"configuration\""));
  CHECK_THROWS_WITH(decode_record(R"({"class":"echo","desired":"running","nodes":[1]})"),
                    Catch::Contains("\"nodes\""));
  CHECK_THROWS_WITH(decode_registration(R"({"id":""})"), Catch::Contains("empty id"));
  CHECK_THROWS_WITH(decode_registration(R"({"id":"a","cordoned":"yes"})"),
                    Catch::Contains("\"cordoned\""));
  CHECK_THROWS_WITH(decode_owner(R"({"node":"a","releasing":"why"})"),
                    Catch::Contains("\"releasing\""));
  CHECK_THROWS_AS(decode_owner("{}"), RecordError);
}

TEST_CASE("The boot alarm waits until its deadline, and a wake ends the wait at once",
          "[cluster][clock]") {
  BootAlarm alarm;
  auto start = BootClock::now();
  CHECK(alarm.wait_until(start + 50ms));
  auto waited = BootClock::now() - start;
  CHECK(ms(waited) >= 50);
  CHECK(ms(waited) < 300);

  // A deadline in the past ends the wait at once.
  start = BootClock::now();
  CHECK(alarm.wait_until(start - 1s));
  CHECK(ms(BootClock::now() - start) < 50);

  // A wake before the wait ends it at once; from another thread, too.
  alarm.wake();
  CHECK_FALSE(alarm.wait_until(BootClock::time_point::max()));
  start = BootClock::now();
  std::thread waker([&] {
    std::this_thread::sleep_for(30ms);  // the waker's delay, not a wait for a race
    alarm.wake();
  });
  CHECK_FALSE(alarm.wait_until(BootClock::now() + 10s));
  waker.join();
  CHECK(ms(BootClock::now() - start) < 2000);

  // BOOTTIME runs at the rate of the steady clock (they differ by suspends only).
  auto boot = BootClock::now();
  auto steady = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(20ms);  // a span to measure, not a wait for a race
  auto boot_span = ms(BootClock::now() - boot);
  auto steady_span = ms(std::chrono::steady_clock::now() - steady);
  CHECK(std::abs(boot_span - steady_span) < 5);
}
