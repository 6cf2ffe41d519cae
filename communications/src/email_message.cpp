#include "email_message.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "processpype/runtime/service_status.hpp"
#include "text.hpp"

namespace processpype::communications {

namespace {

/// A subject longer than this is cut: a header line may not exceed 998
/// bytes, and no mail client shows more anyway.
constexpr std::size_t max_subject_bytes = 250;
/// RFC 2047: an encoded word is at most 75 characters; 45 bytes make 60 of
/// base64, plus `=?UTF-8?B?` and `?=`.
constexpr std::size_t encoded_word_bytes = 45;
/// RFC 5322: a line is at most 998 bytes before its CRLF.
constexpr std::size_t max_line_bytes = 998;
/// RFC 2045: base64 lines are at most 76 characters.
constexpr std::size_t base64_line_chars = 76;

/// `Subject: ...`, plain when it is printable ASCII, else encoded words
/// folded one per line, each cut on a UTF-8 character boundary.
std::string subject_header(std::string_view subject) {
  auto text = truncate_utf8(single_line(subject), max_subject_bytes);
  if (is_printable_ascii(text)) return "Subject: " + text + "\r\n";
  std::string header = "Subject:";
  for (std::size_t start = 0; start < text.size();) {
    auto end = std::min(start + encoded_word_bytes, text.size());
    while (end < text.size() && end > start + 1 && is_utf8_continuation(text[end])) --end;
    if (start > 0) header += "\r\n";
    header += " =?UTF-8?B?" + base64(std::string_view{text}.substr(start, end - start)) + "?=";
    start = end;
  }
  return header + "\r\n";
}

/// The addresses, one per folded line, so that a long list never makes an
/// over-long header line.
std::string to_header(const std::vector<std::string>& recipients) {
  std::string header = "To: ";
  for (std::size_t i = 0; i < recipients.size(); ++i)
    header += (i == 0 ? "" : ",\r\n ") + recipients[i];
  return header + "\r\n";
}

/// The message, then what a reader of an alert wants to know beside it.
std::string body_text(const EmailParts& parts) {
  const auto& message = parts.envelope.message;
  std::string text = message.message + "\n\n-- \n";
  auto line = [&](std::string_view name, std::string_view value) {
    if (!value.empty()) text += fmt::format("{}: {}\n", name, value);
  };
  line("Source", message.source);
  line("Severity", message.severity);
  line("Label", message.label);
  line("Node", parts.node);
  line("Time", format_utc(parts.envelope.time));
  if (!message.metadata.is_null() && !message.metadata.empty())
    line("Metadata", dump_json(message.metadata));
  return text;
}

/// Every line ending (LF, CR or CRLF) as CRLF, and a final CRLF.
std::string with_crlf(std::string_view text) {
  std::string result;
  result.reserve(text.size() + text.size() / 32 + 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' || text[i] == '\n') {
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      result += "\r\n";
    } else {
      result += text[i];
    }
  }
  if (!result.ends_with("\r\n")) result += "\r\n";
  return result;
}

/// Whether CRLF text can travel as 7bit: ASCII without NUL, no line over
/// the limit.
bool is_seven_bit(std::string_view text) {
  std::size_t line = 0;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte == 0 || byte >= 0x80) return false;
    line = c == '\n' ? 0 : line + 1;
    if (line > max_line_bytes + 1) return false;  // + 1: the CR before LF
  }
  return true;
}

std::string base64_lines(std::string_view bytes) {
  auto encoded = base64(bytes);
  std::string lines;
  for (std::size_t start = 0; start < encoded.size(); start += base64_line_chars)
    lines += encoded.substr(start, base64_line_chars) + "\r\n";
  return lines;
}

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? "localhost" : std::string(address.substr(at + 1));
}

}  // namespace

std::string compose_email(const EmailParts& parts) {
  const auto& message = parts.envelope.message;
  auto body = with_crlf(body_text(parts));
  bool seven_bit = is_seven_bit(body);
  std::string email;
  email += "Date: " + rfc5322_date(parts.envelope.time) + "\r\n";
  email += "From: " + std::string(parts.from_address) + "\r\n";
  email += to_header(parts.recipients);
  email += subject_header(subject_of(message));
  email += "Message-ID: " + std::string(parts.message_id) + "\r\n";
  email += "MIME-Version: 1.0\r\n";
  email += "Content-Type: text/plain; charset=utf-8\r\n";
  email += std::string("Content-Transfer-Encoding: ") + (seven_bit ? "7bit" : "base64") + "\r\n";
  email += "\r\n";
  email += seven_bit ? body : base64_lines(body);
  return email;
}

std::string make_message_id(std::string_view from_address,
                            std::chrono::system_clock::time_point time, std::uint64_t identity) {
  auto milliseconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  return fmt::format("<{}.{:016x}@{}>", milliseconds, identity, domain_of(from_address));
}

std::string rfc5322_date(std::chrono::system_clock::time_point time) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", days[utc.tm_wday], utc.tm_mday,
                     months[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

}  // namespace processpype::communications
