#pragma once

#include <stdexcept>
#include <string>

namespace processpype::state {

/// The state store refused to open, load, back up or reset. what() is one
/// line naming the file and the reason, e.g. `State file /var/lib/pp/state.db:
/// locked by another running node`: the node prints it and exits with code 2.
class StateError : public std::runtime_error {
 public:
  StateError(const std::string& path, const std::string& reason);

  const std::string& path() const noexcept { return path_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

}  // namespace processpype::state
