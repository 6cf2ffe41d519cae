#pragma once

// What the outbox hands a backend's transport, and what one attempt at a
// delivery gives back. Internal to processpype_communications.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "processpype/communications/message.hpp"
#include "processpype/communications/settings.hpp"
#include "transfer.hpp"

namespace processpype::communications {

/// A message as emitted: the time it was emitted and the node that emitted
/// it travel with it, so that a late delivery still says when and where it
/// happened.
struct Envelope {
  Message message;
  std::chrono::system_clock::time_point time;
  std::shared_ptr<const std::string> node;  ///< never null
  /// Random, made once per message: every attempt at it carries the same
  /// identity (an email's Message-ID), so that a receiver can drop a resent
  /// duplicate.
  std::uint64_t identity = 0;
  /// Roughly what it holds, for the queues' bound (message_size).
  std::size_t bytes = 0;
};

/// Roughly how many bytes `message` holds: its strings, and its metadata's
/// strings and values, without rendering it.
std::size_t message_size(const Message& message);

/// How one attempt at a delivery ended.
struct Attempt {
  enum class Outcome {
    delivered,
    transient_failure,  ///< worth another attempt after a delay
    final_failure,      ///< another attempt would end the same way
    interrupted,        ///< the dispatcher is stopping
  };

  Outcome outcome = Outcome::delivered;
  /// Why it failed, for the log: never a secret, a URL path or a header
  /// value (a webhook URL may carry a token; telegram's always does).
  std::string detail;
  /// How long the server asked us to wait (telegram's `retry_after`).
  std::optional<std::chrono::milliseconds> retry_after;

  static Attempt delivered() { return {}; }
  static Attempt transient(std::string detail) {
    return {Outcome::transient_failure, std::move(detail), std::nullopt};
  }
  static Attempt final(std::string detail) {
    return {Outcome::final_failure, std::move(detail), std::nullopt};
  }
  static Attempt interrupted() { return {Outcome::interrupted, "interrupted", std::nullopt}; }
};

/// One backend's way of delivering a message, one attempt at a time. Runs
/// on the backend's sender thread only.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Attempt attempt(const Envelope& envelope, Transfer& transfer) = 0;
  /// The values no log line may show (a token, a password, header values):
  /// the outbox scrubs them from every detail it logs, whatever its origin.
  virtual std::vector<std::string> secrets() const { return {}; }
};

std::unique_ptr<Transport> make_webhook_transport(const WebhookSettings& settings);
std::unique_ptr<Transport> make_email_transport(const EmailSettings& settings);
std::unique_ptr<Transport> make_telegram_transport(const TelegramSettings& settings);

/// An SMTP attempt's outcome: delivered when libcurl succeeded; a 4xx reply
/// is transient and a 5xx final (SMTP's own meaning of them); otherwise as
/// for HTTP transport errors.
Attempt classify_smtp(CURLcode result, long reply, const Transfer& transfer,
                      const std::string& target);

/// An HTTP attempt's outcome from libcurl's result and the status: 2xx is
/// delivered; 429, 5xx and transport errors are transient, except those that
/// another attempt cannot mend (a certificate refused); the rest is final.
/// `target` names the server in the detail (scheme, host and port only).
Attempt classify_http(CURLcode result, long status, const Transfer& transfer,
                      const std::string& target);

struct CurlListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
/// A libcurl string list (headers, recipients), freed with it.
using CurlList = std::unique_ptr<curl_slist, CurlListDeleter>;
/// Throws std::bad_alloc when libcurl cannot make it.
CurlList make_curl_list(const std::vector<std::string>& items);

/// A timeout from settings (seconds, possibly fractional).
inline std::chrono::milliseconds milliseconds_of(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

/// `scheme://host:port` of `url`, without its path, query or credentials
/// (which may hold secrets), for log lines.
std::string loggable_target(const std::string& url);

}  // namespace processpype::communications
