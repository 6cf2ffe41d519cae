#pragma once

// RESTinio settings of ProcessPype's HTTP server, in one place: the server
// uses them, and so does the REST benchmark's bare baseline, which must run
// with the same settings. Internal to the rest library (RESTinio stays out of
// the public headers).

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>

#include <restinio/all.hpp>

namespace processpype::rest {

/// Bodies larger than this are answered 413 and never buffered past it.
constexpr std::size_t max_body_bytes = 1024 * 1024;

/// Same methods as RESTinio's default; a distinct type so that the parser
/// callbacks below are specialized for ProcessPype's server only.
struct BodyLimitedHttpMethods : restinio::default_http_methods_t {};

namespace body_limit {

/// Marks a request whose body passed max_body_bytes. Set by the parser
/// callbacks below (a client sending it is overridden), read by the handler.
inline constexpr const char* too_large_field = "X-ProcessPype-Body-Too-Large";

inline restinio::impl::http_parser_ctx_t& context_of(http_parser* parser) {
  return *reinterpret_cast<restinio::impl::http_parser_ctx_t*>(parser->data);
}

inline bool too_large(restinio::impl::http_parser_ctx_t& context) {
  return context.m_header.has_field(too_large_field);
}

inline void mark_too_large(restinio::impl::http_parser_ctx_t& context) {
  if (!too_large(context)) context.m_header.set_field(too_large_field, "true");
  context.m_body.clear();
  context.m_body.shrink_to_fit();
}

// RESTinio's own limit closes the connection without a response. These
// callbacks keep parsing but stop buffering past the limit, so the handler
// can answer 413 and the connection stays usable.

inline int headers_complete(http_parser* parser) {
  auto& context = context_of(parser);
  context.m_header.remove_field(too_large_field);
  auto length = parser->content_length;
  bool declared_too_large = length != ULLONG_MAX && length > max_body_bytes;
  if (declared_too_large) parser->content_length = 0;  // RESTinio would reserve it
  int result = restinio::impl::restinio_headers_complete_cb(parser);
  if (declared_too_large) {
    parser->content_length = length;
    mark_too_large(context);
  }
  return result;
}

inline int body(http_parser* parser, const char* at, std::size_t length) {
  auto& context = context_of(parser);
  if (too_large(context)) return 0;
  if (context.m_body.size() + length > max_body_bytes) {
    mark_too_large(context);
    return 0;
  }
  return restinio::impl::restinio_body_cb(parser, at, length);
}

inline int chunk_header(http_parser* parser) {
  if (too_large(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_header_cb(parser);
}

inline int chunk_complete(http_parser* parser) {
  if (too_large(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_complete_cb(parser);
}

}  // namespace body_limit
}  // namespace processpype::rest

template <>
inline http_parser_settings
restinio::impl::create_parser_settings<processpype::rest::BodyLimitedHttpMethods>() noexcept {
  namespace limit = processpype::rest::body_limit;
  auto settings = create_parser_settings<restinio::default_http_methods_t>();
  settings.on_headers_complete = &limit::headers_complete;
  settings.on_body = &limit::body;
  settings.on_chunk_header = &limit::chunk_header;
  settings.on_chunk_complete = &limit::chunk_complete;
  return settings;
}

namespace processpype::rest {

struct ServerTraits : restinio::default_traits_t {
  using http_methods_mapper_t = BodyLimitedHttpMethods;
};

using HttpServer = restinio::http_server_t<ServerTraits>;

/// Whether the request's body passed max_body_bytes (and was dropped).
inline bool body_too_large(const restinio::request_t& request) {
  return request.header().has_field(body_limit::too_large_field);
}

/// The server's settings besides address, port and handler.
template <class Settings>
Settings& apply_server_settings(Settings& settings) {
  // A start or stop answers when the transition ends, which the service
  // bounds with its own timeouts.
  return settings.handle_request_timeout(std::chrono::hours(24));
}

inline restinio::http_status_line_t status_line(int status) {
  auto reason = [status]() -> const char* {
    switch (status) {
      case 200:
        return "OK";
      case 400:
        return "Bad Request";
      case 404:
        return "Not Found";
      case 405:
        return "Method Not Allowed";
      case 409:
        return "Conflict";
      case 413:
        return "Payload Too Large";
      case 422:
        return "Unprocessable Entity";
      case 500:
        return "Internal Server Error";
      case 503:
        return "Service Unavailable";
      case 504:
        return "Gateway Timeout";
      default:
        return status < 400 ? "OK" : "Error";
    }
  }();
  return restinio::http_status_line_t{
      restinio::http_status_code_t{static_cast<std::uint16_t>(status)}, reason};
}

}  // namespace processpype::rest
