// The webhook backend: one POST of the message as JSON per attempt
// (docs/communications.md).

#include <algorithm>
#include <cctype>

#include "processpype/runtime/service_status.hpp"
#include "text.hpp"
#include "transport.hpp"

namespace processpype::communications {

namespace {

bool same_name(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::size_t discard_body(char*, std::size_t size, std::size_t count, void*) {
  return size * count;
}

/// The configured headers, then Content-Type (unless configured) and no
/// 100-continue round trip for a small body.
CurlList make_header_list(const std::map<std::string, std::string>& headers) {
  std::vector<std::string> lines;
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    has_content_type = has_content_type || same_name(name, "Content-Type");
    // "Name;" is libcurl's way of sending a header with an empty value.
    lines.push_back(value.empty() ? name + ";" : name + ": " + value);
  }
  if (!has_content_type) lines.emplace_back("Content-Type: application/json");
  lines.emplace_back("Expect:");
  return make_curl_list(lines);
}

class WebhookTransport final : public Transport {
 public:
  explicit WebhookTransport(const WebhookSettings& settings)
      : url_(settings.url),
        target_(loggable_target(settings.url)),
        timeout_(milliseconds_of(settings.timeout_seconds)),
        headers_(make_header_list(settings.headers)) {
    for (const auto& [name, value] : settings.headers) header_values_.push_back(value);
  }

  Attempt attempt(const Envelope& envelope, Transfer& transfer) override {
    auto body = dump_json(body_of(envelope));
    CURL* curl = transfer.start(timeout_, "http,https");
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers_.get());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    auto result = transfer.perform();
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return classify_http(result, status, transfer, target_);
  }

  std::vector<std::string> secrets() const override { return header_values_; }

 private:
  nlohmann::json body_of(const Envelope& envelope) const {
    const auto& message = envelope.message;
    return {
        {"message", message.message}, {"label", message.label},
        {"source", message.source},   {"severity", message.severity},
        {"subject", message.subject}, {"metadata", message.metadata},
        {"node", *envelope.node},     {"time", format_utc(envelope.time)},
    };
  }

  std::string url_;
  std::string target_;
  std::chrono::milliseconds timeout_;
  CurlList headers_;
  std::vector<std::string> header_values_;
};

}  // namespace

std::unique_ptr<Transport> make_webhook_transport(const WebhookSettings& settings) {
  return std::make_unique<WebhookTransport>(settings);
}

}  // namespace processpype::communications
