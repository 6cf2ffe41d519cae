// The telegram backend: the Bot API's sendMessage, one POST per attempt, to
// the chat of the message's label or else the chat `default`
// (docs/communications.md).

#include <fmt/format.h>

#include "text.hpp"
#include "transport.hpp"

namespace processpype::communications {

namespace {

/// sendMessage takes at most 4096 characters (UTF-16 units); as many bytes
/// of UTF-8 never make more characters than that.
constexpr std::size_t max_text_bytes = 4096;
/// What is kept of an answer: the Bot API's are small.
constexpr std::size_t max_answer_bytes = 64 * 1024;
/// How much of the API's `description` a log line quotes.
constexpr std::size_t max_description_bytes = 200;

std::size_t keep_answer(char* data, std::size_t size, std::size_t count, void* user) {
  auto* answer = static_cast<std::string*>(user);
  auto bytes = size * count;
  answer->append(data,
                 std::min(bytes, max_answer_bytes - std::min(answer->size(), max_answer_bytes)));
  return bytes;
}

/// With a subject: the subject, a blank line, the message. Without one, the
/// message after `[<severity>] <source>: `, which says where it comes from.
std::string text_of(const Message& message) {
  auto text = message.subject.empty() ? headline_prefix(message) + message.message
                                      : message.subject + "\n\n" + message.message;
  return truncate_utf8(text, max_text_bytes);
}

std::string without_trailing_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

class TelegramTransport final : public Transport {
 public:
  explicit TelegramTransport(const TelegramSettings& settings)
      : url_(without_trailing_slashes(settings.base_url) + "/bot" + settings.token +
             "/sendMessage"),
        target_(loggable_target(settings.base_url)),
        token_(settings.token),
        chats_(settings.chats),
        timeout_(milliseconds_of(settings.timeout_seconds)),
        headers_(make_curl_list({"Content-Type: application/json", "Expect:"})) {}

  Attempt attempt(const Envelope& envelope, Transfer& transfer) override {
    const auto* chat = chat_for(envelope.message.label);
    if (chat == nullptr)
      return Attempt::final(
          fmt::format("no chat for label '{}' and no 'default' chat", envelope.message.label));
    nlohmann::json request = {{"chat_id", chat->chat_id}, {"text", text_of(envelope.message)}};
    if (chat->topic_id) request["message_thread_id"] = *chat->topic_id;
    auto body = dump_json(request);

    std::string answer;
    CURL* curl = transfer.start(timeout_, "http,https");
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers_.get());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    auto result = transfer.perform();
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return outcome(classify_http(result, status, transfer, target_), answer);
  }

  std::vector<std::string> secrets() const override { return {token_}; }

 private:
  const TelegramChat* chat_for(const std::string& label) const {
    auto found = chats_.find(label);
    if (found == chats_.end()) found = chats_.find("default");
    return found == chats_.end() ? nullptr : &found->second;
  }

  /// The HTTP outcome, with what the Bot API said: its description of a
  /// refusal, its `retry_after` on a 429, and its `ok` on a success (a 200
  /// from something that is not the Bot API is no delivery).
  static Attempt outcome(Attempt attempt, const std::string& answer) {
    auto parsed = nlohmann::json::parse(answer, nullptr, false);
    bool is_object = parsed.is_object();
    if (attempt.outcome == Attempt::Outcome::delivered) {
      if (is_object && parsed.value("ok", false) == true) return attempt;
      return Attempt::final(
          "the server answered 2xx but not as the Bot API does (no \"ok\": true)");
    }
    if (!is_object) return attempt;
    if (auto description = parsed.find("description");
        description != parsed.end() && description->is_string())
      attempt.detail +=
          ": " + truncate_utf8(single_line(description->get<std::string>()), max_description_bytes);
    if (auto parameters = parsed.find("parameters");
        parameters != parsed.end() && parameters->is_object()) {
      auto retry_after = parameters->find("retry_after");
      if (retry_after != parameters->end() && retry_after->is_number() &&
          retry_after->get<double>() >= 0)
        attempt.retry_after = milliseconds_of(retry_after->get<double>());
    }
    return attempt;
  }

  std::string url_;
  std::string target_;
  std::string token_;
  std::map<std::string, TelegramChat> chats_;
  std::chrono::milliseconds timeout_;
  CurlList headers_;
};

}  // namespace

std::unique_ptr<Transport> make_telegram_transport(const TelegramSettings& settings) {
  return std::make_unique<TelegramTransport>(settings);
}

}  // namespace processpype::communications
