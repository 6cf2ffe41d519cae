// `processpype check-config FILE` and `processpype config-schema`, run as an
// operator runs them (docs/configuration.md, "Checking a file").
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <processpype/testing/process.hpp>
#include <processpype/testing/server.hpp>
#include <processpype/testing/silent_listener.hpp>

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

TEST_CASE("check-config refuses a server.host that a start cannot listen on") {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine,
  // unless the kernel binds any address (net.ipv4.ip_nonlocal_bind), as the
  // listener then would too.
  if (read_file("/proc/sys/net/ipv4/ip_nonlocal_bind").starts_with("1")) {
    WARN("net.ipv4.ip_nonlocal_bind is on: any address binds");
    return;
  }
  TempFile foreign("server:\n  host: 192.0.2.1\n  auth:\n    allow_anonymous: true\n");
  {
    auto checked = run_to_completion({"check-config", foreign.path()}, {}, 10s);
    INFO(checked.out << checked.err);
    CHECK(checked.status.code == 2);
    CHECK(checked.out.find(foreign.path() +
                           ": error: server.host: cannot listen on 192.0.2.1: not an address of "
                           "this machine") != std::string::npos);
    CHECK(lines_of(checked.out).back() == foreign.path() + ": 1 error, 0 warnings");
  }
  {
    // The start refuses it before any service starts (exit 1: docs/packaging.md).
    auto started = run_to_completion(
        {"--config", foreign.path(), "--port", std::to_string(free_port())}, {}, 10s);
    INFO(started.err);
    CHECK(started.status.code == 1);
    CHECK(started.err.find("Cannot listen on 192.0.2.1:") != std::string::npos);
  }
  {
    // The listener looks up no name but localhost and ip6-localhost.
    TempFile named("server:\n  host: db.example\n  auth:\n    allow_anonymous: true\n");
    auto checked = run_to_completion({"check-config", named.path()}, {}, 10s);
    INFO(checked.out << checked.err);
    CHECK(checked.status.code == 2);
    CHECK(checked.out.find("error: server.host: cannot listen on db.example: not an IP address") !=
          std::string::npos);
  }
  TempFile loopback("server:\n  host: localhost\n");
  auto checked = run_to_completion({"check-config", loopback.path()}, {}, 10s);
  INFO(checked.out << checked.err);
  CHECK(checked.status.code == 0);
  CHECK(checked.out == loopback.path() + ": ok, 0 warnings\n");
}

TEST_CASE("check-config accepts a file whose HTTP port the running node holds") {
  // docs/packaging.md: the file is checked before a restart, while the node
  // to restart still listens on its port.
  SilentListener running_node;
  TempFile file("server:\n  host: 127.0.0.1\n  port: " + std::to_string(running_node.port()) +
                "\n");
  auto checked = run_to_completion({"check-config", file.path()}, {}, 10s);
  INFO(checked.out << checked.err);
  CHECK(checked.status.code == 0);
  CHECK(checked.out == file.path() + ": ok, 0 warnings\n");
}

TEST_CASE("an unknown section key is refused at start too, exit 2 naming it") {
  TempFile file("server:\n  hots: 0.0.0.0\n");
  auto result =
      run_to_completion({"--config", file.path(), "--port", std::to_string(free_port())}, {}, 10s);
  CHECK(result.status.code == 2);
  CHECK(result.err.find("server.hots: unknown key (did you mean host?)") != std::string::npos);
}

TEST_CASE("a path that is not a regular file is refused by check-config and by a start") {
  // A directory or /dev/null would read as an empty file, and the node would
  // run with no services; a FIFO would block (docs/configuration.md, "Flags").
  TempDirectory folder{"config-folder"};
  folder.write("app.yaml", "services:\n  echo: {}\n");
  auto fifo = folder.path() / "fifo.yaml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const auto& [path, reason] : std::vector<std::pair<std::string, std::string>>{
           {folder.path().string(), "it is a directory"},
           {"/dev/null", "not a regular file"},
           {fifo.string(), "not a regular file"}}) {
    INFO(path);
    auto checked = run_to_completion({"check-config", path}, {}, 10s);
    INFO(checked.out << checked.err);
    CHECK(checked.status.code == 2);
    CHECK(checked.out == path + ": error: cannot read the file: " + reason + "\n" + path +
                             ": 1 error, 0 warnings\n");
    auto started =
        run_to_completion({"--config", path, "--port", std::to_string(free_port())}, {}, 10s);
    INFO(started.out << started.err);
    CHECK(started.status.code == 2);
    CHECK(started.err == "processpype: " + path + ": cannot read the file: " + reason + "\n");
  }
}

TEST_CASE("check-config refuses the log level and the state file that a start refuses") {
  TempDirectory folder{"config-state"};
  auto good = folder.write("app.yaml", "services:\n  echo: {}\n");
  auto bogus_level = run_to_completion({"--log-level", "bogus", "check-config", good}, {}, 10s);
  CHECK(bogus_level.status.code == 2);
  CHECK(bogus_level.err.find("--log-level: unknown level 'bogus'") != std::string::npos);
  auto started = run_to_completion(
      {"--log-level", "bogus", "--config", good, "--port", std::to_string(free_port())}, {}, 10s);
  CHECK(started.status.code == 2);

  // A file that is not a database, and a folder under a plain file: each
  // refused without being changed, as the start refuses them.
  auto not_a_database = folder.write("values.yaml", "x: 1\n");
  REQUIRE(::chmod(not_a_database.c_str(), 0644) == 0);
  auto under_a_file = not_a_database + "/sub/state.db";
  for (const auto& [state_path, reason] : std::vector<std::pair<std::string, std::string>>{
           {not_a_database, "not a SQLite database"},
           {under_a_file,
            "cannot create the folder " + not_a_database + "/sub: Not a directory"}}) {
    INFO(state_path);
    auto checked = run_to_completion({"--state", state_path, "check-config", good}, {}, 10s);
    INFO(checked.out << checked.err);
    CHECK(checked.status.code == 2);
    CHECK(checked.out.find(good + ": error: state.path: State file " + state_path + ": " + reason +
                           "\n") != std::string::npos);
    auto refused = run_to_completion(
        {"--state", state_path, "--config", good, "--port", std::to_string(free_port())}, {}, 10s);
    CHECK(refused.status.code == 2);
    CHECK(refused.err.find(reason) != std::string::npos);
    struct stat status {};
    REQUIRE(::stat(not_a_database.c_str(), &status) == 0);
    CHECK((status.st_mode & 07777) == 0644);
    CHECK_FALSE(std::filesystem::exists(not_a_database + ".lock"));
  }
  // A state file still to be created passes, and check-config creates nothing.
  auto to_create = folder.path() / "var" / "state.db";
  auto fresh = run_to_completion({"--state", to_create.string(), "check-config", good}, {}, 10s);
  CHECK(fresh.status.code == 0);
  CHECK_FALSE(std::filesystem::exists(folder.path() / "var"));
}

TEST_CASE("a start names the file in a problem found by the checks of its services") {
  TempFile file("services:\n  e:\n    type: echo\n    depends_on: [e]\n");
  auto result =
      run_to_completion({"--config", file.path(), "--port", std::to_string(free_port())}, {}, 10s);
  CHECK(result.status.code == 2);
  CHECK(result.err.find("processpype: " + file.path() + ": services: dependency cycle e -> e\n") !=
        std::string::npos);
}

TEST_CASE("a start and check-config show stars for a secret value that a check refuses") {
  // docs/secrets.md: an error about a key whose value a reference brought in
  // shows *** in its place. The start checks the file again after reading it.
  TempFile file(
      "secrets:\n  backends:\n    env: {type: env, prefix: PP_TEST_}\n"
      "node:\n  join: ['${secret:env:JOIN}']\n");
  Environment env{{{"PP_TEST_JOIN", "user:hunter2secret"}}, {}};
  auto checked = run_to_completion({"check-config", file.path()}, env, 10s);
  auto started =
      run_to_completion({"--config", file.path(), "--port", std::to_string(free_port())}, env, 10s);
  for (const auto* result : {&checked, &started}) {
    auto printed = result->out + result->err;
    INFO(printed);
    CHECK(result->status.code == 2);
    CHECK(printed.find("node.join: '***' is not a node address") != std::string::npos);
    CHECK(printed.find("hunter2secret") == std::string::npos);
  }
}

TEST_CASE("config-schema prints the file format's JSON Schema") {
  auto result = run_to_completion({"config-schema"}, {}, 10s);
  REQUIRE(result.status.code == 0);
  auto schema = nlohmann::json::parse(result.out);
  CHECK(schema["properties"].contains("server"));
  CHECK(schema["properties"]["services"]["additionalProperties"]["properties"]["type"]["enum"]
            .size() >= 5);
}
