// Distribution through the embedding API: two actor systems in one process,
// connected over loopback by CAF's middleman, like two nodes.
#include <caf/io/all.hpp>

#include "test_services.hpp"

using namespace std::chrono_literals;
using namespace actor_tests;
using processpype::ErrorCode;
using processpype::ServiceState;

namespace {

/// A node whose actor system loads the middleman.
struct NetworkNode {
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<processpype::Runtime> runtime;

  explicit NetworkNode(std::string id) {
    processpype::configure_logging(spdlog::level::off, processpype::LogFormat::text);
    processpype::Runtime::add_types(config);
    config.load<caf::io::middleman>();
    system = std::make_unique<caf::actor_system>(config);
    runtime = std::make_unique<processpype::Runtime>(
        *system, processpype::RuntimeOptions{std::chrono::seconds(5), std::move(id)});
  }
  ~NetworkNode() {
    runtime.reset();
    system.reset();
  }
};

std::optional<processpype::NodeStatus> find_node(processpype::Runtime& runtime,
                                                 const std::string& id) {
  for (auto& node : runtime.nodes())
    if (node.id == id) return node;
  return std::nullopt;
}

}  // namespace

TEST_CASE("embedded nodes publish, join, list each other and act on each other", "[nodes]") {
  NetworkNode a{"alpha"};
  NetworkNode b{"beta"};
  auto port = a.runtime->publish(0);
  b.runtime->publish(0);
  auto joined = b.runtime->join("127.0.0.1", port);
  CHECK(joined.id == "alpha");

  // Both know both (the join is answered after alpha accepted beta).
  REQUIRE(find_node(*b.runtime, "alpha"));
  CHECK(find_node(*b.runtime, "alpha")->up);
  REQUIRE(eventually([&] { return find_node(*a.runtime, "beta").has_value(); }, 5000ms));

  // Register on alpha from beta, run it there, see it from alpha's own API.
  auto on_alpha = b.runtime->at("alpha");
  fresh_probe("remote_probe");
  auto registration = on_alpha.register_service("probe", "remote_probe");
  CHECK(registration.type == "ProbeService");
  on_alpha.start("remote_probe");
  CHECK(on_alpha.status("remote_probe").state == ServiceState::running);
  CHECK(a.runtime->status("remote_probe").state == ServiceState::running);
  CHECK(b.runtime->list().empty());  // beta's own registry is untouched
  CHECK(find_node(*b.runtime, "alpha")->services == 1);
  on_alpha.stop("remote_probe");
  CHECK(a.runtime->status("remote_probe").state == ServiceState::stopped);

  auto missing = error_of([&] { b.runtime->at("gamma"); });
  REQUIRE(missing);
  CHECK(missing->code() == ErrorCode::not_found);
}

TEST_CASE("a node that goes away is down for its peers, and calls to it fail fast", "[nodes]") {
  NetworkNode a{"stays"};
  auto b = std::make_unique<NetworkNode>("leaves");
  auto port = a.runtime->publish(0);
  b->runtime->publish(0);
  b->runtime->join("127.0.0.1", port);
  REQUIRE(eventually([&] { return find_node(*a.runtime, "leaves").has_value(); }, 5000ms));

  auto gone_at = Clock::now();
  b.reset();  // the actor system ends: its connections close
  REQUIRE(eventually(
      [&] {
        auto node = find_node(*a.runtime, "leaves");
        return node && !node->up;
      },
      5000ms));
  CHECK(elapsed_ms(gone_at) < 5000);
  auto down = error_of([&] { a.runtime->at("leaves"); });
  REQUIRE(down);
  CHECK(down->code() == ErrorCode::node_unavailable);
  CHECK(find_node(*a.runtime, "stays")->up);  // the local node keeps serving
}

TEST_CASE("a node that joins two members in turn is welcomed by both", "[nodes]") {
  // c joins a, whose welcome names b while a tells b about c: b dials c
  // at the moment c's join of b dials b (docs/membership.md, "A
  // simultaneous join").
  for (int formation = 0; formation < 30; ++formation) {
    INFO("formation " << formation);
    NetworkNode a{"a"};
    NetworkNode b{"b"};
    NetworkNode c{"c"};
    auto port_a = a.runtime->publish(0);
    auto port_b = b.runtime->publish(0);
    c.runtime->publish(0);
    CHECK(b.runtime->join("127.0.0.1", port_a).id == "a");
    CHECK(c.runtime->join("127.0.0.1", port_a).id == "a");
    auto joined = error_of([&] { CHECK(c.runtime->join("127.0.0.1", port_b).id == "b"); });
    INFO((joined ? joined->detail() : std::string{}));
    REQUIRE_FALSE(joined);
  }
}

TEST_CASE("two nodes that join each other at the same moment are both welcomed", "[nodes]") {
  // Each lists the other in its --join: both dial at once, and such dials
  // can lose both hellos (docs/membership.md); a join dials again.
  for (int round = 0; round < 20; ++round) {
    INFO("round " << round);
    NetworkNode a{"a"};
    NetworkNode b{"b"};
    auto port_a = a.runtime->publish(0);
    auto port_b = b.runtime->publish(0);
    auto a_joins = in_background([&] { a.runtime->join("127.0.0.1", port_b); });
    auto b_joins = error_of([&] { b.runtime->join("127.0.0.1", port_a); });
    auto a_joined = a_joins.get();
    INFO((b_joins ? b_joins->detail() : std::string{}));
    INFO((a_joined ? a_joined->detail() : std::string{}));
    REQUIRE_FALSE(b_joins);
    REQUIRE_FALSE(a_joined);
    CHECK(find_node(*a.runtime, "b"));
    CHECK(find_node(*b.runtime, "a"));
  }
}

TEST_CASE("a join of an address that is no node address is refused at once", "[nodes]") {
  NetworkNode node{"lonely"};
  node.runtime->publish(0);
  auto refused = error_of([&] { node.runtime->join("", 4242); });
  REQUIRE(refused);
  CHECK(refused->code() == ErrorCode::node_unavailable);
  CHECK_THAT(refused->detail(), Catch::Contains("not a node address"));
  CHECK(find_node(*node.runtime, "lonely"));  // the node goes on
}
