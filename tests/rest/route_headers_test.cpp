// docs/rest-api.md, "Custom routes": a custom route sees the request's
// headers (names case-insensitive), never `Authorization`, here and on
// another node that a request under /nodes/{id}/... is carried to.
#include <chrono>
#include <thread>

#include "api_harness.hpp"
#include "processpype/actors/node_directory.hpp"
#include "processpype/runtime/service_registry.hpp"

using namespace rest_tests;
using namespace std::chrono_literals;

namespace {

/// Answers with the headers its route saw.
class HeaderProbeService : public processpype::Service {
 public:
  using Service::Service;
  bool requires_configuration() const override { return false; }
  void add_routes(processpype::ServiceRoutes& routes) override {
    routes.get("/headers", [](const processpype::RouteRequest& request) {
      auto names = json::array();
      for (const auto& [name, value] : request.headers) names.push_back(name);
      auto probe = request.header("x-PROBE");
      return processpype::RouteResponse::ok(
          {{"names", names}, {"probe", probe ? json(std::string{*probe}) : json(nullptr)}});
    });
  }
};
PROCESSPYPE_REGISTER_SERVICE(HeaderProbeService);  // "headerprobe"

bool lists(const json& names, const std::string& wanted) {
  for (const auto& name : names)
    if (processpype::same_header_name(name.get<std::string>(), wanted)) return true;
  return false;
}

const Headers sent = {{"Authorization", "Bearer not-for-services"},
                      {"Proxy-Authorization", "Basic also-not"},
                      {"X-Probe", "probe-value"},
                      {"X-Request-Id", "abc-123"}};

}  // namespace

TEST_CASE("a custom route sees the request's headers but Authorization") {
  ApiNode node;
  node.add("headerprobe", "probe");
  auto reply = node.get("/services/probe/headers", sent);
  INFO(reply);
  REQUIRE(reply.status == 200);
  CHECK(reply["probe"] == "probe-value");  // looked up as x-PROBE
  CHECK(lists(reply["names"], "X-Request-Id"));
  CHECK_FALSE(lists(reply["names"], "Authorization"));
  CHECK_FALSE(lists(reply["names"], "Proxy-Authorization"));
}

TEST_CASE("a request carried to another node takes its headers along, but Authorization") {
  ApiNode a{{}, NodeSetup{"node-a", true}};
  ApiNode b{{}, NodeSetup{"node-b", true}};
  b.add("headerprobe", "probe");
  auto port = a.runtime().publish(0);
  b.runtime().publish(0);
  b.runtime().join("127.0.0.1", port);
  auto known = [&] {
    auto found = a.runtime().directory()->find("node-b");
    return found && found->up && found->gateway;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!known() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);  // polls the directory, bounded
  REQUIRE(known());
  auto reply = a.get("/nodes/node-b/services/probe/headers", sent);
  INFO(reply);
  REQUIRE(reply.status == 200);
  CHECK(reply["probe"] == "probe-value");
  CHECK(lists(reply["names"], "X-Request-Id"));
  CHECK_FALSE(lists(reply["names"], "Authorization"));
  CHECK_FALSE(lists(reply["names"], "Proxy-Authorization"));
}
