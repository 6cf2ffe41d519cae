#pragma once

// An RFC 5322 message for a Message: the headers (Date, From, To, Subject,
// Message-ID, MIME) and a text/plain UTF-8 body. Internal to
// processpype_communications.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transport.hpp"

namespace processpype::communications {

struct EmailParts {
  const Envelope& envelope;
  std::string_view from_address;
  const std::vector<std::string>& recipients;
  std::string_view node;
  std::string_view message_id;  ///< with its angle brackets
};

/// The whole message, CRLF line endings, ready for SMTP's DATA (libcurl
/// escapes a line that starts with a dot). Subject and body travel as
/// UTF-8: an encoded word (RFC 2047) for a subject that is not plain ASCII,
/// base64 for a body that is not 7-bit text with short lines.
std::string compose_email(const EmailParts& parts);

/// `<milliseconds.identity@domain of from_address>`: unique per message
/// (the envelope's random identity), the same for each of its attempts.
std::string make_message_id(std::string_view from_address,
                            std::chrono::system_clock::time_point time, std::uint64_t identity);

/// RFC 5322's date: `Sat, 05 Dec 2026 03:09:45 +0000` (always UTC).
std::string rfc5322_date(std::chrono::system_clock::time_point time);

}  // namespace processpype::communications
