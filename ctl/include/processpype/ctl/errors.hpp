#pragma once

// Why a `processpype ctl` command did not finish, as an exception carrying
// the process's exit code (docs/cli.md, "Exit codes").

#include <stdexcept>
#include <string>

namespace processpype::ctl {

enum class ExitCode : int {
  done = 0,
  refused = 1,      ///< the server answered 4xx/5xx, or something it answered makes no sense
  usage = 2,        ///< bad flags or arguments, an unreadable file
  unreachable = 3,  ///< no connection, no answer in time, unknown host
};

/// A command that ends early: what() is the message for stderr.
class CommandFailure : public std::runtime_error {
 public:
  CommandFailure(ExitCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}

  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

/// Bad input from the command line or a file (exit code 2).
class UsageError : public CommandFailure {
 public:
  explicit UsageError(const std::string& message) : CommandFailure(ExitCode::usage, message) {}
};

/// The server refused (exit code 1); `status` is the HTTP status (0 when
/// the refusal is ctl's own reading of a reply).
class Refusal : public CommandFailure {
 public:
  Refusal(long status, const std::string& message)
      : CommandFailure(ExitCode::refused, message), status_(status) {}

  long status() const noexcept { return status_; }

 private:
  long status_;
};

/// The server could not be reached (exit code 3).
class Unreachable : public CommandFailure {
 public:
  explicit Unreachable(const std::string& message)
      : CommandFailure(ExitCode::unreachable, message) {}
};

}  // namespace processpype::ctl
