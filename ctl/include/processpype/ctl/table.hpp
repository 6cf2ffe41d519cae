#pragma once

// What `processpype ctl` prints for people: aligned tables, with colours on
// a terminal (docs/cli.md, "Output").

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace processpype::ctl {

enum class Colour { plain, bold, dim, red, green, yellow, blue, magenta, cyan };

/// `text` wrapped in the ANSI escape sequences of `colour` when `enabled`.
std::string paint(std::string_view text, Colour colour, bool enabled);

/// How a state reads at a glance: running and up green, error and down
/// red, starting and stopping yellow, ...
Colour state_colour(std::string_view state);

/// Whether what goes to descriptor `fd` gets colours: only a terminal, and
/// only while NO_COLOR is unset or empty (https://no-color.org) and TERM is
/// not "dumb".
bool colours_wanted(int fd);

/// `text` safe to print on a terminal: control characters (an escape
/// sequence in a service's error text, a newline) become '?' or a space.
std::string printable(std::string_view text);

/// The columns `text` takes: its UTF-8 code points.
std::size_t display_width(std::string_view text);

struct Cell {
  std::string text;
  Colour colour = Colour::plain;
};

/// Rows under headings, each column as wide as its widest cell, two spaces
/// apart; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> headings);
  /// A table of `columns` columns without a heading line (name/value lists).
  explicit Table(std::size_t columns);

  /// Adds a row; its cells are made printable(). Missing cells are empty.
  void add_row(std::vector<Cell> cells);

  std::size_t rows() const noexcept { return rows_.size(); }

  /// The headings and rows, one line each ending with '\n'.
  std::string render(bool colour) const;

 private:
  std::vector<std::string> headings_;
  bool show_headings_ = true;
  std::vector<std::vector<Cell>> rows_;
};

}  // namespace processpype::ctl
