// docs/embedding.md: an application may destroy its Api (its Server) and
// keep the Runtime. The Api listens to the Runtime's NodeDirectory (a node
// that goes down fails the requests in flight to it); once the Api is gone,
// nothing of it may be called any more.
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <catch2/catch.hpp>

#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/rest/api.hpp"
#include "processpype/runtime/logging.hpp"

TEST_CASE("an Api destroyed before its Runtime leaves no listener on the node directory") {
  processpype::configure_logging(spdlog::level::off, processpype::LogFormat::text);
  caf::actor_system_config config;
  processpype::Runtime::add_types(config);
  caf::actor_system system{config};
  processpype::RuntimeOptions options;
  options.node_id = "embedder";
  processpype::Runtime runtime{system, options};
  // The Runtime's own listeners (its status replicas, which an Api asks
  // for) stay with the Runtime: counted before.
  runtime.replicate_peer_status();
  auto& directory = *runtime.directory();
  auto before = directory.listener_count();

  for (int round = 0; round < 3; ++round) {
    auto api = std::make_unique<processpype::rest::Api>(runtime, processpype::rest::ApiOptions{});
    CHECK(directory.listener_count() > before);
    api.reset();
    CHECK(directory.listener_count() == before);
  }

  // A node that goes down now reaches no destroyed Api.
  processpype::NodeDirectory::Node peer;
  peer.id = "peer";
  peer.address = "127.0.0.1:1";
  directory.put(peer);
  directory.mark_down("peer", "test");
  CHECK_FALSE(directory.find("peer")->up);
}
