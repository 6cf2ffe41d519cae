// `processpype ctl` against the real `processpype` binary (docs/cli.md):
// every command with its table and its --json output, KEY=VALUE merges and
// replacements, the exit codes (refused 1, usage 2, unreachable 3), tokens,
// --node across a two-node cluster, colours only on a terminal, and the
// bash completion script.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <unistd.h>

#include <processpype/testing/checks.hpp>
#include <processpype/testing/cluster.hpp>
#include <processpype/testing/probed_server.hpp>
#include <processpype/testing/silent_listener.hpp>
#include <processpype/testing/tmpfs.hpp>

#include "ctl_support.hpp"

using namespace processpype::testing;
using namespace processpype::testing::ctl;

namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

/// The line of `text` that starts with `start` ("" when none does).
std::string line_starting(const std::string& text, const std::string& start) {
  for (const auto& line : lines_of(text))
    if (line.rfind(start, 0) == 0) return line;
  return "";
}

/// Where `word` starts in `line` (npos when absent).
std::size_t column_of(const std::string& line, const std::string& word) {
  return line.find(word);
}

/// The `metadata` of an instance.
json metadata_of(HttpClient& api, const std::string& name) {
  return status_of(api, name)["metadata"];
}

/// A server with an echo instance `greeter` (prefix Hello, max_length 40,
/// running) and a counter `tally` (registered only).
struct DemoServer {
  DemoServer() : api(server.client()), url(url_of(server.port())) {
    register_ok(api, "echo", "greeter");
    E2E_REQUIRE_STATUS(
        api.post("/services/greeter/configure", json{{"prefix", "Hello"}, {"max_length", 40}}),
        200);
    E2E_REQUIRE_STATUS(api.post("/services/greeter/start"), 200);
    register_ok(api, "counter", "tally");
  }

  ServerProcess server;
  HttpClient api;
  std::string url;
};

/// A listener on 127.0.0.1 that answers every request with 200 and `body`
/// (what another program, or a node answering another path, may reply).
class CannedReplyServer : public SilentListener {
 public:
  explicit CannedReplyServer(std::string body)
      : body_(std::move(body)), thread_([this] { serve(); }) {}
  ~CannedReplyServer() {
    stopping_ = true;
    thread_.join();
  }

 private:
  void serve() {
    while (!stopping_) {
      pollfd waiting{fd_, POLLIN, 0};
      if (::poll(&waiting, 1, 50) <= 0) continue;
      int connection = ::accept(fd_, nullptr, nullptr);
      if (connection < 0) continue;
      answer(connection);
      ::close(connection);
    }
  }

  /// Reads the request's head (ctl sends no body on a GET), then replies.
  void answer(int connection) const {
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      pollfd readable{connection, POLLIN, 0};
      if (::poll(&readable, 1, 5000) <= 0) return;
      auto count = ::read(connection, buffer, sizeof buffer);
      if (count <= 0) return;
      head.append(buffer, static_cast<std::size_t>(count));
    }
    auto reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                 std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
    [[maybe_unused]] auto written = ::write(connection, reply.data(), reply.size());
  }

  std::string body_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Reading

TEST_CASE("ctl status prints the application and an aligned row per instance, --json the reply",
          "[ctl]") {
  DemoServer demo;
  auto run = run_ctl(demo.url, {"status"});
  INFO(run.describe());
  REQUIRE(run.code() == 0);
  auto lines = lines_of(run.out);
  REQUIRE(lines.size() == 4);
  CHECK(has_words(lines[0], {"ProcessPype", "application running", "2 instances", "1 initialized",
                             "1 running"}));
  const auto& heading = lines[1];
  CHECK(has_words(heading, {"NAME", "STATE", "RESTARTS", "HEALTH", "ERROR"}));
  auto greeter = line_starting(run.out, "greeter");
  auto tally = line_starting(run.out, "tally");
  CHECK(has_words(greeter, {"running", "-"}));
  CHECK(has_words(tally, {"initialized"}));
  CHECK(column_of(greeter, "running") == column_of(heading, "STATE"));
  CHECK(column_of(tally, "initialized") == column_of(heading, "STATE"));
  CHECK(run.out.find('\x1b') == std::string::npos);  // not a terminal: no colours

  for (auto args : {std::vector<std::string>{"--json", "status"}, {"status", "--json"}}) {
    auto json_run = run_ctl(demo.url, args);
    INFO(json_run.describe());
    REQUIRE(json_run.code() == 0);
    CHECK(trimmed(json_run.out) == demo.api.get("/").body);
  }
}

TEST_CASE("ctl status NAME prints one instance in detail with its configuration", "[ctl]") {
  DemoServer demo;
  auto run = run_ctl(demo.url, {"status", "greeter"});
  INFO(run.describe());
  REQUIRE(run.code() == 0);
  CHECK(has_words(line_starting(run.out, "name"), {"greeter"}));
  CHECK(has_words(line_starting(run.out, "state"), {"running"}));
  CHECK(has_words(line_starting(run.out, "configured"), {"yes"}));
  CHECK(has_words(line_starting(run.out, "restarts"), {"0"}));
  CHECK(has_words(line_starting(run.out, "health"), {"-"}));
  CHECK(run.out.find("configuration:\n") != std::string::npos);
  CHECK(has_words(line_starting(run.out, "  prefix"), {"\"Hello\""}));
  CHECK(has_words(line_starting(run.out, "  max_length"), {"40"}));

  auto unconfigured = run_ctl(demo.url, {"status", "tally"});
  CHECK(has_words(unconfigured.out, {"initialized", "configuration: none yet"}));

  auto json_run = run_ctl(demo.url, {"status", "greeter", "--json"});
  REQUIRE(json_run.code() == 0);
  CHECK(trimmed(json_run.out) == demo.api.get("/services/greeter").body);
}

TEST_CASE("ctl list pages through every instance in registration order, filtered by state and type",
          "[ctl]") {
  ServerProcess server;
  auto api = server.client();
  // More than one page of 1,000: ctl follows `next` with `after`.
  constexpr int count = 1005;
  for (int i = 0; i < count; ++i) {
    auto name = "e" + std::to_string(10000 + i);
    E2E_REQUIRE_STATUS(register_service(api, i % 2 == 0 ? "echo" : "counter", name), 200);
  }
  E2E_REQUIRE_STATUS(api.post("/services/e10000/configure_and_start"), 200);
  auto url = url_of(server.port());

  auto names = run_ctl(url, {"list", "-q"});
  INFO(names.describe().substr(0, 2000));
  REQUIRE(names.code() == 0);
  CHECK(lines_of(names.out) == service_names(api));
  CHECK(lines_of(names.out).size() == count);

  auto table = run_ctl(url, {"list"});
  REQUIRE(table.code() == 0);
  auto lines = lines_of(table.out);
  REQUIRE(lines.size() == count + 1);
  CHECK(has_words(lines[0], {"NAME", "STATE", "CONFIGURED", "ERROR"}));
  CHECK(has_words(lines[1], {"e10000", "running"}));
  CHECK(has_words(lines[2], {"e10001", "initialized", "no", "-"}));
  CHECK(lines.back().rfind("e11004", 0) == 0);

  auto running = run_ctl(url, {"list", "--state", "running", "-q"});
  CHECK(lines_of(running.out) == std::vector<std::string>{"e10000"});
  auto counters = run_ctl(url, {"list", "--type", "counter", "-q"});
  CHECK(lines_of(counters.out).size() == count / 2);
  CHECK(lines_of(counters.out).front() == "e10001");

  auto json_run = run_ctl(url, {"list", "--json", "--state", "running"});
  REQUIRE(json_run.code() == 0);
  CHECK(trimmed(json_run.out) == api.get("/services?state=running").body);
  auto none = run_ctl(url, {"list", "--state", "error"});
  CHECK(trimmed(none.out) == "No instances.");
}

TEST_CASE("ctl nodes lists the node and ctl events its events, --json their replies", "[ctl]") {
  DemoServer demo;
  auto node_id = demo.api.get("/nodes").body_json["nodes"][0]["id"].get<std::string>();

  auto nodes = run_ctl(demo.url, {"nodes"});
  INFO(nodes.describe());
  REQUIRE(nodes.code() == 0);
  auto lines = lines_of(nodes.out);
  REQUIRE(lines.size() == 2);
  CHECK(has_words(lines[0], {"ID", "ADDRESS", "STATE", "SERVICES", "VERSION"}));
  CHECK(has_words(lines[1], {node_id, "up", "2"}));
  CHECK(trimmed(run_ctl(demo.url, {"nodes", "-q"}).out) == node_id);
  CHECK(trimmed(run_ctl(demo.url, {"nodes", "--json"}).out) == demo.api.get("/nodes").body);

  auto events = run_ctl(demo.url, {"events"});
  INFO(events.describe());
  REQUIRE(events.code() == 0);
  auto event_lines = lines_of(events.out);
  REQUIRE(event_lines.size() ==
          6);  // heading; greeter registered, configured, starting, running; tally
  CHECK(has_words(event_lines[0], {"TIME", "NODE", "SERVICE", "STATE", "CAUSE", "ERROR"}));
  CHECK(has_words(event_lines[1], {node_id, "greeter", "registered", "request"}));
  CHECK(has_words(event_lines[4], {"greeter", "running", "request"}));
  CHECK(has_words(event_lines[5], {"tally", "registered"}));
  CHECK(trimmed(run_ctl(demo.url, {"events", "--json"}).out) == demo.api.get("/events").body);

  auto cluster = run_ctl(demo.url, {"events", "--cluster", "--json"});
  REQUIRE(cluster.code() == 0);
  CHECK(json::parse(cluster.out)["events"] == demo.api.get("/events").body_json["events"]);
}

// ---------------------------------------------------------------------------
// Commands

TEST_CASE("ctl register, start, stop and deregister say what the node did, --json its replies",
          "[ctl]") {
  ServerProcess server;
  auto api = server.client();
  auto url = url_of(server.port());

  auto auto_named = run_ctl(url, {"register", "echo"});
  INFO(auto_named.describe());
  REQUIRE(auto_named.code() == 0);
  CHECK(trimmed(auto_named.out) == "registered echo (EchoService)");
  auto named = run_ctl(url, {"register", "counter", "tally", "--json"});
  REQUIRE(named.code() == 0);
  CHECK(json::parse(named.out) ==
        json{{"status", "registered"}, {"service", "tally"}, {"type", "CounterService"}});
  CHECK(service_names(api) == std::vector<std::string>{"echo", "tally"});

  REQUIRE(run_ctl(url, {"configure", "echo", "prefix=Hi"}).code() == 0);
  auto start = run_ctl(url, {"start", "echo"});
  INFO(start.describe());
  REQUIRE(start.code() == 0);
  CHECK(trimmed(start.out) == "started echo");
  CHECK(state_of(api, "echo") == "running");

  auto stop = run_ctl(url, {"stop", "echo", "--json"});
  REQUIRE(stop.code() == 0);
  CHECK(json::parse(stop.out) == json{{"status", "stopped"}, {"service", "echo"}});
  CHECK(state_of(api, "echo") == "stopped");

  auto deregister = run_ctl(url, {"deregister", "echo"});
  REQUIRE(deregister.code() == 0);
  CHECK(trimmed(deregister.out) == "deregistered echo");
  CHECK(api.get("/services/echo").status == 404);
}

TEST_CASE(
    "ctl stop and deregister print the node's warning when the state file did not record them",
    "[ctl][state]") {
  // The node acts all the same (docs/state.md): exit 0, but the operator is
  // told the change will not last a restart.
  TempDirectory folder{"ctl-state"};
  auto mount = mount_tmpfs_or_skip(folder.path() / "small", 2 * 1024 * 1024);
  if (!mount) return;
  ServerOptions options;
  options.args = {"--state", (mount->path() / "state.db").string()};
  ServerProcess server{options};
  auto api = server.client();
  auto url = url_of(server.port());
  register_ok(api, "echo", "kept");
  E2E_REQUIRE_STATUS(api.post("/services/kept/start"), 200);
  auto filler = mount->fill();

  auto stop = run_ctl(url, {"stop", "kept"});
  INFO(stop.describe());
  CHECK(stop.code() == 0);
  CHECK(trimmed(stop.out) == "stopped kept");
  CHECK_THAT(stop.err, Catch::StartsWith("processpype ctl: warning: State not saved: "));
  auto deregister = run_ctl(url, {"deregister", "kept", "--json"});
  INFO(deregister.describe());
  CHECK(deregister.code() == 0);
  CHECK(json::parse(deregister.out)["warning"].is_string());
  CHECK_THAT(deregister.err, Catch::StartsWith("processpype ctl: warning: State not saved: "));
  std::filesystem::remove(filler);
}

TEST_CASE("ctl configure merges KEY=VALUE into the current configuration, VALUE read as JSON",
          "[ctl][configure]") {
  DemoServer demo;
  REQUIRE(run_ctl(demo.url, {"stop", "greeter"}).code() == 0);

  auto merge = run_ctl(demo.url, {"configure", "greeter", "prefix=Hi", "enabled=false",
                                  "depends_on=[]", "restart_delay_seconds=0.5"});
  INFO(merge.describe());
  REQUIRE(merge.code() == 0);
  CHECK(trimmed(merge.out) == "configured greeter");
  auto metadata = metadata_of(demo.api, "greeter");
  CHECK(metadata["prefix"] == "Hi");               // a string
  CHECK(metadata["max_length"] == 40);             // kept from before
  CHECK(metadata["enabled"] == false);             // a bool
  CHECK(metadata["depends_on"] == json::array());  // a list
  CHECK(metadata["restart_delay_seconds"] == 0.5);

  auto numbers = run_ctl(demo.url, {"configure", "tally", "step=5", "initial_value=-3"});
  REQUIRE(numbers.code() == 0);
  CHECK(metadata_of(demo.api, "tally")["step"].is_number_integer());
  CHECK(metadata_of(demo.api, "tally")["step"] == 5);
  CHECK(metadata_of(demo.api, "tally")["initial_value"] == -3);

  // "5" in JSON quotes stays a string: the node refuses it for an integer.
  auto refused = run_ctl(demo.url, {"configure", "tally", "step=\"5\""});
  CHECK(refused.code() == 1);
  CHECK(has_words(refused.err, {"step", "(HTTP 422)"}));
  CHECK(metadata_of(demo.api, "tally")["step"] == 5);
}

TEST_CASE("ctl configure --replace, --file and --file - replace the whole configuration",
          "[ctl][configure]") {
  DemoServer demo;
  REQUIRE(run_ctl(demo.url, {"stop", "greeter"}).code() == 0);

  auto replace = run_ctl(demo.url, {"configure", "greeter", "--replace", "prefix=Only"});
  INFO(replace.describe());
  REQUIRE(replace.code() == 0);
  auto metadata = metadata_of(demo.api, "greeter");
  CHECK(metadata["prefix"] == "Only");
  CHECK(metadata["max_length"] == 1000);  // the default again: not merged

  TempFile file(R"({"prefix": "File", "max_length": 7})", ".json");
  auto from_file = run_ctl(demo.url, {"configure", "greeter", "--file", file.path()});
  REQUIRE(from_file.code() == 0);
  CHECK(metadata_of(demo.api, "greeter")["prefix"] == "File");
  CHECK(metadata_of(demo.api, "greeter")["max_length"] == 7);

  auto from_stdin =
      run_in_shell(demo.url, R"(printf '{"prefix": "Stdin"}' | $CTL configure greeter --file -)");
  INFO(from_stdin.describe());
  REQUIRE(from_stdin.code() == 0);
  CHECK(trimmed(from_stdin.out) == "configured greeter");
  CHECK(metadata_of(demo.api, "greeter")["prefix"] == "Stdin");
  CHECK(metadata_of(demo.api, "greeter")["max_length"] == 1000);

  // KEY=VALUE on top of a file.
  REQUIRE(
      run_ctl(demo.url, {"configure", "greeter", "--file", file.path(), "max_length=9"}).code() ==
      0);
  CHECK(metadata_of(demo.api, "greeter")["prefix"] == "File");
  CHECK(metadata_of(demo.api, "greeter")["max_length"] == 9);
}

// ---------------------------------------------------------------------------
// Exit codes

TEST_CASE("a refusal exits 1 with the server's detail on stderr and nothing on stdout", "[ctl]") {
  DemoServer demo;
  auto unknown = run_ctl(demo.url, {"start", "nope"});
  INFO(unknown.describe());
  CHECK(unknown.code() == 1);
  CHECK(unknown.out.empty());
  CHECK(trimmed(unknown.err) ==
        "processpype ctl: " + demo.api.post("/services/nope/start").detail() + " (HTTP 404)");

  auto running = run_ctl(demo.url, {"configure", "greeter", "prefix=x", "--json"});
  CHECK(running.code() == 1);
  CHECK(running.out.empty());
  CHECK(has_words(running.err, {"greeter", "(HTTP 409)"}));

  auto taken = run_ctl(demo.url, {"register", "echo", "greeter"});
  CHECK(taken.code() == 1);
  CHECK(has_words(taken.err, {"(HTTP 409)"}));
  auto unknown_class = run_ctl(demo.url, {"register", "nosuchclass"});
  CHECK(unknown_class.code() == 1);
  CHECK(has_words(unknown_class.err, {"nosuchclass", "(HTTP 404)"}));
}

namespace {

enum class Stdout { any, empty };

/// Each of `mistakes` (ctl's arguments) is a usage error: exit 2 with a
/// message on stderr (and nothing on stdout, with Stdout::empty).
void check_usage_errors(const std::string& url,
                        const std::vector<std::vector<std::string>>& mistakes,
                        Stdout out = Stdout::any) {
  for (const auto& args : mistakes) {
    auto run = run_ctl(url, args);
    std::string command_line;
    for (const auto& arg : args) command_line += arg + " ";
    INFO("ctl " << command_line << "\n" << run.describe());
    CHECK(run.code() == 2);
    if (out == Stdout::empty) CHECK(run.out.empty());
    CHECK_FALSE(run.err.empty());
  }
}

}  // namespace

TEST_CASE("usage errors exit 2 before any request", "[ctl]") {
  DemoServer demo;
  auto events_before = demo.api.get("/events").body;
  TempFile not_json("{ nope", ".json");
  const std::vector<std::vector<std::string>> mistakes = {
      {},
      {"bogus"},
      {"start"},
      {"status", "a", "b"},
      {"list", "--state", "sleeping"},
      {"configure", "tally", "novalue"},
      {"configure", "tally", "=5"},
      {"configure", "tally"},
      {"configure", "tally", "--file", "/nonexistent/ctl.json"},
      {"configure", "tally", "--file", not_json.path()},
      {"--url", "ftp://127.0.0.1:1", "status"},
      {"--token-file", "/nonexistent/token", "status"},
      {"--timeout", "0", "status"},
      {"--timeout", "1e30", "status"},
      {"completion", "zsh"},
  };
  check_usage_errors(demo.url, mistakes);
  auto broken_token =
      run_ctl(demo.url, {"start", "greeter"}, {{{"PROCESSPYPE_TOKEN", "abc\ndef"}}, {}});
  CHECK(broken_token.code() == 2);
  CHECK(has_words(broken_token.err, {"PROCESSPYPE_TOKEN", "control characters"}));
  CHECK(demo.api.get("/events").body == events_before);  // nothing was changed

  auto help = run_ctl(demo.url, {"--help"});
  CHECK(help.code() == 0);
  CHECK(has_words(help.out, {"status", "configure", "completion", "--token-file"}));
}

TEST_CASE("an unreachable node exits 3: connection refused, no answer in time", "[ctl]") {
  auto closed = run_ctl(url_of(free_port()), {"status"});
  INFO(closed.describe());
  CHECK(closed.code() == 3);
  CHECK(has_words(closed.err, {"cannot reach"}));

  SilentListener silent;
  auto started = Clock::now();
  auto hung = run_ctl(url_of(silent.port()), {"--timeout", "0.5", "start", "x"});
  INFO(hung.describe());
  CHECK(hung.code() == 3);
  CHECK(has_words(hung.err, {"no reply", "--timeout"}));
  CHECK(elapsed_ms(started) < 10000);

  auto unknown_host = run_ctl("http://unknown-host.invalid:8000", {"--timeout", "3", "status"});
  INFO(unknown_host.describe());
  CHECK(unknown_host.code() == 3);
}

TEST_CASE("names that are not instance names and a --url with a query exit 2 before any request",
          "[ctl]") {
  // `/services/..` is `/`: `status ..` printed the node as an instance.
  DemoServer demo;
  auto events_before = demo.api.get("/events").body;
  const std::vector<std::vector<std::string>> mistakes = {
      {"status", ".."},
      {"status", "."},
      {"status", "a/b"},
      {"status", std::string(65, 'a')},
      {"start", ".."},
      {"stop", "."},
      {"deregister", ".."},
      {"configure", "..", "prefix=x"},
      {"register", "echo", ".."},
      {"--node", "..", "status"},
      {"drain", ".."},
      {"--url", demo.url + "?x=1", "status", "greeter"},
      {"--url", demo.url + "/#part", "status"},
  };
  check_usage_errors(demo.url, mistakes, Stdout::empty);
  CHECK(demo.api.get("/events").body == events_before);       // nothing was changed
  auto dotted = run_ctl(demo.url, {"status", "greeter.v1"});  // dots inside a name are fine
  CHECK(dotted.code() == 1);
  CHECK(has_words(dotted.err, {"(HTTP 404)"}));
}

TEST_CASE("status NAME and configure NAME refuse a reply that is not an instance's status",
          "[ctl]") {
  // What GET / answers: a `state` too, but the node's.
  CannedReplyServer node_status{R"({"name": "app", "version": "0.1.0", "state": "running", )"
                                R"("services": {}, "metadata": {}})"};
  auto status = run_ctl(node_status.endpoint(), {"status", "echo"});
  INFO(status.describe());
  CHECK(status.code() == 1);
  CHECK(status.out.empty());
  CHECK(has_words(status.err, {"unexpected reply", "/services/echo"}));

  auto configure = run_ctl(node_status.endpoint(), {"configure", "echo", "prefix=x"});
  INFO(configure.describe());
  CHECK(configure.code() == 1);
  CHECK(has_words(configure.err, {"unexpected reply"}));
}

// ---------------------------------------------------------------------------
// Tokens

TEST_CASE("tokens from --token-file or PROCESSPYPE_TOKEN authorize, a wrong one exits 1 (401)",
          "[ctl][auth]") {
  const std::string admin_token = "ctl-admin-7Hq2xP";
  const std::string read_token = "ctl-read-4Lm9wZ";
  TempFile config("server:\n  auth:\n    admin_token: ${CTL_ADMIN}\n    read_token: ${CTL_READ}\n");
  ProbedServerOptions options;
  options.args = {"--config", config.path()};
  options.env.set = {{"CTL_ADMIN", admin_token}, {"CTL_READ", read_token}};
  ProbedServer server(options);
  auto url = url_of(server.port());
  auto unauthorized_detail = server.client().get("/").detail();
  REQUIRE_FALSE(unauthorized_detail.empty());

  auto none = run_ctl(url, {"status"});
  INFO(none.describe());
  CHECK(none.code() == 1);
  CHECK(trimmed(none.err) == "processpype ctl: " + unauthorized_detail + " (HTTP 401)");

  auto wrong = run_ctl(url, {"status"}, {{{"PROCESSPYPE_TOKEN", "wrong"}}, {}});
  CHECK(wrong.code() == 1);
  CHECK(has_words(wrong.err, {"(HTTP 401)"}));

  auto from_env = run_ctl(url, {"register", "echo"}, {{{"PROCESSPYPE_TOKEN", admin_token}}, {}});
  INFO(from_env.describe());
  CHECK(from_env.code() == 0);

  TempFile token_file(admin_token + "\n", ".token");
  auto from_file = run_ctl(url, {"--token-file", token_file.path(), "status", "echo"},
                           {{{"PROCESSPYPE_TOKEN", "wrong"}}, {}});  // the file wins
  INFO(from_file.describe());
  CHECK(from_file.code() == 0);
  CHECK(has_words(from_file.out, {"initialized"}));

  TempFile read_file(read_token, ".token");
  auto reads = run_ctl(url, {"--token-file", read_file.path(), "list", "-q"});
  CHECK(reads.code() == 0);
  CHECK(trimmed(reads.out) == "echo");
  auto writes = run_ctl(url, {"--token-file", read_file.path(), "start", "echo"});
  CHECK(writes.code() == 1);
  CHECK(has_words(writes.err, {"(HTTP 403)"}));

  TempFile empty_file("\n", ".token");
  CHECK(run_ctl(url, {"--token-file", empty_file.path(), "status"}).code() == 2);
}

// ---------------------------------------------------------------------------
// Nodes

TEST_CASE(
    "ctl --node sends every request to /nodes/ID: another node of a cluster, or the local one",
    "[ctl][cluster]") {
  auto [a, b] = start_joined_pair("a", "b");
  auto url = url_of(a.http_port());
  auto api_a = a.client();
  auto api_b = b.client();

  auto registered = run_ctl(url, {"--node", "b", "register", "echo", "on_b"});
  INFO(registered.describe());
  REQUIRE(registered.code() == 0);
  CHECK(service_names(api_b) == std::vector<std::string>{"on_b"});
  CHECK(service_names(api_a).empty());

  // register's own --node puts "node" in the body.
  auto placed = run_ctl(url, {"register", "counter", "placed", "--node", "b"});
  INFO(placed.describe());
  REQUIRE(placed.code() == 0);
  CHECK(trimmed(placed.out) == "registered placed (CounterService) on node b");
  CHECK(service_names(api_b) == std::vector<std::string>{"on_b", "placed"});

  CHECK(run_ctl(url, {"--node", "b", "configure", "on_b", "prefix=B"}).code() == 0);
  CHECK(run_ctl(url, {"--node", "b", "start", "on_b"}).code() == 0);
  CHECK(state_of(api_b, "on_b") == "running");
  auto listed = run_ctl(url, {"--node", "b", "list", "-q"});
  CHECK(lines_of(listed.out) == std::vector<std::string>{"on_b", "placed"});
  auto status = run_ctl(url, {"status", "on_b", "--node", "b"});
  CHECK(has_words(line_starting(status.out, "state"), {"running"}));
  CHECK(run_ctl(url, {"status", "on_b"}).code() == 1);  // not on a

  auto node_status = run_ctl(url, {"--node", "b", "status"});
  CHECK(has_words(node_status.out, {"2 instances", "on_b", "placed"}));

  // b's event stream, through a.
  RunningCtl follower(url, {"--node", "b", "events", "--follow"});
  CHECK(follower.wait_for_line(
      [](const std::string& line) {
        return has_words(line, {" b ", "on_b", "running"});
      },
      10s));

  auto local = run_ctl(url, {"--node", "a", "register", "echo", "on_a"});
  CHECK(local.code() == 0);
  CHECK(service_names(api_a) == std::vector<std::string>{"on_a"});

  auto nodes = run_ctl(url, {"nodes"});
  CHECK(has_words(line_starting(nodes.out, "a "), {"up", "1"}));
  CHECK(has_words(line_starting(nodes.out, "b "), {"up", "2"}));

  auto unknown = run_ctl(url, {"--node", "nope", "status"});
  CHECK(unknown.code() == 1);
  CHECK(has_words(unknown.err, {"nope", "(HTTP 404)"}));

  auto events = run_ctl(url, {"events", "--cluster"});
  REQUIRE(events.code() == 0);
  CHECK(has_words(events.out, {" a ", " b ", "on_a", "on_b"}));
}

TEST_CASE("ctl nodes marks a drained node cordoned in its state column", "[ctl][cluster]") {
  CannedReplyServer nodes_reply{
      R"({"nodes": [{"id": "a", "address": "127.0.0.1:7001", "state": "up", "services": 0, )"
      R"("version": "0.1.0", "title": "t", "cordoned": true}, )"
      R"({"id": "b", "address": "127.0.0.1:7002", "state": "up", "services": 3, )"
      R"("version": "0.1.0", "title": "t", "cordoned": false}]})"};
  auto nodes = run_ctl(nodes_reply.endpoint(), {"nodes"});
  INFO(nodes.describe());
  REQUIRE(nodes.code() == 0);
  CHECK(has_words(line_starting(nodes.out, "a "), {"up,cordoned", "0"}));
  CHECK(has_words(line_starting(nodes.out, "b "), {"up", "3"}));
  CHECK(line_starting(nodes.out, "b ").find("cordoned") == std::string::npos);
}

TEST_CASE("register --cluster asks for a cluster instance and never leaves a node instance instead",
          "[ctl][cluster]") {
  ServerProcess server;
  auto api = server.client();
  auto run = run_ctl(url_of(server.port()), {"register", "echo", "shared", "--cluster"});
  INFO(run.describe());
  // Without a cluster store the node refuses the placement (docs/cli.md);
  // a node that ignores it registered a node instance, which ctl removed.
  CHECK(run.code() == 1);
  CHECK(has_words(run.err, {"cluster"}));
  CHECK(run.out.empty());
  CHECK(service_names(api).empty());
}

TEST_CASE("drain ID posts to /nodes/ID/drain and reports the node's answer", "[ctl][cluster]") {
  ServerProcess server;
  auto url = url_of(server.port());
  auto unknown = run_ctl(url, {"drain", "nope"});
  INFO(unknown.describe());
  CHECK(unknown.code() == 1);
  CHECK(has_words(unknown.err, {"nope", "(HTTP 404)"}));

  auto id = server.client().get("/nodes").body_json["nodes"][0]["id"].get<std::string>();
  auto own = run_ctl(url, {"drain", id});
  INFO(own.describe());
  CHECK(own.code() == 1);  // a node without a cluster store: the refusal says so
  CHECK(has_words(own.err, {"cluster store", "(HTTP 400)"}));
  CHECK(own.out.empty());
}

// ---------------------------------------------------------------------------
// Terminals and completion

TEST_CASE(
    "colours only on a terminal: ANSI colours on a pseudo-terminal, none in a pipe or with "
    "NO_COLOR",
    "[ctl][terminal]") {
  DemoServer demo;
  Environment terminal;
  terminal.set = {{"TERM", "xterm"}};
  auto coloured = run_ctl_on_terminal(demo.url, {"status"}, terminal);
  INFO(coloured.describe());
  REQUIRE(coloured.code() == 0);
  CHECK(coloured.out.find("\x1b[32mrunning\x1b[0m") != std::string::npos);
  CHECK(coloured.out.find("\x1b[36minitialized\x1b[0m") != std::string::npos);

  auto events = run_ctl_on_terminal(demo.url, {"events"}, terminal);
  CHECK(events.out.find("\x1b[32mrunning\x1b[0m") != std::string::npos);

  auto piped = run_ctl(demo.url, {"status"}, terminal);
  CHECK(piped.code() == 0);
  CHECK(piped.out.find('\x1b') == std::string::npos);

  Environment no_colour = terminal;
  no_colour.set.emplace_back("NO_COLOR", "1");
  auto plain = run_ctl_on_terminal(demo.url, {"status"}, no_colour);
  INFO(plain.describe());
  REQUIRE(plain.code() == 0);
  CHECK(plain.out.find("running") != std::string::npos);
  CHECK(plain.out.find('\x1b') == std::string::npos);
}

TEST_CASE("completion bash prints a valid script that completes commands, flags, states, names",
          "[ctl][completion]") {
  DemoServer demo;
  auto script = run_ctl(demo.url, {"completion", "bash"});
  REQUIRE(script.code() == 0);
  TempFile file(script.out, ".bash");
  auto syntax = run_in_shell(demo.url, "bash -n " + file.path());
  INFO(syntax.describe());
  REQUIRE(syntax.code() == 0);

  // What bash offers after the words typed so far (the last one is being
  // completed), as bash calls the function.
  TempFile driver(
      "source \"$1\"; shift\n"
      "COMP_WORDS=(\"$@\"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
      "_processpype\n"
      "printf '%s\\n' \"${COMPREPLY[@]}\" | sort\n",
      ".bash");
  auto complete = [&](std::vector<std::string> words) {
    words.insert(words.begin(), {driver.path(), file.path()});
    ChildProcess bash("bash", words, ctl_environment(demo.url));
    auto status = bash.wait(20s);
    INFO(status.describe() << "\n" << bash.stderr_text());
    REQUIRE(status.code == 0);
    return lines_of(bash.stdout_text());
  };
  using Words = std::vector<std::string>;
  CHECK(complete({"processpype", ""}) == Words{"ctl"});
  CHECK(complete({"processpype", "ctl", "st"}) == Words{"start", "status", "stop"});
  auto list_flags = complete({"processpype", "ctl", "list", "--"});
  for (const auto* flag : {"--state", "--type", "--quiet", "--json", "--url", "--node"})
    CHECK(std::find(list_flags.begin(), list_flags.end(), flag) != list_flags.end());
  CHECK(complete({"processpype", "ctl", "list", "--state", "r"}) == Words{"running"});
  CHECK(complete({"processpype", "ctl", "completion", ""}) == Words{"bash"});
  // Instance names and node ids come from the node, with the --url typed.
  auto binary = server_binary();
  CHECK(complete({binary, "ctl", "start", ""}) == Words{"greeter", "tally"});
  CHECK(complete({binary, "ctl", "--url", url_of(free_port()), "start", ""}).empty());
  CHECK(complete({binary, "ctl", "configure", "g"}) == Words{"greeter"});
  CHECK(complete({binary, "ctl", "configure", "greeter", ""}).empty());  // KEY=VALUE: free text
  auto partial = file.path().substr(0, file.path().size() - 3);
  CHECK(complete({binary, "ctl", "configure", "greeter", "--file", partial}) == Words{file.path()});
  auto node_id = demo.api.get("/nodes").body_json["nodes"][0]["id"].get<std::string>();
  CHECK(complete({binary, "ctl", "drain", ""}) == Words{node_id});
}
