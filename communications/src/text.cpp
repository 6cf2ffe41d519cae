#include "text.hpp"

#include <algorithm>

namespace processpype::communications {

namespace {

/// How much of a message's first line a made-up subject keeps: enough to
/// tell alerts apart in an inbox, short enough for one line there.
constexpr std::size_t subject_line_bytes = 120;

bool is_control(char c) {
  auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7F;
}

}  // namespace

std::string headline_prefix(const Message& message) {
  std::string prefix = "[" + message.severity + "] ";
  if (!message.source.empty()) prefix += message.source + ": ";
  return prefix;
}

std::string subject_of(const Message& message) {
  if (!message.subject.empty()) return message.subject;
  std::string_view text = message.message;
  auto start = text.find_first_not_of(" \t\r\n");
  text = start == std::string_view::npos ? std::string_view{} : text.substr(start);
  auto line = text.substr(0, text.find_first_of("\r\n"));
  auto subject = headline_prefix(message) + truncate_utf8(line, subject_line_bytes);
  while (!subject.empty() && subject.back() == ' ') subject.pop_back();
  if (!subject.empty() && subject.back() == ':') subject.pop_back();
  return subject;
}

std::string truncate_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  constexpr std::string_view ellipsis = "...";
  auto cut = max_bytes > ellipsis.size() ? max_bytes - ellipsis.size() : 0;
  while (cut > 0 && is_utf8_continuation(text[cut])) --cut;
  return std::string(text.substr(0, cut)) + std::string(ellipsis);
}

std::string single_line(std::string_view text) {
  std::string line(text);
  std::replace_if(line.begin(), line.end(), is_control, ' ');
  return line;
}

std::string base64(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string encoded;
  encoded.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    std::uint32_t group = static_cast<unsigned char>(bytes[i]) << 16 |
                          static_cast<unsigned char>(bytes[i + 1]) << 8 |
                          static_cast<unsigned char>(bytes[i + 2]);
    encoded += alphabet[(group >> 18) & 63];
    encoded += alphabet[(group >> 12) & 63];
    encoded += alphabet[(group >> 6) & 63];
    encoded += alphabet[group & 63];
  }
  if (auto rest = bytes.size() - i; rest > 0) {
    std::uint32_t group = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) group |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    encoded += alphabet[(group >> 18) & 63];
    encoded += alphabet[(group >> 12) & 63];
    encoded += rest == 2 ? alphabet[(group >> 6) & 63] : '=';
    encoded += '=';
  }
  return encoded;
}

bool is_printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x7F;
  });
}

bool is_email_address(std::string_view text) {
  auto at = text.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) return false;
  return std::none_of(text.begin(), text.end(), [](char c) {
    return is_control(c) || c == ' ' || c == '<' || c == '>' || c == ',' || c == '"';
  });
}

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3))
      text.replace(at, secret.size(), "***");
  }
  return text;
}

}  // namespace processpype::communications
