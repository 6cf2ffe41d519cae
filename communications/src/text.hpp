#pragma once

// Text shared by the transports: how a message reads when it has no
// subject, UTF-8-safe cuts, base64, addresses, and the scrubbing of secrets
// out of log lines. Internal to processpype_communications.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/communications/message.hpp"

namespace processpype::communications {

/// `[<severity>] <source>: ` (`[<severity>] ` without a source): what starts
/// a message's text where no subject says where it comes from.
std::string headline_prefix(const Message& message);

/// The subject, or `[<severity>] <source>: <first line of the message>` (the
/// line cut to a reasonable length) when it is empty.
std::string subject_of(const Message& message);

/// Whether `c` is the second, third or fourth byte of a UTF-8 character.
inline bool is_utf8_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

/// `text` cut to at most `max_bytes` bytes on a UTF-8 character boundary,
/// with "..." at the end when something was cut.
std::string truncate_utf8(std::string_view text, std::size_t max_bytes);

/// `text` with every CR, LF and other control character replaced by a space
/// (a header's value must stay on its line).
std::string single_line(std::string_view text);

std::string base64(std::string_view bytes);

/// Whether every byte is printable ASCII or a space.
bool is_printable_ascii(std::string_view text);

/// A bare address `local@domain`: no spaces, no angle brackets, no control
/// characters, one `@` with text on both sides.
bool is_email_address(std::string_view text);

/// JSON text that invalid UTF-8 in a message cannot make throw (such bytes
/// become U+FFFD).
std::string dump_json(const nlohmann::json& value);

/// `text` with every occurrence of each (non-empty) secret replaced by `***`.
std::string redact(std::string text, const std::vector<std::string>& secrets);

}  // namespace processpype::communications
