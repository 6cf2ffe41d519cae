#include "processpype/testing/tls.hpp"

#include "curl_helpers.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <stdexcept>

#include <curl/curl.h>

namespace processpype::testing {

namespace {

/// openssl's configuration for the certificates: no system file is read.
constexpr const char* openssl_config = R"(# written by the processpype tests
[req]
distinguished_name = dn
prompt = no
[dn]
CN = processpype test
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[server_client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
)";

std::string normalize_serial(std::string text) {
  std::string hex;
  for (unsigned char c : text)
    if (std::isxdigit(c) != 0) hex.push_back(static_cast<char>(std::tolower(c)));
  auto first = hex.find_first_not_of('0');
  return first == std::string::npos ? "0" : hex.substr(first);
}

/// The serial of the server certificate of the connection `curl` just
/// opened (CURLOPT_CERTINFO), normalized; "" when libcurl has none.
std::string served_serial(CURL* curl) {
  curl_certinfo* info = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) != CURLE_OK || info == nullptr ||
      info->num_of_certs == 0)
    return "";
  std::string serial;
  for (auto* field = info->certinfo[0]; field != nullptr; field = field->next) {
    std::string text = field->data;
    if (text.rfind("Serial Number:", 0) == 0)
      serial = normalize_serial(text.substr(sizeof("Serial Number:") - 1));
  }
  return serial;
}

}  // namespace

// ---------------------------------------------------------------------------
// TestPki

TestPki::TestPki() : directory_("processpype-pki") {
  auto openssl = find_program("openssl");
  if (!openssl) throw std::runtime_error("the openssl command is not on the PATH");
  openssl_ = *openssl;
  directory_.write("openssl.cnf", openssl_config);
}

void TestPki::run(const std::vector<std::string>& args) {
  ChildProcess child(openssl_, args);
  auto status = child.wait(30s);
  if (status.timed_out()) child.kill();
  if (!status.exited || status.code != 0)
    throw std::runtime_error("openssl " + args.front() + " " + status.describe() + ": " +
                             child.stderr_text().substr(0, 2000));
}

void TestPki::make_ca(const std::string& name) {
  // The files are written once more through the directory, so that the
  // termination handlers know them too.
  write(name + ".key", "");
  write(name + ".pem", "");
  run({"req", "-x509", "-config", (directory() / "openssl.cnf").string(), "-extensions", "ca_ext",
       "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key(name),
       "-out", certificate(name), "-days", "2", "-subj", "/CN=" + name});
}

void TestPki::make_leaf(const std::string& name, const std::string& ca, long serial,
                        const std::string& extensions, const std::string& subject) {
  auto config = (directory() / "openssl.cnf").string();
  auto request = (directory() / (name + ".csr")).string();
  write(name + ".key", "");
  write(name + ".pem", "");
  write(name + ".csr", "");
  run({"req", "-new", "-config", config, "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key(name), "-out", request, "-subj",
       "/CN=" + subject});
  run({"x509", "-req", "-in", request, "-CA", certificate(ca), "-CAkey", key(ca), "-set_serial",
       std::to_string(serial), "-days", "2", "-extfile", config, "-extensions", extensions, "-out",
       certificate(name)});
}

void TestPki::make_server(const std::string& name, const std::string& ca, long serial) {
  make_leaf(name, ca, serial, "server_ext", "localhost");
}

void TestPki::make_client(const std::string& name, const std::string& ca, long serial) {
  make_leaf(name, ca, serial, "client_ext", name);
}

void TestPki::make_server_and_client(const std::string& name, const std::string& ca, long serial) {
  make_leaf(name, ca, serial, "server_client_ext", "localhost");
}

std::string TestPki::certificate(const std::string& name) const {
  return (directory() / (name + ".pem")).string();
}

std::string TestPki::key(const std::string& name) const {
  return (directory() / (name + ".key")).string();
}

std::string TestPki::write(const std::string& file, const std::string& content) {
  return directory_.write(file, content);
}

void TestPki::copy(const std::string& from, const std::string& to) {
  // Key first: a server that reads in between sees the old pair or a
  // mismatch (refused), never a new certificate with the old key accepted.
  write(to + ".key", read_file(key(from)));
  write(to + ".pem", read_file(certificate(from)));
}

std::string serial_hex(long serial) {
  char text[32];
  std::snprintf(text, sizeof text, "%lx", serial);
  return normalize_serial(text);
}

// ---------------------------------------------------------------------------
// HttpsClient

HttpsClient::HttpsClient(int port, TlsClientOptions options, std::chrono::milliseconds timeout)
    : port_(port), options_(std::move(options)), timeout_(timeout) {}

std::string HttpsClient::url(const std::string& path) const {
  return "https://" + options_.host + ":" + std::to_string(port_) + path;
}

HttpResponse HttpsClient::request(const std::string& method, const std::string& path,
                                  const std::optional<std::string>& body,
                                  const std::vector<std::string>& headers) {
  auto* curl = static_cast<CURL*>(curl_.get());
  curl_easy_reset(curl);  // keeps the live connection
  HttpResponse response;
  char error_buffer[CURL_ERROR_SIZE] = {};
  auto target = url(path);

  const auto timeout_ms = static_cast<long>(timeout_.count());
  internal::set_request_options(curl, target, timeout_ms, timeout_ms, error_buffer, response);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.certificate.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, options_.certificate.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, options_.key.c_str());
  }

  curl_slist* header_list = nullptr;
  for (const auto& header : headers) header_list = curl_slist_append(header_list, header.c_str());
  header_list = curl_slist_append(header_list, "Expect:");
  if (body) {
    header_list = curl_slist_append(header_list, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
  }
  if (method == "GET" && !body)
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  else if (method == "POST" && !body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
  } else if (method != "POST")
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());

  auto connects =
      internal::perform_request(curl, header_list, method, target, error_buffer, response);
  connections_ += connects;
  if (response.transport_error.empty() && connects > 0) {
    if (auto serial = served_serial(curl); !serial.empty()) serial_ = serial;
  }
  return response;
}

}  // namespace processpype::testing
