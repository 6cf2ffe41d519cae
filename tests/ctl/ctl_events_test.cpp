// `processpype ctl events --follow` against the real `processpype` binary
// (docs/cli.md, "events"): a line per event as it happens, flushed (its
// output is a file here, not a terminal), its JSON, and the reconnections:
// one node's stream resumes with Last-Event-ID after the node restarts on
// the same port, a cluster stream from where each node's events left off.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <processpype/testing/checks.hpp>
#include <processpype/testing/cluster.hpp>
#include <processpype/testing/probed_server.hpp>

#include "ctl_support.hpp"

using namespace processpype::testing;
using namespace processpype::testing::ctl;

namespace {

/// A line about `service` going into `state`.
std::function<bool(const std::string&)> event_of(const std::string& service,
                                                 const std::string& state) {
  return [=](const std::string& line) {
    return has_words(line, {" " + service + " ", " " + state + " "}) ||
           has_words(line, {" " + service + " ", " " + state});
  };
}

/// How long a live change may take to show: a node writes an event to its
/// streams at once; 2 shared cores, sometimes with a sanitizer.
constexpr auto live_bound = 10s;

}  // namespace

TEST_CASE("events --follow prints each change as it happens, one flushed line per event",
          "[ctl][events]") {
  ServerProcess server;
  auto api = server.client();
  register_ok(api, "echo", "before");
  RunningCtl follower(url_of(server.port()), {"events", "--follow"});
  // What the node had buffered comes first, then what happens.
  REQUIRE(follower.wait_for_line(event_of("before", "registered"), live_bound));

  register_ok(api, "echo", "greeter");
  INFO(follower.err());
  REQUIRE(follower.wait_for_line(event_of("greeter", "registered"), live_bound));
  E2E_REQUIRE_STATUS(api.post("/services/greeter/configure_and_start"), 200);
  REQUIRE(follower.wait_for_line(event_of("greeter", "running"), live_bound));
  CHECK(follower.count_lines(event_of("greeter", "registered")) == 1);
  CHECK(follower.process().alive());
}

TEST_CASE("events --follow --json prints each event's JSON as the node sent it", "[ctl][events]") {
  ServerProcess server;
  auto api = server.client();
  RunningCtl follower(url_of(server.port()), {"events", "--follow", "--json"});
  register_ok(api, "counter", "tally");
  auto is_tally = [](const std::string& line) {
    return line.find("\"service\":\"tally\"") != std::string::npos;
  };
  REQUIRE(follower.wait_for_line(is_tally, live_bound));
  auto lines = follower.lines();
  auto line = *std::find_if(lines.begin(), lines.end(), is_tally);
  auto events = api.get("/events").body_json["events"];
  CHECK(json::parse(line) == events.back());
  CHECK(line == events.back().dump());  // unchanged: the server's own text
}

TEST_CASE("events --follow reconnects after the node restarts on the same port and resumes",
          "[ctl][events]") {
  ServerOptions options;
  options.port = free_port();
  auto server = std::make_unique<ServerProcess>(options);
  auto api = std::make_unique<HttpClient>(options.port);
  register_ok(*api, "echo", "first");
  RunningCtl follower(url_of(options.port), {"events", "--follow"});
  REQUIRE(follower.wait_for_line(event_of("first", "registered"), live_bound));

  server->stop();
  server = std::make_unique<ServerProcess>(options);  // a new boot on the same port
  api = std::make_unique<HttpClient>(options.port);
  register_ok(*api, "echo", "second");
  INFO(follower.err());
  REQUIRE(follower.wait_for_line(event_of("second", "registered"), 20s));
  // Another boot: the node says so (event: gap) before what it buffered.
  CHECK(follower.count_lines([](const std::string& line) { return has_words(line, {"-- gap"}); }) ==
        1);
  CHECK(has_words(follower.err(), {"reconnecting in", "event stream open again"}));
  CHECK(follower.count_lines(event_of("first", "registered")) == 1);
  CHECK(follower.process().alive());
}

TEST_CASE("events --follow --cluster resumes each node's events from where they left off",
          "[ctl][events][cluster]") {
  auto [a, b] = start_joined_pair("a", "b");
  auto api_b = b.client();
  register_ok(api_b, "echo", "early");  // before the stream: from b's buffer
  RunningCtl follower(url_of(a.http_port()), {"events", "--follow", "--cluster"});
  REQUIRE(follower.wait_for_line(event_of("early", "registered"), live_bound));
  register_ok(api_b, "echo", "live");
  INFO(follower.err());
  REQUIRE(follower.wait_for_line(event_of("live", "registered"), live_bound));

  // The node the stream goes through restarts; b's events meanwhile come
  // from b's own log once the stream is open again.
  auto a_port = a.http_port();
  auto a_node_port = a.node_port;
  a.server->stop();
  register_ok(api_b, "echo", "meanwhile");
  auto options = node_options();
  options.port = a_port;
  a = start_node("a", {b.node_port}, a_node_port, options);
  REQUIRE(follower.wait_for_line(event_of("meanwhile", "registered"), 30s));
  register_ok(api_b, "echo", "after");
  REQUIRE(follower.wait_for_line(event_of("after", "registered"), live_bound));

  // Each event once, b's in order.
  for (const auto* name : {"early", "live", "meanwhile", "after"})
    CHECK(follower.count_lines(event_of(name, "registered")) == 1);
  auto lines = follower.lines();
  auto position = [&](const std::string& name) {
    return std::find_if(lines.begin(), lines.end(), event_of(name, "registered")) - lines.begin();
  };
  CHECK(position("live") < position("meanwhile"));
  CHECK(position("meanwhile") < position("after"));
  CHECK(has_words(follower.err(), {"event stream open again"}));
}

TEST_CASE("events --follow ends with 1 on a refusal that will not pass and 3 when unreachable",
          "[ctl][events]") {
  auto unreachable = run_ctl(url_of(free_port()), {"events", "--follow"}, {}, 20s);
  INFO(unreachable.describe());
  CHECK(unreachable.code() == 3);

  TempFile config("server:\n  auth:\n    admin_token: ctl-events-token\n");
  ProbedServerOptions options;
  options.args = {"--config", config.path()};
  ProbedServer server(options);
  auto refused = run_ctl(url_of(server.port()), {"events", "--follow"}, {}, 20s);
  INFO(refused.describe());
  CHECK(refused.code() == 1);
  CHECK(has_words(refused.err, {"(HTTP 401)"}));
}
