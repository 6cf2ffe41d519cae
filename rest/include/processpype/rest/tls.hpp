#pragma once

#include <stdexcept>
#include <string>

namespace processpype::rest {

/// The PEM files of an HTTPS server (docs/security.md, `server.tls`).
struct TlsFiles {
  std::string certificate;
  std::string key;
  /// When set, clients must present a certificate signed by this CA.
  std::string client_ca;

  bool enabled() const noexcept { return !certificate.empty() || !key.empty(); }
};

/// Thrown when a TLS file cannot be used; what() names the file.
class TlsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Checks that `files` can serve TLS (certificate, key, client CA); throws
/// TlsError naming the file that cannot be used.
void check_tls_files(const TlsFiles& files);

}  // namespace processpype::rest
