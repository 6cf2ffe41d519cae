// packaging/processpype.service (docs/packaging.md): what systemd-analyze
// says of it offline, and that it agrees with the node it runs.
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "processpype/testing/checks.hpp"
#include "processpype/testing/process.hpp"
#include "processpype/testing/server.hpp"
#include "processpype/testing/systemd.hpp"

namespace {

using namespace processpype::testing;

const std::string packaging_dir = PROCESSPYPE_PACKAGING_DIR;
const std::string unit_inside = "/lib/systemd/system/processpype.service";

/// The [Service] settings of the unit (the last value of a repeated key).
std::map<std::string, std::string> service_settings() {
  std::ifstream file{packaging_dir + "/processpype.service"};
  std::map<std::string, std::string> settings;
  std::string section;
  for (std::string line; std::getline(file, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      section = line;
      continue;
    }
    auto equals = line.find('=');
    if (section == "[Service]" && equals != std::string::npos)
      settings[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return settings;
}

/// "90s" → 90.
int seconds_of(const std::string& value) {
  std::size_t digits = 0;
  int seconds = std::stoi(value, &digits);
  REQUIRE(value.substr(digits) == "s");
  return seconds;
}

}  // namespace

TEST_CASE("systemd-analyze verify finds nothing to say about the unit") {
  UnitRoot root;
  root.add(server_binary(), "/usr/bin/processpype");
  root.add(packaging_dir + "/processpype.service", unit_inside);
  if (!check_unit_verifies(root, unit_inside)) return;

  // The exposure score is reported, not judged (docs/packaging.md has it).
  auto security = unit_security(root, unit_inside);
  auto score = security.output.find("Overall exposure level");
  WARN("systemd-analyze security: "
       << (score == std::string::npos ? security.output : security.output.substr(score)));
}

TEST_CASE("The unit runs the node as Type=notify with a watchdog, and waits for its shutdown") {
  auto settings = service_settings();
  CHECK(settings["Type"] == "notify");
  CHECK(settings["NotifyAccess"] == "main");
  CHECK(seconds_of(settings["WatchdogSec"]) > 4);  // the node's 2 s liveness bound, twice
  CHECK(settings["ExecStart"] == "/usr/bin/processpype --config /etc/processpype/processpype.yaml");
  CHECK(settings["ExecReload"] == "/bin/kill -HUP $MAINPID");
  CHECK(settings["StateDirectory"] == "processpype");

  // systemd kills what is left at TimeoutStopSec: the services' own
  // closing_timeout_seconds of the packaged configuration must end first.
  std::ifstream config{packaging_dir + "/processpype.yaml"};
  std::stringstream text;
  text << config.rdbuf();
  auto key = text.str().find("closing_timeout_seconds: ");
  REQUIRE(key != std::string::npos);
  int closing_timeout = std::stoi(text.str().substr(key + 25));
  CHECK(seconds_of(settings["TimeoutStopSec"]) >= closing_timeout + 10);
}

TEST_CASE("The unit restarts a node that failed, but not one whose configuration it refuses") {
  auto settings = service_settings();
  CHECK(settings["Restart"] == "on-failure");
  REQUIRE(settings["RestartPreventExitStatus"] == "2");

  // The real binary's side of that setting: a key it refuses is exit code 2
  // (no restart: the file must change first) ...
  TempFile refused("server:\n  prot: 8000\n");
  auto bad = run_to_completion({"--config", refused.path()}, {}, 20s);
  CHECK(bad.status.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("server.prot: unknown key"));

  // ... while a join target that is not up yet is not exit code 2: the
  // restart tries it again (docs/packaging.md, "Exit codes and restarts").
  TempFile waits("node:\n  join_timeout_seconds: 1\n");
  auto nobody = "127.0.0.1:" + std::to_string(free_port());
  auto unanswered = run_to_completion({"--config", waits.path(), "--join", nobody}, {}, 20s);
  CHECK(unanswered.status.code == 75);
}
