#pragma once

// How ProcessPype's HTTP server reads requests, in one place: the limits of
// docs/configuration.md (`server.limits`) answered with a status instead of
// a silently closed connection, and malformed HTTP answered 400. The server
// uses it, and so does the HTTP fuzzer, which feeds raw bytes through the
// same parser and callbacks. Internal to the rest library.
//
// RESTinio closes a connection without a reply when a request breaks one
// of its limits or the parser fails. These parser callbacks keep parsing
// but stop buffering past a limit and mark the request instead (a header
// name clients cannot send: http_parser refuses a '/' in a field name, even
// built lenient, as Debian's is, where a space passes); the handler answers
// the mark with 413, 414 or 431 and the connection stays usable. A parser
// error is answered 400 (431 for a header section over http_parser's own
// limit), after the responses to the earlier requests of the connection,
// then the connection closes, as nginx does.

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <restinio/all.hpp>

namespace processpype::rest {

/// Same methods as RESTinio's default; distinct types so that the parser
/// callbacks and connection code below apply to ProcessPype's server only.
struct LimitedHttpMethods : restinio::default_http_methods_t {};

namespace parsing {

/// The mark of a request that broke a limit; its value is the status.
inline constexpr const char* refusal_field = "processpype/refused";
/// The mark of a refusal after which the connection must close.
inline constexpr const char* close_field = "processpype/close";

inline restinio::impl::http_parser_ctx_t& context_of(http_parser* parser) {
  return *reinterpret_cast<restinio::impl::http_parser_ctx_t*>(parser->data);
}

inline bool refused(restinio::impl::http_parser_ctx_t& context) {
  return context.m_header.has_field(refusal_field);
}

inline void refuse(restinio::impl::http_parser_ctx_t& context, int status) {
  if (!refused(context)) context.m_header.set_field(refusal_field, std::to_string(status));
  context.m_body.clear();
  context.m_body.shrink_to_fit();
}

// The limits travel in RESTinio's own per-server incoming_http_msg_limits_t:
// max_url_size, max_field_value_size (all header bytes), max_body_size.

inline int url(http_parser* parser, const char* at, std::size_t length) {
  auto& context = context_of(parser);
  if (refused(context)) return 0;
  if (context.m_header.request_target().size() + length > context.m_limits.max_url_size()) {
    refuse(context, 414);
    return 0;
  }
  return restinio::impl::restinio_url_cb(parser, at, length);
}

// The header limit is kept by `execute` below, which never lets the parser
// see more of a request's head than the limit.

inline int header_field(http_parser* parser, const char* at, std::size_t length) {
  if (refused(context_of(parser))) return 0;
  return restinio::impl::restinio_header_field_cb(parser, at, length);
}

inline int header_value(http_parser* parser, const char* at, std::size_t length) {
  if (refused(context_of(parser))) return 0;
  return restinio::impl::restinio_header_value_cb(parser, at, length);
}

/// http_parser: "return 1 to skip the body".
inline constexpr int skip_body = 1;

/// The most body bytes over max_body_bytes read (and dropped) to keep a
/// connection open after its 413.
inline constexpr std::uint64_t max_dropped_body_bytes = 256 * 1024;

inline int headers_complete(http_parser* parser) {
  auto& context = context_of(parser);
  auto length = parser->content_length;
  bool declared_too_large = length != ULLONG_MAX && length > context.m_limits.max_body_size();
  if (declared_too_large) parser->content_length = 0;  // RESTinio would reserve it
  bool was_refused = refused(context);
  int result = restinio::impl::restinio_headers_complete_cb(parser);
  if (!declared_too_large) return result;
  parser->content_length = length;
  if (!was_refused) refuse(context, 413);
  // Answered at once, without the body, and the connection closes (a body
  // sent anyway would read as the next request), when the client asked
  // "Expect: 100-continue" (it sends the body only when told to) or the
  // body is too long to read and drop. A shorter one is read and dropped,
  // and the connection stays usable for the requests behind it (as Go's
  // net/http does, with the same bound).
  bool answer_now = context.m_header.has_field(restinio::http_field::expect) ||
                    length - context.m_limits.max_body_size() > max_dropped_body_bytes;
  if (result == 0 && answer_now) {
    context.m_header.set_field(close_field, "1");
    return skip_body;
  }
  return result;
}

inline int body(http_parser* parser, const char* at, std::size_t length) {
  auto& context = context_of(parser);
  if (refused(context)) return 0;
  if (context.m_body.size() + length > context.m_limits.max_body_size()) {
    refuse(context, 413);
    return 0;
  }
  return restinio::impl::restinio_body_cb(parser, at, length);
}

inline int chunk_header(http_parser* parser) {
  if (refused(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_header_cb(parser);
}

inline int chunk_complete(http_parser* parser) {
  if (refused(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_complete_cb(parser);
}

/// What a request that broke a limit gets: status and detail, and whether
/// the connection closes after it.
struct Refusal {
  int status;
  std::string detail;
  bool close = false;
};

/// The refusal marked on `header`, if any; removes the mark.
inline std::optional<Refusal> take_refusal(restinio::http_request_header_t& header,
                                           const restinio::incoming_http_msg_limits_t& limits) {
  auto mark = header.opt_value_of(refusal_field);
  if (!mark) return std::nullopt;
  int status = 0;
  std::from_chars(mark->data(), mark->data() + mark->size(), status);
  header.remove_field(refusal_field);
  bool close = header.has_field(close_field);
  header.remove_field(close_field);
  switch (status) {
    case 413:
      return Refusal{
          413, "Request body exceeds " + std::to_string(limits.max_body_size()) + " bytes", close};
    case 414:
      return Refusal{414,
                     "Request URL exceeds " + std::to_string(limits.max_url_size()) + " bytes"};
    default:
      return Refusal{431, "Request headers exceed " +
                              std::to_string(limits.max_field_value_size()) + " bytes"};
  }
}

/// http_parser_execute, keeping the header limit: while a request's head is
/// incomplete the parser gets at most max_header_bytes of it (the request
/// line, the header lines and the blank line, as http_parser counts them
/// in nread). A longer head is marked 431 and parsed on without being kept,
/// so that the request is answered and the connection stays usable.
inline std::size_t execute(http_parser& parser, const http_parser_settings& settings,
                           const char* data, std::size_t length) {
  auto& context = context_of(&parser);
  auto limit = context.m_limits.max_field_value_size();
  std::size_t parsed = 0;
  if (!context.m_leading_headers_completed && !refused(context) && parser.nread < limit) {
    auto allowed = std::min<std::size_t>(length, limit - parser.nread);
    parsed = http_parser_execute(&parser, &settings, data, allowed);
    // Stopped early (a whole request, or an error), or everything was fed.
    if (parsed < allowed || HTTP_PARSER_ERRNO(&parser) != HPE_OK || allowed == length)
      return parsed;
  }
  if (!context.m_leading_headers_completed && !refused(context)) refuse(context, 431);
  return parsed + http_parser_execute(&parser, &settings, data + parsed, length - parsed);
}

/// The limits RESTinio's context carries for the callbacks above
/// (max_field_value_size: all header bytes); its own checks (field count,
/// name and value size) never come first, as `execute` feeds no more.
inline restinio::incoming_http_msg_limits_t message_limits(std::size_t max_body_bytes,
                                                           std::size_t max_header_bytes,
                                                           std::size_t max_url_bytes) {
  return restinio::incoming_http_msg_limits_t{}
      .max_url_size(max_url_bytes)
      .max_field_name_size(max_header_bytes + 1)
      .max_field_value_size(max_header_bytes)
      .max_body_size(max_body_bytes);
}

/// The reply to a request the parser could not read.
inline std::string malformed_request_response(http_parser& parser) {
  auto error = HTTP_PARSER_ERRNO(&parser);
  bool headers_overflow = error == HPE_HEADER_OVERFLOW;
  std::string body =
      std::string{R"({"detail":")"} +
      (headers_overflow ? "Request headers are too large"
                        : std::string{"Malformed HTTP request: "} + http_errno_description(error)) +
      R"("})";
  return std::string{headers_overflow ? "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                      : "HTTP/1.1 400 Bad Request\r\n"} +
         "Connection: close\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace parsing
}  // namespace processpype::rest

template <>
inline http_parser_settings
restinio::impl::create_parser_settings<processpype::rest::LimitedHttpMethods>() noexcept {
  namespace parsing = processpype::rest::parsing;
  auto settings = create_parser_settings<restinio::default_http_methods_t>();
  settings.on_url = &parsing::url;
  settings.on_header_field = &parsing::header_field;
  settings.on_header_value = &parsing::header_value;
  settings.on_headers_complete = &parsing::headers_complete;
  settings.on_body = &parsing::body;
  settings.on_chunk_header = &parsing::chunk_header;
  settings.on_chunk_complete = &parsing::chunk_complete;
  return settings;
}

/// RESTinio's consume_data, except that a parser error is answered (see the
/// top of this file) and the header limit is kept (`execute`). An explicit
/// specialization, for each of ProcessPype's connection types (server.cpp),
/// of a member of RESTinio's connection class: it has to reach the
/// connection's internals, and must be seen before the connection type is
/// used.
#define PROCESSPYPE_ANSWER_MALFORMED_REQUESTS(Traits)                                             \
  template <>                                                                                     \
  inline void restinio::impl::connection_t<Traits>::consume_data(const char* data,                \
                                                                 std::size_t length) {            \
    auto& parser = m_input.m_parser;                                                              \
    const auto parsed =                                                                           \
        processpype::rest::parsing::execute(parser, m_settings->m_parser_settings, data, length); \
    m_input.m_buf.consumed_bytes(parsed);                                                         \
    if (HPE_OK != parser.http_errno && HPE_PAUSED != parser.http_errno) {                         \
      /* Nothing after a malformed request is read: parsed again, it would */                     \
      /* be answered a second time. */                                                            \
      m_input.m_buf.consumed_bytes(m_input.m_buf.length());                                       \
      if (m_response_coordinator.is_full() || m_response_coordinator.closed()) {                  \
        trigger_error_and_close([&] {                                                             \
          return fmt::format("[connection:{}] parser error {}", connection_id(),                  \
                             http_errno_name(HTTP_PARSER_ERRNO(&parser)));                        \
        });                                                                                       \
        return;                                                                                   \
      }                                                                                           \
      writable_items_container_t reply;                                                           \
      reply.emplace_back(processpype::rest::parsing::malformed_request_response(parser));         \
      write_response_parts_impl(                                                                  \
          m_response_coordinator.register_new_request(),                                          \
          response_output_flags_t{response_parts_attr_t::final_parts,                             \
                                  response_connection_attr_t::connection_close},                  \
          write_group_t{std::move(reply)});                                                       \
      return;                                                                                     \
    }                                                                                             \
    if (m_input.m_parser_ctx.m_message_complete)                                                  \
      on_request_message_complete();                                                              \
    else                                                                                          \
      consume_message();                                                                          \
  }
