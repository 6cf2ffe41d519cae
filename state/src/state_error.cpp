#include "processpype/state/state_error.hpp"

#include <algorithm>

namespace processpype::state {

namespace {

/// The reason on one line: SQLite's and the system's messages have no line
/// breaks, but a path may.
std::string one_line(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

}  // namespace

StateError::StateError(const std::string& path, const std::string& reason)
    : std::runtime_error(one_line("State file" + (path.empty() ? "" : " " + path) + ": " + reason)),
      path_(path),
      reason_(reason) {}

}  // namespace processpype::state
