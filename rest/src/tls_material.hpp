#pragma once

#include <memory>
#include <mutex>

#include <openssl/ssl.h>

#include "processpype/rest/tls.hpp"

namespace processpype::rest {

/// The certificate, key and client CA of an HTTPS server, swappable while
/// it serves: every handshake takes the current ones (OpenSSL's certificate
/// callback), so SIGHUP can load new files without a restart and without
/// touching a context other threads use.
class TlsMaterial {
 public:
  /// Loads `files`; throws TlsError naming the file that cannot be used.
  explicit TlsMaterial(const TlsFiles& files);
  ~TlsMaterial();

  /// Loads new files; on TlsError the current ones stay.
  void reload(const TlsFiles& files);

  /// Prepares `context` to take this material at each handshake, and to
  /// require client certificates when a client CA is set.
  void install(SSL_CTX* context);

 private:
  struct Loaded;
  static std::shared_ptr<const Loaded> load(const TlsFiles& files);
  static int on_handshake(SSL* ssl, void* material);
  std::shared_ptr<const Loaded> current() const;

  mutable std::mutex mutex_;
  std::shared_ptr<const Loaded> loaded_;
};

}  // namespace processpype::rest
