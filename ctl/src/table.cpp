#include "processpype/ctl/table.hpp"

#include <algorithm>
#include <cstdlib>

#include <unistd.h>

namespace processpype::ctl {

namespace {

std::string_view escape_code(Colour colour) {
  switch (colour) {
    case Colour::plain:
      return "";
    case Colour::bold:
      return "\x1b[1m";
    case Colour::dim:
      return "\x1b[2m";
    case Colour::red:
      return "\x1b[31m";
    case Colour::green:
      return "\x1b[32m";
    case Colour::yellow:
      return "\x1b[33m";
    case Colour::blue:
      return "\x1b[34m";
    case Colour::magenta:
      return "\x1b[35m";
    case Colour::cyan:
      return "\x1b[36m";
  }
  return "";
}

bool is_set(const char* variable) {
  const char* value = std::getenv(variable);
  return value != nullptr && *value != '\0';
}

}  // namespace

std::string paint(std::string_view text, Colour colour, bool enabled) {
  if (!enabled || colour == Colour::plain || text.empty()) return std::string(text);
  std::string painted(escape_code(colour));
  painted += text;
  painted += "\x1b[0m";
  return painted;
}

Colour state_colour(std::string_view state) {
  if (state == "running" || state == "up") return Colour::green;
  if (state == "error" || state == "down" || state == "node_down") return Colour::red;
  if (state == "starting" || state == "stopping" || state == "gap") return Colour::yellow;
  if (state == "initialized" || state == "configured" || state == "registered") return Colour::cyan;
  if (state == "deregistered") return Colour::magenta;
  if (state == "stopped") return Colour::blue;
  return Colour::plain;
}

bool colours_wanted(int fd) {
  if (is_set("NO_COLOR")) return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") return false;
  return ::isatty(fd) == 1;
}

std::string printable(std::string_view text) {
  std::string safe;
  safe.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\t' || c == '\r')
      safe.push_back(' ');
    else if (byte < 0x20 || byte == 0x7f)
      safe.push_back('?');
    else
      safe.push_back(c);
  }
  return safe;
}

std::size_t display_width(std::string_view text) {
  // Continuation bytes (10xxxxxx) do not start a code point.
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

Table::Table(std::vector<std::string> headings) : headings_(std::move(headings)) {}

Table::Table(std::size_t columns) : headings_(columns), show_headings_(false) {}

void Table::add_row(std::vector<Cell> cells) {
  cells.resize(headings_.size());
  for (auto& cell : cells) cell.text = printable(cell.text);
  rows_.push_back(std::move(cells));
}

std::string Table::render(bool colour) const {
  std::vector<std::size_t> widths;
  for (const auto& heading : headings_) widths.push_back(display_width(heading));
  for (const auto& row : rows_)
    for (std::size_t column = 0; column < row.size(); ++column)
      widths[column] = std::max(widths[column], display_width(row[column].text));

  std::string out;
  auto write_line = [&](const auto& cells, auto text_of, auto colour_of) {
    std::string line;
    for (std::size_t column = 0; column < cells.size(); ++column) {
      const std::string& text = text_of(cells[column]);
      line += paint(text, colour_of(cells[column]), colour);
      if (column + 1 < cells.size()) line.append(widths[column] - display_width(text) + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  };
  if (show_headings_)
    write_line(
        headings_, [](const std::string& heading) -> const std::string& { return heading; },
        [](const std::string&) { return Colour::bold; });
  for (const auto& row : rows_)
    write_line(
        row, [](const Cell& cell) -> const std::string& { return cell.text; },
        [](const Cell& cell) { return cell.colour; });
  return out;
}

}  // namespace processpype::ctl
