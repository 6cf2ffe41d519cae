// The one router: path patterns, RouteTable::resolve and the custom routes'
// ServiceRoutes::dispatch.
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/path_pattern.hpp"
#include "processpype/runtime/route_table.hpp"
#include "processpype/runtime/routes.hpp"

using nlohmann::json;
using processpype::PathParameters;
using processpype::PathPattern;
using processpype::RouteRequest;
using processpype::RouteResponse;
using processpype::split_path;
using Segments = std::vector<std::string>;

namespace {

RouteRequest request(std::string method, std::string path) {
  RouteRequest result;
  result.method = std::move(method);
  result.path = std::move(path);
  return result;
}

using Table = processpype::RouteTable<int>;

/// What `table` resolves `method` `segments` to: REQUIREd found, CHECKed to
/// be the route whose handler is `handler`.
Table::Match resolve_to(const Table& table, std::string_view method, const Segments& segments,
                        int handler) {
  auto match = table.resolve(method, segments);
  REQUIRE(match.found());
  CHECK(match.route->handler == handler);
  return match;
}

}  // namespace

// -- split_path and PathParameters -------------------------------------------------------

TEST_CASE("split_path drops empty segments") {
  CHECK(split_path("/a/b/") == Segments{"a", "b"});
  CHECK(split_path("a//b") == Segments{"a", "b"});
  CHECK(split_path("/") == Segments{});
  CHECK(split_path("") == Segments{});
  CHECK(split_path("single") == Segments{"single"});
}

TEST_CASE("path parameters are found by name, at() throws for a name they lack") {
  PathParameters parameters;
  CHECK(parameters.empty());
  parameters.set("name", "echo");
  parameters.set("key", "a");
  parameters.set("key", "b");  // a second set replaces
  CHECK_FALSE(parameters.empty());
  CHECK(parameters.at("name") == "echo");
  CHECK(parameters.at("key") == "b");
  REQUIRE(parameters.find("key") != nullptr);
  CHECK(*parameters.find("key") == "b");
  CHECK(parameters.find("missing") == nullptr);
  CHECK_THROWS_AS(parameters.at("missing"), std::out_of_range);
}

// -- PathPattern -------------------------------------------------------------------------

TEST_CASE("a literal pattern matches exactly its segments") {
  PathPattern pattern{"/services/register"};
  CHECK(pattern.match({"services", "register"}));
  CHECK_FALSE(pattern.match({"services"}));
  CHECK_FALSE(pattern.match({"services", "register", "x"}));
  CHECK_FALSE(pattern.match({"services", "other"}));
}

TEST_CASE("a {key} placeholder matches any one segment and fills its parameter") {
  PathPattern pattern{"/items/{key}/detail"};
  PathParameters parameters;
  CHECK(pattern.match({"items", "a b", "detail"}, &parameters));
  CHECK(parameters.at("key") == "a b");
  CHECK_FALSE(pattern.match({"items", "detail"}));
  CHECK_FALSE(pattern.match({"items", "a", "b", "detail"}));
}

TEST_CASE("a last {rest...} placeholder takes one or more remaining segments, joined") {
  PathPattern pattern{"/services/{name}/{path...}"};
  PathParameters parameters;
  REQUIRE(pattern.match({"services", "echo", "items", "a", "b"}, &parameters));
  CHECK(parameters.at("name") == "echo");
  CHECK(parameters.at("path") == "items/a/b");
  PathParameters single;
  REQUIRE(pattern.match({"services", "echo", "echo"}, &single));
  CHECK(single.at("path") == "echo");
  CHECK_FALSE(pattern.match({"services", "echo"}));  // one or more, not zero
}

TEST_CASE("a failed match leaves the parameters untouched") {
  PathPattern pattern{"/items/{key}"};
  PathParameters parameters;
  CHECK_FALSE(pattern.match({"other", "x"}, &parameters));
  CHECK(parameters.empty());
}

TEST_CASE("a pattern's text has one leading slash and no empty segments") {
  CHECK(PathPattern{"services/{name}/"}.text() == "/services/{name}");
  CHECK(PathPattern{"/services/{name}/start"}.text() == "/services/{name}/start");
  CHECK(PathPattern{"//a//b"}.text() == "/a/b");
  CHECK(PathPattern{""}.text() == "/");
  CHECK(PathPattern{"/"}.text() == "/");
  CHECK(PathPattern{"/"}.match({}));
  CHECK(PathPattern{"/files/{rest...}"}.text() == "/files/{rest...}");
}

// -- RouteTable::resolve -----------------------------------------------------------------

TEST_CASE("the first route whose pattern and method match wins") {
  processpype::RouteTable<int> table;
  table.add("GET", "/items/special", 1).add("GET", "/items/{id}", 2);
  CHECK(resolve_to(table, "GET", {"items", "special"}, 1).parameters.empty());
  auto other = resolve_to(table, "GET", {"items", "x"}, 2);
  CHECK(other.parameters.at("id") == "x");
  CHECK(other.allow.empty());

  processpype::RouteTable<int> reversed;
  reversed.add("GET", "/items/{id}", 2).add("GET", "/items/special", 1);
  CHECK(reversed.resolve("GET", {"items", "special"}).route->handler == 2);
}

TEST_CASE("a later route matches when earlier ones match the path for other methods") {
  processpype::RouteTable<int> table;
  table.add("POST", "/items/{id}", 1).add("GET", "/items/special", 2);
  auto match = resolve_to(table, "GET", {"items", "special"}, 2);
  CHECK(match.allow.empty());
  CHECK_FALSE(match.method_not_allowed());
}

TEST_CASE("a path matched only for other methods is 405 listing each method once, in order") {
  processpype::RouteTable<int> table;
  table.add("GET", "/items/{id}", 1)
      .add("PUT", "/items/{id}", 2)
      .add("GET", "/items/special", 3)
      .add("DELETE", "/other", 4)
      .add("POST", "/items/{id}", 5);
  auto match = table.resolve("DELETE", {"items", "special"});
  CHECK_FALSE(match.found());
  CHECK(match.method_not_allowed());
  CHECK(match.allow == "GET, PUT, POST");
  CHECK(match.parameters.empty());
}

TEST_CASE("a path no pattern matches is 404: neither found nor method_not_allowed") {
  processpype::RouteTable<int> table;
  table.add("GET", "/items/{id}", 1);
  auto match = table.resolve("GET", {"nothing", "here", "at-all"});
  CHECK_FALSE(match.found());
  CHECK_FALSE(match.method_not_allowed());
  CHECK(match.allow.empty());
  CHECK(match.parameters.empty());
  CHECK(processpype::RouteTable<int>{}.empty());
}

TEST_CASE("routes keep their method, pattern text and summary for documents") {
  processpype::RouteTable<int> table;
  table.add("GET", "services/{name}/", 1, "An instance's status");
  REQUIRE(table.routes().size() == 1);
  const auto& info = table.routes()[0].info;
  CHECK(info.method == "GET");
  CHECK(info.pattern == "/services/{name}");
  CHECK(info.summary == "An instance's status");
}

// -- ServiceRoutes::dispatch -------------------------------------------------------------

TEST_CASE("dispatch runs the matching handler with its path parameters") {
  processpype::ServiceRoutes routes;
  routes.get("/items/{key}", [](const RouteRequest& request) {
    return RouteResponse::ok({{"key", request.parameter("key")}, {"body", request.body}});
  });
  auto call = request("GET", "/items/a");
  call.body = {{"x", 1}};
  auto response = routes.dispatch(call);
  CHECK(response.status == 200);
  CHECK(response.body == json{{"key", "a"}, {"body", {{"x", 1}}}});
  CHECK(response.route == "/items/{key}");
  CHECK(call.path_parameters.at("key") == "a");
}

TEST_CASE("dispatch answers 404 and 405 with a detail body") {
  processpype::ServiceRoutes routes;
  routes.get("/value", [](const RouteRequest&) { return RouteResponse::ok({}); })
      .post("/value", [](const RouteRequest&) { return RouteResponse::ok({}); });

  auto missing = request("GET", "/nothing");
  auto not_found = routes.dispatch(missing);
  CHECK(not_found.status == 404);
  CHECK(not_found.body.size() == 1);
  CHECK(not_found.body["detail"].is_string());
  CHECK(not_found.allow.empty());

  auto wrong_method = request("DELETE", "/value");
  auto not_allowed = routes.dispatch(wrong_method);
  CHECK(not_allowed.status == 405);
  CHECK(not_allowed.allow == "GET, POST");
  CHECK(not_allowed.body.size() == 1);
  CHECK(not_allowed.body["detail"].is_string());
  CHECK(wrong_method.path_parameters.empty());
}

TEST_CASE("a handler's processpype::Error becomes its status with the detail") {
  processpype::ServiceRoutes routes;
  routes.post("/items/{key}", [](const RouteRequest&) -> RouteResponse {
    throw processpype::Error(processpype::ErrorCode::conflict, "Item exists");
  });
  auto call = request("POST", "/items/a");
  auto response = routes.dispatch(call);
  CHECK(response.status == 409);
  CHECK(response.body == json{{"detail", "Item exists"}});
  CHECK(response.route == "/items/{key}");
}

TEST_CASE("any other exception from a handler is a 500 naming the failure") {
  processpype::ServiceRoutes routes;
  routes.put("/boom",
             [](const RouteRequest&) -> RouteResponse { throw std::runtime_error("disk full"); });
  routes.del("/unknown", [](const RouteRequest&) -> RouteResponse { throw 42; });
  auto call = request("PUT", "/boom");
  auto response = routes.dispatch(call);
  CHECK(response.status == 500);
  CHECK(response.body == json{{"detail", "Route handler failed: disk full"}});
  CHECK(response.route == "/boom");
  auto unknown = request("DELETE", "/unknown");
  auto unknown_response = routes.dispatch(unknown);
  CHECK(unknown_response.status == 500);
  CHECK(unknown_response.route == "/unknown");
}

TEST_CASE("the route of a handler's own response is the matched pattern") {
  processpype::ServiceRoutes routes;
  routes.get("/files/{rest...}", [](const RouteRequest& request) {
    RouteResponse response{201, {{"path", request.parameter("rest")}}, {}, "ignored"};
    return response;
  });
  auto call = request("GET", "/files/a/b");
  auto response = routes.dispatch(call);
  CHECK(response.status == 201);
  CHECK(response.body["path"] == "a/b");
  CHECK(response.route == "/files/{rest...}");
}
