// Bearer tokens (ApiOptions.tokens): who may read, who may change, and the
// few routes that stay open.
#include <string>

#include "api_harness.hpp"

using namespace rest_tests;

namespace {

const Headers admin = bearer("admin-token");
const Headers reader = bearer("read-token");

}  // namespace

TEST_CASE("without a token, a request is 401 with WWW-Authenticate: Bearer") {
  ApiNode node{with_tokens()};
  for (const char* path : {"/", "/services", "/openapi.json", "/events", "/no/such/path"}) {
    auto reply = node.get(path);
    INFO(reply);
    CHECK(reply.status == 401);
    CHECK(reply.header("WWW-Authenticate") == "Bearer");
    CHECK(reply["detail"].is_string());
  }
  auto command = node.post("/services/register", json{{"service_name", "echo"}});
  INFO(command);
  CHECK(command.status == 401);
  CHECK(names_in(node.get("/services", admin)).empty());  // nothing was registered
}

TEST_CASE("a wrong token or another scheme is 401") {
  ApiNode node{with_tokens()};
  for (const auto& headers :
       {bearer("wrong"), bearer("admin-token "), bearer("admin-toke"),
        Headers{{"Authorization", "Basic YWRtaW46YWRtaW4="}},
        Headers{{"Authorization", "admin-token"}}, Headers{{"Authorization", "Bearer "}}}) {
    auto reply = node.get("/services", headers);
    INFO(reply << " with " << headers[0].second);
    CHECK(reply.status == 401);
    CHECK(reply.header("WWW-Authenticate") == "Bearer");
  }
}

TEST_CASE("the header name is case-insensitive") {
  ApiNode node{with_tokens()};
  auto reply = node.get("/services", {{"authorization", "Bearer read-token"}});
  INFO(reply);
  CHECK(reply.status == 200);
}

TEST_CASE("the read token may GET but not change anything") {
  ApiNode node{with_tokens()};
  node.add("echo", "e1", admin);
  auto read = node.get("/services/e1", reader);
  INFO(read);
  CHECK(read.status == 200);
  CHECK(node.get("/", reader).status == 200);
  CHECK(node.get("/metrics", reader).status == 200);

  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/services/register"},
                                                        {"POST", "/services/e1/start"},
                                                        {"POST", "/services/e1/configure"},
                                                        {"DELETE", "/services/e1"},
                                                        {"POST", "/services/e1/echo"}}) {
    auto reply = node.send(method, path, "{}", reader);
    INFO(reply);
    CHECK(reply.status == 403);
    CHECK(reply["detail"].is_string());
  }
  CHECK(node.state_of("e1", admin) == "initialized");
}

TEST_CASE("the admin token may do everything") {
  ApiNode node{with_tokens()};
  node.add("echo", "e1", admin);
  CHECK(node.post("/services/e1/configure", json{{"prefix", "A"}}, admin).status == 200);
  CHECK(node.post("/services/e1/start", std::string{}, admin).status == 200);
  auto echoed = node.post("/services/e1/echo", json{{"message", "m"}}, admin);
  INFO(echoed);
  CHECK(echoed.data() == json{{"message", "A: m"}});
  CHECK(node.get("/openapi.json", admin).status == 200);
  CHECK(node.del("/services/e1", admin).status == 200);
}

TEST_CASE("the probes and the pages are open, the metrics are not") {
  ApiNode node{with_tokens()};
  auto live = node.get("/health/live");
  INFO(live);
  CHECK(live.status == 200);
  CHECK(live.data() == json{{"status", "ok"}});
  auto ready = node.get("/health/ready");
  INFO(ready);
  CHECK(ready.status == 200);
  for (const char* page : {"/ui", "/docs"}) {
    auto reply = node.get(page);
    INFO(page << " -> " << reply.status << " " << reply.content_type);
    CHECK(reply.status == 200);
    CHECK_THAT(reply.content_type, Catch::StartsWith("text/html"));
  }
  auto metrics = node.get("/metrics");
  INFO(metrics);
  CHECK(metrics.status == 401);
}

TEST_CASE("the probes of a node addressed under /nodes need a token") {
  ApiNode node{with_tokens()};
  auto path = "/nodes/" + node_id + "/health/live";
  auto open = node.get(path);
  INFO(open);
  CHECK(open.status == 401);
  auto ready = node.get("/nodes/" + node_id + "/health/ready");
  INFO(ready);
  CHECK(ready.status == 401);
  auto with_token = node.get(path, reader);
  INFO(with_token);
  CHECK(with_token.status == 200);
}

TEST_CASE("set_tokens replaces the tokens for the next requests") {
  ApiNode node{with_tokens()};
  node.api().set_tokens({"new-admin", ""});
  CHECK(node.get("/services", admin).status == 401);
  CHECK(node.get("/services", reader).status == 401);
  CHECK(node.get("/services", bearer("new-admin")).status == 200);
  node.api().set_tokens({});
  CHECK(node.get("/services").status == 200);  // no admin token: no checks
}

TEST_CASE("without tokens nothing is checked") {
  ApiNode node;
  CHECK(node.get("/metrics").status == 200);
  CHECK(node.get("/services", bearer("anything")).status == 200);
  node.add("echo", "e1");
}
