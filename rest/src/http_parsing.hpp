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
// name clients cannot send, as it holds a space); the handler answers the
// mark with 413, 414 or 431 and the connection stays usable. A parser
// error is answered 400 (431 for a header section over http_parser's own
// limit) when no earlier request of the connection awaits its response,
// then the connection closes, as nginx does.

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
inline constexpr const char* refusal_field = "processpype refused";

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

/// http_parser counts the bytes of the request line and headers in nread.
inline bool headers_too_large(http_parser* parser, std::size_t length) {
  return parser->nread + length > context_of(parser).m_limits.max_field_value_size();
}

inline int header_field(http_parser* parser, const char* at, std::size_t length) {
  auto& context = context_of(parser);
  if (refused(context)) return 0;
  if (headers_too_large(parser, length)) {
    refuse(context, 431);
    return 0;
  }
  return restinio::impl::restinio_header_field_cb(parser, at, length);
}

inline int header_value(http_parser* parser, const char* at, std::size_t length) {
  auto& context = context_of(parser);
  if (refused(context)) return 0;
  if (headers_too_large(parser, length)) {
    refuse(context, 431);
    return 0;
  }
  return restinio::impl::restinio_header_value_cb(parser, at, length);
}

inline int headers_complete(http_parser* parser) {
  auto& context = context_of(parser);
  auto length = parser->content_length;
  bool declared_too_large = length != ULLONG_MAX && length > context.m_limits.max_body_size();
  if (declared_too_large) parser->content_length = 0;  // RESTinio would reserve it
  bool was_refused = refused(context);
  int result = restinio::impl::restinio_headers_complete_cb(parser);
  if (declared_too_large) {
    parser->content_length = length;
    if (!was_refused) refuse(context, 413);
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

/// What a request that broke a limit gets: status and detail.
struct Refusal {
  int status;
  std::string detail;
};

/// The refusal marked on `header`, if any; removes the mark.
inline std::optional<Refusal> take_refusal(restinio::http_request_header_t& header,
                                           const restinio::incoming_http_msg_limits_t& limits) {
  auto mark = header.opt_value_of(refusal_field);
  if (!mark) return std::nullopt;
  int status = std::stoi(std::string{*mark});
  header.remove_field(refusal_field);
  switch (status) {
    case 413:
      return Refusal{413, "Request body exceeds " + std::to_string(limits.max_body_size()) +
                              " bytes"};
    case 414:
      return Refusal{414,
                     "Request URL exceeds " + std::to_string(limits.max_url_size()) + " bytes"};
    default:
      return Refusal{431, "Request headers exceed " +
                              std::to_string(limits.max_field_value_size()) + " bytes"};
  }
}

/// The limits RESTinio's context carries for the callbacks above; its own
/// checks (field count, name size) never come first.
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
  std::string body = std::string{R"({"detail":")"} +
                     (headers_overflow ? "Request headers are too large"
                                       : std::string{"Malformed HTTP request: "} +
                                             http_errno_description(error)) +
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

namespace processpype::rest {

/// The traits of ProcessPype's plain HTTP server: the callbacks above and a
/// limit on open connections.
struct ServerTraits : restinio::default_traits_t {
  using http_methods_mapper_t = LimitedHttpMethods;
  static constexpr bool use_connection_count_limiter = true;
};

}  // namespace processpype::rest

/// RESTinio's consume_data, except that a parser error is answered (see the
/// top of this file). An explicit specialization, for each of ProcessPype's
/// connection types, of a member of RESTinio's connection class: it has to
/// reach the connection's internals, and must be seen before the
/// connection type is used.
#define PROCESSPYPE_ANSWER_MALFORMED_REQUESTS(Traits)                                          \
  template <>                                                                                  \
  inline void restinio::impl::connection_t<Traits>::consume_data(const char* data,             \
                                                                 std::size_t length) {         \
    auto& parser = m_input.m_parser;                                                           \
    const auto parsed = http_parser_execute(&parser, &(m_settings->m_parser_settings), data,   \
                                            length);                                           \
    m_input.m_buf.consumed_bytes(parsed);                                                      \
    if (HPE_OK != parser.http_errno && HPE_PAUSED != parser.http_errno) {                      \
      if (!m_response_coordinator.empty() || m_response_coordinator.closed()) {                \
        trigger_error_and_close([&] {                                                          \
          return fmt::format("[connection:{}] parser error {}", connection_id(),               \
                             http_errno_name(HTTP_PARSER_ERRNO(&parser)));                     \
        });                                                                                    \
        return;                                                                                \
      }                                                                                        \
      writable_items_container_t reply;                                                        \
      reply.emplace_back(processpype::rest::parsing::malformed_request_response(parser));       \
      write_response_parts_impl(                                                               \
          m_response_coordinator.register_new_request(),                                       \
          response_output_flags_t{response_parts_attr_t::final_parts,                          \
                                  response_connection_attr_t::connection_close},               \
          write_group_t{std::move(reply)});                                                    \
      return;                                                                                  \
    }                                                                                          \
    if (m_input.m_parser_ctx.m_message_complete)                                               \
      on_request_message_complete();                                                           \
    else                                                                                       \
      consume_message();                                                                       \
  }

PROCESSPYPE_ANSWER_MALFORMED_REQUESTS(processpype::rest::ServerTraits)
