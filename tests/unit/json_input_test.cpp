// parse_json: the one entry point for JSON from outside (request bodies,
// messages from other nodes), and json_depth_within for JSON from elsewhere.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/json_input.hpp"

using nlohmann::json;
using processpype::Error;
using processpype::ErrorCode;
using processpype::json_depth_within;
using processpype::parse_json;

namespace {

/// `levels` nested arrays: `[[...]]`.
std::string nested_arrays(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

/// `levels` nested objects: `{"a":{"a":...{}}}`.
std::string nested_objects(std::size_t levels) {
  std::string text;
  for (std::size_t i = 1; i < levels; ++i) text += "{\"a\":";
  text += "{}";
  text += std::string(levels - 1, '}');
  return text;
}

/// Objects and arrays taking turns: `{"a":[{"a":[...]}]}`.
std::string nested_mixed(std::size_t levels) {
  std::string open, close;
  for (std::size_t i = 0; i < levels; ++i) {
    if (i % 2 == 0) {
      open += i + 1 == levels ? "{" : "{\"a\":";
      close = "}" + close;
    } else {
      open += "[";
      close = "]" + close;
    }
  }
  return open + close;
}

/// A JSON value nested `levels` deep, built without parsing.
json deep_value(std::size_t levels) {
  json value = json::array();
  for (std::size_t i = 1; i < levels; ++i) value = json::array({std::move(value)});
  return value;
}

/// The error parse_json throws for `text` (fails the test if it accepts it).
Error refusal_of(const std::string& text) {
  try {
    parse_json(text);
  } catch (const Error& error) {
    return error;
  }
  FAIL("accepted: " << text.substr(0, 80));
  return Error(ErrorCode::service_failure, "unreachable");
}

}  // namespace

TEST_CASE("an empty or whitespace-only body is an empty object") {
  CHECK(parse_json("") == json::object());
  CHECK(parse_json(" \t\r\n ") == json::object());
}

TEST_CASE("well-formed JSON parses to its value") {
  CHECK(parse_json(R"({"a": [1, 2.5, "x", true, null]})") ==
        json{{"a", {1, 2.5, "x", true, nullptr}}});
  CHECK(parse_json("42") == 42);
}

TEST_CASE("malformed JSON is a bad request saying it is malformed") {
  for (const auto* text : {"{", "{\"a\":}", "[1,]", "nul", "{} {}", "'x'"}) {
    INFO(text);
    auto error = refusal_of(text);
    CHECK(http_status(error.code()) == 400);
    CHECK_THAT(error.detail(), Catch::StartsWith("Malformed JSON"));
  }
}

TEST_CASE("nesting up to 64 levels is accepted, 65 is refused with a fixed message") {
  const std::vector<std::pair<std::string, std::string (*)(std::size_t)>> kinds = {
      {"arrays", nested_arrays},
      {"objects", nested_objects},
      {"objects and arrays mixed", nested_mixed},
  };
  for (const auto& [kind, nested] : kinds) {
    INFO(kind);
    CHECK_NOTHROW(parse_json(nested(64)));
    auto error = refusal_of(nested(65));
    CHECK(http_status(error.code()) == 400);
    CHECK(error.detail() == "JSON nested deeper than 64 levels");
  }
  // json_depth_within counts levels the same way.
  auto parsed = parse_json(nested_objects(64));
  CHECK(json_depth_within(parsed, 64));
  CHECK_FALSE(json_depth_within(parsed, 63));
}

TEST_CASE("a 200 KB run of opening brackets is refused quickly") {
  std::string text(200 * 1024, '[');
  auto begin = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(parse_json(text), Error);
  auto elapsed = std::chrono::steady_clock::now() - begin;
  // The depth check stops after 65 bytes; a full parse would still be fast,
  // but a deep tree would not be: a generous bound catches that.
  CHECK(elapsed < std::chrono::seconds(1));
}

TEST_CASE("numbers no 64-bit type holds are refused naming the literal") {
  for (const std::string text : {"1e400", "-1e400", "[1, 1e400]", R"({"x": -1e400})"}) {
    INFO(text);
    auto error = refusal_of(text);
    CHECK(http_status(error.code()) == 400);
    auto literal = text.find("-1e400") != std::string::npos ? "-1e400" : "1e400";
    CHECK_THAT(error.detail(), Catch::Contains(literal));
  }
}

TEST_CASE("integers beyond uint64 are accepted as floating-point numbers") {
  auto big = parse_json("18446744073709551616");  // 2^64
  CHECK(big.is_number_float());
  CHECK(big.get<double>() == Approx(18446744073709551616.0));
  auto negative = parse_json("-9223372036854775809");  // below int64
  CHECK(negative.is_number_float());
  CHECK(parse_json("18446744073709551615").is_number_unsigned());  // uint64 max stays exact
}

TEST_CASE("json_depth_within counts containers, not scalars") {
  CHECK(json_depth_within(json(5), 0));
  CHECK(json_depth_within(json("text"), 0));
  CHECK(json_depth_within(json::array(), 1));
  CHECK_FALSE(json_depth_within(json::array(), 0));
  CHECK(json_depth_within(json{{"a", {1, 2}}}, 2));
  CHECK_FALSE(json_depth_within(json{{"a", {1, 2}}}, 1));
  CHECK(json_depth_within(deep_value(64)));
  CHECK_FALSE(json_depth_within(deep_value(65)));
}

TEST_CASE("json_depth_within is safe on a very deep value") {
  auto value = deep_value(100000);
  CHECK_FALSE(json_depth_within(value));
  CHECK(json_depth_within(value, 100000));
}
