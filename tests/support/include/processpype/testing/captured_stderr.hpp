#pragma once

// fd 2 pointed at a temporary file while alive: what this process's loggers
// (and the nodes a test runs in it) write to stderr, for tests that check
// their own log lines.

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace processpype::testing {

class CapturedStderr {
 public:
  CapturedStderr()
      : path_(std::filesystem::temp_directory_path() /
              ("processpype-stderr-" + std::to_string(::getpid()) + ".log")) {
    std::fflush(stderr);
    std::FILE* file = std::fopen(path_.c_str(), "w");
    if (file == nullptr) throw std::runtime_error("cannot create " + path_.string());
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(::fileno(file), STDERR_FILENO);
    std::fclose(file);
  }
  ~CapturedStderr() {
    restore();
    std::filesystem::remove(path_);
  }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;

  /// What was written so far; stderr stays captured.
  std::string text() const {
    std::fflush(stderr);
    std::ifstream file{path_};
    std::stringstream content;
    content << file.rdbuf();
    return content.str();
  }

  /// How many of the lines written so far contain `words`.
  std::size_t lines_with(std::string_view words) const {
    std::istringstream lines{text()};
    std::size_t count = 0;
    for (std::string line; std::getline(lines, line);)
      if (line.find(words) != std::string::npos) ++count;
    return count;
  }

  /// Points fd 2 back where it pointed before (the destructor does too).
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }

 private:
  std::filesystem::path path_;
  int saved_ = -1;
};

}  // namespace processpype::testing
