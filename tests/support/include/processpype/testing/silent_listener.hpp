#pragma once

// A TCP port on 127.0.0.1 that accepts connections (the kernel's backlog
// completes them) and never answers: a peer that hangs.

#include <string>

namespace processpype::testing {

class SilentListener {
 public:
  /// Listens on a free port; std::runtime_error when it cannot.
  SilentListener();
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  int port() const { return port_; }
  /// "http://127.0.0.1:<port>".
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 protected:
  /// The listening socket: a subclass may accept on it.
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace processpype::testing
