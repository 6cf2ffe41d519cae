// docs/secrets.md against the real binary: secret fields set by the file
// (${secret:...}) and by configure appear in no output channel of a node;
// "***" keeps a secret, a new value replaces it, an empty one shows "";
// SIGHUP re-reads the backends and the next configure sees the new value;
// a missing secret refuses the start naming the reference, never a value;
// the store's X-Store-Password.

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <processpype/testing/checks.hpp>
#include <processpype/testing/raw_http.hpp>

using namespace processpype::testing;

namespace {

/// The secrets of these tests: distinctive, so that a find is no accident.
const std::string file_secret = "FileSecret-7q2w";      // by the file, ${secret:dot:...}
const std::string reference_secret = "RefSecret-3k8p";  // by configure, as a reference
const std::string clear_secret = "RestSecret-9x4z";     // by configure, in clear
const std::string replaced_secret = "RestSecret-new1";  // a later configure's
const std::vector<std::string> all_secrets = {file_secret, reference_secret, clear_secret,
                                              replaced_secret};

/// CHECKs that none of the secrets is in `text`, read from `channel`.
void check_hidden(const std::string& channel, const std::string& text) {
  check_secrets_hidden(channel, text, all_secrets);
}

/// PUT /services/<name>/items/<key> with `password` in X-Store-Password
/// (none when empty).
HttpResponse put_item(HttpClient& api, const std::string& name, const std::string& password,
                      const std::string& header = "X-Store-Password") {
  std::vector<std::string> headers;
  if (!password.empty()) headers.push_back(header + ": " + password);
  return api.request("PUT", "/services/" + name + "/items/k", json("v").dump(), headers);
}

/// What GET /events?since=0 streams as Server-Sent Events, read until
/// `last` arrived.
std::string event_stream(int port, const std::string& last) {
  RawConnection connection{port};
  connection.send(
      "GET /events?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
  auto head = connection.read_head(5s);
  CHECK(head.status == 200);
  CHECK(connection.read_until(last, 5s));
  return head.head + connection.buffered();
}

std::string config_with_store(const std::string& dotenv, const std::string& password_line) {
  return "logging: {access_log: true}\n"
         "secrets:\n"
         "  backends:\n"
         "    dot: {type: dotenv, path: '" +
         dotenv +
         "'}\n"
         "  load: ['dot:*']\n"
         "services:\n"
         "  store:\n"
         "    capacity: 5\n"
         "    autostart: true\n" +
         password_line + "\n";
}

}  // namespace

TEST_CASE("secrets set by the file and by configure appear in no output channel of a node",
          "[secrets]") {
  TempDirectory directory;
  auto dotenv = directory.write(
      ".env", "STORE_PASSWORD=" + file_secret + "\nOTHER_PASSWORD='" + reference_secret + "'\n");
  TempFile config{config_with_store(dotenv, "    password: ${secret:dot:STORE_PASSWORD}")};
  ServerOptions options;
  options.args = {"--config", config.path(), "--log-level", "debug"};
  ServerProcess server{options};
  auto api = server.client();
  REQUIRE(wait_for_state(api, "store", "running"));

  // The file's secret guards the store's writes.
  check_refused(put_item(api, "store", ""), 403);
  check_refused(put_item(api, "store", "wrong"), 403);
  E2E_CHECK_STATUS(put_item(api, "store", file_secret, "x-store-password"), 200);

  // By configure: a reference, then a value in clear.
  register_ok(api, "store", "by_reference");
  E2E_REQUIRE_STATUS(api.post("/services/by_reference/configure_and_start",
                              {{"capacity", 5}, {"password", "${secret:dot:OTHER_PASSWORD}"}}),
                     200);
  E2E_CHECK_STATUS(put_item(api, "by_reference", reference_secret), 200);
  register_ok(api, "store", "in_clear");
  E2E_REQUIRE_STATUS(
      api.post("/services/in_clear/configure", {{"capacity", 5}, {"password", clear_secret}}), 200);
  E2E_REQUIRE_STATUS(api.post("/services/in_clear/start"), 200);
  E2E_CHECK_STATUS(put_item(api, "in_clear", clear_secret), 200);
  for (const auto* name : {"store", "by_reference", "in_clear"}) {
    INFO(name);
    CHECK(status_of(api, name)["metadata"]["password"] == "***");
  }
  // A plain field never resolves a reference: it stays text.
  register_ok(api, "echo", "plain");
  E2E_REQUIRE_STATUS(
      api.post("/services/plain/configure", {{"prefix", "${secret:dot:STORE_PASSWORD}"}}), 200);
  CHECK(status_of(api, "plain")["metadata"]["prefix"] == "${secret:dot:STORE_PASSWORD}");

  // A marker whose deregistration ends the event stream read below.
  register_ok(api, "echo", "marker");
  E2E_REQUIRE_STATUS(api.del("/services/marker"), 200);

  auto nodes = api.get("/nodes").field("nodes");
  REQUIRE(nodes.is_array());
  REQUIRE(nodes.size() == 1);
  auto node = "/nodes/" + percent_encode(nodes[0]["id"].get<std::string>());

  for (const auto* name : {"store", "by_reference", "in_clear"})
    check_hidden(std::string{"status of "} + name, body_of(api, std::string{"/services/"} + name));
  check_hidden("list", body_of(api, "/services"));
  check_hidden("GET /", body_of(api, "/"));
  check_hidden("events", body_of(api, "/events?since=0"));
  check_hidden("events, cluster scope", body_of(api, "/events?since=0&scope=cluster"));
  check_hidden("event stream", event_stream(server.port(), "\"deregistered\""));
  check_hidden("openapi", body_of(api, "/openapi.json"));
  check_hidden("metrics", body_of(api, "/metrics"));
  // What the dashboard reads: every status of a node, and one instance's.
  check_hidden("dashboard: node statuses", body_of(api, node + "/"));
  check_hidden("dashboard: status", body_of(api, node + "/services/in_clear"));
  check_hidden("dashboard: openapi", body_of(api, node + "/openapi.json"));

  {  // *** keeps a secret, a new value replaces it, an empty one shows ""
    E2E_REQUIRE_STATUS(api.post("/services/in_clear/stop"), 200);
    auto metadata = status_of(api, "in_clear")["metadata"];
    metadata["capacity"] = 4;  // read-modify-write: the password goes back as ***
    E2E_REQUIRE_STATUS(api.post("/services/in_clear/configure_and_start", metadata), 200);
    E2E_CHECK_STATUS(put_item(api, "in_clear", clear_secret), 200);
    CHECK(status_of(api, "in_clear")["metadata"]["capacity"] == 4);

    E2E_REQUIRE_STATUS(api.post("/services/in_clear/stop"), 200);
    E2E_REQUIRE_STATUS(api.post("/services/in_clear/configure_and_start",
                                {{"capacity", 5}, {"password", replaced_secret}}),
                       200);
    check_refused(put_item(api, "in_clear", clear_secret), 403);
    E2E_CHECK_STATUS(put_item(api, "in_clear", replaced_secret), 200);
    check_hidden("status after a new value", body_of(api, "/services/in_clear"));

    E2E_REQUIRE_STATUS(api.post("/services/in_clear/stop"), 200);
    E2E_REQUIRE_STATUS(
        api.post("/services/in_clear/configure_and_start", {{"capacity", 5}, {"password", ""}}),
        200);
    CHECK(status_of(api, "in_clear")["metadata"]["password"] == "");
    E2E_CHECK_STATUS(put_item(api, "in_clear", ""), 200);  // no password: no header needed
  }

  // The logs, last: everything above was logged by now (access log at debug level).
  auto status = server.stop();
  CHECK(status.exited);
  auto logs = server.stderr_text();
  CHECK(logs.find("processpype.access") != std::string::npos);
  check_hidden("stderr (service, runtime and access logs)", logs);
}

TEST_CASE("SIGHUP re-reads the backends, the next configure of an instance sees the new value",
          "[secrets]") {
  TempDirectory directory;
  auto dotenv = directory.write(".env", "STORE_PASSWORD=before-sighup\n");
  TempFile config{config_with_store(dotenv, "    password: ${secret:dot:STORE_PASSWORD}")};
  ServerProcess server{std::vector<std::string>{"--config", config.path()}};
  auto api = server.client();
  REQUIRE(wait_for_state(api, "store", "running"));
  E2E_CHECK_STATUS(put_item(api, "store", "before-sighup"), 200);

  auto count = [&](const std::string& text) {
    auto logs = server.stderr_text();
    std::size_t found = 0;
    for (auto at = logs.find(text); at != std::string::npos; at = logs.find(text, at + 1)) ++found;
    return found;
  };
  directory.write(".env", "STORE_PASSWORD=after-sighup\n");
  server.process().signal(SIGHUP);
  REQUIRE(wait_until([&] { return count("Secrets re-read") == 1; }, 10s));
  // The running instance keeps what it was configured with...
  E2E_CHECK_STATUS(put_item(api, "store", "before-sighup"), 200);
  // ...until its next configure, here with the *** a status shows.
  E2E_REQUIRE_STATUS(api.post("/services/store/stop"), 200);
  E2E_REQUIRE_STATUS(
      api.post("/services/store/configure_and_start", {{"capacity", 5}, {"password", "***"}}), 200);
  check_refused(put_item(api, "store", "before-sighup"), 403);
  E2E_CHECK_STATUS(put_item(api, "store", "after-sighup"), 200);
  CHECK(status_of(api, "store")["metadata"]["password"] == "***");

  // A backend that cannot be read keeps the old secrets.
  std::filesystem::remove(dotenv);
  server.process().signal(SIGHUP);
  REQUIRE(wait_until([&] { return count("Keeping the old secrets") == 1; }, 10s));
  E2E_REQUIRE_STATUS(api.post("/services/store/stop"), 200);
  E2E_REQUIRE_STATUS(
      api.post("/services/store/configure_and_start", status_of(api, "store")["metadata"]), 200);
  E2E_CHECK_STATUS(put_item(api, "store", "after-sighup"), 200);

  server.stop();
  auto logs = server.stderr_text();
  CHECK(logs.find("before-sighup") == std::string::npos);
  CHECK(logs.find("after-sighup") == std::string::npos);
}

TEST_CASE("a missing or malformed secret reference refuses the start, naming it and no value",
          "[secrets]") {
  TempDirectory directory;
  auto dotenv = directory.write(".env", "PRESENT=the-present-value\n");
  for (const auto& [line, named] : std::vector<std::pair<std::string, std::string>>{
           {"    password: ${secret:dot:ABSENT}", "${secret:dot:ABSENT}"},
           {"    password: ${secret:vault:PRESENT}", "${secret:vault:PRESENT}"},
           {"    password: ${secret:dot}", "${secret:dot}"},
           {"    prefix_of_nothing: x ${secret:dot:ABSENT}", "${secret:dot:ABSENT}"},
       }) {
    TempFile config{config_with_store(dotenv, line)};
    auto result = run_to_completion(
        {"--config", config.path(), "--port", std::to_string(free_port())}, {}, 10s);
    INFO(line << "\nstderr: " << result.err);
    CHECK(result.status.exited);
    CHECK(result.status.code == 2);
    CHECK(result.err.find(named) != std::string::npos);
    CHECK(result.err.find("services.store.") != std::string::npos);
    CHECK(result.err.find("the-present-value") == std::string::npos);
  }
}

TEST_CASE("a numeric-looking secret stays a string, in a secret field and in a plain one",
          "[secrets]") {
  TempDirectory directory;
  auto dotenv = directory.write(".env", "PIN=123456\n");
  TempFile config{config_with_store(dotenv, "    password: ${secret:dot:PIN}") +
                  "  echo:\n    prefix: ${secret:dot:PIN}\n    autostart: true\n"};
  ServerProcess server{std::vector<std::string>{"--config", config.path()}};
  auto api = server.client();
  REQUIRE(wait_for_state(api, "echo", "running"));
  CHECK(status_of(api, "echo")["metadata"]["prefix"] == "123456");  // a string, not 123456
  CHECK(api.post("/services/echo/echo", {{"message", "hi"}}).field("message") == "123456: hi");
  REQUIRE(wait_for_state(api, "store", "running"));
  E2E_CHECK_STATUS(put_item(api, "store", "123456"), 200);
}
