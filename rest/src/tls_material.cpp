#include "tls_material.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <vector>

namespace processpype::rest {

namespace {

std::string openssl_reason() {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "not a PEM file of the expected kind";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};

std::unique_ptr<FILE, FileCloser> open_file(const std::string& path, const char* what) {
  std::unique_ptr<FILE, FileCloser> file{std::fopen(path.c_str(), "r")};
  if (!file) throw TlsError(std::string{what} + " " + path + ": cannot read the file");
  return file;
}

}  // namespace

struct TlsMaterial::Loaded {
  std::vector<X509*> chain;  ///< the certificate first
  EVP_PKEY* key = nullptr;
  X509_STORE* client_ca = nullptr;
  STACK_OF(X509_NAME) * client_ca_names = nullptr;

  ~Loaded() {
    for (auto* certificate : chain) X509_free(certificate);
    EVP_PKEY_free(key);
    X509_STORE_free(client_ca);
    if (client_ca_names) sk_X509_NAME_pop_free(client_ca_names, X509_NAME_free);
  }
};

std::shared_ptr<const TlsMaterial::Loaded> TlsMaterial::load(const TlsFiles& files) {
  auto loaded = std::make_shared<Loaded>();
  {
    auto file = open_file(files.certificate, "TLS certificate");
    while (X509* certificate = PEM_read_X509(file.get(), nullptr, nullptr, nullptr))
      loaded->chain.push_back(certificate);
    ERR_clear_error();  // the end of the file
    if (loaded->chain.empty())
      throw TlsError("TLS certificate " + files.certificate + ": no PEM certificate in it");
  }
  {
    auto file = open_file(files.key, "TLS key");
    loaded->key = PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr);
    if (!loaded->key) throw TlsError("TLS key " + files.key + ": " + openssl_reason());
    if (X509_check_private_key(loaded->chain.front(), loaded->key) != 1)
      throw TlsError("TLS key " + files.key + ": does not match the certificate " +
                     files.certificate);
  }
  if (!files.client_ca.empty()) {
    open_file(files.client_ca, "TLS client CA");  // a clear error for a missing file
    loaded->client_ca = X509_STORE_new();
    if (X509_STORE_load_file(loaded->client_ca, files.client_ca.c_str()) != 1)
      throw TlsError("TLS client CA " + files.client_ca + ": " + openssl_reason());
    loaded->client_ca_names = SSL_load_client_CA_file(files.client_ca.c_str());
    if (!loaded->client_ca_names)
      throw TlsError("TLS client CA " + files.client_ca + ": no PEM certificate in it");
  }
  return loaded;
}

TlsMaterial::TlsMaterial(const TlsFiles& files) : loaded_(load(files)) {}

TlsMaterial::~TlsMaterial() = default;

void TlsMaterial::reload(const TlsFiles& files) {
  auto loaded = load(files);
  std::lock_guard lock{mutex_};
  loaded_ = std::move(loaded);
}

std::shared_ptr<const TlsMaterial::Loaded> TlsMaterial::current() const {
  std::lock_guard lock{mutex_};
  return loaded_;
}

void TlsMaterial::install(SSL_CTX* context) {
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_cert_cb(context, &TlsMaterial::on_handshake, this);
}

int TlsMaterial::on_handshake(SSL* ssl, void* material) {
  auto loaded = static_cast<TlsMaterial*>(material)->current();
  if (SSL_use_certificate(ssl, loaded->chain.front()) != 1) return 0;
  if (SSL_use_PrivateKey(ssl, loaded->key) != 1) return 0;
  SSL_clear_chain_certs(ssl);
  for (std::size_t i = 1; i < loaded->chain.size(); ++i)
    if (SSL_add1_chain_cert(ssl, loaded->chain[i]) != 1) return 0;
  if (loaded->client_ca) {
    if (SSL_set1_verify_cert_store(ssl, loaded->client_ca) != 1) return 0;
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(loaded->client_ca_names));
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  }
  return 1;
}

void check_tls_files(const TlsFiles& files) {
  TlsMaterial{files};
}

}  // namespace processpype::rest
