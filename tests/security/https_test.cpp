// TLS for the REST API (docs/security.md, `server.tls`) with the real binary and a
// throwaway PKI made by the `openssl` command at run time (a test CA, server
// certificates for 127.0.0.1 and localhost, client certificates of the CA
// and of another CA): HTTPS only, client certificates, the read timeout of
// a client that never finishes its handshake, SIGHUP with new files, and
// bad files at startup (exit code 2).

#include <csignal>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "security_support.hpp"

using namespace security;

namespace {

constexpr long server_serial = 1001;
constexpr long server2_serial = 1002;

/// The certificates of these tests; the server reads `current.pem/.key`
/// and `clients.pem` (its client CA), which the tests replace.
struct Pki {
  Pki() {
    pki.make_ca("ca");
    pki.make_ca("other_ca");
    pki.make_server("server", "ca", server_serial);
    pki.make_server("server2", "ca", server2_serial);
    pki.make_client("client", "ca", 2001);
    pki.make_client("rogue", "other_ca", 3001);
    pki.copy("server", "current");
    pki.write("clients.pem", read_file(pki.certificate("ca")));
  }

  /// server.tls (and `more` YAML under server:).
  std::string yaml(bool client_ca, const std::string& more = "") const {
    std::string text = "server:\n  tls:\n    certificate: " + pki.certificate("current") +
                       "\n    key: " + pki.key("current") + "\n";
    if (client_ca) text += "    client_ca: " + (pki.directory() / "clients.pem").string() + "\n";
    return text + more;
  }

  TlsClientOptions trusting(const std::string& client = "") const {
    TlsClientOptions options;
    options.ca_file = pki.certificate("ca");
    if (!client.empty()) {
      options.certificate = pki.certificate(client);
      options.key = pki.key(client);
    }
    return options;
  }

  TestPki pki;
};

/// A TLS server from `yaml`, ready once GET /health/ready over HTTPS (with
/// the client certificate `client`) answers 200.
struct TlsServer {
  TlsServer(const Pki& pki, const std::string& yaml, const std::string& client = "",
            std::vector<std::string> args = {})
      : config(yaml), server([&] {
          ProbedServerOptions options;
          options.args = {"--config", config.path()};
          options.args.insert(options.args.end(), args.begin(), args.end());
          auto tls = pki.trusting(client);
          options.ready = [tls](int port) {
            HttpsClient probe(port, tls, 1s);
            return probe.get("/health/ready").status == 200;
          };
          return options;
        }()) {}

  int port() const { return server.port(); }

  TempFile config;
  ProbedServer server;
};

}  // namespace

TEST_CASE("HTTPS: served with the configured certificate over keep-alive, plain HTTP is not",
          "[security][tls]") {
  Pki pki;
  TempFile token("tls-admin-token\n", ".token");
  TlsServer tls(pki, pki.yaml(false), "", {"--admin-token-file", token.path()});
  const std::vector<std::string> admin = bearer("tls-admin-token");

  HttpsClient api(tls.port(), pki.trusting());
  auto live = api.get("/health/live");
  E2E_REQUIRE_STATUS(live, 200);
  CHECK(api.last_serial() == serial_hex(server_serial));
  E2E_CHECK_STATUS(api.get("/services"), 401);
  CHECK(api.get("/services").header("WWW-Authenticate") == "Bearer");
  E2E_CHECK_STATUS(api.request("POST", "/services/register", R"({"service_name":"echo"})", admin),
                   200);
  E2E_CHECK_STATUS(api.request("POST", "/services/echo/start", std::nullopt, admin), 200);
  auto echoed = api.request("POST", "/services/echo/echo", R"({"message":"over TLS"})", admin);
  E2E_CHECK_STATUS(echoed, 200);
  CHECK(echoed.body.find("over TLS") != std::string::npos);
  CHECK(api.connections() == 1);  // keep-alive

  // The certificate names localhost too.
  auto by_name = pki.trusting();
  by_name.host = "localhost";
  HttpsClient named(tls.port(), by_name);
  E2E_CHECK_STATUS(named.get("/health/live"), 200);

  // Another CA's trust does not verify it.
  auto other = pki.trusting();
  other.ca_file = pki.pki.certificate("other_ca");
  HttpsClient untrusting(tls.port(), other);
  CHECK(untrusting.get("/health/live").status == 0);

  // Plain HTTP on the HTTPS port gets no HTTP answer.
  HttpClient plain(tls.port(), "", 3s);
  auto refused = plain.get("/health/live");
  INFO(refused.describe());
  CHECK(refused.status != 200);
  RawConnection raw(tls.port());
  REQUIRE(raw.send(raw_get("/health/live", "", true)));
  CHECK(raw.wait_closed(5s));
  CHECK(raw.buffered().find("HTTP/1.1 200") == std::string::npos);

  E2E_CHECK_STATUS(api.get("/health/live"), 200);
}

TEST_CASE("client_ca: no client certificate or another CA's is refused, the CA's is served",
          "[security][tls]") {
  Pki pki;
  TlsServer tls(pki, pki.yaml(true), "client");

  HttpsClient anonymous(tls.port(), pki.trusting());
  auto without = anonymous.get("/health/live");
  INFO(without.describe());
  CHECK(without.status == 0);
  HttpsClient rogue(tls.port(), pki.trusting("rogue"));
  auto foreign = rogue.get("/health/live");
  INFO(foreign.describe());
  CHECK(foreign.status == 0);

  HttpsClient client(tls.port(), pki.trusting("client"));
  for (const auto* path : {"/health/live", "/", "/services", "/metrics"}) {
    INFO("GET " << path);
    E2E_CHECK_STATUS(client.get(path), 200);
  }
  CHECK(client.connections() == 1);

  // SIGHUP takes a new client CA for new connections.
  pki.pki.write("clients.pem", read_file(pki.pki.certificate("other_ca")));
  tls.server.signal(SIGHUP);
  CHECK(wait_until(
      [&] {
        HttpsClient fresh(tls.port(), pki.trusting("rogue"), 2s);
        return fresh.get("/health/live").status == 200;
      },
      5s, 100ms));
  HttpsClient former(tls.port(), pki.trusting("client"));
  CHECK(former.get("/health/live").status == 0);
  CHECK(HttpsClient(tls.port(), pki.trusting()).get("/health/live").status == 0);
}

TEST_CASE("a TLS client that never finishes its handshake is cut after read_timeout_seconds",
          "[security][tls][timeout]") {
  Pki pki;
  TlsServer tls(
      pki, pki.yaml(false, "  limits:\n    max_connections: 1\n    read_timeout_seconds: 1\n"));
  for (const auto& sent : {std::string(), std::string("\x16\x03\x01\x00", 4)}) {
    INFO((sent.empty() ? "a client that sends nothing" : "a client that sends half a hello"));
    RawConnection idle(tls.port());
    if (!sent.empty()) REQUIRE(idle.send(sent));
    // It holds the only slot once the server has accepted it: after the
    // readiness probe's (or the last round's) connection was seen to close.
    REQUIRE(wait_until([&] { return accept_queue_length(tls.port()) == 0; }, 10s, 5ms));
    auto started = Clock::now();

    // A real client meanwhile waits for the slot, then is served.
    long status = 0;
    double waited = 0;
    std::thread other([&] {
      auto begin = Clock::now();
      HttpsClient client(tls.port(), pki.trusting(), 15s);
      status = client.get("/health/live").status;
      waited = seconds_since(begin);
    });
    // It waits in the kernel's queue, not in the server.
    CHECK(wait_until([&] { return accept_queue_length(tls.port()) == 1; }, 5s, 5ms));
    CHECK(idle.wait_closed(6s));
    double cut_after = seconds_since(started);
    other.join();
    INFO("cut after " << cut_after << " s; the other client was served after " << waited << " s");
    CHECK(cut_after >= 0.8);
    CHECK(cut_after < 6);
    CHECK(status == 200);
    CHECK(waited >= 0.4);  // it did wait for the slot
    CHECK(idle.buffered().empty());
  }
  HttpsClient after(tls.port(), pki.trusting());
  E2E_CHECK_STATUS(after.get("/health/live"), 200);
}

TEST_CASE("HTTPS: an event stream closed by its client frees its place at once",
          "[security][tls][limits][streams]") {
  Pki pki;
  TlsServer tls(pki, pki.yaml(false, "  limits:\n    max_event_streams: 1\n"));
  auto url = "https://127.0.0.1:" + std::to_string(tls.port()) + "/events";
  auto ca = pki.pki.certificate("ca");
  TempDirectory scratch("https-stream");
  auto head = (scratch.path() / "head.txt").string();
  // The status of one stream request that gives up after a second.
  auto stream_status = [&] {
    ChildProcess probe("curl", {"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1",
                                "--cacert", ca, "-H", "Accept: text/event-stream", url});
    probe.wait(5s);
    return probe.stdout_text();
  };

  ChildProcess follower("curl", {"-sN", "-o", "/dev/null", "-D", head, "--cacert", ca, "-H",
                                 "Accept: text/event-stream", url});
  REQUIRE(wait_until([&] { return read_file(head).find(" 200") != std::string::npos; }, 5s, 50ms));
  CHECK(stream_status() == "503");

  follower.stop(SIGTERM, 5s);  // curl closes its connection
  std::string last;
  bool admitted = wait_until(
      [&] {
        last = stream_status();
        return last == "200";
      },
      10s, 100ms);  // under the 15 s heartbeat that would also free it
  INFO("last status: " << last);
  CHECK(admitted);
}

TEST_CASE("SIGHUP: new connections get the new certificate, bad files keep the old one",
          "[security][tls][sighup]") {
  Pki pki;
  TlsServer tls(pki, pki.yaml(false));
  auto serial_of_new_connection = [&] {
    HttpsClient fresh(tls.port(), pki.trusting(), 3s);
    return fresh.get("/health/live").status == 200 ? fresh.last_serial() : std::string("none");
  };
  HttpsClient kept(tls.port(), pki.trusting());
  E2E_REQUIRE_STATUS(kept.get("/health/live"), 200);
  REQUIRE(kept.last_serial() == serial_hex(server_serial));

  pki.pki.copy("server2", "current");
  REQUIRE(serial_of_new_connection() == serial_hex(server_serial));  // until SIGHUP
  tls.server.signal(SIGHUP);
  CHECK(wait_until([&] { return serial_of_new_connection() == serial_hex(server2_serial); }, 5s,
                   100ms));
  // The open connection goes on as it was.
  E2E_CHECK_STATUS(kept.get("/services"), 200);
  CHECK(kept.connections() == 1);

  auto keeping = [&] { return lines_with(tls.server.stderr_text(), "Keeping the old TLS files"); };
  struct Damage {
    std::string what;
    std::function<void()> apply;
  };
  const std::vector<Damage> damages = {
      {"a certificate file that is not PEM",
       [&] { pki.pki.write("current.pem", "not a certificate\n"); }},
      {"a certificate that does not match the key",
       [&] { pki.pki.write("current.pem", read_file(pki.pki.certificate("server"))); }},
      {"a key file that is gone", [&] { std::filesystem::remove(pki.pki.key("current")); }},
      {"an empty key file", [&] { pki.pki.write("current.key", ""); }},
  };
  for (const auto& damage : damages) {
    INFO(damage.what);
    pki.pki.copy("server2", "current");
    damage.apply();
    auto before = keeping().size();
    tls.server.signal(SIGHUP);
    CHECK(wait_until([&] { return keeping().size() > before; }, 5s));
    CHECK(serial_of_new_connection() == serial_hex(server2_serial));
    CHECK(tls.server.alive());
  }
  auto reasons = keeping();
  REQUIRE(reasons.size() >= damages.size());
  CHECK(reasons[0].find(pki.pki.certificate("current")) != std::string::npos);

  // Good files again: taken.
  pki.pki.copy("server", "current");
  tls.server.signal(SIGHUP);
  CHECK(wait_until([&] { return serial_of_new_connection() == serial_hex(server_serial); }, 5s,
                   100ms));
  E2E_CHECK_STATUS(kept.get("/health/live"), 200);
}

TEST_CASE("exit code 2: TLS files that are missing or unusable, naming the file",
          "[security][tls][startup]") {
  Pki pki;
  auto& files = pki.pki;
  const auto missing = (files.directory() / "missing.pem").string();
  const auto text = files.write("text.pem", "just text\n");
  const auto empty = files.write("empty.pem", "");
  struct Case {
    std::string certificate, key, client_ca, named;
  };
  const std::vector<Case> cases = {
      {missing, files.key("server"), "", missing},
      {files.certificate("server"), missing, "", missing},
      {text, files.key("server"), "", text},
      {empty, files.key("server"), "", empty},
      {files.certificate("server"), text, "", text},
      {files.certificate("server"), files.certificate("server"), "", files.certificate("server")},
      {files.certificate("server"), files.key("server2"), "", files.key("server2")},
      {files.certificate("server"), files.key("server"), missing, missing},
      {files.certificate("server"), files.key("server"), text, text},
      {files.certificate("server"), "", "", "server.tls"},
      {"", files.key("server"), "", "server.tls"},
  };
  for (const auto& [certificate, key, client_ca, named] : cases) {
    std::string yaml = "server:\n  tls:\n";
    if (!certificate.empty()) yaml += "    certificate: " + certificate + "\n";
    if (!key.empty()) yaml += "    key: " + key + "\n";
    if (!client_ca.empty()) yaml += "    client_ca: " + client_ca + "\n";
    INFO(yaml);
    TempFile config(yaml);
    auto result =
        run_to_completion({"--config", config.path(), "--port", std::to_string(free_port())});
    INFO("stderr: " << result.err);
    CHECK(result.status.code == 2);
    CHECK(result.err.find(named) != std::string::npos);
    CHECK(lines_of(result.err).size() == 1);
  }
}
