#include "event_lines.hpp"

#include <fmt/format.h>

#include "json_fields.hpp"

namespace processpype::ctl {

namespace {

std::string field_text(const nlohmann::json& event, const char* key) {
  return display_text(member(event, key), "");
}

/// The cells of an event, in the order of events_table().
std::vector<Cell> event_cells(const nlohmann::json& event) {
  auto state = field_text(event, "state");
  return {{field_text(event, "time")},    {field_text(event, "node")},
          {field_text(event, "service")}, {state, state_colour(state)},
          {field_text(event, "cause")},   {field_text(event, "error"), Colour::red}};
}

}  // namespace

Table events_table() {
  return Table({"TIME", "NODE", "SERVICE", "STATE", "CAUSE", "ERROR"});
}

void add_event_row(Table& table, const nlohmann::json& event) {
  table.add_row(event_cells(event));
}

std::string event_line(const nlohmann::json& event, bool colour) {
  // Wide enough for most names; a longer one only shifts its own line.
  static constexpr std::size_t widths[] = {24, 8, 16, 12, 10};
  auto cells = event_cells(event);
  std::string line;
  for (std::size_t column = 0; column < cells.size(); ++column) {
    auto text = printable(cells[column].text);
    line += paint(text, cells[column].colour, colour);
    if (column + 1 == cells.size()) break;
    auto width = display_width(text);
    line.append((width < widths[column] ? widths[column] - width : 0) + 2, ' ');
  }
  line.erase(line.find_last_not_of(' ') + 1);
  return line;
}

std::string gap_line(std::string_view node, const nlohmann::json& gap, bool colour) {
  auto where = node.empty() ? std::string("the node") : fmt::format("node {}", printable(node));
  auto text =
      fmt::format("-- gap: events of {} may be missing (now boot {}, oldest seq {})", where,
                  printable(field_text(gap, "boot")), printable(field_text(gap, "oldest_seq")));
  return paint(text, Colour::yellow, colour);
}

std::string node_down_line(std::string_view node, bool colour) {
  return paint(fmt::format("-- node {} is down", printable(node)), Colour::red, colour);
}

}  // namespace processpype::ctl
