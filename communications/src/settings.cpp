#include "processpype/communications/settings.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "text.hpp"

namespace processpype::communications {

namespace {

/// A bound that catches a typo (minutes given as seconds) without getting in
/// the way of a slow relay.
constexpr double max_timeout_seconds = 600;

[[noreturn]] void refuse(std::string field, const std::string& reason) {
  throw InvalidSettings(std::move(field), reason);
}

bool starts_with_http(std::string_view url) {
  auto lower = [](std::string_view text) {
    std::string result(text);
    std::transform(result.begin(), result.end(), result.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return result;
  };
  auto prefix = lower(url.substr(0, 8));
  return prefix.starts_with("http://") || prefix.starts_with("https://");
}

/// An http(s) URL with a host. The URL is not repeated in the reason: a
/// webhook URL may carry a token.
void check_http_url(const std::string& url, const char* type, const char* field) {
  if (!starts_with_http(url))
    refuse(field, fmt::format("{} {} must start with http:// or https://", type, field));
  auto rest = std::string_view{url}.substr(url.find("//") + 2);
  auto authority = rest.substr(0, rest.find_first_of("/?#"));
  auto host = authority.substr(
      authority.rfind('@') == std::string_view::npos ? 0 : authority.rfind('@') + 1);
  if (host.empty() || host.front() == ':')
    refuse(field, fmt::format("{} {} must name a host", type, field));
  auto bad = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '\0'; };
  if (std::any_of(url.begin(), url.end(), bad))
    refuse(field, fmt::format("{} {} must not contain spaces or control characters", type, field));
}

/// libcurl counts in whole milliseconds and reads 0 as "never time out":
/// anything shorter than 1 ms would wait for ever on a hung backend.
constexpr double min_timeout_seconds = 0.001;

void check_timeout(double seconds, const char* type) {
  if (!std::isfinite(seconds) || seconds < min_timeout_seconds || seconds > max_timeout_seconds)
    refuse("timeout_seconds", fmt::format("{} timeout_seconds must be from {} to {}", type,
                                          min_timeout_seconds, max_timeout_seconds));
}

/// RFC 9110's token characters: what a header name may hold.
bool is_header_name(std::string_view name) {
  constexpr std::string_view symbols = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           symbols.find(c) != std::string_view::npos;
  });
}

void check_webhook(const WebhookSettings& webhook) {
  check_http_url(webhook.url, "webhook", "url");
  for (const auto& [name, value] : webhook.headers) {
    if (!is_header_name(name))
      refuse("headers", fmt::format("webhook header name '{}' is not a valid HTTP header name",
                                    single_line(name)));
    // The value is not quoted: it may be a secret.
    if (std::any_of(value.begin(), value.end(),
                    [](char c) { return c == '\r' || c == '\n' || c == '\0'; }))
      refuse("headers." + name,
             fmt::format("webhook header {} has a line break or NUL in its value", name));
  }
  check_timeout(webhook.timeout_seconds, "webhook");
}

void check_email(const EmailSettings& email) {
  if (email.host.empty()) refuse("host", "email host must not be empty");
  if (std::any_of(email.host.begin(), email.host.end(), [](char c) {
        return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '/' || c == '@' ||
               c == '\0';
      }))
    refuse("host", "email host must be a host name or an IP address");
  if (email.port < 1 || email.port > 65535)
    refuse("port", "email port must be between 1 and 65535");
  if (email.username && email.username->empty())
    refuse("username", "email username must not be empty when it is set");
  if (email.password && !email.username)
    refuse("password", "email password is set without a username");
  if (email.from_address.empty()) refuse("from_address", "email from_address must not be empty");
  if (!is_email_address(email.from_address))
    refuse("from_address", fmt::format("email from_address is not an address like "
                                       "name@example.com: {}",
                                       single_line(email.from_address)));
  if (email.default_recipients.empty())
    refuse("default_recipients", "email default_recipients must list at least one address");
  for (std::size_t i = 0; i < email.default_recipients.size(); ++i)
    if (!is_email_address(email.default_recipients[i]))
      refuse(fmt::format("default_recipients[{}]", i),
             fmt::format("email default_recipients[{}] is not an address like "
                         "name@example.com: {}",
                         i, single_line(email.default_recipients[i])));
  if (email.ca_file) {
    if (!email.start_tls)
      refuse("ca_file", "email ca_file needs start_tls: true (without TLS nothing is verified)");
    if (!std::ifstream(*email.ca_file).good())
      refuse("ca_file", fmt::format("email ca_file cannot be read: {}", *email.ca_file));
  }
  check_timeout(email.timeout_seconds, "email");
}

/// Where a telegram backend posts `label`: its own chat, else `default`.
bool has_chat_for(const TelegramSettings& telegram, const std::string& label) {
  return telegram.chats.contains(label) || telegram.chats.contains("default");
}

void check_telegram(const TelegramSettings& telegram, const std::vector<std::string>& labels) {
  if (telegram.token.empty()) refuse("token", "telegram token must not be empty");
  // The token goes into the URL path: nothing that would change the URL.
  if (!std::all_of(telegram.token.begin(), telegram.token.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '_' || c == '-';
      }))
    refuse("token", "telegram token may hold only letters, digits, ':', '_' and '-'");
  if (telegram.chats.empty()) refuse("chats", "telegram chats must name at least one chat");
  for (const auto& [label, chat] : telegram.chats) {
    auto field = "chats." + label;
    if (label.empty()) refuse("chats", "telegram chats has an empty label");
    if (chat.chat_id.find_first_not_of(" \t") == std::string::npos)
      refuse(field + ".chat_id", fmt::format("telegram {}.chat_id must not be empty", field));
    if (chat.topic_id && *chat.topic_id <= 0)
      refuse(field + ".topic_id", fmt::format("telegram {}.topic_id must be positive", field));
  }
  for (const auto& label : labels)
    if (!has_chat_for(telegram, label))
      refuse("chats",
             fmt::format("telegram chats has no chat for label '{}' and no 'default' chat", label));
  check_http_url(telegram.base_url, "telegram", "base_url");
  check_timeout(telegram.timeout_seconds, "telegram");
}

void check_labels(const std::vector<std::string>& labels) {
  if (labels.empty()) refuse("labels", "labels must list at least one label");
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i].empty())
      refuse(fmt::format("labels[{}]", i), fmt::format("labels[{}] must not be empty", i));
}

}  // namespace

const char* type_name(const BackendSettings& backend) noexcept {
  switch (backend.transport.index()) {
    case 0:
      return "webhook";
    case 1:
      return "email";
    default:
      return "telegram";
  }
}

void validate(const BackendSettings& backend) {
  if (backend.name.empty()) refuse("name", "a backend's name must not be empty");
  check_labels(backend.labels);
  if (const auto* webhook = std::get_if<WebhookSettings>(&backend.transport))
    check_webhook(*webhook);
  else if (const auto* email = std::get_if<EmailSettings>(&backend.transport))
    check_email(*email);
  else
    check_telegram(std::get<TelegramSettings>(backend.transport), backend.labels);
}

void validate(const std::vector<BackendSettings>& backends) {
  std::set<std::string> names;
  for (const auto& backend : backends) {
    validate(backend);
    if (!names.insert(backend.name).second)
      refuse("name", fmt::format("two backends are named '{}'", backend.name));
  }
}

}  // namespace processpype::communications
