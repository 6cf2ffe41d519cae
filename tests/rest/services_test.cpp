// Commands and reads of instances through the Api: the lifecycle round trip,
// configuration errors, custom routes and GET /services.
#include <random>
#include <string>
#include <vector>

#include "api_harness.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/rest/json_mapping.hpp"

using namespace rest_tests;
using Names = std::vector<std::string>;

// -- the lifecycle round trip ---------------------------------------------------------------

TEST_CASE("register, configure, start, stop and delete, each read right after shows the effect") {
  ApiNode node;
  CHECK(require_ok(node.post("/services/register",
                             json{{"service_name", "echo"}, {"instance_name", "e1"}})) ==
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

  CHECK(require_ok(node.post("/services/e1/configure", json{{"prefix", "Hi"}})) ==
        json{{"status", "configured"}, {"service", "e1"}});
  auto after_configure = node.get("/services/e1");
  CHECK(after_configure["state"] == "configured");
  CHECK(after_configure["is_configured"] == true);
  CHECK(after_configure["metadata"]["prefix"] == "Hi");
  CHECK(after_configure["metadata"]["max_length"] == 1000);

  CHECK(require_ok(node.post("/services/e1/start")) ==
        json{{"status", "started"}, {"service", "e1"}});
  CHECK(node.state_of("e1") == "running");

  CHECK(require_ok(node.post("/services/e1/stop")) ==
        json{{"status", "stopped"}, {"service", "e1"}});
  CHECK(node.state_of("e1") == "stopped");

  CHECK(require_ok(node.del("/services/e1")) ==
        json{{"status", "deregistered"}, {"service", "e1"}});
  CHECK(node.get("/services/e1").status == 404);
  CHECK(names_in(node.get("/services")).empty());
}

TEST_CASE("configure_and_start answers once the instance runs") {
  ApiNode node;
  node.add("counter", "c1");
  CHECK(require_ok(node.post("/services/c1/configure_and_start", json{{"initial_value", 5}})) ==
        json{{"status", "configured and started"}, {"service", "c1"}});
  auto status = node.get("/services/c1");
  CHECK(status["state"] == "running");
  CHECK(status["metadata"]["initial_value"] == 5);
}

TEST_CASE("a command's reply is rendered as the JSON library renders it") {
  using processpype::rest::command_reply;
  using processpype::rest::command_reply_text;
  using processpype::rest::dump;
  CHECK(command_reply_text("started", "e1.a-b_c") == dump(command_reply("started", "e1.a-b_c")));
  // Not an instance name, so not written as it is: escaped by the library.
  CHECK(command_reply_text("stopped", "a\"b") == dump(command_reply("stopped", "a\"b")));
  CHECK(json::parse(command_reply_text("stopped", "a\"b"))["service"] == "a\"b");
}

namespace {

/// Four instances registered out of name order, in several states: one
/// running with metadata, one failed with a restart pending (its status
/// depends on the time), two initialized.
void add_instances_in_several_states(ApiNode& node) {
  node.add("echo", "zeta");
  node.add("counter", "alpha");
  node.add("echo", "Mid.1-x_y");
  node.add("faulty", "flaky");
  require_ok(node.post("/services/alpha/configure_and_start", json{{"initial_value", 7}}));
  require_ok(node.post("/services/flaky/configure", json{{"fail_on", "start"},
                                                         {"restart", "on-failure"},
                                                         {"restart_delay_seconds", 30.0},
                                                         {"max_restarts", 5}}));
  CHECK(node.post("/services/flaky/start").status != 200);
  REQUIRE(node.get("/services/flaky")["next_restart_in_seconds"].is_number());
}

}  // namespace

TEST_CASE("an error body is rendered as the JSON library renders it, for any bytes") {
  using processpype::rest::dump;
  using processpype::rest::error_body;
  const std::vector<std::string> details{"",
                                         "Service x not found",
                                         "a \"quote\" and \\ and \n\t",
                                         "caf\xc3\xa9",
                                         "bad \xff\xfe \xc3",
                                         std::string{"nul \0 inside", 13}};
  for (const auto& detail : details) CHECK(error_body(detail) == dump({{"detail", detail}}));
  std::mt19937 random{20261208};
  std::uniform_int_distribution<int> length(0, 16);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 2000; ++round) {
    std::string detail(static_cast<std::size_t>(length(random)), ' ');
    for (auto& c : detail) c = static_cast<char>(byte(random));
    INFO(json(detail).dump(-1, ' ', true, json::error_handler_t::replace));
    REQUIRE(error_body(detail) == dump({{"detail", detail}}));
  }
}

TEST_CASE("GET / is rendered as the JSON library renders the tree of every status") {
  using processpype::rest::application_status;
  using processpype::rest::dump;
  ApiNode node;
  add_instances_in_several_states(node);
  auto listing = node.runtime().table().listing();
  auto now = std::chrono::steady_clock::now();
  auto tree_of = [&](std::string_view version, processpype::ServiceState state) {
    auto statuses = json::object();
    listing.for_each([&](const processpype::InstanceRecord& record) {
      statuses[record.name()] = record.status_json(now);
      return true;
    });
    return dump({{"version", version}, {"state", to_string(state)}, {"services", statuses}});
  };
  for (std::string version :
       {"1.2.3", "a \"quoted\" \\ version", "caf\xc3\xa9 \x01", "bad \xff\xfe"}) {
    INFO(version);
    CHECK(application_status(version, processpype::ServiceState::running, listing, now) ==
          tree_of(version, processpype::ServiceState::running));
  }
  CHECK(application_status("1", processpype::ServiceState::stopping, listing, now) ==
        tree_of("1", processpype::ServiceState::stopping));
  auto root = node.get("/");
  REQUIRE(root.status == 200);
  CHECK(root["services"].size() == 4);
  CHECK(root["services"]["alpha"]["metadata"]["initial_value"] == 7);

  processpype::InstanceTable no_instances;
  auto empty = no_instances.listing();
  CHECK(application_status("1", processpype::ServiceState::running, empty, now) ==
        dump({{"version", "1"}, {"state", "running"}, {"services", json::object()}}));
}

TEST_CASE("deleting a running instance stops it first") {
  ApiNode node;
  node.add_running("echo", "e1");
  auto reply = require_ok(node.del("/services/e1"));
  CHECK(reply["status"] == "deregistered");
  CHECK_FALSE(reply.contains("error"));
  CHECK(node.get("/services/e1").status == 404);
}

TEST_CASE("registration picks a name when none is given and refuses bad requests") {
  ApiNode node;
  auto automatic = require_ok(node.post("/services/register", json{{"service_name", "echo"}}));
  auto name = automatic["service"].get<std::string>();
  CHECK_FALSE(name.empty());
  CHECK(node.get("/services/" + name).status == 200);

  check_status(node.post("/services/register", json{{"service_name", "no-such-class"}}), 404);

  node.add("echo", "taken");
  check_status(
      node.post("/services/register", json{{"service_name", "echo"}, {"instance_name", "taken"}}),
      409);

  for (const auto& body : {json::array(), json{{"instance_name", "x"}}, json{{"service_name", 5}},
                           json{{"service_name", "echo"}, {"instance_name", 5}},
                           json{{"service_name", "echo"}, {"instance_name", "bad name"}}})
    check_error(node.post("/services/register", body), 400);
  check_status(node.post("/services/register", std::string{"{"}), 400);
}

TEST_CASE("commands that do not fit the state are 409") {
  ApiNode node;
  node.add_running("echo", "e1");
  check_status(node.post("/services/e1/start"), 409);
  check_status(node.post("/services/e1/configure", json::object()), 409);
  CHECK(node.state_of("e1") == "running");
}

// -- configure errors -----------------------------------------------------------------------

TEST_CASE("configure refuses malformed, too deep and out-of-range JSON with 400") {
  ApiNode node;
  node.add("echo", "e1");
  check_error(node.post("/services/e1/configure", std::string{"{\"prefix\": "}), 400,
              Catch::StartsWith("Malformed JSON"));
  check_error(node.post("/services/e1/configure",
                        "{\"x\": " + std::string(64, '[') + std::string(64, ']') + "}"),
              400, Catch::Equals("JSON nested deeper than 64 levels"));
  check_error(node.post("/services/e1/configure", std::string{R"({"max_length": 1e400})"}), 400,
              Catch::Contains("1e400"));

  CHECK(node.state_of("e1") == "initialized");
}

TEST_CASE("configure refuses a field of the wrong type or value with 422 naming it") {
  ApiNode node;
  node.add("echo", "e1");
  check_error(node.post("/services/e1/configure", json{{"max_length", "ten"}}), 422,
              Catch::Contains("max_length"));
  check_error(node.post("/services/e1/configure", json{{"max_length", 0}}), 422,
              Catch::Contains("max_length") && Catch::Contains("must be greater than 0"));
  check_error(node.post("/services/e1/configure", json{{"restart", "always"}}), 422,
              Catch::Contains("restart"));
  check_status(node.post("/services/e1/configure", json::array({1})), 422);

  CHECK(node.state_of("e1") == "initialized");
}

TEST_CASE("an empty configure body is an empty configuration: every default") {
  ApiNode node;
  node.add("echo", "e1");
  require_ok(node.post("/services/e1/configure", std::string{}));
  auto status = node.get("/services/e1");
  CHECK(status["metadata"]["prefix"] == "Echo");
  CHECK(status["metadata"]["max_length"] == 1000);
}

// -- custom routes --------------------------------------------------------------------------

TEST_CASE("a service's custom routes answer under /services/{name}/") {
  ApiNode node;
  node.add_running("echo", "e1", {{"prefix", "Hi"}});
  CHECK(require_ok(node.post("/services/e1/echo", json{{"message", "there"}})) ==
        json{{"message", "Hi: there"}});
  check_error(node.post("/services/e1/echo", json::object()), 422,
              Catch::Equals("Field 'message' is required"));
}

TEST_CASE("custom routes refuse with the service's own status codes") {
  ApiNode node;
  node.add("echo", "idle");
  check_error(node.post("/services/idle/echo", json{{"message", "x"}}), 409,
              Catch::Contains("not running"));
}

TEST_CASE("a counter increments through its routes in any state") {
  ApiNode node;
  node.add("counter", "c1");
  REQUIRE(node.post("/services/c1/configure", json{{"initial_value", 5}, {"step", 2}}).status ==
          200);
  CHECK(require_ok(node.post("/services/c1/increment")) == json{{"value", 7}});
  auto value = node.get("/services/c1/value");
  INFO(value);
  CHECK(value.data() == json{{"value", 7}});
  auto reset = node.post("/services/c1/reset");
  CHECK(reset.data() == json{{"value", 0}});
}

TEST_CASE("an unknown custom route is 404 and a wrong method is 405 with Allow") {
  ApiNode node;
  node.add_running("echo", "e1");
  check_error(node.post("/services/e1/nothing/here"), 404);
  check_not_allowed(node.get("/services/e1/echo"), "POST");
  node.add("counter", "c1");
  check_not_allowed(node.del("/services/c1/value"), "GET");
}

TEST_CASE("a custom route body must be JSON") {
  ApiNode node;
  node.add_running("echo", "e1");
  check_error(node.post("/services/e1/echo", std::string{"not json"}), 400,
              Catch::StartsWith("Malformed JSON"));
}

// -- GET /services --------------------------------------------------------------------------

namespace {

/// Five instances, by default a1 (echo, running), a2 (counter), a3 (echo),
/// a4 (counter, running), a5 (echo); `names` renames them in that order.
void add_five(ApiNode& node, const Names& names = {"a1", "a2", "a3", "a4", "a5"}) {
  node.add_running("echo", names.at(0));
  node.add("counter", names.at(1));
  node.add("echo", names.at(2));
  node.add_running("counter", names.at(3));
  node.add("echo", names.at(4));
}

/// GET /services with each query of `table` lists the names it pairs with.
void check_listed(ApiNode& node, const std::vector<std::pair<std::string, Names>>& table) {
  for (const auto& [query, expected] : table) {
    auto reply = node.get("/services?" + query);
    INFO(reply);
    CHECK(reply.status == 200);
    CHECK(names_in(reply) == expected);
  }
}

/// GET /services?`query` lists `expected`, and its "next" is `next` (null: the last page).
void check_page(ApiNode& node, const std::string& query, const Names& expected, const json& next) {
  auto reply = node.get("/services?" + query);
  INFO(reply);
  CHECK(names_in(reply) == expected);
  REQUIRE(reply.data().contains("next"));
  CHECK(reply["next"] == next);
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

TEST_CASE("GET /services is written as the JSON library writes the list, every entry current") {
  using processpype::rest::dump;
  ApiNode node;
  add_instances_in_several_states(node);
  for (std::string target :
       {"/services", "/services?limit=2", "/services?limit=2&after=alpha", "/services?limit=4",
        "/services?limit=10&counts=true", "/services?state=error", "/services?search=A&counts=true",
        "/services?state=stopped&limit=1"}) {
    INFO(target);
    auto reply = node.get(target);
    REQUIRE(reply.status == 200);
    // The library's own bytes: keys in order, its escaping, no spaces.
    CHECK(reply.body == dump(json::parse(reply.body)));
    for (const auto& entry : reply["services"]) {
      auto status = node.get("/services/" + entry["name"].get<std::string>());
      CHECK(entry == json{{"name", entry["name"]},
                          {"state", status["state"]},
                          {"is_configured", status["is_configured"]},
                          {"error", status["error"]}});
    }
  }
  CHECK(names_in(node.get("/services?limit=2")) == Names{"zeta", "alpha"});
  CHECK(node.get("/services?limit=2")["next"] == "alpha");
  CHECK(node.get("/services?limit=4")["next"].is_null());
  CHECK(node.get("/services?state=error")["services"][0]["error"].is_string());
}

TEST_CASE("GET /services filters by state and by type") {
  ApiNode node;
  add_five(node);
  check_listed(node, {{"state=running", {"a1", "a4"}},
                      {"state=initialized", {"a2", "a3", "a5"}},
                      {"type=counter", {"a2", "a4"}},
                      {"type=echo&state=running", {"a1"}},
                      {"type=nothing", {}}});
  check_error(node.get("/services?state=sleeping"), 400, Catch::Contains("state"));
}

TEST_CASE("GET /services pages with limit and after, next names the last entry of a full page") {
  ApiNode node;
  add_five(node);
  check_page(node, "limit=2", {"a1", "a2"}, "a2");
  check_page(node, "limit=2&after=a2", {"a3", "a4"}, "a4");
  check_page(node, "limit=2&after=a4", {"a5"}, nullptr);
  check_page(node, "limit=5", {"a1", "a2", "a3", "a4", "a5"}, nullptr);
  check_page(node, "type=echo&limit=1&after=a1", {"a3"}, "a3");

  check_listed(node, {{"after=a3", {"a4", "a5"}},
                      {"limit=1", {"a1"}},
                      {"limit=10000", {"a1", "a2", "a3", "a4", "a5"}}});
}

TEST_CASE("GET /services refuses a limit outside 1..10000 and an unknown after") {
  ApiNode node;
  add_five(node);
  for (const char* limit : {"0", "10001", "x", "-1", "1.5", ""})
    check_error(node.get(std::string{"/services?limit="} + limit), 400, Catch::Contains("limit"));
  check_error(node.get("/services?after=ghost"), 400, Catch::Contains("ghost"));
}

TEST_CASE("GET /services continues after a page boundary deleted before the next page") {
  ApiNode node;
  add_five(node);
  check_page(node, "limit=2", {"a1", "a2"}, "a2");
  require_ok(node.del("/services/a2"));
  check_page(node, "limit=2&after=a2", {"a3", "a4"}, "a4");
  require_ok(node.del("/services/a4"));
  require_ok(node.del("/services/a3"));
  check_page(node, "limit=2&after=a4", {"a5"}, nullptr);
  check_listed(node, {{"after=a3", {"a5"}}});
  check_error(node.get("/services?after=ghost"), 400, Catch::Contains("ghost"));
}

TEST_CASE("GET /services pages after a registered again name from its new registration") {
  ApiNode node;
  add_five(node);
  require_ok(node.del("/services/a2"));
  node.add("echo", "a2");
  check_listed(node, {{"after=a1", {"a3", "a4", "a5", "a2"}}, {"after=a2", {}}});
  require_ok(node.del("/services/a2"));
  check_listed(node, {{"after=a2", {}}, {"after=a4", {"a5"}}});
}

TEST_CASE("GET /services forgets a deleted name once enough later names were deleted") {
  ApiNode node;
  add_five(node);
  require_ok(node.del("/services/a2"));
  auto& runtime = node.runtime();
  for (std::size_t i = 1; i < processpype::RemovedOrders::capacity; ++i) {
    auto name = "gone" + std::to_string(i);
    runtime.register_service("echo", name);
    runtime.deregister(name);
  }
  check_listed(node, {{"after=a2", {"a3", "a4", "a5"}}});  // the oldest removal remembered

  runtime.register_service("echo", "last");
  runtime.deregister("last");
  check_error(node.get("/services?after=a2"), 400, Catch::Contains("a2"));
  check_status(node.get("/services?after=gone1"), 200);
  check_status(node.get("/services?after=last"), 200);
}

namespace {

/// web-Alpha (echo, running), db-alpha (counter), webBeta (echo),
/// ALPHA.cache (counter, running), gamma (echo).
const Names named_for_search{"web-Alpha", "db-alpha", "webBeta", "ALPHA.cache", "gamma"};

}  // namespace

TEST_CASE("GET /services?search= finds the instances whose name contains the text, in any case") {
  ApiNode node;
  add_five(node, named_for_search);
  check_listed(node, {{"search=alpha", {"web-Alpha", "db-alpha", "ALPHA.cache"}},
                      {"search=ALPHA", {"web-Alpha", "db-alpha", "ALPHA.cache"}},
                      {"search=%41lPhA", {"web-Alpha", "db-alpha", "ALPHA.cache"}},
                      {"search=web", {"web-Alpha", "webBeta"}},
                      {"search=a.c", {"ALPHA.cache"}},
                      {"search=gamma", {"gamma"}},
                      {"search=", named_for_search}});
  auto nothing = node.get("/services?search=" + std::string(100, 'a'));
  check_status(nothing, 200);
  CHECK(names_in(nothing).empty());
}

TEST_CASE("GET /services combines search with state, type and pages") {
  ApiNode node;
  add_five(node, named_for_search);
  check_listed(node, {{"search=alpha&state=running", {"web-Alpha", "ALPHA.cache"}},
                      {"search=alpha&type=counter", {"db-alpha", "ALPHA.cache"}},
                      {"search=alpha&type=counter&state=initialized", {"db-alpha"}}});

  check_page(node, "search=alpha&limit=2", {"web-Alpha", "db-alpha"}, "db-alpha");
  check_page(node, "search=alpha&limit=2&after=db-alpha", {"ALPHA.cache"}, nullptr);
  // `after` may name an instance the search does not match: the page starts after it.
  check_listed(node, {{"search=alpha&after=webBeta", {"ALPHA.cache"}}});
}

TEST_CASE("GET /services?counts=true adds the node's counts, whatever the filters") {
  ApiNode node;
  add_five(node);
  json five = {{"total", 5},   {"initialized", 3}, {"configured", 0}, {"starting", 0},
               {"running", 2}, {"stopping", 0},    {"stopped", 0},    {"error", 0}};
  CHECK(require_ok(node.get("/services?counts=true"))["counts"] == five);

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
  for (const char* value : {"yes", "1", "", "TRUE"})
    check_error(node.get(std::string{"/services?counts="} + value), 400, Catch::Contains("counts"));
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
  check_status(node.post("/services/e1/configure_and_start", json{{"max_length", -1}}), 422);
  CHECK(node.state_of("e1") == "initialized");

  node.add("faulty", "f1");
  check_error(node.post("/services/f1/configure_and_start", json{{"fail_on", "start"}}), 500,
              Catch::Contains("simulated failure on start"));
  auto status = node.get("/services/f1");
  CHECK(status["state"] == "error");
  CHECK_THAT(status["error"].get<std::string>(), Catch::Contains("simulated failure on start"));
}

TEST_CASE("deregistering an instance whose stop fails reports the stop's error") {
  ApiNode node;
  node.add_running("faulty", "f1", {{"fail_on", "stop"}});
  auto reply = require_ok(node.del("/services/f1"));
  CHECK(reply["status"] == "deregistered");
  CHECK_THAT(reply["error"].get<std::string>(), Catch::Contains("simulated failure on stop"));
  CHECK(node.get("/services/f1").status == 404);
}

TEST_CASE("a custom route gets the query parameters and percent-decoded path") {
  ApiNode node;
  node.add("counter", "c1");
  auto value = node.get("/services/c1/%76alue?ignored=1");  // "value"
  check_status(value, 200);
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
