#pragma once

// What the config tests share: an application file read and validated as
// `processpype check-config` does (docs/configuration.md, "Checking a file"),
// with its errors and warnings as the lines the command prints.

#include <string>
#include <vector>

#include "processpype/config/application_config.hpp"
#include "processpype/config/validation.hpp"

namespace config_tests {

struct Read {
  processpype::ApplicationConfig config;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;

  /// Every line, errors first.
  std::string all() const {
    std::string text;
    for (const auto& lines : {errors, warnings})
      for (const auto& line : lines) text += line + "\n";
    return text;
  }

  bool mentions(const std::string& text) const { return all().find(text) != std::string::npos; }
};

/// `text` read and validated as check-config does.
inline Read read(const std::string& text) {
  Read result;
  processpype::ConfigDiagnostics diagnostics;
  processpype::read_application_config(text, result.config, diagnostics);
  processpype::validate_application_config(result.config, {}, diagnostics);
  for (const auto& problem : diagnostics.problems())
    (problem.severity == processpype::ConfigProblem::Severity::error ? result.errors
                                                                     : result.warnings)
        .push_back(problem.describe());
  return result;
}

}  // namespace config_tests
