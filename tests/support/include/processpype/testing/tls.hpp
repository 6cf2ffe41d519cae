#pragma once

// TLS for the tests and benchmarks: a throwaway PKI made at run time with
// the `openssl` command in a temporary directory (private keys never leave
// it), and an HTTPS client (libcurl: keep-alive, a CA to trust, a client
// certificate, the served certificate's serial). 127.0.0.1 only.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "processpype/testing/http.hpp"
#include "processpype/testing/process.hpp"

namespace processpype::testing {

/// Certificates and keys (EC P-256, valid for two days) in a temporary
/// directory, removed with it. Every method throws std::runtime_error with
/// openssl's output when the command fails.
class TestPki {
 public:
  TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  /// A self-signed CA: `<name>.pem`, `<name>.key`.
  void make_ca(const std::string& name);
  /// A server certificate signed by CA `ca`, for IP 127.0.0.1 and DNS
  /// localhost (subjectAltName), with `serial`.
  void make_server(const std::string& name, const std::string& ca, long serial);
  /// A client certificate (extendedKeyUsage clientAuth) signed by CA `ca`.
  void make_client(const std::string& name, const std::string& ca, long serial);
  /// A server certificate (as make_server) that is also a client
  /// certificate: for a server that connects to itself with it (etcd's
  /// JSON gateway under --client-cert-auth).
  void make_server_and_client(const std::string& name, const std::string& ca, long serial);

  /// Paths of `<name>.pem` and `<name>.key`.
  std::string certificate(const std::string& name) const;
  std::string key(const std::string& name) const;
  /// Writes `content` to `file` in the directory; its path.
  std::string write(const std::string& file, const std::string& content);
  /// Copies `<from>.pem`/`.key` to `<to>.pem`/`.key` (what a server reads).
  void copy(const std::string& from, const std::string& to);
  const std::filesystem::path& directory() const { return directory_.path(); }

 private:
  void run(const std::vector<std::string>& args);
  void make_leaf(const std::string& name, const std::string& ca, long serial,
                 const std::string& extensions, const std::string& subject);

  std::string openssl_;
  TempDirectory directory_;
};

/// `serial` as the lowercase hex (no leading zeros) that
/// HttpsClient::last_serial() reports.
std::string serial_hex(long serial);

struct TlsClientOptions {
  std::string ca_file;             ///< the CA to trust (the server is verified)
  std::string certificate;         ///< a client certificate, or empty
  std::string key;                 ///< its key
  std::string host = "127.0.0.1";  ///< the name in the URL: 127.0.0.1 or localhost
};

/// HTTPS to https://<host>:<port><path> over one keep-alive connection.
class HttpsClient {
 public:
  HttpsClient(int port, TlsClientOptions options, std::chrono::milliseconds timeout = 10s);
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  HttpResponse get(const std::string& path, const std::vector<std::string>& headers = {}) {
    return request("GET", path, std::nullopt, headers);
  }
  /// Any method; `headers` are "Name: value" lines.
  HttpResponse request(const std::string& method, const std::string& path,
                       const std::optional<std::string>& body = std::nullopt,
                       const std::vector<std::string>& headers = {});

  std::string url(const std::string& path) const;
  /// TCP connections opened so far (1 while keep-alive holds).
  long connections() const noexcept { return connections_; }
  /// The serial of the server certificate of the last new connection
  /// (lowercase hex, as serial_hex), "" before one.
  const std::string& last_serial() const { return serial_; }

 private:
  internal::EasyHandle curl_;
  int port_;
  TlsClientOptions options_;
  std::chrono::milliseconds timeout_;
  long connections_ = 0;
  std::string serial_;
};

}  // namespace processpype::testing
