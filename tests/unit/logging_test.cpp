// configure_logging: levels per logger name and the JSON line format.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "processpype/runtime/logging.hpp"
#include "processpype/testing/captured_stderr.hpp"

using processpype::configure_logging;
using processpype::LogFormat;
using processpype::make_logger;
using processpype::testing::CapturedStderr;
namespace level = spdlog::level;

namespace {

/// Puts logging back to its defaults (info, text, no per-logger levels)
/// when a test ends, however it ends.
struct DefaultLoggingAfterwards {
  ~DefaultLoggingAfterwards() { configure_logging(level::info, LogFormat::text); }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream{text};
  for (std::string line; std::getline(stream, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

using Levels = std::vector<std::pair<std::string, level::level_enum>>;

/// Configures logging at `global` with the logger levels `configured`, then
/// CHECKs the level that make_logger gives each logger of `expected`.
void check_levels(level::level_enum global, const Levels& configured, const Levels& expected) {
  DefaultLoggingAfterwards restore;
  configure_logging(global, LogFormat::text, {configured.begin(), configured.end()});
  for (const auto& [name, wanted] : expected) {
    INFO(name);
    CHECK(make_logger(name)->level() == wanted);
  }
}

}  // namespace

TEST_CASE("a logger level applies to the name and its dotted children only") {
  check_levels(level::info, {{"processpype.services", level::debug}},
               {{"processpype.services", level::debug},
                {"processpype.services.echo", level::debug},
                {"processpype.services.echo.worker", level::debug},
                {"processpype.servicesX", level::info},
                {"processpype", level::info},
                {"other", level::info}});
}

TEST_CASE("the longest matching logger name wins, whatever the order given") {
  check_levels(level::warn,
               {{"processpype.services.echo", level::trace},
                {"processpype", level::err},
                {"processpype.services", level::debug}},
               {{"processpype.services.echo", level::trace},
                {"processpype.services.echo.worker", level::trace},
                {"processpype.services.counter", level::debug},
                {"processpype.auth", level::err},
                {"elsewhere", level::warn}});
}

TEST_CASE("loggers made before configure_logging take the new levels") {
  DefaultLoggingAfterwards restore;
  configure_logging(level::info, LogFormat::text);
  auto early = make_logger("processpype.services.early");
  auto other = make_logger("processpype.access");
  CHECK(early->level() == level::info);
  configure_logging(level::err, LogFormat::text, {{"processpype.services", level::trace}});
  CHECK(early->level() == level::trace);
  CHECK(other->level() == level::err);
  configure_logging(level::info, LogFormat::text);
  CHECK(early->level() == level::info);
}

namespace {

/// What the JSON format writes for `write(logger)`, one parsed object per line.
template <class Write>
std::vector<nlohmann::json> json_lines(Write write) {
  DefaultLoggingAfterwards restore;
  configure_logging(level::info, LogFormat::json);
  auto logger = make_logger("processpype.test.json");
  std::string text;
  {
    CapturedStderr captured;
    write(*logger);
    text = captured.text();
  }
  std::vector<nlohmann::json> lines;
  for (const auto& line : lines_of(text)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

}  // namespace

TEST_CASE("JSON lines carry time, logger and message, one object per line") {
  auto lines = json_lines([](spdlog::logger& logger) {
    logger.info("hello \"world\"\n");
    logger.debug("not shown");
    logger.warn("second");
  });
  REQUIRE(lines.size() == 2);
  const auto& first = lines[0];
  CHECK(first.size() == 4);
  CHECK(first.contains("level"));
  CHECK(first["logger"] == "processpype.test.json");
  CHECK(first["message"] == "hello \"world\"\n");
  REQUIRE(first["time"].is_string());
  CHECK_THAT(first["time"].get<std::string>(),
             Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"));
  CHECK(lines[1]["message"] == "second");
}

TEST_CASE("a line through spdlog's default logger takes the configured format too") {
  // A library given no logger of its own (the etcd watch's default).
  auto lines = json_lines([](spdlog::logger&) { spdlog::warn("from a library"); });
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["logger"] == "processpype");
  CHECK(lines[0]["message"] == "from a library");
}

// Was a bug, kept as a regression test: JsonFormatter (runtime/src/logging.cpp) puts
// spdlog::level::to_string_view(level) into the JSON object; with an external
// fmt that is a fmt::basic_string_view, which nlohmann::json stores as an
// array of character codes: "level":[105,110,102,111] instead of "info".
TEST_CASE("JSON lines name the level as a string") {
  auto lines = json_lines([](spdlog::logger& logger) {
    logger.info("first");
    logger.warn("second");
  });
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["level"] == "info");
  CHECK(lines[1]["level"] == "warning");
}

TEST_CASE("text lines name the level and the logger") {
  DefaultLoggingAfterwards restore;
  configure_logging(level::info, LogFormat::text);
  auto logger = make_logger("processpype.test.text");
  std::string text;
  {
    CapturedStderr captured;
    logger->info("plain line");
    text = captured.text();
  }
  auto lines = lines_of(text);
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0],
             Catch::Contains("info") && Catch::Contains("processpype.test.text: plain line"));
}

TEST_CASE("log levels parse from their names, warning and critical included") {
  using processpype::log_level_from_string;
  auto check_parsed = [](std::initializer_list<const char*> names, level::level_enum parsed) {
    for (const char* name : names) {
      INFO(name);
      CHECK(log_level_from_string(name) == parsed);
    }
  };
  check_parsed({"trace"}, level::trace);
  check_parsed({"debug"}, level::debug);
  check_parsed({"info"}, level::info);
  check_parsed({"warning", "warn", "WARNING"}, level::warn);
  check_parsed({"error"}, level::err);
  check_parsed({"critical"}, level::critical);
  check_parsed({"off"}, level::off);
  for (const char* unknown : {"verbose", "", "fatal"}) {
    INFO(unknown);
    CHECK_FALSE(log_level_from_string(unknown));
  }
}

TEST_CASE("log formats parse from text and json only") {
  CHECK(processpype::log_format_from_string("text") == LogFormat::text);
  CHECK(processpype::log_format_from_string("json") == LogFormat::json);
  CHECK_FALSE(processpype::log_format_from_string("JSON"));
  CHECK_FALSE(processpype::log_format_from_string("xml"));
}
