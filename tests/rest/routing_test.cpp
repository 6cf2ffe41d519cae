// The Api's routing table: what each path and method reaches, the API
// prefix, percent-decoding, and the 404/405 answers.
#include "api_harness.hpp"

using namespace rest_tests;

TEST_CASE("GET / answers version, application state and every instance's status") {
  ApiNode node;
  auto empty = node.get("/");
  CHECK(require_ok(empty) ==
        json{{"version", app_version}, {"state", "running"}, {"services", json::object()}});
  CHECK(empty.content_type == "application/json");

  node.add("echo", "e1");
  node.add("counter", "c1");
  auto services = require_ok(node.get("/"))["services"];
  REQUIRE(services.size() == 2);
  CHECK(services["e1"]["state"] == "initialized");
  CHECK(services["e1"]["is_configured"] == false);
  CHECK(services["c1"].contains("metadata"));
}

TEST_CASE("an unknown path is 404 with a detail") {
  ApiNode node;
  auto reply = node.get("/no/such/path");
  check_status(reply, 404);
  CHECK(reply.data() == json{{"detail", "Not found: /no/such/path"}});
}

TEST_CASE("a known path with another method is 405 with an Allow header") {
  ApiNode node;
  check_not_allowed(node.del("/"), "GET");
  check_not_allowed(node.send("PUT", "/services/x"), "GET, DELETE");
  check_not_allowed(node.post("/services"), "GET");
  check_not_allowed(node.get("/services/x/start"), "POST");
}

TEST_CASE("with an API prefix, routes live under it and nowhere else") {
  ApiNode node{with_prefix("/api")};
  CHECK(require_ok(node.get("/api/services")) == json{{"services", json::array()}});
  CHECK(require_ok(node.get("/api"))["version"] == app_version);
  check_error(node.get("/services"), 404);
  check_status(node.get("/apiservices"), 404);

  auto body = json{{"service_name", "echo"}, {"instance_name", "e1"}};
  check_status(node.post("/services/register", body), 404);
  check_status(node.post("/api/services/register", body), 200);
  check_status(node.get("/api/services/e1"), 200);
}

TEST_CASE("the API prefix is normalized to one leading slash and no trailing one") {
  using processpype::rest::normalize_prefix;
  for (auto [given, normal] : std::vector<std::pair<std::string, std::string>>{{"api/", "/api"},
                                                                               {"/api", "/api"},
                                                                               {"//api//", "/api"},
                                                                               {"/", ""},
                                                                               {"", ""},
                                                                               {"a/b/", "/a/b"}}) {
    INFO("prefix \"" << given << "\"");
    CHECK(normalize_prefix(given) == normal);
  }

  ApiNode node{with_prefix("api/")};
  check_status(node.get("/api/services"), 200);
}

TEST_CASE("path segments are percent-decoded before routing") {
  ApiNode node;
  node.add("echo", "e1");
  check_status(node.get("/services/%65%31"), 200);  // "e1"
  auto literal = node.get("/%73ervices");           // "services"
  check_status(literal, 200);
  CHECK(names_in(literal) == std::vector<std::string>{"e1"});
  check_status(node.get("/services/e%2F1"), 404);  // one segment "e/1": no such instance
}

TEST_CASE("a malformed percent-escape in the path is 400") {
  ApiNode node;
  for (const char* path : {"/services/%zz", "/services/abc%2", "/services/%", "/%G1"})
    check_error(node.get(path), 400, Catch::Equals("Malformed percent-encoding in path"));
}

TEST_CASE("a malformed percent-escape in a query parameter is 400 naming it") {
  ApiNode node;
  node.add("counter", "c1");
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"/services?limit=%zz", "query parameter 'limit'"},
      {"/services?search=50%", "query parameter 'search'"},
      {"/services?state=running&type=%G1", "query parameter 'type'"},
      {"/services?li%zzmit=2", "query parameter name 'li%zzmit'"},
      {"/nodes/" + node_id + "/services?after=c%1", "query parameter 'after'"},
      {"/events?since=%zz", "query parameter 'since'"},
      {"/events?scope=node&since=1%", "query parameter 'since'"},
      {"/services/c1/value?x=%", "query parameter 'x'"},  // a custom route
  };
  for (const auto& [target, parameter] : refused) {
    INFO(target);
    check_error(node.get(target), 400, Catch::Equals("Malformed percent-encoding in " + parameter));
  }
  // Whole escapes decode ("C1"), a pair without a name is skipped, '+' is a space.
  CHECK(names_in(node.get("/services?search=%43%31&=%zz&&limit=1")) ==
        std::vector<std::string>{"c1"});
  check_error(node.get("/services?limit=1+"), 400, Catch::Contains("'limit'"));  // "1 "
}

TEST_CASE("an unknown instance is 404 for reads and commands") {
  ApiNode node;
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/services/ghost"},
           {"DELETE", "/services/ghost"},
           {"POST", "/services/ghost/start"},
           {"POST", "/services/ghost/stop"},
           {"POST", "/services/ghost/configure"},
           {"POST", "/services/ghost/configure_and_start"},
           {"POST", "/services/ghost/echo"},
       })
    check_error(node.send(method, path), 404);
}

TEST_CASE("/nodes/{own id}/... is served by this node, an unknown node is 404") {
  ApiNode node;
  node.add("echo", "e1");
  auto own = node.get("/nodes/" + node_id + "/services/e1");
  check_status(own, 200);
  CHECK(own["state"] == "initialized");
  check_error(node.get("/nodes/elsewhere/services/e1"), 404,
              Catch::Equals("Node elsewhere not found"));
  check_status(node.get("/nodes/" + node_id + "/ui"), 404);  // the pages are local only
}
