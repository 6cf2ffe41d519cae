#pragma once

// What the security tests share: servers started from a YAML text, raw
// response checks, bearer headers, log lines.

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <processpype/testing/checks.hpp>
#include <processpype/testing/probed_server.hpp>
#include <processpype/testing/raw_http.hpp>
#include <processpype/testing/tls.hpp>

/// CHECK/REQUIRE on a RawResponse's status, printing it on failure.
#define RAW_CHECK_STATUS(response, expected) PROCESSPYPE_TESTING_STATUS(CHECK, response, expected)
#define RAW_REQUIRE_STATUS(response, expected) \
  PROCESSPYPE_TESTING_STATUS(REQUIRE, response, expected)

namespace security {

using namespace processpype::testing;

/// A server started with `--config <file holding yaml>` (no auth needed to
/// be ready: GET / answers 200).
class YamlServer {
 public:
  explicit YamlServer(const std::string& yaml, std::vector<std::string> extra_args = {})
      : config_(yaml), server_(args(extra_args)) {}

  ServerProcess& operator*() { return server_; }
  ServerProcess* operator->() { return &server_; }
  int port() const { return server_.port(); }

 private:
  std::vector<std::string> args(const std::vector<std::string>& extra) const {
    std::vector<std::string> all{"--config", config_.path()};
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }

  TempFile config_;
  ServerProcess server_;
};

/// "Authorization: Bearer <token>" for HttpClient::request.
inline std::vector<std::string> bearer(const std::string& token) {
  return {"Authorization: Bearer " + token};
}

/// The JSON error contract: a JSON object with a non-empty string detail.
inline void check_raw_detail(const RawResponse& response) {
  INFO(response.describe());
  REQUIRE(response.is_json());
  REQUIRE(response.body_json.is_object());
  REQUIRE(response.body_json.contains("detail"));
  REQUIRE(response.body_json["detail"].is_string());
  CHECK_FALSE(response.detail().empty());
}

/// The lines of `text` containing `needle`.
inline std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& line : lines_of(text))
    if (line.find(needle) != std::string::npos) found.push_back(line);
  return found;
}

/// The id of the node (GET /nodes lists exactly one on a lone server).
inline std::string lone_node_id(HttpClient& api) {
  auto nodes = api.get("/nodes").field("nodes");
  if (!nodes.is_array() || nodes.size() != 1 || !nodes[0].contains("id")) return "";
  return nodes[0]["id"].get<std::string>();
}

/// The node's id once GET /nodes lists it (its event stream exists from
/// then on); "" when it does not within 10 s.
inline std::string wait_for_node_id(HttpClient& api) {
  std::string id;
  wait_until([&] { return !(id = lone_node_id(api)).empty(); }, 10s, 20ms);
  return id;
}

/// `bytes` with everything outside printable ASCII as \xNN.
inline std::string printable(const std::string& bytes) {
  static const char* hex = "0123456789abcdef";
  std::string text;
  for (unsigned char c : bytes) {
    if (c == '\r')
      text += "\\r";
    else if (c == '\n')
      text += "\\n";
    else if (c >= 0x20 && c < 0x7f)
      text.push_back(static_cast<char>(c));
    else
      text += std::string("\\x") + hex[c >> 4] + hex[c & 15];
  }
  return text;
}

/// Seconds since `start` as a double.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace security
