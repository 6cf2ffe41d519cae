// Bearer tokens of the REST API (docs/security.md, `server.auth`) with the real
// binary: who may do what (401/403/200), the open routes, tokens never
// logged nor echoed, throttled refusal logs, /nodes/{id} authorized by the
// receiving node, startup refusals (exit code 2) and SIGHUP reloads of the
// token files.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "security_support.hpp"

using namespace security;

namespace {

// Distinct, greppable tokens.
const std::string admin_token = "adm-Q7vX2kP9wL4mZ8rT";
const std::string read_token = "rd-H3nB6yC1fJ5sD0gK";

/// A server whose tokens come from ${SEC_ADMIN} and ${SEC_READ}.
struct AuthServer {
  explicit AuthServer(const std::string& extra_yaml = "", std::vector<std::string> args = {})
      : config("server:\n  auth:\n    admin_token: ${SEC_ADMIN}\n    read_token: ${SEC_READ}\n" +
               extra_yaml),
        server([&] {
          ProbedServerOptions options;
          options.args = {"--config", config.path()};
          options.args.insert(options.args.end(), args.begin(), args.end());
          options.env.set = {{"SEC_ADMIN", admin_token}, {"SEC_READ", read_token}};
          return options;
        }()) {}

  TempFile config;
  ProbedServer server;
};

/// A 401 as documented: WWW-Authenticate: Bearer and a JSON detail.
void check_unauthorized(const HttpResponse& response) {
  INFO(response.describe());
  CHECK(response.status == 401);
  CHECK(response.header("WWW-Authenticate") == "Bearer");
  check_detail(response);
}

/// Wrong credentials of every kind: each must be 401.
std::vector<std::vector<std::string>> wrong_credentials() {
  return {
      {},
      bearer("wrong"),
      bearer(admin_token + "x"),
      bearer(admin_token.substr(0, admin_token.size() - 1)),
      {"Authorization: Bearer"},
      {"Authorization: " + admin_token},
      {"Authorization: Basic YWRtaW46YWRtaW4="},
      {"X-Token: " + admin_token},
  };
}

/// hh:mm:ss.mmm of a text log line ("2026-11-27T05:19:05.673 ...") in ms
/// of the day; -1 when the line has no such time.
long log_time_ms(const std::string& line) {
  if (line.size() < 23 || line[10] != 'T' || line[19] != '.') return -1;
  auto number = [&](std::size_t at, std::size_t digits) {
    return std::strtol(line.substr(at, digits).c_str(), nullptr, 10);
  };
  return ((number(11, 2) * 60 + number(14, 2)) * 60 + number(17, 2)) * 1000 + number(20, 3);
}

/// `time` as the refusal log writes held refusals' times: ISO 8601 UTC with
/// milliseconds, so that two such texts compare as their times do.
std::string utc_text(std::chrono::system_clock::time_point time) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  auto milliseconds = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds);
  auto calendar = std::chrono::system_clock::to_time_t(seconds);
  std::tm utc{};
  gmtime_r(&calendar, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char with_milliseconds[40];
  std::snprintf(with_milliseconds, sizeof with_milliseconds, "%s.%03dZ", text,
                static_cast<int>(milliseconds.count()));
  return with_milliseconds;
}

/// The `<first>` and `<last>` of "N requests from <first> to <last>" in `line`.
std::pair<std::string, std::string> held_span(const std::string& line) {
  auto from = line.find(" requests from ");
  auto to = line.find(" to ", from);
  if (from == std::string::npos || to == std::string::npos) return {};
  from += std::string_view{" requests from "}.size();
  return {line.substr(from, to - from), line.substr(to + 4, 24)};
}

/// Six requests without a token, well within a second: one line, five held.
void refuse_six_at_once(HttpClient& api, AuthServer& auth) {
  auto started = Clock::now();
  for (int i = 0; i < 6; ++i) check_unauthorized(api.get("/services"));
  REQUIRE(seconds_since(started) < 0.9);  // else the burst spans two lines' seconds
  auto auth_lines = [&] { return lines_with(auth.server.stderr_text(), "processpype.auth"); };
  REQUIRE(wait_until([&] { return !auth_lines().empty(); }, 5s));
  REQUIRE(auth_lines().size() == 1);
}

}  // namespace

// ---------------------------------------------------------------------------
// Who may do what

TEST_CASE("tokens: none or unknown is 401, the read token may only GET (403), admin everything",
          "[security][auth]") {
  AuthServer auth;
  HttpClient api(auth.server.port());
  const auto admin = bearer(admin_token);
  const auto reader = bearer(read_token);
  auto node = "/nodes/" + percent_encode([&] {
                std::string id;
                wait_until(
                    [&] {
                      auto nodes = api.request("GET", "/nodes", std::nullopt, admin).field("nodes");
                      if (nodes.is_array() && nodes.size() == 1) id = nodes[0]["id"];
                      return !id.empty();
                    },
                    10s);
                return id;
              }());
  E2E_REQUIRE_STATUS(api.request("POST", "/services/register",
                                 R"({"service_name":"echo","instance_name":"e1"})", admin),
                     200);
  E2E_REQUIRE_STATUS(
      api.request("POST", "/services/e1/configure_and_start", R"({"prefix":"A"})", admin), 200);

  const std::vector<std::string> reads = {"/",        "/services",        "/services/e1",
                                          "/metrics", "/events",          "/openapi.json",
                                          "/nodes",   node + "/services", node + "/services/e1"};
  for (const auto& path : reads) {
    INFO("GET " << path);
    for (const auto& headers : wrong_credentials()) {
      INFO("with " << (headers.empty() ? "no Authorization" : headers.front()));
      check_unauthorized(api.request("GET", path, std::nullopt, headers));
    }
    E2E_CHECK_STATUS(api.request("GET", path, std::nullopt, reader), 200);
    E2E_CHECK_STATUS(api.request("GET", path, std::nullopt, admin), 200);
  }
  // An unknown route says nothing before the token: 401, then 404.
  check_unauthorized(api.get("/no/such/route"));
  E2E_CHECK_STATUS(api.request("GET", "/no/such/route", std::nullopt, reader), 404);
  // The header name is case-insensitive.
  E2E_CHECK_STATUS(
      api.request("GET", "/services", std::nullopt, {"authorization: Bearer " + read_token}), 200);

  struct Write {
    std::string method, path;
    std::optional<std::string> body;
  };
  const std::vector<Write> writes = {
      {"POST", "/services/register", R"({"service_name":"echo","instance_name":"w"})"},
      {"POST", node + "/services/register", R"({"service_name":"echo","instance_name":"w"})"},
      {"POST", "/services/e1/stop", std::nullopt},
      {"POST", node + "/services/e1/stop", std::nullopt},
      {"POST", "/services/e1/configure", R"({"prefix":"Z"})"},
      {"POST", "/services/e1/configure_and_start", R"({"prefix":"Z"})"},
      {"POST", "/services/e1/start", std::nullopt},
      {"POST", "/services/e1/echo", R"({"message":"m"})"},
      {"DELETE", "/services/e1", std::nullopt},
      {"PUT", "/services/e1/anything", "{}"},
  };
  for (const auto& write : writes) {
    INFO(write.method << " " << write.path);
    for (const auto& headers : wrong_credentials()) {
      INFO("with " << (headers.empty() ? "no Authorization" : headers.front()));
      check_unauthorized(api.request(write.method, write.path, write.body, headers));
    }
    auto forbidden = api.request(write.method, write.path, write.body, reader);
    E2E_CHECK_STATUS(forbidden, 403);
    check_detail(forbidden);
  }
  // Nothing changed.
  auto listing = api.request("GET", "/services/e1", std::nullopt, reader);
  CHECK(listing.field("state") == "running");
  CHECK(listing.field("metadata")["prefix"] == "A");
  auto names = api.request("GET", "/services", std::nullopt, reader).field("services");
  CHECK(names.size() == 1);

  // The admin token may do all of it.
  for (const auto& write : std::vector<Write>{
           {"POST", "/services/e1/echo", R"({"message":"m"})"},
           {"POST", "/services/register", R"({"service_name":"echo","instance_name":"w"})"},
           {"POST", node + "/services/e1/stop", std::nullopt},
           {"POST", "/services/e1/configure", R"({"prefix":"Z"})"},
           {"POST", "/services/e1/start", std::nullopt},
           {"POST", "/services/e1/stop", std::nullopt},
           {"POST", "/services/e1/configure_and_start", R"({"prefix":"Y"})"},
           {"DELETE", "/services/w", std::nullopt},
       }) {
    INFO(write.method << " " << write.path);
    E2E_CHECK_STATUS(api.request(write.method, write.path, write.body, admin), 200);
  }
  CHECK(api.request("GET", "/services/e1", std::nullopt, admin).field("metadata")["prefix"] == "Y");
}

TEST_CASE("tokens: event streams need a token too, and the read token may follow them",
          "[security][auth]") {
  AuthServer auth;
  HttpClient api(auth.server.port());
  const std::string accept = "Accept: text/event-stream\r\n";
  {
    RawConnection stream(auth.server.port());
    REQUIRE(stream.send(raw_get("/events", accept)));
    auto refused = stream.read_response();
    RAW_CHECK_STATUS(refused, 401);
    CHECK(refused.header("WWW-Authenticate") == "Bearer");
    check_raw_detail(refused);
  }
  {
    RawConnection stream(auth.server.port());
    REQUIRE(stream.send(raw_get("/events", accept + "Authorization: Bearer nope\r\n")));
    RAW_CHECK_STATUS(stream.read_response(), 401);
  }
  RawConnection stream(auth.server.port());
  REQUIRE(stream.send(raw_get("/events", accept + "Authorization: Bearer " + read_token + "\r\n")));
  auto head = stream.read_head();
  RAW_REQUIRE_STATUS(head, 200);
  CHECK(head.header("Content-Type").find("text/event-stream") != std::string::npos);
  E2E_REQUIRE_STATUS(
      api.request("POST", "/services/register", R"({"service_name":"echo"})", bearer(admin_token)),
      200);
  CHECK(stream.read_until("event: ", 5s));
}

TEST_CASE("tokens: the local health probes and the pages' files are open, nothing else",
          "[security][auth]") {
  AuthServer auth;
  HttpClient api(auth.server.port());
  for (const auto* path :
       {"/health/live", "/health/ready", "/ui", "/ui/", "/ui/app.js", "/ui/style.css",
        "/ui/index.html", "/docs", "/docs/docs.js", "/health/live?probe=1"}) {
    INFO("GET " << path);
    auto response = api.get(path);
    E2E_CHECK_STATUS(response, 200);
    CHECK(response.header("WWW-Authenticate").empty());
  }
  // Other methods on the open paths, /nodes/{id} versions of them, and
  // paths that climb out of the pages are not open.
  auto id = [&] {
    std::string found;
    wait_until(
        [&] {
          auto nodes =
              api.request("GET", "/nodes", std::nullopt, bearer(read_token)).field("nodes");
          if (nodes.is_array() && nodes.size() == 1) found = nodes[0]["id"];
          return !found.empty();
        },
        10s);
    return found;
  }();
  const auto node = "/nodes/" + percent_encode(id);
  check_unauthorized(api.post("/health/live"));
  check_unauthorized(api.request("DELETE", "/ui"));
  check_unauthorized(api.get(node + "/health/live"));
  check_unauthorized(api.get(node + "/health/ready"));
  check_unauthorized(api.get(node + "/ui"));
  for (const auto* climbing :
       {"/ui/../services", "/ui/%2e%2e/services", "/docs/..%2Fservices", "/ui/..%2F..%2Fmetrics",
        "/health/live/../../services", "/health/../services", "//services", "/ui/%2F/services"}) {
    INFO("GET " << climbing << " (sent as is)");
    RawConnection connection(auth.server.port());
    REQUIRE(connection.send(raw_get(climbing, "", true)));
    auto response = connection.read_response();
    INFO(response.describe());
    // 401, or 404 from the pages' own route (no such file): never data.
    CHECK((response.status == 401 || response.status == 404));
    CHECK(response.body.find("\"services\"") == std::string::npos);
    CHECK(response.body.find("processpype_") == std::string::npos);
  }
}

TEST_CASE(
    "tokens never appear in the log output, at trace level with the access log, nor in answers",
    "[security][auth][logs]") {
  AuthServer auth("logging:\n  access_log: true\n", {"--log-level", "trace"});
  HttpClient api(auth.server.port());
  const auto admin = bearer(admin_token);
  const auto reader = bearer(read_token);
  std::vector<HttpResponse> answers;
  answers.push_back(api.request("POST", "/services/register", R"({"service_name":"echo"})", admin));
  answers.push_back(api.request("POST", "/services/echo/start", std::nullopt, admin));
  for (const auto* path : {"/", "/services", "/services/echo", "/metrics", "/openapi.json",
                           "/events", "/nodes", "/health/live", "/health/ready", "/ui", "/docs"}) {
    answers.push_back(api.request("GET", path, std::nullopt, admin));
    answers.push_back(api.request("GET", path, std::nullopt, reader));
  }
  for (const auto& headers : wrong_credentials())
    answers.push_back(api.request("GET", "/services", std::nullopt, headers));
  answers.push_back(api.request("POST", "/services/echo/stop", std::nullopt, reader));
  answers.push_back(api.request("POST", "/services/echo/stop", std::nullopt,
                                {"Authorization: Bearer " + admin_token + admin_token}));
  // A reload (SIGHUP) and a shutdown log too.
  auth.server.signal(SIGHUP);
  REQUIRE(wait_until([&] { return auth.server.stderr_text().find("SIGHUP") != std::string::npos; },
                     5s));
  answers.push_back(api.request("GET", "/metrics", std::nullopt, admin));
  auto status = auth.server.stop();
  CHECK(status.code == 0);

  const auto log = auth.server.stderr_text() + auth.server.stdout_text();
  INFO("log output: " << log.size() << " bytes, " << lines_of(log).size() << " lines");
  CHECK(lines_with(log, "processpype.access").size() > 20);  // the access log was on
  CHECK(log.find(admin_token) == std::string::npos);
  CHECK(log.find(read_token) == std::string::npos);
  CHECK(log.find(admin_token.substr(0, admin_token.size() - 1)) == std::string::npos);
  for (const auto& answer : answers) {
    INFO(answer.describe());
    CHECK(answer.status != 0);
    CHECK(answer.body.find(admin_token.substr(4)) == std::string::npos);
    CHECK(answer.body.find(read_token.substr(3)) == std::string::npos);
  }
}

TEST_CASE("refused requests are logged with the peer address, at most 2 lines for 50 in a second",
          "[security][auth][logs]") {
  AuthServer auth;
  HttpClient api(auth.server.port());
  auto auth_lines = [&] { return lines_with(auth.server.stderr_text(), "processpype.auth"); };
  REQUIRE(auth_lines().empty());

  auto started = Clock::now();
  for (int i = 0; i < 50; ++i) {
    auto headers = wrong_credentials()[static_cast<std::size_t>(i) % wrong_credentials().size()];
    if (i % 7 == 3) {
      E2E_CHECK_STATUS(api.request("POST", "/services/register", "{}", bearer(read_token)), 403);
    } else {
      check_unauthorized(api.request("GET", "/services", std::nullopt, headers));
    }
  }
  auto seconds = seconds_since(started);
  REQUIRE(wait_until([&] { return !auth_lines().empty(); }, 5s));
  std::this_thread::sleep_for(300ms);  // anything more the burst would log
  auto lines = auth_lines();
  INFO("50 refusals in " << seconds << " s");
  for (const auto& line : lines) INFO(line);
  if (seconds < 1.0)
    CHECK(lines.size() <= 2);
  else
    CHECK(lines.size() <= static_cast<std::size_t>(std::ceil(seconds)) + 1);
  for (const auto& line : lines) {
    CHECK(line.find("127.0.0.1:") != std::string::npos);
    CHECK(line.find(admin_token) == std::string::npos);
    CHECK(line.find(read_token) == std::string::npos);
  }

  // Later refusals are logged again.
  auto before = lines.size();
  std::this_thread::sleep_for(1100ms);
  check_unauthorized(api.get("/"));
  CHECK(wait_until([&] { return auth_lines().size() > before; }, 5s));
}

// Was a bug, kept as a regression test: refused requests may be logged twice within a few
// milliseconds: the throttle (rest/src/authorizer.cpp, log_refusal) allows one line per whole
// second of the steady clock, not one per second. A bad request every 300 ms gives log lines 0.9 s
// apart (and a burst that straddles a second boundary two lines 1 ms apart), e.g.
//   05:19:05.673 ... unknown token (4 more refused in the last second)
//   05:19:05.724 ... unknown token
// Expected (docs/security.md): at most one line per second.
TEST_CASE("refusal log lines are at least one second apart", "[security][auth][logs]") {
  AuthServer auth;
  HttpClient api(auth.server.port());
  auto started = Clock::now();
  for (int i = 0; i < 14; ++i) {
    check_unauthorized(api.get("/services"));
    std::this_thread::sleep_until(started + (i + 1) * 300ms);
  }
  std::this_thread::sleep_for(200ms);
  std::vector<long> times;
  for (const auto& line : lines_with(auth.server.stderr_text(), "processpype.auth")) {
    INFO(line);
    times.push_back(log_time_ms(line));
    REQUIRE(times.back() >= 0);
  }
  REQUIRE(times.size() >= 3);
  for (std::size_t i = 1; i < times.size(); ++i) {
    auto gap = times[i] - times[i - 1];
    if (gap < 0) gap += 24 * 3600 * 1000;  // midnight
    INFO("gap between refusal lines " << i << " and " << i + 1 << ": " << gap << " ms");
    CHECK(gap >= 995);
  }
}

// Was a bug: a burst held back by the one-line-per-second limit was reported by the next refusal
// as "(5 more refused in the last second)" under that refusal's reason, however much later it
// came; and without a later request, never.
TEST_CASE("refusals held back are logged with their time span a second later without a request",
          "[security][auth][logs]") {
  AuthServer auth;
  HttpClient api(auth.server.port());
  auto burst_start = utc_text(std::chrono::system_clock::now());
  refuse_six_at_once(api, auth);
  auto burst_end = utc_text(std::chrono::system_clock::now());
  // No request at all from here: the count is logged by itself.
  std::vector<std::string> lines;
  REQUIRE(wait_until(
      [&] {
        return (lines = lines_with(auth.server.stderr_text(), "processpype.auth")).size() == 2;
      },
      5s));
  INFO(lines[0] << "\n" << lines[1]);
  CHECK_THAT(lines[1], Catch::Contains("Refused, not logged: 5 requests from "));
  auto [first, last] = held_span(lines[1]);
  CHECK(burst_start <= first);
  CHECK(first <= last);
  CHECK(last <= burst_end);
  auto gap = log_time_ms(lines[1]) - log_time_ms(lines[0]);
  if (gap < 0) gap += 24 * 3600 * 1000;  // midnight
  CHECK(gap >= 995);
  // The burst was counted once: the next line, whichever it is (this refusal's own, or its
  // count a second later), reports this refusal alone.
  check_unauthorized(api.request("GET", "/services", std::nullopt, bearer("wrong")));
  REQUIRE(wait_until(
      [&] {
        return (lines = lines_with(auth.server.stderr_text(), "processpype.auth")).size() == 3;
      },
      5s));
  INFO(lines[2]);
  CHECK_THAT(lines[2], !Catch::Contains("5 requests"));
  CHECK_THAT(lines[2],
             Catch::Contains("unknown token") || Catch::Contains("not logged: 1 request"));
}

TEST_CASE("refusals held back are logged when the node stops within their second",
          "[security][auth][logs]") {
  AuthServer auth;
  HttpClient api(auth.server.port());
  refuse_six_at_once(api, auth);
  REQUIRE(auth.server.stop().code == 0);
  auto lines = lines_with(auth.server.stderr_text(), "processpype.auth");
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[1], Catch::Contains("Refused, not logged: 5 requests from "));
}

TEST_CASE("refusals held back are logged by the first request checked after their second",
          "[security][auth][logs]") {
  AuthServer auth;
  HttpClient api(auth.server.port());
  refuse_six_at_once(api, auth);
  // Allowed requests only: the held refusals are reported once their second is over.
  std::vector<std::string> lines;
  auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline &&
         (lines = lines_with(auth.server.stderr_text(), "processpype.auth")).size() < 2) {
    E2E_REQUIRE_STATUS(api.request("GET", "/services", std::nullopt, bearer(admin_token)), 200);
    std::this_thread::sleep_for(50ms);  // the polling's pace
  }
  REQUIRE(lines.size() == 2);
  INFO(lines[0] << "\n" << lines[1]);
  CHECK_THAT(lines[1], Catch::Contains("Refused, not logged: 5 requests from "));
  auto gap = log_time_ms(lines[1]) - log_time_ms(lines[0]);
  if (gap < 0) gap += 24 * 3600 * 1000;  // midnight
  CHECK(gap >= 995);
}

// ---------------------------------------------------------------------------
// /nodes/{id}: the receiving node decides

TEST_CASE("/nodes/{id} requests are authorized by the node that receives them",
          "[security][auth][cluster]") {
  TempDirectory files("processpype-tokens");
  const std::string token_a = "node-a-Yt6Wq", read_a = "node-a-read-Pz4", token_b = "node-b-Mc8Rd";
  auto a_port = free_port(), b_port = free_port();
  auto start = [&](const std::string& id, int node_port, std::vector<int> join,
                   std::vector<std::string> token_args) {
    ProbedServerOptions options;
    options.args = node_args(id, node_port, join);
    options.args.insert(options.args.end(), token_args.begin(), token_args.end());
    options.ready_timeout = 30s;
    options.name = "node " + id;
    return std::make_unique<ProbedServer>(options);
  };
  auto a = start("a", a_port, {},
                 {"--admin-token-file", files.write("a.token", token_a + "\n"), "--read-token-file",
                  files.write("a.read", read_a)});
  auto b = start("b", b_port, {a_port}, {"--admin-token-file", files.write("b.token", token_b)});
  HttpClient via_a(a->port());
  HttpClient at_b(b->port());
  REQUIRE(wait_until(
      [&] {
        auto nodes = via_a.request("GET", "/nodes", std::nullopt, bearer(token_a)).field("nodes");
        return nodes.is_array() && nodes.size() == 2;
      },
      15s));

  // a's tokens open b's routes through a; b's own token does not.
  E2E_CHECK_STATUS(via_a.request("GET", "/nodes/b/services", std::nullopt, bearer(token_a)), 200);
  E2E_CHECK_STATUS(via_a.request("GET", "/nodes/b/services", std::nullopt, bearer(read_a)), 200);
  check_unauthorized(via_a.request("GET", "/nodes/b/services", std::nullopt, bearer(token_b)));
  check_unauthorized(via_a.get("/nodes/b/services"));
  check_unauthorized(via_a.get("/nodes/b/health/live"));
  auto forbidden = via_a.request("POST", "/nodes/b/services/register", R"({"service_name":"echo"})",
                                 bearer(read_a));
  E2E_CHECK_STATUS(forbidden, 403);
  check_unauthorized(via_a.request("POST", "/nodes/b/services/register",
                                   R"({"service_name":"echo"})", bearer(token_b)));
  E2E_CHECK_STATUS(
      via_a.request("POST", "/nodes/b/services/register",
                    R"({"service_name":"echo","instance_name":"from_a"})", bearer(token_a)),
      200);
  // register's "node" field goes the same way.
  check_unauthorized(via_a.request("POST", "/services/register",
                                   R"({"service_name":"echo","node":"b"})", bearer(token_b)));
  E2E_CHECK_STATUS(
      via_a.request("POST", "/services/register",
                    R"({"service_name":"echo","node":"b","instance_name":"x"})", bearer(read_a)),
      403);

  // Deep JSON carried to b is refused as at home, and b goes on.
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  const std::string deeper = std::string(100000, '[') + std::string(100000, ']');
  for (const auto* body : {&deep, &deeper}) {
    auto refused =
        via_a.request("POST", "/nodes/b/services/from_a/configure", *body, bearer(token_a));
    E2E_CHECK_STATUS(refused, 400);
    CHECK(refused.detail() == "JSON nested deeper than 64 levels");
  }
  CHECK(b->alive());

  // On b itself, only b's token counts.
  check_unauthorized(at_b.request("GET", "/services", std::nullopt, bearer(token_a)));
  auto on_b = at_b.request("GET", "/services", std::nullopt, bearer(token_b));
  E2E_CHECK_STATUS(on_b, 200);
  CHECK(on_b.field("services").size() == 1);
  check_unauthorized(at_b.request("GET", "/nodes/a/services", std::nullopt, bearer(token_a)));
}

// ---------------------------------------------------------------------------
// Startup refusals

namespace {

/// Runs the binary on a free port and checks exit code 2 with `message` in
/// its stderr.
void check_refused(std::vector<std::string> args, const std::string& message,
                   const Environment& env = {}) {
  args.insert(args.begin(), {"--port", std::to_string(free_port())});
  auto result = run_to_completion(args, env, 10s);
  INFO("args: " << [&] {
    std::string text;
    for (const auto& arg : args) text += arg + " ";
    return text;
  }());
  INFO("stderr: " << result.err);
  CHECK(result.status.code == 2);
  CHECK(result.err.find(message) != std::string::npos);
}

}  // namespace

TEST_CASE("exit code 2: an empty token, a read token without admin, a missing or empty token file",
          "[security][auth][startup]") {
  TempDirectory files("processpype-tokens");
  auto config = [&](const std::string& name, const std::string& auth) {
    return files.write(name, "server:\n  auth:\n" + auth);
  };
  check_refused({"--config", config("quoted.yaml", "    admin_token: \"\"\n")},
                "server.auth.admin_token");
  check_refused({"--config", config("blank.yaml", "    admin_token: \"   \"\n")},
                "server.auth.admin_token");
  check_refused(
      {"--config", config("blank-read.yaml", "    admin_token: a-token\n    read_token: ''\n")},
      "server.auth.read_token");
  check_refused({"--config", config("read-only.yaml", "    read_token: r-token\n")},
                "server.auth.read_token");
  check_refused({"--config", config("unset.yaml", "    admin_token: ${SEC_UNSET_TOKEN}\n")},
                "SEC_UNSET_TOKEN", Environment{{}, {"SEC_UNSET_TOKEN"}});

  const auto missing = (files.path() / "missing.token").string();
  const auto empty = files.write("empty.token", "");
  const auto blank = files.write("blank.token", " \n\t\r\n");
  const auto good = files.write("good.token", "a-token\n");
  check_refused({"--admin-token-file", missing}, missing);
  check_refused({"--admin-token-file", empty}, empty);
  check_refused({"--admin-token-file", blank}, blank);
  check_refused({"--admin-token-file", good, "--read-token-file", empty}, empty);
  check_refused({"--admin-token-file", good, "--read-token-file", missing}, missing);
  check_refused({"--read-token-file", good}, "server.auth.read_token");
  check_refused({"--admin-token-file", files.path().string()}, files.path().string());
}

// Was a bug, kept as a regression test: `admin_token: ${VAR}` with VAR set to "" (or to "null" or
// "~") starts a server with authentication OFF: after substitution the plain scalar is empty and
// typed as YAML null, which reads as "no token" (runtime/src/application_config.cpp, read_token).
// E.g.
//   SEC_ADMIN= processpype --config f.yaml   (server.auth.admin_token: ${SEC_ADMIN})
// serves GET /services 200 without a token. Likewise `read_token: ${VAR}`
// with VAR="" starts without a read token. Expected (docs/security.md): exit code 2,
// as for a quoted "" or "   ".
TEST_CASE("exit code 2: a token from an empty environment variable never serves without a token",
          "[security][auth][startup]") {
  TempFile admin_config("server:\n  auth:\n    admin_token: ${SEC_ADMIN}\n");
  TempFile read_config(
      "server:\n  auth:\n    admin_token: an-admin-token\n    read_token: ${SEC_READ}\n");
  struct Case {
    const TempFile* config;
    std::string variable, value;
  };
  for (const auto& [config, variable, value] :
       std::vector<Case>{{&admin_config, "SEC_ADMIN", ""},
                         {&admin_config, "SEC_ADMIN", "null"},
                         {&admin_config, "SEC_ADMIN", "~"},
                         {&read_config, "SEC_READ", ""}}) {
    INFO(variable << "='" << value << "'");
    auto port = free_port();
    ChildProcess child(server_binary(),
                       {"--config", config->path(), "--port", std::to_string(port)},
                       Environment{{{variable, value}}, {}});
    HttpClient probe(port, "", 1s);
    wait_until([&] { return !child.alive() || probe.get("/health/live").status == 200; }, 10s,
               25ms);
    if (child.alive()) {
      auto open = probe.get("/services");
      INFO("the server runs; GET /services without a token: " << open.describe());
      CHECK(false);
    } else {
      auto status = child.wait(0ms);
      INFO(child.stderr_text());
      CHECK(status.code == 2);
    }
    child.kill();
  }
}

TEST_CASE("exit code 2: a host other than loopback without an admin token, unless allowed",
          "[security][auth][startup]") {
  const std::string refusal =
      "refusing to serve {} without server.auth.admin_token; set "
      "server.auth.allow_anonymous: true to override";
  auto message = [&](const std::string& host) {
    auto text = refusal;
    return text.replace(text.find("{}"), 2, host);
  };
  for (const auto* host : {"0.0.0.0", "192.0.2.1", "::", "example.com"})
    check_refused({"--host", host}, message(host));
  TempFile in_file("server:\n  host: 0.0.0.0\n");
  check_refused({"--config", in_file.path()}, message("0.0.0.0"));

  // allow_anonymous, or an admin token, get past the check (192.0.2.1 is
  // TEST-NET-1: the bind then fails, exit code 1, and nothing listens).
  TempFile anonymous("server:\n  auth:\n    allow_anonymous: true\n");
  TempFile token("a-token\n", ".token");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--config", anonymous.path()}, {"--admin-token-file", token.path()}}) {
    auto all = args;
    all.insert(all.end(), {"--host", "192.0.2.1", "--port", std::to_string(free_port())});
    auto result = run_to_completion(all, {}, 10s);
    INFO(args.front() << ": " << result.status.describe() << "; stderr: " << result.err);
    CHECK(result.status.code != 2);
    CHECK(result.err.find("refusing to serve") == std::string::npos);
  }
  // Loopback names are fine without a token (the probe speaks to 127.0.0.1
  // only: the server is judged by staying up).
  for (const auto* host : {"localhost", "127.0.0.2"}) {
    INFO("--host " << host);
    ProbedServerOptions options;
    options.pass_port = false;
    options.port = free_port();
    options.args = {"--host", host, "--port", std::to_string(options.port)};
    options.ready = [](int) { return true; };
    ProbedServer server(options);
    std::this_thread::sleep_for(500ms);
    CHECK(server.alive());
    INFO(server.stderr_text());
    CHECK(server.stop().code == 0);
  }
}

// ---------------------------------------------------------------------------
// SIGHUP

TEST_CASE("SIGHUP re-reads the token files: the new tokens work, the old ones are refused",
          "[security][auth][sighup]") {
  TempDirectory files("processpype-tokens");
  auto admin_file = files.write("admin.token", "admin-one\n");
  auto read_file_path = files.write("read.token", "  read-one  \n");
  ProbedServerOptions options;
  options.args = {"--admin-token-file", admin_file, "--read-token-file", read_file_path};
  ProbedServer server(options);
  HttpClient api(server.port());
  auto status_with = [&](const std::string& token, const std::string& method = "GET") {
    return api.request(method, "/services", std::nullopt, bearer(token)).status;
  };
  CHECK(status_with("admin-one") == 200);
  CHECK(status_with("read-one") == 200);  // trimmed
  CHECK(status_with("read-one", "POST") == 403);

  files.write("admin.token", "admin-two");
  files.write("read.token", "read-two\n");
  CHECK(status_with("admin-one") == 200);  // until SIGHUP
  server.signal(SIGHUP);
  CHECK(wait_until([&] { return status_with("admin-two") == 200; }, 5s));
  CHECK(status_with("admin-one") == 401);
  CHECK(status_with("read-two") == 200);
  CHECK(status_with("read-one") == 401);

  // A file that is empty or gone at SIGHUP keeps the old tokens, and says why.
  for (const auto& damage : {std::string("empty"), std::string("missing")}) {
    INFO("admin token file " << damage);
    if (damage == "empty")
      files.write("admin.token", "\n");
    else
      std::filesystem::remove(admin_file);
    auto reasons = lines_with(server.stderr_text(), "Keeping the old tokens").size();
    server.signal(SIGHUP);
    CHECK(wait_until(
        [&] { return lines_with(server.stderr_text(), "Keeping the old tokens").size() > reasons; },
        5s));
    CHECK(status_with("admin-two") == 200);
    CHECK(status_with("read-two") == 200);
    CHECK(status_with("admin-one") == 401);
  }
  auto log = server.stderr_text();
  CHECK(log.find(admin_file) != std::string::npos);  // the reason names the file
  for (const auto* token : {"admin-one", "admin-two", "read-one", "read-two"})
    CHECK(log.find(token) == std::string::npos);
}

TEST_CASE("SIGHUP closes the open event streams of a revoked token and keeps the others",
          "[security][auth][sighup][sse]") {
  TempDirectory files("processpype-tokens");
  auto admin_file = files.write("admin.token", "admin-kept\n");
  auto read_file_path = files.write("read.token", "read-revoked\n");
  ProbedServerOptions options;
  options.args = {"--admin-token-file", admin_file, "--read-token-file", read_file_path};
  ProbedServer server(options);
  auto open_stream = [&](const std::string& token) {
    RawConnection stream(server.port());
    REQUIRE(stream.send(raw_get(
        "/events", "Accept: text/event-stream\r\nAuthorization: Bearer " + token + "\r\n")));
    RAW_REQUIRE_STATUS(stream.read_head(), 200);
    return stream;
  };
  auto revoked = open_stream("read-revoked");
  auto kept = open_stream("admin-kept");

  files.write("read.token", "read-new\n");
  server.signal(SIGHUP);
  HttpClient api(server.port());
  REQUIRE(wait_until(
      [&] {
        return api.request("GET", "/services", std::nullopt, bearer("read-new")).status == 200;
      },
      5s));
  // Its response ends (the last chunk); the connection may serve more requests, each checked.
  CHECK(revoked.read_until("0\r\n\r\n", 10s));
  // The admin token is the same: its stream goes on and gets new events.
  CHECK_FALSE(kept.closed());
  E2E_REQUIRE_STATUS(
      api.request("POST", "/services/register", R"({"service_name":"echo"})", bearer("admin-kept")),
      200);
  CHECK(kept.read_until("event: registered", 10s));
}
