#include "transfer.hpp"

#include <mutex>
#include <stdexcept>

#include "processpype/version.hpp"

namespace processpype::communications {

namespace {

/// How long one poll waits at most when nothing happens: a bound on how
/// stale libcurl's own timers may get, not on how fast interrupt() works.
constexpr int poll_timeout_ms = 1000;

}  // namespace

void initialize_curl() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("curl_global_init failed");
  });
}

Transfer::Transfer() {
  initialize_curl();
  multi_ = curl_multi_init();
  easy_ = curl_easy_init();
  if (multi_ == nullptr || easy_ == nullptr) {
    if (easy_ != nullptr) curl_easy_cleanup(easy_);
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
    throw std::runtime_error("libcurl could not make its handles");
  }
}

Transfer::~Transfer() {
  curl_easy_cleanup(easy_);
  curl_multi_cleanup(multi_);
}

CURL* Transfer::start(std::chrono::milliseconds timeout, const char* protocols) {
  curl_easy_reset(easy_);  // keeps the connections the multi handle caches
  error_[0] = '\0';
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, "processpype/" PROCESSPYPE_VERSION);
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, 2L);
#if LIBCURL_VERSION_NUM >= 0x075700  // 7.87
  // An interrupted transfer still resolving a name does not wait for the
  // resolver thread (getaddrinfo cannot be cancelled): it is left to finish
  // alone, so that stopping stays prompt.
  curl_easy_setopt(easy_, CURLOPT_QUICK_EXIT, 1L);
#endif
  return easy_;
}

CURLcode Transfer::perform() {
  if (interrupted_.load()) return CURLE_ABORTED_BY_CALLBACK;
  if (curl_multi_add_handle(multi_, easy_) != CURLM_OK) return CURLE_FAILED_INIT;
  CURLcode result = CURLE_ABORTED_BY_CALLBACK;
  // curl_multi_wakeup() wakes the current poll or, when none runs, the next
  // one: an interrupt() between the check and the poll is not lost.
  while (!interrupted_.load()) {
    int running = 0;
    if (curl_multi_perform(multi_, &running) != CURLM_OK) {
      result = CURLE_FAILED_INIT;
      break;
    }
    if (running == 0) {
      result = completion();
      break;
    }
    curl_multi_poll(multi_, nullptr, 0, poll_timeout_ms, nullptr);
  }
  curl_multi_remove_handle(multi_, easy_);
  return result;
}

CURLcode Transfer::completion() {
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &left))
    if (message->msg == CURLMSG_DONE && message->easy_handle == easy_) return message->data.result;
  return CURLE_FAILED_INIT;
}

void Transfer::interrupt() {
  interrupted_.store(true);
  curl_multi_wakeup(multi_);
}

std::string Transfer::error() const {
  return error_;
}

}  // namespace processpype::communications
