#pragma once

// Backends and options the communications tests build their dispatchers
// from: short retry delays, a node id, and a log they can read.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "processpype/communications/dispatcher.hpp"
#include "receivers.hpp"

namespace processpype::testing {

namespace communications = processpype::communications;

inline communications::BackendSettings webhook_backend(std::string name, std::string url,
                                                       std::vector<std::string> labels = {
                                                           "default"}) {
  communications::WebhookSettings webhook;
  webhook.url = std::move(url);
  return {std::move(name), std::move(labels), true, webhook};
}

inline communications::BackendSettings telegram_backend(
    std::string name, std::string base_url,
    std::map<std::string, communications::TelegramChat> chats,
    std::vector<std::string> labels = {"default"}) {
  communications::TelegramSettings telegram;
  telegram.token = "123456:test-token_ABC";
  telegram.chats = std::move(chats);
  telegram.base_url = std::move(base_url);
  return {std::move(name), std::move(labels), true, telegram};
}

/// Plain SMTP (no STARTTLS) to 127.0.0.1:`port`; tests switch on the rest.
inline communications::EmailSettings plain_email(int port) {
  communications::EmailSettings email;
  email.host = "127.0.0.1";
  email.port = port;
  email.from_address = "processpype@example.com";
  email.default_recipients = {"ops@example.com", "oncall@example.org"};
  email.start_tls = false;
  email.timeout_seconds = 10;
  return email;
}

inline communications::BackendSettings email_backend(std::string name,
                                                     communications::EmailSettings email) {
  return {std::move(name), {"default"}, true, std::move(email)};
}

/// Node `node-1`, retries 10 ms apart (doubling up to 50 ms), failures logged
/// to `sink` when one is given.
inline communications::DispatcherOptions test_options(
    const std::shared_ptr<RecordingSink>& sink = nullptr) {
  communications::DispatcherOptions options;
  options.node = "node-1";
  options.retry.max_attempts = 4;
  options.retry.first_delay = std::chrono::milliseconds(10);
  options.retry.max_delay = std::chrono::milliseconds(50);
  options.logger =
      sink ? recording_logger(sink) : recording_logger(std::make_shared<RecordingSink>());
  return options;
}

/// An error of the instance "store" that says `text`.
inline communications::Message store_error(std::string text) {
  communications::Message message;
  message.message = std::move(text);
  message.source = "store";
  message.severity = "error";
  return message;
}

/// The counters of the backend named `name` (all zero when there is none).
inline communications::BackendCounters counters_of(const communications::Dispatcher& dispatcher,
                                                   const std::string& name) {
  for (auto& counters : dispatcher.counters())
    if (counters.backend == name) return counters;
  return {};
}

}  // namespace processpype::testing
