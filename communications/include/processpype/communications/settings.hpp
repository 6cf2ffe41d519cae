#pragma once

// The settings of the communication backends, as plain structs: what the
// YAML section `communications.backends` holds (docs/communications.md),
// checked by validate() before a Dispatcher runs them.

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace processpype::communications {

/// `type: webhook`: POSTs each message as JSON to `url`.
struct WebhookSettings {
  std::string url{};                             ///< http:// or https://
  std::map<std::string, std::string> headers{};  ///< sent with every request (values may be secret)
  double timeout_seconds = 5;                    ///< for one attempt, connection included
};

/// `type: email`: SMTP through libcurl, ProcessPype's keys plus `ca_file`.
struct EmailSettings {
  std::string host{};
  int port = 587;
  std::optional<std::string> username{};  ///< AUTH when set
  std::optional<std::string> password{};  ///< secret
  std::string from_address{};
  std::vector<std::string> default_recipients{};
  /// STARTTLS, required when true (a server without it is refused), the
  /// server's certificate verified against `ca_file` or the system's CAs.
  bool start_tls = true;
  std::optional<std::string> ca_file{};  ///< PEM CAs to verify the server with
  double timeout_seconds = 30;           ///< for one attempt, the whole SMTP session
};

/// Where a telegram backend posts a label's messages.
struct TelegramChat {
  std::string chat_id{};                   ///< a chat id (`-100...`) or `@channel`
  std::optional<std::int64_t> topic_id{};  ///< a forum topic: `message_thread_id`
};

/// `type: telegram`: the Bot API's `sendMessage`. A message goes to the chat
/// of its label, else to the chat `default`.
struct TelegramSettings {
  std::string token{};                          ///< secret: it is part of the URL path
  std::map<std::string, TelegramChat> chats{};  ///< by label
  std::string base_url = "https://api.telegram.org";
  double timeout_seconds = 10;  ///< for one attempt
};

/// One entry of `communications.backends`.
struct BackendSettings {
  std::string name{};                             ///< its key; the metrics' `backend` label
  std::vector<std::string> labels = {"default"};  ///< the labels it handles
  bool enabled = true;                            ///< a disabled backend gets nothing
  std::variant<WebhookSettings, EmailSettings, TelegramSettings> transport{};
};

/// Settings were refused. `field()` is the offending key relative to the
/// backend (`url`, `chats.alerts.chat_id`, `default_recipients[1]`), so that
/// the caller can prefix its own path; what() says why, e.g. `webhook url
/// must start with http:// or https://`. Neither ever holds a secret value.
class InvalidSettings : public std::invalid_argument {
 public:
  InvalidSettings(std::string field, const std::string& reason)
      : std::invalid_argument(reason), field_(std::move(field)) {}

  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

/// The type's name as in YAML: "webhook", "email" or "telegram".
const char* type_name(const BackendSettings& backend) noexcept;

/// Checks one backend (disabled ones too); throws InvalidSettings.
void validate(const BackendSettings& backend);

/// Checks every backend and that names are unique and not empty.
void validate(const std::vector<BackendSettings>& backends);

}  // namespace processpype::communications
