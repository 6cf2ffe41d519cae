// Decoding one stored row (state/src/row_decoding.hpp): every column may
// hold any SQLite type in a damaged file; a value that does not decode gives
// the instance a problem naming it, never an exception.
#include <string>

#include <catch2/catch.hpp>

#include "row_decoding.hpp"

using namespace processpype::state;
using nlohmann::json;
using Type = ColumnValue::Type;

namespace {

ColumnValue text(std::string_view value) {
  return {Type::text, 0, 0, value};
}
ColumnValue integer(std::int64_t value) {
  return {Type::integer, value, 0, {}};
}
ColumnValue null() {
  return {};
}

/// A row that decodes without a problem.
StoredRow good_row() {
  return {integer(7),        text("echo"),    text("echo"), text("file"),
          text("{\"a\":1}"), text("stopped"), integer(0)};
}

}  // namespace

TEST_CASE("a good row decodes into every field") {
  auto instance = decode_row(good_row());
  CHECK(instance.problem.empty());
  CHECK(instance.sequence == 7);
  CHECK(instance.name == "echo");
  CHECK(instance.class_key == "echo");
  CHECK(instance.origin == Origin::file);
  CHECK(instance.configuration == json{{"a", 1}});
  CHECK(instance.desired == DesiredState::stopped);
  CHECK_FALSE(instance.deregistered);
}

TEST_CASE("NULL configuration and desired state mean none stored") {
  auto row = good_row();
  row.configuration = null();
  row.desired = null();
  auto instance = decode_row(row);
  CHECK(instance.problem.empty());
  CHECK_FALSE(instance.configuration.has_value());
  CHECK_FALSE(instance.desired.has_value());
}

TEST_CASE("each undecodable column gives a problem naming it") {
  struct Case {
    const char* what;
    StoredRow row;
    const char* problem;
  };
  auto with = [](auto change) {
    auto row = good_row();
    change(row);
    return row;
  };
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto deep_object = "{\"a\":" + deep + "}";
  const std::vector<Case> cases{
      {"sequence 0", with([](StoredRow& row) { row.sequence = integer(0); }), "sequence"},
      {"sequence as text", with([](StoredRow& row) { row.sequence = text("7"); }), "sequence"},
      {"empty name", with([](StoredRow& row) { row.name = text(""); }), "name"},
      {"name with a space", with([](StoredRow& row) { row.name = text("a b"); }), "name"},
      {"name as a blob", with([](StoredRow& row) {
         row.name = {Type::blob, 0, 0, "echo"};
       }),
       "name is not text"},
      {"NULL class", with([](StoredRow& row) { row.class_key = null(); }), "class"},
      {"unknown origin", with([](StoredRow& row) { row.origin = text("cluster"); }), "origin"},
      {"malformed JSON", with([](StoredRow& row) { row.configuration = text("{\"a\":"); }),
       "not valid JSON"},
      {"JSON array", with([](StoredRow& row) { row.configuration = text("[]"); }),
       "not a JSON object"},
      {"only whitespace", with([](StoredRow& row) { row.configuration = text("  "); }),
       "not JSON text"},
      {"configuration as a number", with([](StoredRow& row) {
         row.configuration = {Type::real, 0, 1.5, {}};
       }),
       "not JSON text"},
      {"nested too deep", with([&](StoredRow& row) { row.configuration = text(deep_object); }),
       "nested deeper"},
      {"number out of range",
       with([](StoredRow& row) { row.configuration = text("{\"a\":1e999}"); }), "1e999"},
      {"unknown desired state", with([](StoredRow& row) { row.desired = text("paused"); }),
       "desired state"},
      {"deregistered 2", with([](StoredRow& row) { row.deregistered = integer(2); }),
       "deregistered"},
      {"deregistered NULL", with([](StoredRow& row) { row.deregistered = null(); }),
       "deregistered"},
  };
  for (const auto& test : cases) {
    INFO(test.what);
    auto instance = decode_row(test.row);
    CHECK_THAT(instance.problem, Catch::StartsWith("Stored state is unreadable: "));
    CHECK_THAT(instance.problem, Catch::Contains(test.problem));
  }
}

TEST_CASE("several problems of one row are all named, on one line") {
  auto row = good_row();
  row.origin = text("x");
  row.desired = integer(1);
  auto problem = decode_row(row).problem;
  CHECK_THAT(problem, Catch::Contains("origin"));
  CHECK_THAT(problem, Catch::Contains("desired state"));
  CHECK(problem.find('\n') == std::string::npos);
}
