#pragma once

// One backend's libcurl transfers, which another thread can interrupt at
// once: an easy handle (reused, so connections are kept alive) driven
// through a multi handle, whose poll curl_multi_wakeup() ends. A server
// that accepts and never answers holds a transfer until its timeout, or
// until the dispatcher stops: then it ends now, not at libcurl's next
// progress callback. Internal to processpype_communications.

#include <atomic>
#include <chrono>
#include <string>

#include <curl/curl.h>

namespace processpype::communications {

/// curl_global_init, once per process.
void initialize_curl();

class Transfer {
 public:
  Transfer();
  ~Transfer();
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  /// The easy handle, reset, with what every request shares: no signals,
  /// `timeout` for the whole attempt (connection included), the error
  /// buffer, the user agent, and only the `protocols` given (e.g.
  /// "http,https").
  CURL* start(std::chrono::milliseconds timeout, const char* protocols);

  /// Runs the request start() prepared to its end; CURLE_ABORTED_BY_CALLBACK
  /// once interrupt() was called (now or before).
  CURLcode perform();

  /// From any thread: ends the current perform() at once, and every later
  /// one before it starts.
  void interrupt();
  bool interrupted() const noexcept { return interrupted_.load(); }

  /// libcurl's message about the last failure ("" if none): the library's
  /// words, which name hosts and ports but not URL paths.
  std::string error() const;

 private:
  CURLcode completion();

  CURLM* multi_ = nullptr;
  CURL* easy_ = nullptr;
  std::atomic<bool> interrupted_{false};
  char error_[CURL_ERROR_SIZE] = {};
};

}  // namespace processpype::communications
