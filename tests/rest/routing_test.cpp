// The Api's routing table: what each path and method reaches, the API
// prefix, percent-decoding, and the 404/405 answers.
#include "api_harness.hpp"

using namespace rest_tests;

TEST_CASE("GET / answers version, application state and every instance's status") {
  ApiNode node;
  auto empty = node.get("/");
  INFO(empty);
  REQUIRE(empty.status == 200);
  CHECK(empty.content_type == "application/json");
  CHECK(empty.data() ==
        json{{"version", app_version}, {"state", "running"}, {"services", json::object()}});

  node.add("echo", "e1");
  node.add("counter", "c1");
  auto full = node.get("/");
  INFO(full);
  REQUIRE(full.status == 200);
  auto services = full["services"];
  REQUIRE(services.size() == 2);
  CHECK(services["e1"]["state"] == "initialized");
  CHECK(services["e1"]["is_configured"] == false);
  CHECK(services["c1"].contains("metadata"));
}

TEST_CASE("an unknown path is 404 with a detail") {
  ApiNode node;
  auto reply = node.get("/no/such/path");
  INFO(reply);
  CHECK(reply.status == 404);
  CHECK(reply.data() == json{{"detail", "Not found: /no/such/path"}});
}

TEST_CASE("a known path with another method is 405 with an Allow header") {
  ApiNode node;
  auto root = node.del("/");
  INFO(root);
  CHECK(root.status == 405);
  CHECK(root.header("Allow") == "GET");
  CHECK(root["detail"].is_string());

  auto instance = node.send("PUT", "/services/x");
  INFO(instance);
  CHECK(instance.status == 405);
  CHECK(instance.header("Allow") == "GET, DELETE");

  auto list = node.post("/services");
  INFO(list);
  CHECK(list.status == 405);
  CHECK(list.header("Allow") == "GET");

  auto start = node.get("/services/x/start");
  INFO(start);
  CHECK(start.status == 405);
  CHECK(start.header("Allow") == "POST");
}

TEST_CASE("with an API prefix, routes live under it and nowhere else") {
  ApiNode node{with_prefix("/api")};
  auto listed = node.get("/api/services");
  INFO(listed);
  CHECK(listed.status == 200);
  CHECK(listed.data() == json{{"services", json::array()}});

  auto root = node.get("/api");
  INFO(root);
  CHECK(root.status == 200);
  CHECK(root["version"] == app_version);

  auto outside = node.get("/services");
  INFO(outside);
  CHECK(outside.status == 404);
  CHECK(outside["detail"].is_string());

  auto lookalike = node.get("/apiservices");
  INFO(lookalike);
  CHECK(lookalike.status == 404);

  auto body = json{{"service_name", "echo"}, {"instance_name", "e1"}};
  CHECK(node.post("/services/register", body).status == 404);
  auto registered = node.post("/api/services/register", body);
  INFO(registered);
  CHECK(registered.status == 200);
  CHECK(node.get("/api/services/e1").status == 200);
}

TEST_CASE("the API prefix is normalized to one leading slash and no trailing one") {
  using processpype::rest::normalize_prefix;
  CHECK(normalize_prefix("api/") == "/api");
  CHECK(normalize_prefix("/api") == "/api");
  CHECK(normalize_prefix("//api//") == "/api");
  CHECK(normalize_prefix("/") == "");
  CHECK(normalize_prefix("") == "");
  CHECK(normalize_prefix("a/b/") == "/a/b");

  ApiNode node{with_prefix("api/")};
  auto reply = node.get("/api/services");
  INFO(reply);
  CHECK(reply.status == 200);
}

TEST_CASE("path segments are percent-decoded before routing") {
  ApiNode node;
  node.add("echo", "e1");
  auto status = node.get("/services/%65%31");  // "e1"
  INFO(status);
  CHECK(status.status == 200);
  auto literal = node.get("/%73ervices");  // "services"
  INFO(literal);
  CHECK(literal.status == 200);
  CHECK(names_in(literal) == std::vector<std::string>{"e1"});
  auto slash = node.get("/services/e%2F1");  // one segment "e/1": no such instance
  INFO(slash);
  CHECK(slash.status == 404);
}

TEST_CASE("a malformed percent-escape in the path is 400") {
  ApiNode node;
  for (const char* path : {"/services/%zz", "/services/abc%2", "/services/%", "/%G1"}) {
    auto reply = node.get(path);
    INFO(reply);
    CHECK(reply.status == 400);
    CHECK(reply["detail"] == "Malformed percent-encoding in path");
  }
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
       }) {
    auto reply = node.send(method, path);
    INFO(reply);
    CHECK(reply.status == 404);
    CHECK(reply["detail"].is_string());
  }
}

TEST_CASE("/nodes/{own id}/... is served by this node, an unknown node is 404") {
  ApiNode node;
  node.add("echo", "e1");
  auto own = node.get("/nodes/" + node_id + "/services/e1");
  INFO(own);
  CHECK(own.status == 200);
  CHECK(own["state"] == "initialized");
  auto unknown = node.get("/nodes/elsewhere/services/e1");
  INFO(unknown);
  CHECK(unknown.status == 404);
  CHECK(unknown["detail"] == "Node elsewhere not found");
  auto page = node.get("/nodes/" + node_id + "/ui");  // the pages are local only
  INFO(page);
  CHECK(page.status == 404);
}
