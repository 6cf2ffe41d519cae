// The Debian packages CPack made from this build (tests/debian/CMakeLists.txt,
// docs/packaging.md): what they hold, what lintian says, and the server
// package unpacked into a temporary root, run as its unit would run it.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/testing/checks.hpp"
#include "processpype/testing/probed_server.hpp"
#include "processpype/testing/systemd.hpp"

namespace {

using namespace processpype::testing;
namespace fs = std::filesystem;

const fs::path package_dir = PROCESSPYPE_PACKAGE_DIR;

/// The .deb of `package` that the fixture made.
std::string package_file(const std::string& package) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(package_dir)) {
    auto name = entry.path().filename().string();
    if (name.rfind(package + "_", 0) == 0 && entry.path().extension() == ".deb")
      found.push_back(entry.path().string());
  }
  INFO("packages of " << package << " in " << package_dir);
  REQUIRE(found.size() == 1);
  return found.front();
}

RunResult run_ok(const std::string& program, const std::vector<std::string>& args) {
  auto result = run_command(program, args, {}, 120s);
  INFO(program << " failed: " << result.status.describe() << "\n" << result.err);
  REQUIRE(result.status.code == 0);
  return result;
}

/// The paths a package installs (`./usr/bin/x` listed as `/usr/bin/x`).
std::set<std::string> contents_of(const std::string& deb) {
  std::set<std::string> paths;
  for (const auto& line : lines_of(run_ok("dpkg-deb", {"--contents", deb}).out)) {
    auto path = line.substr(line.rfind(' ') + 1);
    if (path.rfind("./", 0) == 0) path.erase(0, 1);
    if (path.size() > 1 && path.back() == '/') path.pop_back();
    paths.insert(path);
  }
  return paths;
}

std::string field_of(const std::string& deb, const std::string& field) {
  auto lines = lines_of(run_ok("dpkg-deb", {"--field", deb, field}).out);
  std::string value;
  for (const auto& line : lines) value += (value.empty() ? "" : "\n") + line;
  return value;
}

/// Whether `paths` holds one that matches `pattern` (whole).
bool holds_path(const std::set<std::string>& paths, const std::string& pattern) {
  std::regex path_pattern{pattern};
  return std::any_of(paths.begin(), paths.end(),
                     [&](const std::string& path) { return std::regex_match(path, path_pattern); });
}

/// The server package unpacked into a temporary root, as `dpkg -x` does
/// (no maintainer scripts run).
class UnpackedServer {
 public:
  UnpackedServer() { run_ok("dpkg", {"-x", package_file("processpype"), root_.path().string()}); }
  fs::path path(const std::string& inside) const {
    return root_.path() / fs::path(inside).relative_path();
  }
  const fs::path& root() const { return root_.path(); }

 private:
  TempDirectory root_{"processpype-deb-root"};
};

}  // namespace

TEST_CASE(
    "The server package holds the binary, its unit, the configuration, the man page and "
    "its Debian documents") {
  auto deb = package_file("processpype");
  auto paths = contents_of(deb);
  INFO("contents: " << Catch::Detail::stringify(paths));
  for (const auto* path :
       {"/usr/bin/processpype", "/lib/systemd/system/processpype.service",
        "/etc/processpype/processpype.yaml", "/usr/share/man/man1/processpype.1.gz",
        "/usr/share/doc/processpype/copyright", "/usr/share/doc/processpype/changelog.Debian.gz"})
    CHECK(paths.count(path) == 1);
  // The libraries are the -dev package's.
  CHECK_FALSE(holds_path(paths, "/usr/include/.+"));
  CHECK_FALSE(holds_path(paths, R"(/usr/lib/.+\.a)"));

  CHECK(field_of(deb, "Package") == "processpype");
  CHECK(field_of(deb, "Section") == "admin");
  CHECK_FALSE(field_of(deb, "Maintainer").empty());
  CHECK_FALSE(field_of(deb, "Description").empty());
  // dpkg-shlibdeps found the shared libraries; postinst needs adduser.
  auto depends = field_of(deb, "Depends");
  for (const auto* dependency : {"adduser", "libc6", "libsystemd0", "libcaf-core0.17"})
    CHECK_THAT(depends, Catch::Contains(dependency));

  TempDirectory control{"processpype-deb-control"};
  run_ok("dpkg-deb", {"--control", deb, control.path().string()});
  CHECK(lines_of(read_file((control.path() / "conffiles").string())) ==
        std::vector<std::string>{"/etc/processpype/processpype.yaml"});
  for (const auto* script : {"postinst", "prerm", "postrm"})
    CHECK(fs::exists(control.path() / script));
}

TEST_CASE("The development package holds the headers, the static libraries and the CMake package") {
  auto deb = package_file("processpype-dev");
  auto paths = contents_of(deb);
  INFO("contents: " << Catch::Detail::stringify(paths));
  CHECK(paths.count("/usr/include/processpype/actors/runtime.hpp") == 1);
  CHECK(paths.count("/usr/include/processpype/version.hpp") == 1);
  // /usr/lib/<multiarch triplet>/ when built for /usr (scripts/package.sh).
  const std::string libdir = "/usr/lib/([a-z0-9_-]+/)?";
  CHECK(holds_path(paths, libdir + R"(libprocesspype_actors\.a)"));
  CHECK(holds_path(paths, libdir + R"(cmake/processpype/processpypeConfig\.cmake)"));
  CHECK(holds_path(paths, libdir + R"(cmake/processpype/processpypeTargets\.cmake)"));
  CHECK(paths.count("/usr/share/doc/processpype-dev/copyright") == 1);
  CHECK(paths.count("/usr/share/doc/processpype-dev/changelog.Debian.gz") == 1);
  CHECK_FALSE(holds_path(paths, "/usr/bin/.+"));
  CHECK(field_of(deb, "Section") == "libdevel");
  CHECK_THAT(field_of(deb, "Depends"), Catch::Contains("libcaf-dev"));
}

TEST_CASE("lintian finds no errors in the packages") {
  if (!find_program("lintian")) {
    WARN("SKIPPED: lintian is not installed (scripts/install-dependencies.sh installs it)");
    return;
  }
  auto result = run_command(
      "lintian",
      {"--fail-on", "error", package_file("processpype"), package_file("processpype-dev")}, {},
      300s);
  INFO("lintian:\n" << result.out << result.err);
  std::vector<std::string> errors;
  for (const auto& line : lines_of(result.out))
    if (line.rfind("E: ", 0) == 0) errors.push_back(line);
  CHECK(errors.empty());
  CHECK(result.status.code == 0);
}

TEST_CASE("The unpacked binary serves with the packaged configuration, as its unit starts it") {
  UnpackedServer unpacked;
  auto binary = unpacked.path("/usr/bin/processpype").string();
  auto config = unpacked.path("/etc/processpype/processpype.yaml").string();

  auto checked = run_command(binary, {"check-config", config});
  INFO(checked.out << checked.err);
  CHECK(checked.status.code == 0);

  // The unit's ExecStart, with a free port, under systemd's notify protocol
  // and with the StateDirectory= it makes (here a temporary one).
  NotifySocket notify;
  TempDirectory state_directory{"processpype-deb-state"};
  int port = free_port();
  ChildProcess node(binary, {"--config", config, "--port", std::to_string(port)},
                    {.set = {{"NOTIFY_SOCKET", notify.path()},
                             {"WATCHDOG_USEC", "2000000"},
                             {"STATE_DIRECTORY", state_directory.path().string()}},
                     .unset = {"WATCHDOG_PID"}});
  auto ready =
      notify.receive_until([](const auto& message) { return message.has("READY=1"); }, 15s);
  INFO("server stderr:\n" << node.stderr_text());
  REQUIRE(ready);
  CHECK(ready->value("STATUS") == "0 instances");
  HttpClient api(port);
  auto health = api.get("/health/ready");
  CHECK(health.status == 200);
  auto application = api.get("/");
  CHECK(application.status == 200);
  CHECK(application.field("state") == "running");
  // logging.format: json in the packaged file: journald gets one object a line.
  for (const auto& line : lines_of(node.stderr_text()))
    CHECK(json::parse(line, nullptr, false).is_object());

  // A registration lands in the state file of the unit's state directory.
  CHECK(register_service(api, "echo", "kept").status == 200);
  CHECK(fs::exists(state_directory.path() / "state.db"));

  node.signal(SIGTERM);
  CHECK(notify.receive_until([](const auto& message) { return message.has("STOPPING=1"); }, 10s));
  auto status = node.wait(15s);
  CHECK(status.exited);
  CHECK(status.code == 0);
}

TEST_CASE("systemd-analyze verify finds nothing to say about the packaged unit") {
  UnpackedServer unpacked;
  UnitRoot root{unpacked.root()};
  check_unit_verifies(root, "/lib/systemd/system/processpype.service");
}
