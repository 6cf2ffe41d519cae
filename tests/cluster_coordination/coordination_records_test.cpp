// The coordination on a real etcd, where time does not matter: three
// simulated nodes register and see each other, create records once, and
// write them as owners with compare-and-set; tombstones; a write whose
// answer is lost (docs/cluster.md, "Records").

#include <catch2/catch.hpp>

#include <future>
#include <thread>

#include "coordination_test_support.hpp"
#include "processpype/etcd/etcd_client.hpp"
#include "processpype/testing/tcp_proxy.hpp"

using namespace processpype::cluster;
using namespace processpype::cluster::test;
using processpype::testing::TcpProxy;
namespace etcd = processpype::etcd;

namespace {

/// These tests do not wait for leases to expire, and run beside others:
/// a 5 s lease rides out a busy machine's slow renewals.
void relaxed_lease(SimulatedNodeOptions& options) {
  options.lease = 5s;
}

etcd::Client raw_client(const EtcdCluster& cluster) {
  etcd::ClientOptions options;
  options.endpoints = cluster.endpoints();
  return etcd::Client(options);
}

/// The node that owns `name` (waits until exactly one does).
std::string owner_of(SimulatedCluster& nodes, const std::string& name) {
  REQUIRE(nodes.wait_until_placed({name}));
  return nodes.single_owners().at(name);
}

/// Nodes a, b and c with relaxed leases.
struct ThreeRelaxedNodes : ThreeNodes {
  ThreeRelaxedNodes() : ThreeNodes(relaxed_lease) {}

  /// Creates `name` through node a; returns the node that came to own it.
  std::string create_owned(const std::string& name) {
    nodes.create("a", {name});
    return owner_of(nodes, name);
  }
};

}  // namespace

TEST_CASE_METHOD(ThreeRelaxedNodes,
                 "Three coordinators register under their leases and each sees all three",
                 "[cluster][membership]") {
  auto client = raw_client(etcd);
  for (auto id : {"a", "b", "c"}) {
    auto& node = nodes.node(id);
    auto lease = node.coordinator().lease_status();
    CHECK(lease.registered);
    CHECK(lease.health == LeaseHealth::secure);
    // The registration, under the node's lease.
    auto stored = client.range("/processpype/test/nodes/" + std::string(id)).kvs;
    REQUIRE(stored.size() == 1);
    CHECK(stored.front().lease == lease.lease_id);
    // Every view has every node, with what it registered.
    for (const auto& seen : node.coordinator().nodes()) {
      const auto& registration = seen.registration;
      CHECK(registration.rest_url == "http://127.0.0.1:1/" + registration.id);
      CHECK(registration.node_address == "127.0.0.1:" + registration.id);
      CHECK(registration.classes == std::vector<std::string>{"echo"});
      CHECK_FALSE(registration.cordoned);
      CHECK(seen.lease == nodes.node(registration.id).coordinator().lease_status().lease_id);
    }
    // Told: its fresh lease first, then the members as they joined.
    auto events = node.lease_events();
    REQUIRE_FALSE(events.empty());
    CHECK(events.front().event.fresh);
    CHECK(events.front().event.health == LeaseHealth::secure);
    std::set<std::string> joined;
    for (const auto& event : node.membership())
      if (event.change == MembershipChange::joined) joined.insert(event.node.registration.id);
    CHECK(joined == std::set<std::string>{"a", "b", "c"});
    CHECK(node.coordinator().store_reachable() == true);
    CHECK(node.reachability().front() == true);
  }
}

TEST_CASE_METHOD(ThreeRelaxedNodes,
                 "A record is created once: a file never overwrites it, a request is refused",
                 "[cluster][records]") {
  auto first = nodes.node("a").coordinator().create_record("echo-1", echo_record({{"v", 1}}),
                                                           CreateMode::file);
  REQUIRE(first.ok());
  auto again = nodes.node("b").coordinator().create_record("echo-1", echo_record({{"v", 2}}),
                                                           CreateMode::file);
  CHECK(again.outcome == WriteOutcome::exists);
  CHECK(again.revision == first.revision);
  auto requested = nodes.node("c").coordinator().create_record("echo-1", echo_record({{"v", 3}}),
                                                               CreateMode::request);
  CHECK(requested.outcome == WriteOutcome::exists);

  // Placed once, on its preferred node, which runs it with the first configuration.
  auto owner = owner_of(nodes, "echo-1");
  CHECK(nodes.node("a").coordinator().preferred_owner("echo-1") == owner);
  auto acquisitions = nodes.node(owner).acquisitions();
  REQUIRE_FALSE(acquisitions.empty());
  CHECK(acquisitions.front().acquisition.cause == Cause::initial);
  CHECK(acquisitions.front().acquisition.record.configuration == nlohmann::json{{"v", 1}});
  CHECK(acquisitions.front().acquisition.record_revision == first.revision);
  // The fencing token is the owner key's create revision.
  auto owner_key = raw_client(etcd).range("/processpype/test/owners/echo-1").kvs;
  REQUIRE(owner_key.size() == 1);
  CHECK(acquisitions.front().acquisition.fencing_token == owner_key.front().create_revision);
  CHECK(owner_key.front().lease == nodes.node(owner).coordinator().lease_status().lease_id);
  for (auto id : {"a", "b", "c"})
    if (id != owner) CHECK(nodes.node(id).acquisitions().empty());
  for (auto id : {"a", "b", "c"}) {
    auto seen = nodes.node(id).coordinator().instances();
    REQUIRE(seen.size() == 1);
    CHECK(seen.front().record.configuration == nlohmann::json{{"v", 1}});
    CHECK(seen.front().fencing_token == owner_key.front().create_revision);
  }

  // What cannot be written is refused before the store.
  auto& a = nodes.node("a").coordinator();
  CHECK(a.create_record("bad/name", echo_record(), CreateMode::file).outcome ==
        WriteOutcome::invalid);
  auto classless = echo_record();
  classless.class_key.clear();
  CHECK(a.create_record("classless", classless, CreateMode::file).outcome == WriteOutcome::invalid);
  CHECK(a.update_record("echo-1", RecordUpdate{nlohmann::json::array()}).outcome ==
        WriteOutcome::invalid);
  CHECK(a.update_record("missing", RecordUpdate{nlohmann::json::object()}).outcome ==
        WriteOutcome::not_found);
}

TEST_CASE_METHOD(ThreeRelaxedNodes,
                 "The owner writes a record by compare-and-set: of two concurrent writers one wins",
                 "[cluster][records]") {
  auto owner_id = create_owned("shared");
  auto& owner = nodes.node(owner_id).coordinator();
  auto revision = owner.instance("shared")->record_revision;

  // Two commands read the same revision and write at once.
  auto write = [&](int writer) {
    return std::async(std::launch::async, [&owner, revision, writer] {
      return owner.update_record("shared", RecordUpdate{nlohmann::json{{"writer", writer}}},
                                 revision);
    });
  };
  auto one = write(1);
  auto two = write(2);
  auto results = std::vector<WriteResult>{one.get(), two.get()};
  int winners = 0;
  int winner = 0;
  for (int index = 0; index < 2; ++index) {
    if (results[index].ok()) {
      ++winners;
      winner = index + 1;
    } else {
      CHECK(results[index].outcome == WriteOutcome::conflict);
    }
  }
  REQUIRE(winners == 1);
  auto stored =
      decode_record(raw_client(etcd).range("/processpype/test/instances/shared").kvs.at(0).value);
  CHECK(stored.configuration == nlohmann::json{{"writer", winner}});

  // A write by another writer in between (an operator with etcdctl): the
  // owner's next write from the old revision is refused.
  auto current = owner.instance("shared")->record_revision;
  auto outside = stored;
  outside.configuration = {{"writer", "etcdctl"}};
  raw_client(etcd).put("/processpype/test/instances/shared", encode(outside));
  CHECK(
      owner.update_record("shared", RecordUpdate{nlohmann::json{{"writer", 3}}}, current).outcome ==
      WriteOutcome::conflict);

  // Every view converges on what the store holds; a node that does not
  // own the instance cannot write it.
  for (auto id : {"a", "b", "c"})
    CHECK(wait_until(
        [&] {
          return nodes.node(id).coordinator().instance("shared")->record.configuration ==
                 outside.configuration;
        },
        5s));
  for (auto id : {"a", "b", "c"}) {
    if (id == owner_id) continue;
    auto refused = nodes.node(id).coordinator().update_record(
        "shared", RecordUpdate{std::nullopt, DesiredState::stopped});
    CHECK(refused.outcome == WriteOutcome::not_owner);
  }
  // The owner's write from the current revision goes through, desired state too.
  auto stopped = owner.update_record("shared", RecordUpdate{std::nullopt, DesiredState::stopped});
  CHECK(stopped.ok());
  CHECK(decode_record(raw_client(etcd).range("/processpype/test/instances/shared").kvs.at(0).value)
            .desired == DesiredState::stopped);
  // Stopped, it keeps its owner.
  CHECK(nodes.single_owners().at("shared") == owner_id);
}

TEST_CASE_METHOD(
    ThreeRelaxedNodes,
    "A deleted instance leaves a tombstone that a file cannot undo and a request replaces",
    "[cluster][records]") {
  auto owner_id = create_owned("doomed");
  auto& owner = nodes.node(owner_id).coordinator();
  auto first_token = owner.instance("doomed")->fencing_token;

  // The owner writes the tombstone; its instance is then stopped and released.
  REQUIRE(owner.remove_record("doomed").ok());
  for (auto id : {"a", "b", "c"}) {
    CHECK(wait_until([&] { return nodes.node(id).coordinator().instances().empty(); }, 5s));
    auto all = nodes.node(id).coordinator().instances(true);
    REQUIRE(all.size() == 1);
    CHECK(all.front().record.tombstone);
    CHECK(all.front().record.desired == DesiredState::stopped);
  }
  CHECK(owner.remove_record("doomed").outcome == WriteOutcome::not_found);
  // While its owner still holds it, a request cannot bring it back.
  CHECK(nodes.node("b")
            .coordinator()
            .create_record("doomed", echo_record(), CreateMode::request)
            .outcome == WriteOutcome::being_deleted);
  REQUIRE(owner.release("doomed").ok());
  for (auto id : {"a", "b", "c"})
    CHECK(wait_until(
        [&] { return !nodes.node(id).coordinator().instance("doomed", true)->owner.has_value(); },
        5s));
  // Nobody takes a tombstone (a placement pass runs at every renewal).
  CHECK_FALSE(wait_until(
      [&] {
        for (auto id : {"a", "b", "c"})
          if (!nodes.node(id).coordinator().owned().empty()) return true;
        return false;
      },
      1500ms));
  // A file keeps it deleted.
  auto from_file =
      nodes.node("c").coordinator().create_record("doomed", echo_record(), CreateMode::file);
  CHECK(from_file.outcome == WriteOutcome::exists);
  CHECK_THAT(from_file.detail, Catch::Contains("tombstone"));

  // A request replaces the tombstone: the instance lives again, with a newer token.
  auto again = nodes.node("c").coordinator().create_record("doomed", echo_record({{"again", true}}),
                                                           CreateMode::request);
  REQUIRE(again.ok());
  CHECK_THAT(again.detail, Catch::Contains("tombstone"));
  auto second_owner = owner_of(nodes, "doomed");
  auto second = nodes.node(second_owner).coordinator().instance("doomed");
  CHECK(second->fencing_token > first_token);
  CHECK(second->record.configuration == nlohmann::json{{"again", true}});

  // Purge: only a tombstone without owner goes.
  auto& purger = nodes.node("a").coordinator();
  CHECK(purger.purge_record("doomed").outcome == WriteOutcome::not_found);
  REQUIRE(nodes.node(second_owner).coordinator().remove_record("doomed").ok());
  REQUIRE(wait_until([&] { return purger.instances().empty(); }, 5s));
  CHECK(purger.purge_record("doomed").outcome == WriteOutcome::conflict);  // still owned
  REQUIRE(nodes.node(second_owner).coordinator().release("doomed").ok());
  REQUIRE(wait_until([&] { return !purger.instance("doomed", true)->owner; }, 5s));
  CHECK(purger.purge_record("doomed").ok());
  CHECK(raw_client(etcd).range("/processpype/test/instances/doomed").kvs.empty());
  for (auto id : {"a", "b", "c"})
    CHECK(wait_until([&] { return !nodes.node(id).coordinator().instance("doomed", true); }, 5s));
}

TEST_CASE("A write whose answer is lost on the way back is read back and counts as written",
          "[cluster][records]") {
  EtcdCluster etcd;
  TcpProxy proxy(etcd.member(0).client_port());
  SimulatedCluster nodes({proxy.endpoint()}, relaxed_lease);
  auto& node = nodes.add("a");
  REQUIRE(nodes.wait_until_joined());
  nodes.create("a", {"echo-1"});
  REQUIRE(nodes.wait_until_placed({"echo-1"}));

  auto lose_answer = [&](TcpProxy::Cut cut) {
    proxy.drop_next_answer("POST /v3/kv/txn", cut);
    return node.coordinator().update_record("echo-1", RecordUpdate{nlohmann::json{{"v", "lost"}}});
  };
  WriteResult written;
  SECTION("the answer's body is cut: the outcome is unknown, the write is read back") {
    written = lose_answer(TcpProxy::Cut::in_body);
    CHECK_THAT(written.detail, Catch::Contains("read back"));
  }
  SECTION("the answer's head is cut: not etcd's answer, the write is read back") {
    written = lose_answer(TcpProxy::Cut::in_head);
    CHECK_THAT(written.detail, Catch::Contains("read back"));
  }
  SECTION("no byte of the answer comes: libcurl sends the write again, which finds it applied") {
    written = lose_answer(TcpProxy::Cut::before_answer);
    CHECK_THAT(written.detail, Catch::Contains("sent twice"));
  }
  CHECK(written.ok());
  auto stored = raw_client(etcd).range("/processpype/test/instances/echo-1").kvs.at(0);
  CHECK(decode_record(stored.value).configuration == nlohmann::json{{"v", "lost"}});
  CHECK(written.revision == stored.mod_revision);
  // The next write starts from it.
  CHECK(node.coordinator().update_record("echo-1", RecordUpdate{nlohmann::json{{"v", 2}}}).ok());
}

TEST_CASE_METHOD(ThreeRelaxedNodes,
                 "A node that leaves cleanly hands its instances over at once, cause handover",
                 "[cluster][ownership]") {
  auto names = place_services(12);
  auto before = nodes.single_owners();
  auto leaving = nodes.node("b").owned();
  REQUIRE_FALSE(leaving.empty());

  auto started = processpype::testing::Clock::now();
  nodes.node("b").shut_down();
  nodes.remove("b");
  REQUIRE(nodes.wait_until_placed(names, 5s));
  // At once, not at the lease's expiry (5 s).
  CHECK(processpype::testing::elapsed_ms(started) < 2000);
  for (auto id : {"a", "c"}) {
    for (const auto& timed : nodes.node(id).acquisitions()) {
      if (!leaving.contains(timed.acquisition.name)) continue;
      CHECK(timed.acquisition.cause == Cause::handover);
      CHECK(timed.acquisition.from_node == "b");
    }
    // b is gone from every view, at once (its lease was revoked).
    CHECK(wait_until([&] { return nodes.node(id).coordinator().nodes().size() == 2; }, 2s));
  }
  for (const auto& [name, owner] : before)
    if (owner != "b") CHECK(nodes.single_owners().at(name) == owner);
  CHECK(nodes.runs().violations().empty());
}
