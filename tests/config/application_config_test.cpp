#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/config/application_config.hpp"

using processpype::ApplicationConfigError;
using processpype::load_application_config;

namespace {

/// A YAML file in the temp directory, removed afterwards. Named by process
/// and count: CTest runs each case as its own process, several at a time.
struct TempYaml {
  std::filesystem::path path;

  explicit TempYaml(const std::string& text)
      : path(std::filesystem::temp_directory_path() /
             ("processpype-config-" + std::to_string(::getpid()) + "-" +
              std::to_string(next_number()) + ".yaml")) {
    std::ofstream{path} << text;
  }
  ~TempYaml() { std::filesystem::remove(path); }

  static int next_number() {
    static int count = 0;
    return ++count;
  }
};

}  // namespace

TEST_CASE("services keep the file's order, type defaults to the name and is not a field") {
  TempYaml file{R"(
services:
  zeta: {prefix: z}
  alpha:
    type: echo
    max_length: 5
  mid:
)"};
  auto config = load_application_config(file.path.string());
  REQUIRE(config.services.size() == 3);
  CHECK(config.services[0].name == "zeta");
  CHECK(config.services[0].type == "zeta");
  CHECK(config.services[1].name == "alpha");
  CHECK(config.services[1].type == "echo");
  CHECK(config.services[1].configuration == nlohmann::json{{"max_length", 5}});
  CHECK(config.services[2].configuration.empty());
}

TEST_CASE("plain scalars are typed after substitution, quoted ones stay strings") {
  ::setenv("PROCESSPYPE_TEST_PORT", "8123", 1);
  ::setenv("PROCESSPYPE_TEST_EMPTY", "", 1);
  ::unsetenv("PROCESSPYPE_TEST_UNSET");
  TempYaml file{R"(
server:
  port: ${PROCESSPYPE_TEST_PORT}
  api_prefix: ${PROCESSPYPE_TEST_EMPTY:-/api}
services:
  echo:
    flag: true
    ratio: 0.5
    quoted: "42"
    fallback: ${PROCESSPYPE_TEST_UNSET:-7}
)"};
  auto config = load_application_config(file.path.string());
  CHECK(config.server.http.port == 8123);
  CHECK(config.server.http.api.api_prefix == "/api");
  const auto& fields = config.services.at(0).configuration;
  CHECK(fields["flag"] == true);
  CHECK(fields["ratio"] == 0.5);
  CHECK(fields["quoted"] == "42");
  CHECK(fields["fallback"] == 7);
}

TEST_CASE("an unset variable without default, bad YAML and wrong types name file and key") {
  ::unsetenv("PROCESSPYPE_TEST_UNSET");
  TempYaml unset{"server:\n  host: ${PROCESSPYPE_TEST_UNSET}\n"};
  CHECK_THROWS_WITH(load_application_config(unset.path.string()),
                    Catch::Contains("server.host") && Catch::Contains("PROCESSPYPE_TEST_UNSET"));
  TempYaml broken{"services: [unclosed\n"};
  CHECK_THROWS_WITH(load_application_config(broken.path.string()),
                    Catch::Contains(broken.path.string()) && Catch::Contains("invalid YAML"));
  TempYaml port{"server:\n  port: eighty\n"};
  CHECK_THROWS_WITH(load_application_config(port.path.string()), Catch::Contains("server.port"));
  CHECK_THROWS_AS(load_application_config("/nonexistent/processpype.yaml"), ApplicationConfigError);
}

// -- parse_application_config: the text of a file ---------------------------------------

namespace {

using processpype::parse_application_config;

processpype::ApplicationConfig parse(const std::string& text) {
  return parse_application_config(text, "app.yaml");
}

/// The one-line message parse_application_config throws for `text`, or
/// what happened instead (which no check expects).
std::string config_error(const std::string& text) {
  try {
    parse_application_config(text, "app.yaml");
  } catch (const ApplicationConfigError& error) {
    return error.what();
  } catch (const std::exception& error) {
    return std::string{"<not an ApplicationConfigError: "} + error.what() + ">";
  }
  return "<accepted>";
}

/// A text parse_application_config refuses, and what its message must contain.
struct Refusal {
  std::string text;
  std::vector<std::string> mentions;
};

/// Each text of `refusals` is refused with a message that contains its mentions.
void check_refusals(const std::vector<Refusal>& refusals) {
  for (const auto& [text, mentions] : refusals) {
    INFO(text);
    auto message = config_error(text);
    for (const auto& part : mentions) CHECK_THAT(message, Catch::Contains(part));
  }
}

/// `levels` nested block mappings, indented to sit under a top-level key.
std::string nested_yaml(std::size_t levels) {
  std::string text;
  std::string indent = "  ";
  for (std::size_t i = 0; i < levels; ++i) {
    text += indent + "k" + std::to_string(i) + ":\n";
    indent += "  ";
  }
  text += indent + "leaf: 1\n";
  return text;
}

/// Whether parsing `text` in a child process ends with an
/// ApplicationConfigError (exit 0) rather than another exception (exit 1),
/// an acceptance (exit 2) or a crash (a signal): a crash must not take the
/// test runner with it.
std::string outcome_in_child(const std::string& text) {
  std::fflush(nullptr);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::signal(SIGSEGV, SIG_DFL);  // no Catch2 report from the child
    ::signal(SIGBUS, SIG_DFL);
    if (std::FILE* null = std::fopen("/dev/null", "w")) ::dup2(::fileno(null), STDERR_FILENO);
    try {
      parse_application_config(text, "app.yaml");
      ::_exit(2);
    } catch (const ApplicationConfigError&) {
      ::_exit(0);
    } catch (...) {
      ::_exit(1);
    }
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  switch (WEXITSTATUS(status)) {
    case 0:
      return "ApplicationConfigError";
    case 1:
      return "another exception";
    case 2:
      return "accepted";
  }
  return "exit " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

TEST_CASE("a file without a services key is accepted") {
  CHECK_NOTHROW(parse_application_config("", "empty.yaml"));
  CHECK_NOTHROW(parse_application_config("app:\n  title: Demo\n", "app.yaml"));
  CHECK_NOTHROW(parse_application_config("server:\n  port: 8080\n", "app.yaml"));
}

TEST_CASE("an empty services mapping means no instances") {
  CHECK(parse_application_config("services: {}\n", "app.yaml").services.empty());
  CHECK(parse_application_config("services:\n", "app.yaml").services.empty());
}

TEST_CASE("defaults apply to every key the text leaves out") {
  auto config = parse("");
  CHECK(config.app.title == "ProcessPype");
  CHECK(config.server.http.host == "127.0.0.1");
  CHECK(config.server.http.port == 8000);
  CHECK(config.server.http.limits.max_body_bytes == 1024 * 1024);
  CHECK(config.server.http.limits.max_header_bytes == 64 * 1024);
  CHECK(config.server.http.limits.max_url_bytes == 8192);
  CHECK(config.server.http.limits.max_connections == 1024);
  CHECK(config.server.max_instances == 100000);
  CHECK(config.server.http.limits.read_timeout_seconds == 10.0);
  CHECK(config.server.http.api.max_event_streams == 64);
  CHECK_FALSE(config.server.auth.admin_token);
  CHECK_FALSE(config.server.auth.read_token);
  CHECK_FALSE(config.server.auth.allow_anonymous);
  CHECK_FALSE(config.server.http.tls.enabled());
  CHECK(config.logging.level == "info");
  CHECK(config.logging.format == processpype::LogFormat::text);
  CHECK(config.logging.loggers.empty());
  CHECK_FALSE(config.server.http.api.access_log);
  CHECK_FALSE(config.node.port);
  CHECK_FALSE(config.node.tls.enabled());
  CHECK_FALSE(config.node.allow_insecure);
  CHECK(config.node.heartbeat_seconds == 1.0);
  CHECK(config.node.down_after_seconds == 5.0);
  CHECK(config.node.forget_after_seconds == 3600.0);
  CHECK(config.services.empty());
}

TEST_CASE("server.limits are read as positive integers and a positive read timeout") {
  auto config = parse(R"(
server:
  limits:
    max_body_bytes: 2048
    max_header_bytes: 4096
    max_url_bytes: 512
    max_connections: 10
    max_instances: 20
    read_timeout_seconds: 0.5
    max_event_streams: 3
)");
  CHECK(config.server.http.limits.max_body_bytes == 2048);
  CHECK(config.server.http.limits.max_header_bytes == 4096);
  CHECK(config.server.http.limits.max_url_bytes == 512);
  CHECK(config.server.http.limits.max_connections == 10);
  CHECK(config.server.max_instances == 20);
  CHECK(config.server.http.limits.read_timeout_seconds == 0.5);
  CHECK(config.server.http.api.max_event_streams == 3);

  for (const std::string value : {"0", "-1", "1.5", "many", "true"}) {
    INFO(value);
    CHECK_THAT(config_error("server:\n  limits:\n    max_body_bytes: " + value + "\n"),
               Catch::StartsWith("app.yaml: ") &&
                   Catch::Contains("server.limits.max_body_bytes: must be a positive integer"));
  }
  for (const char* key : {"max_header_bytes", "max_url_bytes", "max_connections", "max_instances",
                          "max_event_streams"}) {
    INFO(key);
    CHECK_THAT(config_error(std::string{"server:\n  limits:\n    "} + key + ": 0\n"),
               Catch::Contains(std::string{"server.limits."} + key));
  }
  for (const std::string value : {"0", "-2", "soon"}) {
    INFO(value);
    CHECK_THAT(config_error("server:\n  limits:\n    read_timeout_seconds: " + value + "\n"),
               Catch::Contains("server.limits.read_timeout_seconds"));
  }
  CHECK_THAT(config_error("server:\n  limits: 5\n"),
             Catch::Contains("server.limits: must be a mapping"));
}

TEST_CASE("server.auth reads the tokens, an empty token is refused naming its key") {
  auto config = parse(R"(
server:
  auth:
    admin_token: s3cret
    read_token: "r34d"
    allow_anonymous: true
)");
  CHECK(config.server.auth.admin_token == "s3cret");
  CHECK(config.server.auth.read_token == "r34d");
  CHECK(config.server.auth.allow_anonymous);

  check_refusals({
      {"server:\n  auth:\n    admin_token: \"\"\n", {"server.auth.admin_token", "empty"}},
      {"server:\n  auth:\n    read_token: \"  \"\n", {"server.auth.read_token", "empty"}},
      {"server:\n  auth:\n    admin_token: [a]\n", {"server.auth.admin_token: must be a string"}},
      {"server:\n  auth:\n    allow_anonymous: maybe\n", {"server.auth.allow_anonymous"}},
  });
}

// Was a bug, kept as a regression test: a plain scalar that is empty after substitution becomes
// null (scalar_to_json), and read_token treats null as "not given": a token taken from an empty or
// unset-with-empty-default variable silently turns authentication off instead of being refused with
// "is empty (an unset or empty variable?)", the message read_token has for exactly this case.
TEST_CASE("a token from an empty variable is refused naming its key") {
  ::unsetenv("PROCESSPYPE_TEST_UNSET_TOKEN");
  ::setenv("PROCESSPYPE_TEST_EMPTY_TOKEN", "", 1);
  check_refusals({
      {"server:\n  auth:\n    admin_token: ${PROCESSPYPE_TEST_UNSET_TOKEN:-}\n",
       {"server.auth.admin_token"}},
      {"server:\n  auth:\n    admin_token: ${PROCESSPYPE_TEST_EMPTY_TOKEN}\n",
       {"server.auth.admin_token"}},
      {"server:\n  auth:\n    read_token: ${PROCESSPYPE_TEST_EMPTY_TOKEN}\n",
       {"server.auth.read_token"}},
  });
}

TEST_CASE("server.tls needs both certificate and key, or neither") {
  auto config = parse(R"(
server:
  tls:
    certificate: /etc/pp/cert.pem
    key: /etc/pp/key.pem
    client_ca: /etc/pp/ca.pem
)");
  CHECK(config.server.http.tls.enabled());
  CHECK(config.server.http.tls.certificate == "/etc/pp/cert.pem");
  CHECK(config.server.http.tls.key == "/etc/pp/key.pem");
  CHECK(config.server.http.tls.client_ca == "/etc/pp/ca.pem");
  CHECK_FALSE(parse("server:\n  tls: {}\n").server.http.tls.enabled());
  check_refusals({
      {"server:\n  tls:\n    certificate: /c.pem\n", {"server.tls", "both certificate and key"}},
      {"server:\n  tls:\n    key: /k.pem\n", {"server.tls", "both certificate and key"}},
  });
}

TEST_CASE("logging.loggers maps logger names to levels, a bad level names the logger") {
  auto config = parse(R"(
logging:
  level: warning
  format: json
  access_log: true
  loggers:
    processpype.services: debug
    processpype.auth: critical
)");
  CHECK(config.logging.level == "warning");
  CHECK(config.logging.format == processpype::LogFormat::json);
  CHECK(config.server.http.api.access_log);
  using Pair = std::pair<std::string, std::string>;
  CHECK_THAT(config.logging.loggers,
             Catch::UnorderedEquals(std::vector<Pair>{{"processpype.services", "debug"},
                                                      {"processpype.auth", "critical"}}));

  check_refusals({
      {"logging:\n  loggers:\n    processpype.access: loud\n",
       {"logging.loggers.processpype.access"}},
      {"logging:\n  loggers:\n    noisy: 3\n", {"logging.loggers.noisy"}},
      {"logging:\n  loggers: [debug]\n", {"logging.loggers: must be a mapping"}},
      {"logging:\n  access_log: sometimes\n", {"logging.access_log"}},
      {"logging:\n  level: loud\n", {"logging.level"}},
      {"logging:\n  format: xml\n", {"logging.format"}},
  });
}

TEST_CASE("node settings: tls, allow_insecure and the membership timings") {
  auto config = parse(R"(
node:
  port: 9000
  id: alpha
  join: ["10.0.0.2:9000"]
  tls:
    certificate: /n/cert.pem
    key: /n/key.pem
    ca: /n/ca.pem
  allow_insecure: true
  heartbeat_seconds: 0.25
  down_after_seconds: 2
  forget_after_seconds: 600
)");
  CHECK(config.node.port == 9000);
  CHECK(config.node.id == "alpha");
  CHECK(config.node.join == std::vector<std::string>{"10.0.0.2:9000"});
  CHECK(config.node.tls.enabled());
  CHECK(config.node.tls.certificate == "/n/cert.pem");
  CHECK(config.node.tls.key == "/n/key.pem");
  CHECK(config.node.tls.ca == "/n/ca.pem");
  CHECK(config.node.allow_insecure);
  CHECK(config.node.heartbeat_seconds == 0.25);
  CHECK(config.node.down_after_seconds == 2.0);
  CHECK(config.node.forget_after_seconds == 600.0);

  check_refusals({
      {"node:\n  tls:\n    certificate: /n/cert.pem\n", {"node.tls", "both certificate and key"}},
      {"node:\n  allow_insecure: 1\n", {"node.allow_insecure"}},
  });
  for (const char* key : {"heartbeat_seconds", "down_after_seconds", "forget_after_seconds"}) {
    INFO(key);
    CHECK_THAT(config_error(std::string{"node:\n  "} + key + ": 0\n"),
               Catch::Contains(std::string{"node."} + key + ": must be greater than 0"));
    CHECK_THAT(config_error(std::string{"node:\n  "} + key + ": soon\n"),
               Catch::Contains(std::string{"node."} + key));
  }
}

TEST_CASE("a document nested deeper than 64 levels is refused in one line naming the file") {
  // The root mapping, `services` and 62 more mappings: 64 levels.
  auto accepted = parse_application_config("services:\n" + nested_yaml(62), "app.yaml");
  REQUIRE(accepted.services.size() == 1);
  CHECK(accepted.services[0].name == "k0");
  auto message = config_error("services:\n" + nested_yaml(63));
  CHECK_THAT(message,
             Catch::StartsWith("app.yaml: ") && Catch::Contains("nested deeper than 64 levels"));
  CHECK(message.find('\n') == std::string::npos);
  auto flow = config_error("services: " + std::string(100, '[') + std::string(100, ']') + "\n");
  CHECK_THAT(flow, Catch::StartsWith("app.yaml: ") && Catch::Contains("nested deeper"));
}

TEST_CASE("a document far deeper than the YAML parser allows is an ApplicationConfigError") {
  auto message = config_error("services: " + std::string(10000, '[') + std::string(10000, ']'));
  CHECK_THAT(message, Catch::StartsWith("app.yaml: "));
  CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("malformed YAML and non-scalar keys give ApplicationConfigError, nothing else") {
  for (const std::string text : {
           "services: [unclosed\n",
           "server: {port: 1\n",
           "a: b: c\n",
           "? [a, b]\n: 1\n",
           "services:\n  ? {x: 1}\n  : {}\n",
           "server:\n  ? [host]\n  : x\n",
           "\"unterminated\n",
           "key: *undefined_alias\n",
           "\t- tab\n",
       }) {
    INFO(text);
    CHECK_THAT(config_error(text), Catch::StartsWith("app.yaml: "));
  }
}

// Was a bug, kept as a regression test: to_json (runtime/src/application_config.cpp) follows YAML
// aliases recursively; an alias to an enclosing anchor makes yaml-cpp build a node that contains
// itself, and to_json recurses until the stack overflows (SIGSEGV) instead of refusing the file.
TEST_CASE("a self-referencing alias is an ApplicationConfigError, not a crash") {
  CHECK(outcome_in_child("services: &loop [*loop]\n") == "ApplicationConfigError");
  CHECK(outcome_in_child("services: &loop {echo: *loop}\n") == "ApplicationConfigError");
}

TEST_CASE("a document that is not a mapping is refused") {
  CHECK_THAT(config_error("- a\n- b\n"), Catch::Contains("must be a mapping"));
  CHECK_THAT(config_error("just text\n"), Catch::Contains("must be a mapping"));
}
