#pragma once

#include <string>

namespace processpype::rest {

/// Bearer tokens of the API (docs/security.md). No admin token: no checks.
struct Tokens {
  std::string admin;
  std::string read;
};

}  // namespace processpype::rest
