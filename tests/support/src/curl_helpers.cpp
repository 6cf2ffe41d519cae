#include "curl_helpers.hpp"

#include <mutex>
#include <stdexcept>

namespace processpype::testing::internal {

void initialize_curl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

EasyHandle::EasyHandle() {
  initialize_curl();
  handle_ = curl_easy_init();
  if (handle_ == nullptr) throw std::runtime_error("curl_easy_init failed");
}

EasyHandle::~EasyHandle() {
  curl_easy_cleanup(static_cast<CURL*>(handle_));
}

void set_request_options(CURL* curl, const std::string& url, long timeout_ms,
                         long connect_timeout_ms, char* error_buffer, HttpResponse& response) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // loopback only: never a proxy
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
}

long perform_request(CURL* curl, curl_slist* header_list, const std::string& method,
                     const std::string& url, const char* error_buffer, HttpResponse& response) {
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  auto started = Clock::now();
  CURLcode result = curl_easy_perform(curl);
  response.elapsed_ms = elapsed_ms(started);
  long connects = 0;
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
  curl_slist_free_all(header_list);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);

  if (result != CURLE_OK) {
    response.status = 0;
    response.transport_error =
        method + " " + url + ": " + curl_easy_strerror(result) +
        (error_buffer[0] != '\0' ? std::string(" (") + error_buffer + ")" : std::string());
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  }
  response.body_json = json::parse(response.body, nullptr, false);
  return connects;
}

}  // namespace processpype::testing::internal
