// Configuration field declarations: the constraints a field declares are
// both checked on load and written into the class's JSON Schema.
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/json_input.hpp"

using nlohmann::json;
using processpype::ConfigurationError;

namespace {

struct SampleConfiguration : processpype::ServiceConfiguration {
  std::int64_t count = 3;
  std::int64_t retries = 2;
  std::int64_t percent = 50;
  double interval = 1.5;
  std::string mode = "none";
  bool verbose = false;
  std::vector<std::string> tags{"a"};
  json anything;
  processpype::Required<std::string> target;

  void fields(processpype::Fields& fields) override {
    fields("count", count, "How many").greater_than(0);
    fields("retries", retries, "Retries").at_least(0);
    fields("percent", percent, "A share").at_most(100);
    fields("interval", interval, "Seconds between runs").between(0.001, 86400);
    fields("mode", mode, "When to fail").one_of({"none", "start", "stop"});
    fields("verbose", verbose, "Log more");
    fields("tags", tags, "Labels");
    fields("anything", anything, "Any JSON");
    fields("target", target, "Where to send");
  }
};

/// A valid configuration plus `changes`.
json with(json changes) {
  json object = {{"target", "somewhere"}};
  object.update(changes);
  return object;
}

/// The ConfigurationError that loading `input` throws (fails the test if none).
ConfigurationError load_refusal(const json& input) {
  SampleConfiguration configuration;
  try {
    configuration.load(input);
  } catch (const ConfigurationError& error) {
    return error;
  }
  FAIL("accepted: " << input.dump());
  return ConfigurationError("", "");
}

/// Nested arrays, `levels` deep.
json deep_json(std::size_t levels) {
  json value = json::array();
  for (std::size_t i = 1; i < levels; ++i) value = json::array({std::move(value)});
  return value;
}

}  // namespace

// -- checks on load ------------------------------------------------------------------------

TEST_CASE("greater_than refuses the bound itself and below") {
  for (auto value : {0, -1}) {
    auto error = load_refusal(with({{"count", value}}));
    CHECK(error.field() == "count");
    CHECK_THAT(error.detail(), Catch::EndsWith("field 'count' must be greater than 0"));
    CHECK(http_status(error.code()) == 422);
  }
  SampleConfiguration configuration;
  CHECK_NOTHROW(configuration.load(with({{"count", 1}})));
}

TEST_CASE("at_least refuses values below the bound") {
  auto error = load_refusal(with({{"retries", -1}}));
  CHECK(error.field() == "retries");
  CHECK_THAT(error.detail(), Catch::EndsWith("must be greater than or equal to 0"));
  SampleConfiguration configuration;
  CHECK_NOTHROW(configuration.load(with({{"retries", 0}})));
}

TEST_CASE("at_most refuses values above the bound") {
  auto error = load_refusal(with({{"percent", 101}}));
  CHECK(error.field() == "percent");
  CHECK_THAT(error.detail(), Catch::EndsWith("must be less than or equal to 100"));
  SampleConfiguration configuration;
  CHECK_NOTHROW(configuration.load(with({{"percent", 100}})));
}

TEST_CASE("between accepts both bounds and refuses beyond either with one message") {
  for (double value : {0.0, 0.0009, 86400.5, -5.0}) {
    INFO(value);
    auto error = load_refusal(with({{"interval", value}}));
    CHECK(error.field() == "interval");
    CHECK_THAT(error.detail(), Catch::EndsWith("must be between 0.001 and 86400"));
  }
  for (double value : {0.001, 86400.0, 10.0}) {
    SampleConfiguration configuration;
    CHECK_NOTHROW(configuration.load(with({{"interval", value}})));
  }
}

TEST_CASE("one_of accepts the listed strings only and lists them") {
  auto error = load_refusal(with({{"mode", "sometimes"}}));
  CHECK(error.field() == "mode");
  CHECK_THAT(error.detail(), Catch::EndsWith(R"(must be one of "none", "start", "stop")"));
  SampleConfiguration configuration;
  configuration.load(with({{"mode", "stop"}}));
  CHECK(configuration.mode == "stop");
}

TEST_CASE("the base restart field accepts never and on-failure only") {
  processpype::ServiceConfiguration configuration;
  configuration.load({{"restart", "on-failure"}});
  CHECK(configuration.restarts_on_failure());
  try {
    configuration.load({{"restart", "always"}});
    FAIL("restart: always was accepted");
  } catch (const ConfigurationError& error) {
    CHECK(error.field() == "restart");
    CHECK_THAT(error.detail(), Catch::EndsWith(R"(must be one of "never", "on-failure")"));
  }
}

TEST_CASE("a required field must be present and not null, others may be omitted") {
  CHECK(load_refusal(json::object()).field() == "target");
  CHECK(load_refusal({{"target", nullptr}}).field() == "target");
  CHECK_THAT(load_refusal(json::object()).detail(), Catch::EndsWith("field 'target' is required"));
  SampleConfiguration configuration;
  configuration.load({{"target", "x"}});
  CHECK(configuration.target.has_value());
  CHECK(*configuration.target == "x");
  CHECK(configuration.count == 3);
}

TEST_CASE("a required field reads as null until it is set") {
  SampleConfiguration configuration;
  CHECK_FALSE(configuration.target.has_value());
  CHECK_THROWS_AS(configuration.target.value(), std::logic_error);
  CHECK(configuration.to_json()["target"].is_null());
}

TEST_CASE("list-of-strings fields accept only arrays of strings") {
  for (const json& value : {json("a"), json({1}), json({"a", nullptr}), json::object(), json(1)}) {
    INFO(value.dump());
    processpype::ServiceConfiguration configuration;
    try {
      configuration.load({{"depends_on", value}});
      FAIL("accepted");
    } catch (const ConfigurationError& error) {
      CHECK(error.field() == "depends_on");
      CHECK_THAT(error.detail(), Catch::EndsWith("must be a list of strings"));
    }
  }
  processpype::ServiceConfiguration configuration;
  configuration.load({{"depends_on", {"db", "cache"}}});
  CHECK(configuration.depends_on == std::vector<std::string>{"db", "cache"});
  configuration.load({{"depends_on", json::array()}});
  CHECK(configuration.depends_on.empty());
}

TEST_CASE("fields of other types refuse mismatched JSON types naming the field") {
  CHECK(load_refusal(with({{"verbose", "yes"}})).field() == "verbose");
  CHECK(load_refusal(with({{"mode", 1}})).field() == "mode");
  CHECK(load_refusal(with({{"interval", "1"}})).field() == "interval");
  CHECK(load_refusal(with({{"tags", "a"}})).field() == "tags");
  CHECK(load_refusal(with({{"count", 2.5}})).field() == "count");
}

TEST_CASE("a JSON field takes any value up to the depth limit") {
  SampleConfiguration configuration;
  configuration.load(with({{"anything", {{"a", {1, "two", nullptr}}}}}));
  CHECK(configuration.anything == json{{"a", {1, "two", nullptr}}});
  configuration.load(with({{"anything", deep_json(processpype::max_json_depth)}}));
  auto error = load_refusal(with({{"anything", deep_json(processpype::max_json_depth + 1)}}));
  CHECK(error.field() == "anything");
  CHECK(http_status(error.code()) == 422);
}

TEST_CASE("an unknown extra field nested deeper than 64 levels is refused") {
  SampleConfiguration configuration;
  CHECK_NOTHROW(configuration.load(with({{"extra", deep_json(64)}})));
  CHECK(configuration.to_json()["extra"] == deep_json(64));
  auto error = load_refusal(with({{"extra", deep_json(65)}}));
  CHECK(error.field() == "extra");
  CHECK(http_status(error.code()) == 422);
  CHECK_THAT(error.detail(), Catch::Contains("nested deeper than 64 levels"));
}

TEST_CASE("a configuration that is not an object is refused as invalid") {
  processpype::ServiceConfiguration configuration;
  for (const json& value : {json::array(), json(1), json("x"), json(nullptr)}) {
    INFO(value.dump());
    try {
      configuration.load(value);
      FAIL("accepted");
    } catch (const processpype::Error& error) {
      CHECK(http_status(error.code()) == 422);
    }
  }
}

// -- the JSON Schema -------------------------------------------------------------------------

TEST_CASE("the schema is an object schema that allows other properties") {
  SampleConfiguration configuration;
  auto schema = configuration.schema();
  CHECK(schema["type"] == "object");
  CHECK(schema["additionalProperties"] == true);
  CHECK(schema["required"] == json{"target"});
  REQUIRE(schema["properties"].is_object());
}

TEST_CASE("each declared field's schema has its type, default, description and constraints") {
  SampleConfiguration configuration;
  auto properties = configuration.schema()["properties"];
  CHECK(properties["count"] == json{{"type", "integer"},
                                    {"default", 3},
                                    {"description", "How many"},
                                    {"exclusiveMinimum", 0}});
  CHECK(properties["retries"] ==
        json{{"type", "integer"}, {"default", 2}, {"description", "Retries"}, {"minimum", 0}});
  CHECK(properties["percent"] ==
        json{{"type", "integer"}, {"default", 50}, {"description", "A share"}, {"maximum", 100}});
  CHECK(properties["interval"] == json{{"type", "number"},
                                       {"default", 1.5},
                                       {"description", "Seconds between runs"},
                                       {"minimum", 0.001},
                                       {"maximum", 86400}});
  CHECK(properties["mode"] == json{{"type", "string"},
                                   {"default", "none"},
                                   {"description", "When to fail"},
                                   {"enum", {"none", "start", "stop"}}});
  CHECK(properties["verbose"] ==
        json{{"type", "boolean"}, {"default", false}, {"description", "Log more"}});
  CHECK(properties["tags"] == json{{"type", "array"},
                                   {"items", {{"type", "string"}}},
                                   {"default", {"a"}},
                                   {"description", "Labels"}});
  CHECK_FALSE(properties["anything"].contains("type"));  // any JSON value
  CHECK(properties["anything"]["description"] == "Any JSON");
  // A required field has no default.
  CHECK(properties["target"] == json{{"type", "string"}, {"description", "Where to send"}});
}

TEST_CASE("the schema has every base field with its default") {
  processpype::ServiceConfiguration configuration;
  auto schema = configuration.schema();
  CHECK_FALSE(schema.contains("required"));
  const auto& p = schema["properties"];
  // Each property and keywords it has (among others).
  const std::vector<std::pair<std::string, json>> keywords = {
      {"enabled", {{"type", "boolean"}, {"default", true}}},
      {"autostart", {{"default", false}}},
      {"start_timeout_seconds", {{"default", 60.0}, {"minimum", 0.001}}},
      {"stop_timeout_seconds", {{"default", 60.0}}},
      {"restart_delay_seconds", {{"type", "number"}, {"default", 1.0}, {"minimum", 0}}},
      {"restart_max_delay_seconds", {{"default", 30.0}}},
      {"max_restarts", {{"type", "integer"}, {"default", 5}, {"minimum", 0}}},
      {"restart_window_seconds", {{"default", 60.0}, {"minimum", 0.001}}},
      {"health_interval_seconds", {{"default", 0.0}}},
      {"health_timeout_seconds", {{"default", 5.0}}},
      {"health_failures", {{"type", "integer"}, {"default", 3}, {"minimum", 1}}},
  };
  for (const auto& [property, expected] : keywords) {
    for (const auto& [keyword, value] : expected.items()) {
      INFO(property << "." << keyword);
      CHECK(p[property][keyword] == value);
    }
  }
  CHECK(p["restart"] == json{{"type", "string"},
                             {"default", "never"},
                             {"description", p["restart"]["description"]},
                             {"enum", {"never", "on-failure"}}});
  CHECK(p["depends_on"] == json{{"type", "array"},
                                {"items", {{"type", "string"}}},
                                {"default", json::array()},
                                {"description", p["depends_on"]["description"]}});
  for (const auto& [name, property] : p.items()) {
    INFO(name);
    CHECK(property["description"].is_string());
    CHECK_FALSE(property["description"].get<std::string>().empty());
  }
}
