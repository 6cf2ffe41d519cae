// End-to-end tests of the application (docs/configuration.md) and the CLI (docs/configuration.md,
// "Command-line flags"): config files, ${VAR} substitution, ENABLED_SERVICES, api_prefix, startup
// errors (exit code 2), signals and shutdown exit codes, logs.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <processpype/testing/checks.hpp>
#include <processpype/testing/silent_listener.hpp>

using namespace processpype::testing;

namespace {

/// Whether one stderr line contains, for every group, at least one of its
/// strings ("one clear line naming the file/key").
bool one_line_names(const std::string& err, const std::vector<std::vector<std::string>>& groups) {
  for (const auto& line : lines_of(err)) {
    bool all = true;
    for (const auto& group : groups) {
      bool any = false;
      for (const auto& hint : group) any = any || line.find(hint) != std::string::npos;
      all = all && any;
    }
    if (all) return true;
  }
  return false;
}

/// Runs the binary with `args` and checks the startup error contract: exit
/// code 2, quickly, with one stderr line naming what is wrong.
void check_startup_error(std::vector<std::string> args,
                         const std::vector<std::vector<std::string>>& hints,
                         const Environment& env = {}) {
  // A free port, so that a server that wrongly starts collides with nothing.
  args.insert(args.begin(), {"--host", "127.0.0.1", "--port", std::to_string(free_port())});
  auto result = run_to_completion(args, env, 10s);
  INFO("stderr:\n" << result.err.substr(0, 3000));
  INFO("stdout:\n" << result.out.substr(0, 1000));
  INFO(result.status.describe());
  CHECK(result.status.exited);
  CHECK(result.status.code == 2);
  CHECK_FALSE(lines_of(result.err).empty());
  CHECK(one_line_names(result.err, hints));
}

/// A server started with `--api-prefix <flag>`, which it serves under the
/// normalized `prefix`.
ServerOptions with_api_prefix(const std::string& flag, const std::string& prefix) {
  ServerOptions options;
  options.args = {"--api-prefix", flag};
  options.api_prefix = prefix;
  return options;
}

/// Sends `signal` to a server (logging at info) with a running echo: it
/// stops the echo ("Echo service stopped") and exits 0.
void check_clean_exit(ServerProcess& server, int signal) {
  auto exit = server.stop(signal, 15s);
  auto err = server.stderr_text();
  check_exit(exit, 0, err);
  CHECK_THAT(err, Catch::Contains("Echo service stopped"));
}

std::set<std::string> names_set(HttpClient& api) {
  auto names = service_names(api);
  return {names.begin(), names.end()};
}

/// The message POST /services/{name}/echo answers, or the response itself
/// when it is not a 200 with a message (so that a failed CHECK shows it).
std::string echo_of(HttpClient& api, const std::string& name, const std::string& message) {
  auto response = api.post("/services/" + name + "/echo", {{"message", message}});
  auto echoed = response.field("message");
  if (response.status != 200 || !echoed.is_string()) return response.describe();
  return echoed.get<std::string>();
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// Whether `line` is "processpype <version>": the regular expression
/// `processpype [0-9]+\.[0-9]+\.[0-9]+\S*\s*` (one word starting with
/// MAJOR.MINOR.PATCH, then only white space).
bool is_version_line(const std::string& line) {
  const std::string head = "processpype ";
  if (line.compare(0, head.size(), head) != 0) return false;
  std::size_t end = line.size();
  while (end > head.size() && is_space(line[end - 1])) --end;
  const std::string version = line.substr(head.size(), end - head.size());
  if (std::any_of(version.begin(), version.end(), is_space)) return false;
  std::size_t at = 0;
  for (int part = 0; part < 3; ++part) {
    if (part > 0) {
      if (at >= version.size() || version[at] != '.') return false;
      ++at;
    }
    const std::size_t digits = at;
    while (at < version.size() && is_digit(version[at])) ++at;
    if (at == digits) return false;
  }
  return true;
}

/// The first `${NAME}` or `${NAME:-default}` in `text` (NAME: a letter or
/// '_', then letters, digits and '_'): its default ("" without one);
/// nullopt when there is none.
std::optional<std::string> variable_default(const std::string& text) {
  auto is_name_start = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  for (auto start = text.find("${"); start != std::string::npos;
       start = text.find("${", start + 1)) {
    std::size_t at = start + 2;
    if (at >= text.size() || !is_name_start(text[at])) continue;
    ++at;
    while (at < text.size() && (is_name_start(text[at]) || is_digit(text[at]))) ++at;
    if (at < text.size() && text[at] == '}') return std::string();
    if (text.compare(at, 2, ":-") != 0) continue;
    auto close = text.find('}', at + 2);
    if (close == std::string::npos) continue;
    return text.substr(at + 2, close - at - 2);
  }
  return std::nullopt;
}

/// The api_prefix a config file sets (crude line scan, enough for the
/// examples' demo config), normalized: the value of the last line
/// `<spaces>api_prefix:<spaces>["']<value>` (the value ends at a quote, '#'
/// or white space); a `${VAR}` in it stands for "", `${VAR:-default}` for
/// the default.
std::string api_prefix_of(const std::string& yaml) {
  const std::string key = "api_prefix:";
  std::string prefix;
  for (const auto& text : lines_of(yaml)) {
    std::size_t at = 0;
    while (at < text.size() && is_space(text[at])) ++at;
    if (text.compare(at, key.size(), key) != 0) continue;
    at += key.size();
    while (at < text.size() && is_space(text[at])) ++at;
    if (at < text.size() && (text[at] == '"' || text[at] == '\'')) ++at;
    std::size_t end = at;
    while (end < text.size() && text[end] != '"' && text[end] != '\'' && text[end] != '#' &&
           !is_space(text[end]))
      ++end;
    prefix = text.substr(at, end - at);
  }
  if (auto value = variable_default(prefix)) prefix = *value;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  return prefix.empty() ? "" : "/" + prefix;
}

}  // namespace

// ---------------------------------------------------------------------------
// CLI

TEST_CASE("version flag prints processpype <version> and exits 0", "[e2e][app][cli]") {
  auto result = run_to_completion({"--version"});
  INFO("stdout: " << result.out << "\nstderr: " << result.err);
  CHECK(result.status.exited);
  CHECK(result.status.code == 0);
  auto lines = lines_of(result.out);
  REQUIRE(lines.size() == 1);
  CHECK(is_version_line(lines[0]));
}

TEST_CASE("help flag describes the options and exits 0", "[e2e][app][cli]") {
  auto result = run_to_completion({"--help"});
  INFO("stdout: " << result.out << "\nstderr: " << result.err);
  CHECK(result.status.exited);
  CHECK(result.status.code == 0);
  for (const auto* option :
       {"--config", "--host", "--port", "--api-prefix", "--log-level", "--log-format", "--version"})
    CHECK(result.out.find(option) != std::string::npos);
}

TEST_CASE_METHOD(FreshServer,
                 "without a config the server has no instances and the example classes",
                 "[e2e][app][cli]") {
  auto root = api.get("/");
  E2E_REQUIRE_STATUS(root, 200);
  CHECK(root.field("state") == "running");
  CHECK(root.field("services") == json::object());
  CHECK(service_names(api).empty());
  for (const auto* key : {"echo", "counter", "ticker", "faulty", "store"})
    E2E_CHECK_STATUS(register_service(api, key), 200);
}

TEST_CASE("api-prefix flag is normalized and every route lives under it", "[e2e][app][prefix]") {
  ServerProcess server(with_api_prefix("/api/", "/api"));
  HttpClient raw(server.port());

  // The application status at both <prefix> and <prefix>/.
  auto bare = raw.get("/api");
  E2E_CHECK_STATUS(bare, 200);
  CHECK(bare.field("state") == "running");
  E2E_CHECK_STATUS(raw.get("/api/"), 200);

  // Every route under it.
  E2E_CHECK_STATUS(raw.post("/api/services/register", {{"service_name", "echo"}}), 200);
  E2E_CHECK_STATUS(raw.get("/api/services"), 200);
  E2E_CHECK_STATUS(raw.post("/api/services/echo/start"), 200);
  auto echoed = raw.post("/api/services/echo/echo", {{"message", "p"}});
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.field("message") == "Echo: p");

  // Nothing unprefixed.
  for (const auto* path : {"/", "/services", "/services/echo", "/apiservices"}) {
    INFO(path);
    auto response = raw.get(path);
    E2E_CHECK_STATUS(response, 404);
    CHECK(response.is_json());
    CHECK_FALSE(response.detail().empty());
  }
  E2E_CHECK_STATUS(raw.post("/services/register", {{"service_name", "echo"}}), 404);
  auto prefixed = server.client();
  CHECK(service_names(prefixed) == std::vector<std::string>{"echo"});
}

TEST_CASE("api-prefix flag without slashes gets a leading one", "[e2e][app][prefix]") {
  ServerProcess server(with_api_prefix("api/v2/", "/api/v2"));
  HttpClient raw(server.port());
  E2E_CHECK_STATUS(raw.get("/api/v2"), 200);
  E2E_CHECK_STATUS(raw.get("/api/v2/"), 200);
  E2E_CHECK_STATUS(raw.get("/api/v2/services"), 200);
  E2E_CHECK_STATUS(raw.get("/services"), 404);
}

// ---------------------------------------------------------------------------
// Config files

TEST_CASE("a YAML config registers, configures and starts its instances", "[e2e][app][config]") {
  int port = free_port();
  TempFile config(R"(app:
  title: ProcessPype E2E
  version: "1.2.3-e2e"
  environment: test
  debug: false
server:
  host: 127.0.0.1
  port: )" + std::to_string(port) +
                  R"(
  api_prefix: ""
  closing_timeout_seconds: 10
logging:
  level: info
  format: text
services:
  echo:
    prefix: Hello
    max_length: 50
  greeter:
    type: echo
    prefix: Hi
  off:
    type: counter
    enabled: false
    initial_value: 3
  shelf:
    type: store
    capacity: 4
  lazy:
    type: ticker
    enabled: false
    autostart: true
    interval_seconds: 0.5
  eager:
    type: faulty
    autostart: true
    start_delay_ms: 0
)");
  ServerOptions options;
  options.args = {"--config", config.path()};
  options.pass_port = false;  // host and port come from the file
  options.port = port;
  ServerProcess server(options);
  auto api = server.client();

  auto root = api.get("/");
  E2E_REQUIRE_STATUS(root, 200);
  CHECK(root.field("version") == "1.2.3-e2e");
  CHECK(root.field("state") == "running");
  CHECK(names_set(api) ==
        std::set<std::string>{"echo", "greeter", "off", "shelf", "lazy", "eager"});

  // Enabled instances are started; their fields are applied; `type` is not
  // part of the metadata.
  for (const auto* name : {"echo", "greeter", "shelf", "eager"}) {
    INFO(name);
    CHECK(wait_for_state(api, name, "running", 10s));
    auto status = status_of(api, name);
    CHECK(status["is_configured"] == true);
    CHECK_FALSE(status["metadata"].contains("type"));
  }
  auto echo = status_of(api, "echo")["metadata"];
  CHECK(echo["prefix"] == "Hello");
  CHECK(echo["max_length"] == 50);
  CHECK(echo["enabled"] == true);
  CHECK(status_of(api, "shelf")["metadata"]["capacity"] == 4);

  // The instance's class comes from `type` (default: the instance name).
  CHECK(echo_of(api, "echo", "x") == "Hello: x");
  CHECK(echo_of(api, "greeter", "x") == "Hi: x");
  E2E_CHECK_STATUS(api.put("/services/shelf/items/k", 1), 200);

  // Disabled instances are configured but not started, autostart or not.
  for (const auto* name : {"off", "lazy"}) {
    INFO(name);
    auto status = status_of(api, name);
    CHECK(status["state"] == "configured");
    CHECK(status["is_configured"] == true);
    CHECK(status["metadata"]["enabled"] == false);
    CHECK_FALSE(status["metadata"].contains("type"));
  }
  CHECK(status_of(api, "off")["metadata"]["initial_value"] == 3);
  CHECK(status_of(api, "lazy")["metadata"]["interval_seconds"].get<double>() == Approx(0.5));
  // ...and can still be started by hand.
  E2E_CHECK_STATUS(api.post("/services/off/start"), 200);
  CHECK(api.get("/services/off/value").field("value") == 3);
  CHECK(state_of(api, "lazy") == "configured");

  auto exit = server.stop(SIGTERM);
  INFO(server.stderr_text().substr(0, 3000));
  CHECK(exit.code == 0);
}

TEST_CASE("VAR and VAR:-default placeholders are replaced from the environment",
          "[e2e][app][config]") {
  int port = free_port();
  TempFile config(R"(app:
  version: "${E2E_APP_VERSION:-0.0.0}"
server:
  host: 127.0.0.1
  port: ${E2E_SERVER_PORT}
  api_prefix: "${E2E_UNSET_PREFIX:-/v1}"
services:
  echo:
    prefix: ${E2E_GREETING}
  unset_default:
    type: echo
    prefix: "${E2E_UNSET_VAR:-Default}"
  empty_default:
    type: echo
    prefix: "${E2E_EMPTY_VAR:-FromDefault}"
  set_default:
    type: echo
    prefix: "${E2E_GREETING:-Ignored}"
  embedded:
    type: echo
    prefix: "A ${E2E_GREETING} B"
  counted:
    type: counter
    step: ${E2E_STEP}
)");
  ServerOptions options;
  options.args = {"--config", config.path()};
  options.pass_port = false;
  options.port = port;
  options.api_prefix = "/v1";
  options.env.set = {{"E2E_APP_VERSION", "7.7.7-env"},
                     {"E2E_SERVER_PORT", std::to_string(port)},
                     {"E2E_GREETING", "Hey"},
                     {"E2E_EMPTY_VAR", ""},
                     {"E2E_STEP", "7"}};
  options.env.unset = {"E2E_UNSET_PREFIX", "E2E_UNSET_VAR"};
  ServerProcess server(options);
  auto api = server.client();

  CHECK(api.get("/").field("version") == "7.7.7-env");
  auto prefix_of = [&](const std::string& name) {
    return status_of(api, name)["metadata"]["prefix"];
  };
  CHECK(prefix_of("echo") == "Hey");
  CHECK(prefix_of("unset_default") == "Default");
  CHECK(prefix_of("empty_default") == "FromDefault");
  CHECK(prefix_of("set_default") == "Hey");
  CHECK(prefix_of("embedded") == "A Hey B");
  CHECK(status_of(api, "counted")["metadata"]["step"] == 7);
  REQUIRE(wait_for_state(api, "unset_default", "running", 10s));
  CHECK(echo_of(api, "unset_default", "x") == "Default: x");
}

TEST_CASE("flags override the config file", "[e2e][app][config]") {
  int file_port = free_port();
  TempFile config(R"(server:
  host: 127.0.0.1
  port: )" + std::to_string(file_port) +
                  R"(
  api_prefix: /file
services:
  echo:
    prefix: FromFile
)");
  ServerOptions options;
  options.args = {"--config", config.path(), "--api-prefix", "/flag"};
  options.api_prefix = "/flag";  // pass_port: --host/--port flags with a fresh port
  ServerProcess server(options);
  REQUIRE(server.port() != file_port);
  auto api = server.client();
  CHECK(status_of(api, "echo")["metadata"]["prefix"] == "FromFile");

  HttpClient file_side(file_port, "/file", 2s);
  CHECK(file_side.get("/").status == 0);  // nothing listens on the file's port
  HttpClient unflagged(server.port(), "/file");
  E2E_CHECK_STATUS(unflagged.get("/services"), 404);
}

TEST_CASE("the demo config in examples/ starts with instances", "[e2e][app][config]") {
  std::vector<std::filesystem::path> configs;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(examples_dir())) {
    auto extension = entry.path().extension();
    if (entry.is_regular_file() && (extension == ".yaml" || extension == ".yml"))
      configs.push_back(entry.path());
  }
  INFO("examples: " << examples_dir());
  REQUIRE_FALSE(configs.empty());
  for (const auto& path : configs) {
    INFO("config: " << path.string());
    ServerOptions options;
    options.args = {"--config", path.string()};
    options.api_prefix = api_prefix_of(read_file(path.string()));
    ServerProcess server(options);
    auto api = server.client();
    CHECK_FALSE(service_names(api).empty());
    auto exit = server.stop(SIGTERM);
    INFO(server.stderr_text().substr(0, 3000));
    CHECK(exit.code == 0);
  }
}

// ---------------------------------------------------------------------------
// Startup errors: exit code 2, one clear stderr line

TEST_CASE("bad YAML is exit code 2 naming the file", "[e2e][app][errors]") {
  TempFile config("services:\n  echo: [unclosed\n    prefix: {\n");
  auto name = std::filesystem::path(config.path()).filename().string();
  check_startup_error({"--config", config.path()}, {{name}});
}

TEST_CASE("an unknown service type is exit code 2 naming it", "[e2e][app][errors]") {
  TempFile with_type("services:\n  mystery:\n    type: nope\n    prefix: x\n");
  check_startup_error({"--config", with_type.path()}, {{"nope", "mystery"}});

  TempFile by_name("services:\n  echo:\n    prefix: x\n  nosuchclass:\n    prefix: y\n");
  check_startup_error({"--config", by_name.path()}, {{"nosuchclass"}});
}

TEST_CASE("an invalid service field is exit code 2 naming it", "[e2e][app][errors]") {
  TempFile validation("services:\n  counter:\n    step: 0\n");
  check_startup_error({"--config", validation.path()}, {{"step"}});

  TempFile wrong_type("services:\n  echo:\n    max_length: many\n");
  check_startup_error({"--config", wrong_type.path()}, {{"max_length"}});

  TempFile missing_required("services:\n  store:\n    enabled: true\n");
  check_startup_error({"--config", missing_required.path()}, {{"capacity"}});
}

TEST_CASE("an unset VAR placeholder without a default is exit code 2 naming it",
          "[e2e][app][errors]") {
  TempFile config("services:\n  echo:\n    prefix: ${E2E_SURELY_UNSET_VAR}\n");
  Environment env;
  env.unset = {"E2E_SURELY_UNSET_VAR"};
  check_startup_error({"--config", config.path()}, {{"E2E_SURELY_UNSET_VAR"}}, env);
}

TEST_CASE("a config file that does not exist is exit code 2 naming it", "[e2e][app][errors]") {
  auto missing = std::filesystem::temp_directory_path() /
                 ("processpype-e2e-missing-" + std::to_string(free_port()) + ".yaml");
  std::filesystem::remove(missing);
  check_startup_error({"--config", missing.string()}, {{missing.filename().string()}});
}

TEST_CASE("an unknown key in ENABLED_SERVICES is exit code 2 naming it", "[e2e][app][errors]") {
  Environment env;
  env.set = {{"ENABLED_SERVICES", "echo,bogusclass"}};
  check_startup_error({}, {{"bogusclass"}}, env);
}

// ---------------------------------------------------------------------------
// Startup errors that may pass (systemd restarts the node): exit code 1

// Was a bug, kept as a regression test: a node whose HTTP port was taken
// started every service of its file, then failed to listen, stopped them
// all and exited 1; systemd's restarts started and stopped every service
// every few seconds. The port is now checked before any service starts.
TEST_CASE("a node whose HTTP port is taken exits 1 before starting any service",
          "[e2e][app][errors]") {
  SilentListener taken;
  auto port = std::to_string(taken.port());
  TempDirectory folder{"port-taken"};
  // The lock service creates its file as it starts: a side effect to look for.
  auto lock_file = folder.path() / "holder.lock";
  TempFile config("services:\n  holder:\n    type: lock\n    path: " + lock_file.string() +
                  "\n  echo:\n    prefix: x\n");
  auto result = run_to_completion(
      {"--config", config.path(), "--host", "127.0.0.1", "--port", port, "--log-level", "info"}, {},
      10s);
  check_exit(result.status, 1, result.err);
  CHECK(one_line_names(
      result.err,
      {{"critical"}, {"Cannot listen on 127.0.0.1:" + port + ": Address already in use"}}));
  CHECK(result.err.find("Started service") == std::string::npos);
  CHECK(result.err.find("Starting the services") == std::string::npos);
  CHECK_FALSE(std::filesystem::exists(lock_file));
}

// ---------------------------------------------------------------------------
// ENABLED_SERVICES

TEST_CASE("ENABLED_SERVICES registers and starts those classes, trimmed, empties ignored",
          "[e2e][app][enabled]") {
  ServerOptions options;
  options.env.set = {{"ENABLED_SERVICES", " echo , counter,,"}};
  ServerProcess server(options);
  auto api = server.client();

  CHECK(names_set(api) == std::set<std::string>{"echo", "counter"});
  CHECK(wait_for_state(api, "echo", "running", 10s));
  CHECK(wait_for_state(api, "counter", "running", 10s));
  CHECK(echo_of(api, "echo", "x") == "Echo: x");
}

TEST_CASE("ENABLED_SERVICES starts an instance of that name from the YAML", "[e2e][app][enabled]") {
  TempFile config(
      "services:\n  echo:\n    prefix: FromYaml\n  other:\n    type: counter\n"
      "    enabled: false\n    step: 2\n");
  ServerOptions options;
  options.args = {"--config", config.path()};
  options.env.set = {{"ENABLED_SERVICES", "echo"}};
  ServerProcess server(options);
  auto api = server.client();

  // No second echo: the YAML one is just started, with its configuration.
  CHECK(names_set(api) == std::set<std::string>{"echo", "other"});
  CHECK(wait_for_state(api, "echo", "running", 10s));
  CHECK(status_of(api, "echo")["metadata"]["prefix"] == "FromYaml");
  CHECK(echo_of(api, "echo", "y") == "FromYaml: y");
  CHECK(state_of(api, "other") == "configured");
}

// ---------------------------------------------------------------------------
// Signals and shutdown

TEST_CASE("SIGTERM stops the running services and exits 0", "[e2e][app][signals]") {
  ServerProcess server({"--log-level", "info"});
  auto api = server.client();
  register_started(api, "echo", "echo");
  register_ok(api, "counter");

  auto started = Clock::now();
  check_clean_exit(server, SIGTERM);
  CHECK(elapsed_ms(started) < 10000);
}

TEST_CASE("SIGINT stops the running services and exits 0", "[e2e][app][signals]") {
  ServerProcess server({"--log-level", "info"});
  auto api = server.client();
  register_started(api, "echo", "echo");
  register_started(api, "ticker", "ticker");

  check_clean_exit(server, SIGINT);
}

TEST_CASE("SIGTERM with no instances exits 0", "[e2e][app][signals]") {
  ServerProcess server;
  auto exit = server.stop(SIGTERM, 15s);
  INFO(exit.describe() << "\nstderr:\n" << server.stderr_text().substr(0, 3000));
  CHECK(exit.exited);
  CHECK(exit.code == 0);
}

/// The real binary with `args` (after a free HTTP port), not waited for:
/// these tests signal it before it serves.
std::unique_ptr<ChildProcess> start_binary(std::vector<std::string> args) {
  args.insert(args.begin(), {"--host", "127.0.0.1", "--port", std::to_string(free_port())});
  return std::make_unique<ChildProcess>(server_binary(), args);
}

// Was a bug, kept as a regression test: SIGINT and SIGTERM were read only
// once startup had ended, so a node retrying a --join that never answers
// (node.join_timeout_seconds: 0, forever) went on retrying after either;
// only SIGKILL ended it (systemd and Kubernetes stops ended that way).
TEST_CASE("SIGTERM or SIGINT while a join is retried ends startup and exits 0",
          "[e2e][app][signals][join]") {
  TempFile config("node:\n  join_timeout_seconds: 0\n");
  for (int signal : {SIGTERM, SIGINT}) {
    INFO("signal " << signal);
    auto closed = free_port();  // nothing listens there
    auto server = start_binary({"--config", config.path(), "--log-level", "info", "--node-port",
                                std::to_string(free_port()), "--join",
                                "127.0.0.1:" + std::to_string(closed)});
    REQUIRE(wait_until(
        [&] { return server->stderr_text().find("retrying in") != std::string::npos; }, 10s));
    auto signalled = Clock::now();
    auto exit = server->stop(signal, 10s);
    auto took = elapsed_ms(signalled);
    auto err = server->stderr_text();
    INFO("exit after " << took << " ms");
    check_exit(exit, 0, err);
    CHECK(took < 3000);
    CHECK_THAT(err, Catch::Contains("during startup"));
    CHECK_THAT(err, Catch::Contains("Stopped"));
  }
}

// Was a bug, kept as a regression test: a stop while the file's services
// started waited for every start (here 20 s). A manager's start cannot be
// cut short: the node stops what started, gives up at
// closing_timeout_seconds and exits 1 naming the instance, as a shutdown
// whose services do not stop in time does (docs/configuration.md, "Signals").
TEST_CASE("SIGTERM while the file's services start exits within closing_timeout_seconds",
          "[e2e][app][signals]") {
  TempFile config(R"(server:
  closing_timeout_seconds: 1
services:
  slow:
    type: faulty
    start_delay_ms: 20000
)");
  auto server = start_binary({"--config", config.path(), "--log-level", "info"});
  REQUIRE(wait_until(
      [&] { return server->stderr_text().find("Starting the services") != std::string::npos; },
      10s));
  auto signalled = Clock::now();
  auto exit = server->stop(SIGTERM, 10s);
  auto took = elapsed_ms(signalled);
  auto err = server->stderr_text();
  INFO("exit after " << took << " ms");
  check_exit(exit, 1, err);
  CHECK(took < 5000);
  CHECK_THAT(err, Catch::Contains("during startup"));
  CHECK_THAT(err, Catch::Contains("Services not stopped in time: slow"));
}

TEST_CASE("JSON logs carry time, level, logger, message and shutdown stops in reverse start order",
          "[e2e][app][signals][logs]") {
  ServerProcess server({"--log-format", "json", "--log-level", "info"});
  auto api = server.client();
  E2E_REQUIRE_STATUS(register_service(api, "echo", "first"), 200);
  E2E_REQUIRE_STATUS(register_service(api, "echo", "second"), 200);
  command_ok(api, "first", "start");
  command_ok(api, "second", "start");

  auto exit = server.stop(SIGTERM, 15s);
  auto err = server.stderr_text();
  INFO(exit.describe() << "\nstderr:\n" << err.substr(0, 4000));
  CHECK(exit.code == 0);

  auto lines = lines_of(err);
  REQUIRE_FALSE(lines.empty());
  std::ptrdiff_t first_stopped = -1;
  std::ptrdiff_t second_stopped = -1;
  bool ready_logged = false;
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(lines.size()); ++i) {
    auto entry = json::parse(lines[i], nullptr, false);
    INFO("line: " << lines[i]);
    REQUIRE(entry.is_object());
    CHECK(entry.contains("time"));
    CHECK(entry.contains("level"));
    CHECK(entry.contains("logger"));
    CHECK(entry.contains("message"));
    if (!entry["logger"].is_string() || !entry["message"].is_string()) continue;
    auto logger = entry["logger"].get<std::string>();
    auto message = entry["message"].get<std::string>();
    if (logger == "processpype.services.first" && message == "Echo service stopped")
      first_stopped = i;
    if (logger == "processpype.services.second" && message == "Echo service stopped")
      second_stopped = i;
    if (logger == "processpype.services.first" && message == "Echo service ready")
      ready_logged = true;
  }
  CHECK(ready_logged);
  REQUIRE(first_stopped >= 0);
  REQUIRE(second_stopped >= 0);
  CHECK(second_stopped < first_stopped);  // started last, stopped first
}

TEST_CASE("shutdown exits 1 when a service does not stop within closing_timeout_seconds",
          "[e2e][app][signals]") {
  TempFile config(R"(server:
  closing_timeout_seconds: 1
services:
  stuck:
    type: faulty
    stop_delay_ms: 8000
)");
  ServerOptions options;
  options.args = {"--config", config.path()};
  ServerProcess server(options);
  auto api = server.client();
  REQUIRE(wait_for_state(api, "stuck", "running", 10s));

  auto started = Clock::now();
  auto exit = server.stop(SIGTERM, 7s);  // well before the 8 s stop would end
  auto took = elapsed_ms(started);
  auto err = server.stderr_text();
  INFO(exit.describe() << " after " << took << " ms\nstderr:\n" << err.substr(0, 4000));
  CHECK(exit.exited);
  CHECK(exit.code == 1);
  CHECK(took >= 900);
  CHECK(err.find("stuck") != std::string::npos);
}
