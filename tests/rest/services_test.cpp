// Commands and reads of instances through the Api: the lifecycle round trip,
// configuration errors, custom routes and GET /services.
#include <string>
#include <vector>

#include "api_harness.hpp"

using namespace rest_tests;
using Names = std::vector<std::string>;

// -- the lifecycle round trip ---------------------------------------------------------------

TEST_CASE("register, configure, start, stop and delete, each read right after shows the effect") {
  ApiNode node;
  auto registered =
      node.post("/services/register", json{{"service_name", "echo"}, {"instance_name", "e1"}});
  INFO(registered);
  REQUIRE(registered.status == 200);
  CHECK(registered.data() ==
        json{{"status", "registered"}, {"service", "e1"}, {"type", "EchoService"}});
  auto initial = node.get("/services/e1");
  CHECK(initial.data() == json{{"state", "initialized"},
                               {"error", nullptr},
                               {"metadata", json::object()},
                               {"is_configured", false},
                               {"restarts", 0},
                               {"next_restart_in_seconds", nullptr},
                               {"health", nullptr},
                               {"origin", "request"},
                               {"overrides", json::array()},
                               {"placement", "node"}});

  auto configured = node.post("/services/e1/configure", json{{"prefix", "Hi"}});
  INFO(configured);
  REQUIRE(configured.status == 200);
  CHECK(configured.data() == json{{"status", "configured"}, {"service", "e1"}});
  auto after_configure = node.get("/services/e1");
  CHECK(after_configure["state"] == "configured");
  CHECK(after_configure["is_configured"] == true);
  CHECK(after_configure["metadata"]["prefix"] == "Hi");
  CHECK(after_configure["metadata"]["max_length"] == 1000);

  auto started = node.post("/services/e1/start");
  INFO(started);
  REQUIRE(started.status == 200);
  CHECK(started.data() == json{{"status", "started"}, {"service", "e1"}});
  CHECK(node.state_of("e1") == "running");

  auto stopped = node.post("/services/e1/stop");
  INFO(stopped);
  REQUIRE(stopped.status == 200);
  CHECK(stopped.data() == json{{"status", "stopped"}, {"service", "e1"}});
  CHECK(node.state_of("e1") == "stopped");

  auto deleted = node.del("/services/e1");
  INFO(deleted);
  REQUIRE(deleted.status == 200);
  CHECK(deleted.data() == json{{"status", "deregistered"}, {"service", "e1"}});
  CHECK(node.get("/services/e1").status == 404);
  CHECK(names_in(node.get("/services")).empty());
}

TEST_CASE("configure_and_start answers once the instance runs") {
  ApiNode node;
  node.add("counter", "c1");
  auto reply = node.post("/services/c1/configure_and_start", json{{"initial_value", 5}});
  INFO(reply);
  REQUIRE(reply.status == 200);
  CHECK(reply.data() == json{{"status", "configured and started"}, {"service", "c1"}});
  auto status = node.get("/services/c1");
  CHECK(status["state"] == "running");
  CHECK(status["metadata"]["initial_value"] == 5);
}

TEST_CASE("deleting a running instance stops it first") {
  ApiNode node;
  node.add_running("echo", "e1");
  auto reply = node.del("/services/e1");
  INFO(reply);
  REQUIRE(reply.status == 200);
  CHECK(reply["status"] == "deregistered");
  CHECK_FALSE(reply.data().contains("error"));
  CHECK(node.get("/services/e1").status == 404);
}

TEST_CASE("registration picks a name when none is given and refuses bad requests") {
  ApiNode node;
  auto automatic = node.post("/services/register", json{{"service_name", "echo"}});
  INFO(automatic);
  REQUIRE(automatic.status == 200);
  auto name = automatic["service"].get<std::string>();
  CHECK_FALSE(name.empty());
  CHECK(node.get("/services/" + name).status == 200);

  auto unknown = node.post("/services/register", json{{"service_name", "no-such-class"}});
  INFO(unknown);
  CHECK(unknown.status == 404);

  node.add("echo", "taken");
  auto duplicate =
      node.post("/services/register", json{{"service_name", "echo"}, {"instance_name", "taken"}});
  INFO(duplicate);
  CHECK(duplicate.status == 409);

  for (const auto& body : {json::array(), json{{"instance_name", "x"}}, json{{"service_name", 5}},
                           json{{"service_name", "echo"}, {"instance_name", 5}},
                           json{{"service_name", "echo"}, {"instance_name", "bad name"}}}) {
    auto refused = node.post("/services/register", body);
    INFO(refused);
    CHECK(refused.status == 400);
    CHECK(refused["detail"].is_string());
  }
  auto malformed = node.post("/services/register", std::string{"{"});
  INFO(malformed);
  CHECK(malformed.status == 400);
}

TEST_CASE("commands that do not fit the state are 409") {
  ApiNode node;
  node.add_running("echo", "e1");
  auto again = node.post("/services/e1/start");
  INFO(again);
  CHECK(again.status == 409);
  auto reconfigure = node.post("/services/e1/configure", json::object());
  INFO(reconfigure);
  CHECK(reconfigure.status == 409);
  CHECK(node.state_of("e1") == "running");
}

// -- configure errors -----------------------------------------------------------------------

TEST_CASE("configure refuses malformed, too deep and out-of-range JSON with 400") {
  ApiNode node;
  node.add("echo", "e1");
  auto malformed = node.post("/services/e1/configure", std::string{"{\"prefix\": "});
  INFO(malformed);
  CHECK(malformed.status == 400);
  CHECK_THAT(malformed["detail"].get<std::string>(), Catch::StartsWith("Malformed JSON"));

  auto deep = node.post("/services/e1/configure",
                        "{\"x\": " + std::string(64, '[') + std::string(64, ']') + "}");
  INFO(deep);
  CHECK(deep.status == 400);
  CHECK(deep["detail"] == "JSON nested deeper than 64 levels");

  auto huge = node.post("/services/e1/configure", std::string{R"({"max_length": 1e400})"});
  INFO(huge);
  CHECK(huge.status == 400);
  CHECK_THAT(huge["detail"].get<std::string>(), Catch::Contains("1e400"));

  CHECK(node.state_of("e1") == "initialized");
}

TEST_CASE("configure refuses a field of the wrong type or value with 422 naming it") {
  ApiNode node;
  node.add("echo", "e1");
  auto wrong_type = node.post("/services/e1/configure", json{{"max_length", "ten"}});
  INFO(wrong_type);
  CHECK(wrong_type.status == 422);
  CHECK_THAT(wrong_type["detail"].get<std::string>(), Catch::Contains("max_length"));

  auto zero = node.post("/services/e1/configure", json{{"max_length", 0}});
  INFO(zero);
  CHECK(zero.status == 422);
  CHECK_THAT(zero["detail"].get<std::string>(),
             Catch::Contains("max_length") && Catch::Contains("must be greater than 0"));

  auto base = node.post("/services/e1/configure", json{{"restart", "always"}});
  INFO(base);
  CHECK(base.status == 422);
  CHECK_THAT(base["detail"].get<std::string>(), Catch::Contains("restart"));

  auto not_object = node.post("/services/e1/configure", json::array({1}));
  INFO(not_object);
  CHECK(not_object.status == 422);

  CHECK(node.state_of("e1") == "initialized");
}

TEST_CASE("an empty configure body is an empty configuration: every default") {
  ApiNode node;
  node.add("echo", "e1");
  auto reply = node.post("/services/e1/configure", std::string{});
  INFO(reply);
  REQUIRE(reply.status == 200);
  auto status = node.get("/services/e1");
  CHECK(status["metadata"]["prefix"] == "Echo");
  CHECK(status["metadata"]["max_length"] == 1000);
}

// -- custom routes --------------------------------------------------------------------------

TEST_CASE("a service's custom routes answer under /services/{name}/") {
  ApiNode node;
  node.add_running("echo", "e1", {{"prefix", "Hi"}});
  auto echoed = node.post("/services/e1/echo", json{{"message", "there"}});
  INFO(echoed);
  REQUIRE(echoed.status == 200);
  CHECK(echoed.data() == json{{"message", "Hi: there"}});

  auto missing = node.post("/services/e1/echo", json::object());
  INFO(missing);
  CHECK(missing.status == 422);
  CHECK(missing["detail"] == "Field 'message' is required");
}

TEST_CASE("custom routes refuse with the service's own status codes") {
  ApiNode node;
  node.add("echo", "idle");
  auto not_running = node.post("/services/idle/echo", json{{"message", "x"}});
  INFO(not_running);
  CHECK(not_running.status == 409);
  CHECK_THAT(not_running["detail"].get<std::string>(), Catch::Contains("not running"));
}

TEST_CASE("a counter increments through its routes in any state") {
  ApiNode node;
  node.add("counter", "c1");
  REQUIRE(node.post("/services/c1/configure", json{{"initial_value", 5}, {"step", 2}}).status ==
          200);
  auto incremented = node.post("/services/c1/increment");
  INFO(incremented);
  REQUIRE(incremented.status == 200);
  CHECK(incremented.data() == json{{"value", 7}});
  auto value = node.get("/services/c1/value");
  INFO(value);
  CHECK(value.data() == json{{"value", 7}});
  auto reset = node.post("/services/c1/reset");
  CHECK(reset.data() == json{{"value", 0}});
}

TEST_CASE("an unknown custom route is 404 and a wrong method is 405 with Allow") {
  ApiNode node;
  node.add_running("echo", "e1");
  auto unknown = node.post("/services/e1/nothing/here");
  INFO(unknown);
  CHECK(unknown.status == 404);
  CHECK(unknown["detail"].is_string());

  auto wrong_method = node.get("/services/e1/echo");
  INFO(wrong_method);
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.header("Allow") == "POST");
  CHECK(wrong_method["detail"].is_string());

  node.add("counter", "c1");
  auto counter_method = node.del("/services/c1/value");
  INFO(counter_method);
  CHECK(counter_method.status == 405);
  CHECK(counter_method.header("Allow") == "GET");
}

TEST_CASE("a custom route body must be JSON") {
  ApiNode node;
  node.add_running("echo", "e1");
  auto reply = node.post("/services/e1/echo", std::string{"not json"});
  INFO(reply);
  CHECK(reply.status == 400);
  CHECK_THAT(reply["detail"].get<std::string>(), Catch::StartsWith("Malformed JSON"));
}

// -- GET /services --------------------------------------------------------------------------

namespace {

/// a1 (echo, running), a2 (counter), a3 (echo), a4 (counter, running), a5 (echo).
void add_five(ApiNode& node) {
  node.add_running("echo", "a1");
  node.add("counter", "a2");
  node.add("echo", "a3");
  node.add_running("counter", "a4");
  node.add("echo", "a5");
}

}  // namespace

TEST_CASE("GET /services lists every instance in registration order") {
  ApiNode node;
  add_five(node);
  auto reply = node.get("/services");
  INFO(reply);
  REQUIRE(reply.status == 200);
  CHECK(names_in(reply) == Names{"a1", "a2", "a3", "a4", "a5"});
  CHECK_FALSE(reply.data().contains("next"));  // only with a limit
  auto first = reply.data()["services"][0];
  CHECK(first ==
        json{{"name", "a1"}, {"state", "running"}, {"is_configured", true}, {"error", nullptr}});
}

TEST_CASE("GET /services filters by state and by type") {
  ApiNode node;
  add_five(node);
  CHECK(names_in(node.get("/services?state=running")) == Names{"a1", "a4"});
  CHECK(names_in(node.get("/services?state=initialized")) == Names{"a2", "a3", "a5"});
  CHECK(names_in(node.get("/services?type=counter")) == Names{"a2", "a4"});
  CHECK(names_in(node.get("/services?type=echo&state=running")) == Names{"a1"});
  CHECK(names_in(node.get("/services?type=nothing")).empty());
  auto bad_state = node.get("/services?state=sleeping");
  INFO(bad_state);
  CHECK(bad_state.status == 400);
  CHECK_THAT(bad_state["detail"].get<std::string>(), Catch::Contains("state"));
}

TEST_CASE("GET /services pages with limit and after, next names the last entry of a full page") {
  ApiNode node;
  add_five(node);
  auto first = node.get("/services?limit=2");
  INFO(first);
  CHECK(names_in(first) == Names{"a1", "a2"});
  CHECK(first["next"] == "a2");

  auto second = node.get("/services?limit=2&after=a2");
  INFO(second);
  CHECK(names_in(second) == Names{"a3", "a4"});
  CHECK(second["next"] == "a4");

  auto last = node.get("/services?limit=2&after=a4");
  INFO(last);
  CHECK(names_in(last) == Names{"a5"});
  REQUIRE(last.data().contains("next"));
  CHECK(last["next"].is_null());

  auto exact = node.get("/services?limit=5");
  CHECK(names_in(exact) == Names{"a1", "a2", "a3", "a4", "a5"});
  CHECK(exact["next"].is_null());

  auto filtered = node.get("/services?type=echo&limit=1&after=a1");
  CHECK(names_in(filtered) == Names{"a3"});
  CHECK(filtered["next"] == "a3");

  CHECK(names_in(node.get("/services?after=a3")) == Names{"a4", "a5"});
  CHECK(names_in(node.get("/services?limit=1")) == Names{"a1"});
  CHECK(names_in(node.get("/services?limit=10000")).size() == 5);
}

TEST_CASE("GET /services refuses a limit outside 1..10000 and an unknown after") {
  ApiNode node;
  add_five(node);
  for (const char* limit : {"0", "10001", "x", "-1", "1.5", ""}) {
    auto reply = node.get(std::string{"/services?limit="} + limit);
    INFO(reply);
    CHECK(reply.status == 400);
    CHECK_THAT(reply["detail"].get<std::string>(), Catch::Contains("limit"));
  }
  auto after = node.get("/services?after=ghost");
  INFO(after);
  CHECK(after.status == 400);
  CHECK_THAT(after["detail"].get<std::string>(), Catch::Contains("ghost"));
}

namespace {

/// web-Alpha (echo, running), db-alpha (counter), webBeta (echo),
/// ALPHA.cache (counter, running), gamma (echo).
void add_named_for_search(ApiNode& node) {
  node.add_running("echo", "web-Alpha");
  node.add("counter", "db-alpha");
  node.add("echo", "webBeta");
  node.add_running("counter", "ALPHA.cache");
  node.add("echo", "gamma");
}

}  // namespace

TEST_CASE("GET /services?search= finds the instances whose name contains the text, in any case") {
  ApiNode node;
  add_named_for_search(node);
  CHECK(names_in(node.get("/services?search=alpha")) ==
        Names{"web-Alpha", "db-alpha", "ALPHA.cache"});
  CHECK(names_in(node.get("/services?search=ALPHA")) ==
        Names{"web-Alpha", "db-alpha", "ALPHA.cache"});
  CHECK(names_in(node.get("/services?search=%41lPhA")) ==
        Names{"web-Alpha", "db-alpha", "ALPHA.cache"});
  CHECK(names_in(node.get("/services?search=web")) == Names{"web-Alpha", "webBeta"});
  CHECK(names_in(node.get("/services?search=a.c")) == Names{"ALPHA.cache"});
  CHECK(names_in(node.get("/services?search=gamma")) == Names{"gamma"});
  CHECK(names_in(node.get("/services?search=")).size() == 5);
  auto nothing = node.get("/services?search=" + std::string(100, 'a'));
  INFO(nothing);
  CHECK(nothing.status == 200);
  CHECK(names_in(nothing).empty());
}

TEST_CASE("GET /services combines search with state, type and pages") {
  ApiNode node;
  add_named_for_search(node);
  CHECK(names_in(node.get("/services?search=alpha&state=running")) ==
        Names{"web-Alpha", "ALPHA.cache"});
  CHECK(names_in(node.get("/services?search=alpha&type=counter")) ==
        Names{"db-alpha", "ALPHA.cache"});
  CHECK(names_in(node.get("/services?search=alpha&type=counter&state=initialized")) ==
        Names{"db-alpha"});

  auto first = node.get("/services?search=alpha&limit=2");
  INFO(first);
  CHECK(names_in(first) == Names{"web-Alpha", "db-alpha"});
  CHECK(first["next"] == "db-alpha");
  auto last = node.get("/services?search=alpha&limit=2&after=db-alpha");
  INFO(last);
  CHECK(names_in(last) == Names{"ALPHA.cache"});
  CHECK(last["next"].is_null());
  // `after` may name an instance the search does not match: the page starts after it.
  CHECK(names_in(node.get("/services?search=alpha&after=webBeta")) == Names{"ALPHA.cache"});
}

TEST_CASE("GET /services?counts=true adds the node's counts, whatever the filters") {
  ApiNode node;
  add_five(node);
  json five = {{"total", 5},   {"initialized", 3}, {"configured", 0}, {"starting", 0},
               {"running", 2}, {"stopping", 0},    {"stopped", 0},    {"error", 0}};
  auto all = node.get("/services?counts=true");
  INFO(all);
  REQUIRE(all.status == 200);
  CHECK(all["counts"] == five);

  // The counts are the node's, not the page's.
  auto page = node.get("/services?state=running&search=a4&limit=1&counts=true");
  INFO(page);
  CHECK(names_in(page) == Names{"a4"});
  CHECK(page["counts"] == five);

  REQUIRE(node.post("/services/a1/stop").status == 200);
  REQUIRE(node.del("/services/a3").status == 200);
  auto after = node.get("/services?limit=1&counts=true");
  INFO(after);
  CHECK(after["counts"] == json{{"total", 4},
                                {"initialized", 2},
                                {"configured", 0},
                                {"starting", 0},
                                {"running", 1},
                                {"stopping", 0},
                                {"stopped", 1},
                                {"error", 0}});

  CHECK_FALSE(node.get("/services").data().contains("counts"));
  CHECK_FALSE(node.get("/services?counts=false").data().contains("counts"));
  for (const char* value : {"yes", "1", "", "TRUE"}) {
    auto refused = node.get(std::string{"/services?counts="} + value);
    INFO(refused);
    CHECK(refused.status == 400);
    CHECK_THAT(refused["detail"].get<std::string>(), Catch::Contains("counts"));
  }
}

TEST_CASE("the OpenAPI document describes search, counts and the counts in the reply") {
  ApiNode node;
  auto document = node.get("/openapi.json").data();
  std::vector<std::string> parameters;
  for (const auto& parameter : document["paths"]["/services"]["get"]["parameters"])
    parameters.push_back(parameter["name"].get<std::string>());
  CHECK(parameters == Names{"state", "type", "search", "limit", "after", "counts"});
  const auto& counts = document["components"]["schemas"]["ServiceList"]["properties"]["counts"];
  CHECK(counts["type"] == "object");
  CHECK(counts["required"] == json{"total", "initialized", "configured", "starting", "running",
                                   "stopping", "stopped", "error"});
}

TEST_CASE("configure_and_start stops at a refused configuration, and reports a failed start") {
  ApiNode node;
  node.add("echo", "e1");
  auto refused = node.post("/services/e1/configure_and_start", json{{"max_length", -1}});
  INFO(refused);
  CHECK(refused.status == 422);
  CHECK(node.state_of("e1") == "initialized");

  node.add("faulty", "f1");
  auto failed = node.post("/services/f1/configure_and_start", json{{"fail_on", "start"}});
  INFO(failed);
  CHECK(failed.status == 500);
  CHECK_THAT(failed["detail"].get<std::string>(), Catch::Contains("simulated failure on start"));
  auto status = node.get("/services/f1");
  CHECK(status["state"] == "error");
  CHECK_THAT(status["error"].get<std::string>(), Catch::Contains("simulated failure on start"));
}

TEST_CASE("deregistering an instance whose stop fails reports the stop's error") {
  ApiNode node;
  node.add_running("faulty", "f1", {{"fail_on", "stop"}});
  auto reply = node.del("/services/f1");
  INFO(reply);
  REQUIRE(reply.status == 200);
  CHECK(reply["status"] == "deregistered");
  CHECK_THAT(reply["error"].get<std::string>(), Catch::Contains("simulated failure on stop"));
  CHECK(node.get("/services/f1").status == 404);
}

TEST_CASE("a custom route gets the query parameters and percent-decoded path") {
  ApiNode node;
  node.add("counter", "c1");
  auto value = node.get("/services/c1/%76alue?ignored=1");  // "value"
  INFO(value);
  CHECK(value.status == 200);
  CHECK(value.data() == json{{"value", 0}});
}

TEST_CASE("a list longer than 2000 instances is answered the same way") {
  ApiNode node;
  constexpr int count = 2005;
  for (int i = 0; i < count; ++i) node.runtime().register_service("echo", "n" + std::to_string(i));
  auto all = node.get("/services");
  INFO(all.request << " -> " << all.status);
  REQUIRE(all.status == 200);
  auto names = names_in(all);
  REQUIRE(names.size() == count);
  CHECK(names.front() == "n0");
  CHECK(names.back() == "n2004");

  auto page = node.get("/services?limit=3&after=n2000");
  CHECK(names_in(page) == Names{"n2001", "n2002", "n2003"});
  CHECK(page["next"] == "n2003");
  auto unknown = node.get("/services?after=ghost");
  CHECK(unknown.status == 400);

  CHECK(names_in(node.get("/services?search=N200")) ==
        Names{"n200", "n2000", "n2001", "n2002", "n2003", "n2004"});
  auto counted = node.get("/services?limit=1&counts=true");
  CHECK(counted["counts"]["total"] == count);
  CHECK(counted["counts"]["initialized"] == count);

  auto root = node.get("/");
  REQUIRE(root.status == 200);
  CHECK(root["services"].size() == count);
  auto metrics = node.get("/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("processpype_service_state{service=\"n2004\",type=\"echo\"") !=
        std::string::npos);
}
