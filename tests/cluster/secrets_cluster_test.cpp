// docs/secrets.md across nodes: another node never receives a secret field
// in clear (status replicas, requests forwarded under /nodes/{id}/..., its
// event stream); a custom route's request carried to another node takes
// its headers along (the store's X-Store-Password).

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cluster_support.hpp"

using namespace cluster_tests;

namespace {

const std::string file_secret = "ClusterFileSecret-5t6y";
const std::string clear_secret = "ClusterRestSecret-8u9i";

/// CHECKs that neither secret is in `text`, read from `channel`.
void check_hidden(const std::string& channel, const std::string& text) {
  check_secrets_hidden(channel, text, {file_secret, clear_secret});
}

HttpResponse put_item(HttpClient& api, const std::string& path, const std::string& password) {
  std::vector<std::string> headers;
  if (!password.empty()) headers.push_back("X-Store-Password: " + password);
  return api.request("PUT", path + "/items/k", json("v").dump(), headers);
}

}  // namespace

TEST_CASE("cluster: secret fields never reach another node in clear, headers are carried",
          "[cluster][secrets]") {
  TempDirectory directory;
  auto dotenv = directory.write(".env", "STORE_PASSWORD=" + file_secret + "\n");
  TempFile config{
      "logging: {access_log: true}\n"
      "secrets:\n"
      "  backends:\n"
      "    dot: {type: dotenv, path: '" +
      dotenv +
      "'}\n"
      "services:\n"
      "  store:\n"
      "    capacity: 5\n"
      "    autostart: true\n"
      "    password: ${secret:dot:STORE_PASSWORD}\n"};
  TwoNodes nodes{[&](const std::string&) {
    auto options = node_options();
    options.args = {"--config", config.path(), "--log-level", "debug"};
    return options;
  }};
  auto& api = nodes.api;
  const auto remote = nodes.c.path();

  // Set in clear on C through A; the password goes along as a header.
  register_on(api, nodes.c, "store", "in_clear");
  command_on(api, nodes.c, "in_clear", "configure_and_start",
             {{"capacity", 5}, {"password", clear_secret}});
  check_refused(put_item(api, remote + "/services/in_clear", ""), 403);
  check_refused(put_item(api, remote + "/services/in_clear", "wrong"), 403);
  E2E_CHECK_STATUS(put_item(api, remote + "/services/in_clear", clear_secret), 200);
  E2E_CHECK_STATUS(put_item(api, remote + "/services/store", file_secret), 200);

  // The status as A answers it: forwarded to C right after the command,
  // then from A's replica once it caught up with C's feed.
  REQUIRE(wait_until(
      [&] { return api.get(remote + "/services/in_clear").field("state") == "running"; }, 10s));
  for (int read = 0; read < 5; ++read) {
    auto status = api.get(remote + "/services/in_clear");
    CHECK(status.field("metadata")["password"] == "***");
    check_hidden("remote status", status.body);
  }
  check_hidden("remote status of the file's instance", body_of(api, remote + "/services/store"));
  check_hidden("remote GET / (forwarded)", body_of(api, remote + "/"));
  check_hidden("remote list", body_of(api, remote + "/services"));
  check_hidden("remote events", body_of(api, remote + "/events?since=0"));
  check_hidden("cluster events", body_of(api, "/events?since=0&scope=cluster"));
  check_hidden("remote openapi", body_of(api, remote + "/openapi.json"));

  for (auto* node : {&nodes.a, &nodes.c}) {
    node->server->stop();
    check_hidden("stderr of " + node->id, node->server->stderr_text());
  }
}
