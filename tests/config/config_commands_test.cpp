// `processpype check-config FILE` and `processpype config-schema`, run as an
// operator runs them (docs/configuration.md, "Checking a file").
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <processpype/testing/process.hpp>
#include <processpype/testing/server.hpp>

using namespace processpype::testing;

TEST_CASE("check-config lists every problem of a file and exits 2, serving nothing") {
  TempFile file(R"(
server:
  prot: 8000
services:
  echo:
    max_lenght: 5
    max_length: many
  tally:
    type: countr
)");
  auto result = run_to_completion({"check-config", file.path()}, {}, 10s);
  INFO(result.out << result.err);
  CHECK(result.status.code == 2);
  auto lines = lines_of(result.out);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == file.path() + ": error: server.prot: unknown key (did you mean port?)");
  // The file reads, then its services are checked, every one of them.
  CHECK(result.out.find("error: services.echo.max_length: must be an integer") !=
        std::string::npos);
  CHECK(result.out.find("warning: services.echo.max_lenght: unknown field, kept (did you mean "
                        "max_length?)") != std::string::npos);
  CHECK(result.out.find("error: services.tally.type: unknown service type 'countr'") !=
        std::string::npos);
  CHECK(lines.back() == file.path() + ": 3 errors, 1 warning");
}

TEST_CASE("check-config exits 0 on a good file, also with warnings only") {
  TempFile good("services:\n  echo:\n    prefix: Hi\n");
  auto result = run_to_completion({"check-config", good.path()}, {}, 10s);
  CHECK(result.status.code == 0);
  CHECK(result.out == good.path() + ": ok, 0 warnings\n");

  TempFile warned("services:\n  echo:\n    prefx: Hi\n");
  result = run_to_completion({"check-config", warned.path()}, {}, 10s);
  CHECK(result.status.code == 0);
  CHECK(result.out.find("warning: services.echo.prefx: unknown field, kept (did you mean "
                        "prefix?)") != std::string::npos);

  result = run_to_completion({"check-config", "/nonexistent/processpype.yaml"}, {}, 10s);
  CHECK(result.status.code == 2);
  CHECK(result.out.find("cannot read the file") != std::string::npos);
}

TEST_CASE("check-config applies the flags a start is given, as the start would") {
  // docs/packaging.md: a unit that passes --admin-token-file checks its file
  // with the same flag before a restart.
  TempFile exposed("server:\n  host: 0.0.0.0\n");
  TempFile token("s3cret-admin-token\n");
  auto without = run_to_completion({"check-config", exposed.path()}, {}, 10s);
  CHECK(without.status.code == 2);
  CHECK(without.out.find("without server.auth.admin_token") != std::string::npos);
  auto with_flag = run_to_completion(
      {"--admin-token-file", token.path(), "check-config", exposed.path()}, {}, 10s);
  INFO(with_flag.out << with_flag.err);
  CHECK(with_flag.status.code == 0);
  CHECK(with_flag.out == exposed.path() + ": ok, 0 warnings\n");
  // A flag the start would refuse is refused here too.
  auto missing = run_to_completion(
      {"--admin-token-file", "/nonexistent/token", "check-config", exposed.path()}, {}, 10s);
  CHECK(missing.status.code == 2);
  CHECK(missing.out.find("--admin-token-file") != std::string::npos);
}

TEST_CASE("check-config refuses etcd TLS files that a start cannot read") {
  TempFile file(
      "cluster:\n  store: [\"https://127.0.0.1:2379\"]\n"
      "  store_tls: {ca: /nonexistent/ca.pem}\nnode:\n  id: a\n");
  auto checked = run_to_completion({"check-config", file.path()}, {}, 10s);
  INFO(checked.out << checked.err);
  CHECK(checked.status.code == 2);
  CHECK(checked.out.find(
            "error: cluster.store_tls: etcd TLS CA /nonexistent/ca.pem cannot be read") !=
        std::string::npos);
  auto started =
      run_to_completion({"--config", file.path(), "--port", std::to_string(free_port())}, {}, 10s);
  CHECK(started.status.code == 2);  // the start refuses it as well
  CHECK(started.err.find("/nonexistent/ca.pem") != std::string::npos);
}

TEST_CASE("an unknown section key is refused at start too, exit 2 naming it") {
  TempFile file("server:\n  hots: 0.0.0.0\n");
  auto result =
      run_to_completion({"--config", file.path(), "--port", std::to_string(free_port())}, {}, 10s);
  CHECK(result.status.code == 2);
  CHECK(result.err.find("server.hots: unknown key (did you mean host?)") != std::string::npos);
}

TEST_CASE("config-schema prints the file format's JSON Schema") {
  auto result = run_to_completion({"config-schema"}, {}, 10s);
  REQUIRE(result.status.code == 0);
  auto schema = nlohmann::json::parse(result.out);
  CHECK(schema["properties"].contains("server"));
  CHECK(schema["properties"]["services"]["additionalProperties"]["properties"]["type"]["enum"]
            .size() >= 5);
}
