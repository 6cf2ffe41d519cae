// docs/configuration.md, "Checking a file": every problem of a file, each
// under its key; unknown keys refused, unknown service fields kept with a
// warning; the file format's JSON Schema.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/config/application_config.hpp"
#include "processpype/config/validation.hpp"

using processpype::ApplicationConfig;
using processpype::ConfigDiagnostics;
using processpype::ConfigProblem;

namespace {

/// Every problem of `text`, read then validated as check-config does, as
/// `<severity> <key>: <message>` lines.
std::vector<std::string> problems_of(const std::string& text,
                                     const std::vector<std::string>& enabled_services = {}) {
  ApplicationConfig config;
  ConfigDiagnostics diagnostics;
  processpype::read_application_config(text, config, diagnostics);
  processpype::validate_application_config(config, enabled_services, diagnostics);
  std::vector<std::string> lines;
  for (const auto& problem : diagnostics.problems())
    lines.push_back((problem.severity == ConfigProblem::Severity::error ? "error " : "warning ") +
                    problem.describe());
  return lines;
}

}  // namespace

TEST_CASE("unknown keys outside service configurations are errors, with a did-you-mean") {
  struct Case {
    std::string text;
    std::string expected;
  };
  for (const auto& [text, expected] : std::vector<Case>{
           {"servr:\n  port: 1\n", "error servr: unknown key (did you mean server?)"},
           {"server:\n  prot: 1\n", "error server.prot: unknown key (did you mean port?)"},
           {"server:\n  limits:\n    max_body: 1\n", "error server.limits.max_body: unknown key"},
           {"logging:\n  levle: info\n", "error logging.levle: unknown key (did you mean level?)"},
           {"node:\n  tls:\n    cert: a\n", "error node.tls.cert: unknown key"},
           {"colour: blue\n", "error colour: unknown key"},
       }) {
    INFO(text);
    CHECK(problems_of(text) == std::vector<std::string>{expected});
  }
}

TEST_CASE("a start refuses an unknown key in one line naming file and key") {
  CHECK_THROWS_WITH(processpype::parse_application_config("sevices:\n  echo: {}\n", "app.yaml"),
                    "app.yaml: sevices: unknown key (did you mean services?)");
}

TEST_CASE("every problem of a file is reported, not just the first") {
  auto lines = problems_of(R"(
server:
  port: eighty
  limits:
    max_body_bytes: 0
logging:
  format: xml
node:
  heartbeat_seconds: -1
)");
  CHECK(lines == std::vector<std::string>{
                     "error server.port: must be a port number (0-65535)",
                     "error server.limits.max_body_bytes: must be a positive integer",
                     "error logging.format: must be one of text, json",
                     "error node.heartbeat_seconds: must be greater than 0",
                 });
}

TEST_CASE("services: each invalid field, unknown classes and cycles are errors") {
  auto lines = problems_of(R"(
services:
  greeter:
    type: echo
    max_length: many
    start_timeout_seconds: 0
  tally:
    type: countr
  a:
    type: counter
    depends_on: [b]
  b:
    type: counter
    depends_on: [a]
)");
  // Base fields first, then the class's own, in declaration order.
  CHECK(lines ==
        std::vector<std::string>{
            "error services.greeter.start_timeout_seconds: must be between 0.001 and 31536000",
            "error services.greeter.max_length: must be an integer",
            "error services.tally.type: unknown service type 'countr' (did you mean "
            "counter?)",
            "error services: dependency cycle a -> b -> a",
        });
}

TEST_CASE("durations shorter than a millisecond are refused: 0 stays off for health checks") {
  // Below a nanosecond a duration becomes 0 as a timer: health checks as
  // fast as the CPU goes, or no timeout (docs/configuration.md).
  auto lines = problems_of(R"(
services:
  busy:
    type: echo
    health_interval_seconds: 1.0e-9
    health_timeout_seconds: 1.0e-12
    start_timeout_seconds: 0.0005
    stop_timeout_seconds: 1.0e-10
    restart_window_seconds: 1.0e-10
  off:
    type: echo
    health_interval_seconds: 0
  fastest:
    type: echo
    health_interval_seconds: 0.001
    health_timeout_seconds: 0.001
)");
  CHECK(lines ==
        std::vector<std::string>{
            "error services.busy.start_timeout_seconds: must be between 0.001 and 31536000",
            "error services.busy.stop_timeout_seconds: must be between 0.001 and 31536000",
            "error services.busy.restart_window_seconds: must be between 0.001 and 31536000",
            "error services.busy.health_interval_seconds: must be 0 or between 0.001 and 31536000",
            "error services.busy.health_timeout_seconds: must be between 0.001 and 31536000",
        });
}

TEST_CASE("unknown fields of a service configuration are kept, with a warning") {
  auto lines = problems_of("services:\n  echo:\n    max_lenght: 5\n    colour: red\n");
  CHECK(lines == std::vector<std::string>{
                     "warning services.echo.colour: unknown field, kept",
                     "warning services.echo.max_lenght: unknown field, kept (did you mean "
                     "max_length?)",
                 });
  // Warnings alone do not refuse a start.
  CHECK_NOTHROW(
      processpype::parse_application_config("services:\n  echo:\n    max_lenght: 5\n", "app.yaml"));
}

TEST_CASE("a required field, an unknown dependency and ENABLED_SERVICES are checked") {
  auto lines = problems_of(
      "services:\n  store:\n    enabled: true\n  api:\n    type: echo\n"
      "    depends_on: [db]\n",
      {"echo", "bogus"});
  CHECK(lines == std::vector<std::string>{
                     "error services.store.capacity: is required",
                     "error ENABLED_SERVICES: unknown service type 'bogus'",
                     "error services: depends_on names unknown instance 'db'",
                 });
}

TEST_CASE("the file format's schema closes every section and describes each class") {
  auto schema = processpype::application_config_schema();
  CHECK(schema["$schema"] == "https://json-schema.org/draft/2020-12/schema");
  CHECK(schema["additionalProperties"] == false);
  const auto& server = schema["properties"]["server"];
  CHECK(server["additionalProperties"] == false);
  CHECK(server["properties"]["port"]["default"] == 8000);
  const auto& body_limit = server["properties"]["limits"]["properties"]["max_body_bytes"];
  CHECK(body_limit["anyOf"][0] == nlohmann::json{{"type", "integer"}, {"minimum", 1}});
  CHECK(body_limit["anyOf"][1]["pattern"] == "\\$\\{[^}]+\\}");  // ${VAR} too
  const auto& services = schema["properties"]["services"]["additionalProperties"];
  auto types = services["properties"]["type"]["enum"];
  CHECK(std::find(types.begin(), types.end(), "echo") != types.end());
  bool echo_described = false;
  for (const auto& rule : services["allOf"])
    if (rule["if"]["properties"]["type"]["const"] == "echo")
      echo_described = rule["then"]["properties"].contains("max_length");
  CHECK(echo_described);
}
