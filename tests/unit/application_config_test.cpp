#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "processpype/runtime/application_config.hpp"

using processpype::ApplicationConfigError;
using processpype::load_application_config;

namespace {

/// A YAML file in the temp directory, removed afterwards.
struct TempYaml {
  std::filesystem::path path;

  explicit TempYaml(const std::string& text)
      : path(std::filesystem::temp_directory_path() /
             ("processpype-config-" + std::to_string(std::rand()) + ".yaml")) {
    std::ofstream{path} << text;
  }
  ~TempYaml() { std::filesystem::remove(path); }
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

TEST_CASE("plain scalars are typed after substitution; quoted ones stay strings") {
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
  CHECK(config.port == 8123);
  CHECK(config.api_prefix == "/api");
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
