#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace processpype {

/// One problem of a configuration file: where (`services.echo.max_length`,
/// empty for the whole file) and what.
struct ConfigProblem {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  std::string key;
  std::string message;

  /// `<key>: <message>` (or the message alone for the whole file).
  std::string describe() const;
};

/// Every problem found while reading and checking a file, in the order
/// found: a start refuses the file on its first error, `processpype
/// check-config` prints them all (docs/configuration.md).
class ConfigDiagnostics {
 public:
  void error(std::string key, std::string message);
  void warning(std::string key, std::string message);
  /// A value the file took from a secret reference: from now on every
  /// message shows `***` in its place (docs/secrets.md), as failure texts
  /// do; values shorter than shortest_redacted_secret are not searched for.
  void hide(std::string value);
  /// What hide() was given (and kept), longest first.
  const std::vector<std::string>& hidden() const noexcept { return hidden_; }

  const std::vector<ConfigProblem>& problems() const noexcept { return problems_; }
  bool has_errors() const noexcept { return errors_ > 0; }
  std::size_t errors() const noexcept { return errors_; }
  /// The first error; call only when has_errors().
  const ConfigProblem& first_error() const;

 private:
  void add(ConfigProblem::Severity severity, std::string key, std::string message);

  std::vector<ConfigProblem> problems_;
  std::size_t errors_ = 0;
  /// Longest first (redact_values).
  std::vector<std::string> hidden_;
};

/// The known name closest to `name` when it is a likely misspelling (a few
/// edits apart), for "did you mean ...?"; empty when none is close.
std::string closest_name(std::string_view name, const std::vector<std::string>& known);

}  // namespace processpype
