// The email backend: one SMTP session through libcurl per attempt, STARTTLS
// required when `start_tls` is set, AUTH when a username is
// (docs/communications.md).

#include <cstring>
#include <variant>

#include <fmt/format.h>

#include "email_message.hpp"
#include "text.hpp"
#include "transport.hpp"

namespace processpype::communications {

namespace {

/// libcurl's upload source: the composed message, read from the front.
std::size_t read_upload(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* rest = static_cast<std::string_view*>(user);
  auto bytes = std::min(size * count, rest->size());
  std::memcpy(buffer, rest->data(), bytes);
  rest->remove_prefix(bytes);
  return bytes;
}

std::string smtp_url(const EmailSettings& settings) {
  // An IPv6 literal needs its brackets in a URL.
  bool is_ipv6 = settings.host.find(':') != std::string::npos;
  return fmt::format("smtp://{}{}{}:{}", is_ipv6 ? "[" : "", settings.host, is_ipv6 ? "]" : "",
                     settings.port);
}

/// The recipients: `metadata.recipients` when the message names some (a
/// list of addresses, or one), else the defaults; or why they are refused.
std::variant<std::vector<std::string>, std::string> recipients_of(
    const Message& message, const std::vector<std::string>& defaults) {
  if (!message.metadata.is_object() || !message.metadata.contains("recipients")) return defaults;
  const auto& named = message.metadata["recipients"];
  std::vector<std::string> recipients;
  if (named.is_string()) recipients.push_back(named.get<std::string>());
  if (named.is_array())
    for (const auto& recipient : named) {
      if (!recipient.is_string()) return std::string("metadata.recipients must list addresses");
      recipients.push_back(recipient.get<std::string>());
    }
  if (recipients.empty())
    return std::string("metadata.recipients must be an address or a list of addresses");
  for (const auto& recipient : recipients)
    if (!is_email_address(recipient))
      return fmt::format("metadata.recipients holds something that is not an address: {}",
                         truncate_utf8(single_line(recipient), 100));
  return recipients;
}

class EmailTransport final : public Transport {
 public:
  explicit EmailTransport(const EmailSettings& settings)
      : settings_(settings),
        url_(smtp_url(settings)),
        mail_from_("<" + settings.from_address + ">"),
        timeout_(milliseconds_of(settings.timeout_seconds)) {}

  Attempt attempt(const Envelope& envelope, Transfer& transfer) override {
    auto recipients = recipients_of(envelope.message, settings_.default_recipients);
    if (const auto* refusal = std::get_if<std::string>(&recipients))
      return Attempt::final(*refusal);
    const auto& addresses = std::get<std::vector<std::string>>(recipients);

    auto message_id = make_message_id(settings_.from_address, envelope.time, envelope.identity);
    auto content =
        compose_email({envelope, settings_.from_address, addresses, *envelope.node, message_id});
    std::string_view rest = content;
    std::vector<std::string> envelope_recipients;
    for (const auto& address : addresses) envelope_recipients.push_back("<" + address + ">");
    auto recipient_list = make_curl_list(envelope_recipients);

    CURL* curl = transfer.start(timeout_, "smtp");
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from_.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipient_list.get());
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(curl, CURLOPT_READDATA, &rest);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(content.size()));
    curl_easy_setopt(curl, CURLOPT_USE_SSL,
                     settings_.start_tls ? static_cast<long>(CURLUSESSL_ALL)
                                         : static_cast<long>(CURLUSESSL_NONE));
    if (settings_.ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, settings_.ca_file->c_str());
    if (settings_.username) {
      curl_easy_setopt(curl, CURLOPT_USERNAME, settings_.username->c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD,
                       settings_.password ? settings_.password->c_str() : "");
    }
    auto result = transfer.perform();
    long reply = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply);
    return classify_smtp(result, reply, transfer, url_);
  }

  std::vector<std::string> secrets() const override {
    if (settings_.password) return {*settings_.password};
    return {};
  }

 private:
  EmailSettings settings_;
  std::string url_;
  std::string mail_from_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<Transport> make_email_transport(const EmailSettings& settings) {
  return std::make_unique<EmailTransport>(settings);
}

}  // namespace processpype::communications
