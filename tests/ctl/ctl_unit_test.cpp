// The parts of `processpype ctl` that need no server (docs/cli.md): reading
// a Server-Sent Events body in whatever pieces it arrives, KEY=VALUE
// assignments and --file configurations, aligned tables and what is safe to
// print on a terminal.

#include <catch2/catch.hpp>

#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include <processpype/ctl/configuration_edit.hpp>
#include <processpype/ctl/errors.hpp>
#include <processpype/ctl/server_sent_events.hpp>
#include <processpype/ctl/table.hpp>
#include <processpype/testing/process.hpp>

using namespace processpype::ctl;
using json = nlohmann::json;

namespace {

/// Every event of `text` fed to one parser in pieces of `piece` bytes.
std::vector<ServerSentEvent> parse_in_pieces(const std::string& text, std::size_t piece) {
  ServerSentEventParser parser;
  std::vector<ServerSentEvent> events;
  for (std::size_t at = 0; at < text.size(); at += piece)
    parser.feed(std::string_view(text).substr(at, piece),
                [&](const ServerSentEvent& event) { events.push_back(event); });
  return events;
}

}  // namespace

TEST_CASE("an event stream is read the same whatever pieces it arrives in", "[ctl][sse]") {
  // What a node writes (docs/supervision.md), with a keep-alive comment, a
  // gap, CRLF line ends and a two-line data field.
  const std::string stream =
      ": keep-alive\n\n"
      "id: 1c31:7\nevent: running\ndata: {\"seq\":7}\n\n"
      "event: gap\r\ndata: {\"boot\":\"b\",\"oldest_seq\":3}\r\n\r\n"
      "id: 1c31:8\nevent: error\ndata: first\ndata: second\n\n"
      "id: 1c31:9\nevent: stopped\ndata: {\"seq\":9}\n";  // not ended: not dispatched
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{7}, stream.size()}) {
    INFO("pieces of " << piece << " bytes");
    auto events = parse_in_pieces(stream, piece);
    REQUIRE(events.size() == 3);
    CHECK(events[0].id == "1c31:7");
    CHECK(events[0].event == "running");
    CHECK(events[0].data == "{\"seq\":7}");
    CHECK(events[1].id.empty());
    CHECK(events[1].event == "gap");
    CHECK(json::parse(events[1].data)["oldest_seq"] == 3);
    CHECK(events[2].data == "first\nsecond");
  }
}

TEST_CASE("an event without data is dropped, one without a type is a message, and reset forgets",
          "[ctl][sse]") {
  ServerSentEventParser parser;
  std::vector<ServerSentEvent> events;
  auto collect = [&](const ServerSentEvent& event) { events.push_back(event); };
  parser.feed("id: 5\nevent: lonely\n\ndata:no space\n\n", collect);
  REQUIRE(events.size() == 1);
  CHECK(events[0].event == "message");
  CHECK(events[0].data == "no space");
  parser.feed("id: 6\ndata: half", collect);
  parser.reset();  // the connection broke: a new one starts afresh
  parser.feed("\n\ndata: whole\n\n", collect);
  REQUIRE(events.size() == 2);
  CHECK(events[1].data == "whole");
  CHECK(events[1].id.empty());
}

TEST_CASE("KEY=VALUE reads VALUE as JSON where it is valid JSON, else as a string",
          "[ctl][configure]") {
  struct Case {
    std::string text;
    std::string key;
    json value;
  };
  const std::vector<Case> cases = {
      {"step=5", "step", 5},
      {"prefix=Hi", "prefix", "Hi"},
      {"enabled=false", "enabled", false},
      {"x=[1,2]", "x", json::array({1, 2})},
      {"limits={\"a\": 1}", "limits", {{"a", 1}}},
      {"prefix=\"5\"", "prefix", "5"},
      {"prefix=", "prefix", ""},
      {"ratio=0.5", "ratio", 0.5},
      {"nothing=null", "nothing", nullptr},
      {"prefix=a=b", "prefix", "a=b"},
      {"prefix=[1,", "prefix", "[1,"},
  };
  for (const auto& [text, key, value] : cases) {
    INFO(text);
    auto assignment = parse_assignment(text);
    CHECK(assignment.key == key);
    CHECK(assignment.value == value);
  }
  for (std::string bad : {"step", "=5", "step=1e400", "x=[1e999]"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_assignment(bad), UsageError);
  }
}

TEST_CASE("assignments merge into a configuration, the later one for a key winning",
          "[ctl][configure]") {
  json current = {{"prefix", "Echo"}, {"max_length", 1000}};
  auto merged = apply_assignments(
      current,
      {parse_assignment("prefix=Hi"), parse_assignment("step=2"), parse_assignment("step=3")});
  CHECK(merged == json{{"prefix", "Hi"}, {"max_length", 1000}, {"step", 3}});
  CHECK(apply_assignments(json::object(), {}) == json::object());
}

TEST_CASE("a configuration file must be a readable JSON object, - reads the given input",
          "[ctl][configure]") {
  std::istringstream input(R"({"prefix": "from stdin"})");
  CHECK(read_configuration_file("-", input) == json{{"prefix", "from stdin"}});

  processpype::testing::TempFile good(R"({"step": 4})", ".json");
  std::istringstream unused;
  CHECK(read_configuration_file(good.path(), unused) == json{{"step", 4}});

  processpype::testing::TempFile list("[1, 2]", ".json");
  processpype::testing::TempFile broken("{\"step\": ", ".json");
  processpype::testing::TempFile huge("{\"step\": 1e400}", ".json");
  for (const auto& path :
       {list.path(), broken.path(), huge.path(), std::string("/nonexistent/ctl.json")}) {
    INFO(path);
    try {
      read_configuration_file(path, unused);
      FAIL("no error");
    } catch (const UsageError& error) {
      CHECK(std::string(error.what()).find(path) != std::string::npos);
      CHECK(error.code() == ExitCode::usage);
    }
  }
}

TEST_CASE("a table aligns its columns by code points and paints only when asked", "[ctl][table]") {
  Table table({"NAME", "STATE", "ERROR"});
  table.add_row({{"écho"}, {"running", Colour::green}, {"-"}});
  table.add_row({{"counter-long"}, {"error", Colour::red}, {"boom\n\x1b[2Jcleared"}});
  CHECK(table.render(false) ==
        "NAME          STATE    ERROR\n"
        "écho          running  -\n"
        "counter-long  error    boom ?[2Jcleared\n");
  auto painted = table.render(true);
  CHECK(painted.find("\x1b[32mrunning\x1b[0m  ") != std::string::npos);
  CHECK(painted.find("\x1b[31merror\x1b[0m    ") != std::string::npos);
  CHECK(painted.find("\x1b[2J") == std::string::npos);  // the service's escape is defused

  Table pairs(2);
  pairs.add_row({{"state"}, {"running"}});
  pairs.add_row({{"restarts"}, {"0"}});
  CHECK(pairs.render(false) == "state     running\nrestarts  0\n");
}

TEST_CASE("states read at a glance: running green, error red, transitions yellow", "[ctl][table]") {
  auto check_colour = [](std::initializer_list<const char*> states, Colour colour) {
    for (const char* state : states) {
      INFO(state);
      CHECK(state_colour(state) == colour);
    }
  };
  check_colour({"running", "up"}, Colour::green);
  check_colour({"error", "down"}, Colour::red);
  check_colour({"starting", "stopping"}, Colour::yellow);
  check_colour({"something new"}, Colour::plain);
  CHECK(paint("x", Colour::plain, true) == "x");
  CHECK(paint("x", Colour::green, false) == "x");
}
