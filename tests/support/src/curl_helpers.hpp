#pragma once

// Text, libcurl callbacks and the request steps shared by the harness's
// HTTP clients (http.cpp, tls.cpp, raw_http.cpp). Internal to
// processpype_testing.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <map>
#include <string>

#include <curl/curl.h>

#include "processpype/testing/http.hpp"

namespace processpype::testing::internal {

inline std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

inline std::string trim(const std::string& text) {
  auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

/// CURLOPT_WRITEFUNCTION: appends to the std::string `user`.
inline std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

/// CURLOPT_HEADERFUNCTION: collects the headers of the last response into
/// the std::map<std::string, std::string> `user`, names in lowercase,
/// repeated headers joined with ", ".
inline std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new response (e.g. after 100 Continue)
  } else if (auto colon = line.find(':'); colon != std::string::npos) {
    auto name = lowercase(trim(line.substr(0, colon)));
    auto value = trim(line.substr(colon + 1));
    auto& slot = (*headers)[name];
    slot = slot.empty() ? value : slot + ", " + value;
  }
  return size * count;
}

/// curl_global_init, once per process.
void initialize_curl();

/// What every request of the harness sets on `curl`: the URL, no proxy
/// (loopback only), no signals, TCP_NODELAY, the timeouts, libcurl's error
/// text into `error_buffer` (CURL_ERROR_SIZE bytes), and the body and headers
/// into `response`.
void set_request_options(CURL* curl, const std::string& url, long timeout_ms,
                         long connect_timeout_ms, char* error_buffer, HttpResponse& response);

/// Performs the request prepared on `curl` with `header_list` (freed here)
/// and completes `response`: elapsed_ms, then status or transport_error
/// ("<method> <url>: <libcurl's reason>"), and body_json. The number of
/// connections it opened.
long perform_request(CURL* curl, curl_slist* header_list, const std::string& method,
                     const std::string& url, const char* error_buffer, HttpResponse& response);

}  // namespace processpype::testing::internal
