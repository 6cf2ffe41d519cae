// RESTinio 0.6 behind one door (restinio_adapter.hpp). Each patch of
// RESTinio's behaviour below says which upstream behaviour it replaces and
// why; docs/security.md lists what a client observes.

#include "restinio_adapter.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <future>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include <sys/socket.h>

#include <restinio/all.hpp>
#include <restinio/tls.hpp>

#include "client_departures.hpp"
#include "processpype/rest/json_mapping.hpp"
#include "processpype/runtime/durations.hpp"

static_assert(RESTINIO_VERSION_MAJOR == 0 && RESTINIO_VERSION_MINOR == 6,
              "restinio_adapter.cpp patches RESTinio 0.6's internals: check each patch against "
              "the new version before changing this line");

namespace processpype::rest {

/// The HTTP methods of RESTinio's default; a type of our own, so that the
/// parser callbacks and the connection patches below apply to ProcessPype's
/// servers only.
struct LimitedHttpMethods : restinio::default_http_methods_t {};

class OpenStreams;

/// The traits of the plain HTTP server: our parser callbacks, a limit on
/// open connections, and streams that learn when their client leaves.
struct ServerTraits : restinio::default_traits_t {
  using http_methods_mapper_t = LimitedHttpMethods;
  using connection_state_listener_t = OpenStreams;
  static constexpr bool use_connection_count_limiter = true;
};

/// The traits of the HTTPS server: as ServerTraits, over TLS.
struct TlsServerTraits
    : restinio::tls_traits_t<restinio::asio_timer_manager_t, restinio::null_logger_t> {
  using http_methods_mapper_t = LimitedHttpMethods;
  using connection_state_listener_t = OpenStreams;
  static constexpr bool use_connection_count_limiter = true;
};

/// An io_context whose handlers can be destroyed before it is.
class ServerIoContext : public restinio::asio_ns::io_context {
 public:
  /// Destroys every pending handler (with the connections they hold).
  using restinio::asio_ns::io_context::shutdown;
};

/// What RESTinio's connections cannot carry for their server: the TLS
/// handshake's time limit, kept as an Asio service of the listener's
/// io_context (so each server has its own), where the handshake patch
/// below finds it from the socket's executor.
class HandshakeLimit : public restinio::asio_ns::execution_context::service {
 public:
  static restinio::asio_ns::execution_context::id id;

  explicit HandshakeLimit(restinio::asio_ns::execution_context& context) : service(context) {}

  std::chrono::steady_clock::duration timeout = std::chrono::seconds(10);

 private:
  void shutdown() override {}
};

restinio::asio_ns::execution_context::id HandshakeLimit::id;

/// The listener's lingering closes (patch 6), kept as an Asio service of its
/// io_context, where a connection's close() finds them from its socket.
class LingeringCloses : public restinio::asio_ns::execution_context::service {
 public:
  static restinio::asio_ns::execution_context::id id;

  explicit LingeringCloses(restinio::asio_ns::execution_context& context) : service(context) {}

  /// Null: a connection closes at once.
  std::shared_ptr<ClientDepartures> departures;
  /// nginx's lingering_timeout.
  static constexpr auto at_most = std::chrono::seconds(5);

 private:
  void shutdown() override {}
};

restinio::asio_ns::execution_context::id LingeringCloses::id;

/// The listener's RefusalHandler, kept as an Asio service of its io_context,
/// where a connection's consume_data (patch 1) finds it from its socket.
class ListenerRefusals : public restinio::asio_ns::execution_context::service {
 public:
  static restinio::asio_ns::execution_context::id id;

  explicit ListenerRefusals(restinio::asio_ns::execution_context& context) : service(context) {}

  RefusalHandler handler;

 private:
  void shutdown() override {}
};

restinio::asio_ns::execution_context::id ListenerRefusals::id;

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 422:
      return "Unprocessable Entity";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

/// `response` as the bytes of an HTTP/1.1 response.
std::string raw_response(const HttpResponse& response) {
  auto raw = fmt::format("HTTP/1.1 {} {}\r\n", response.status, reason_phrase(response.status));
  if (response.close_connection) raw += "Connection: close\r\n";
  raw += "Content-Type: " + response.content_type + "\r\n";
  for (const auto& [name, value] : response.headers) raw += name + ": " + value + "\r\n";
  raw += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
  return raw + response.body;
}

std::string endpoint_text(const restinio::endpoint_t& endpoint) {
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

/// Answers `response` through `refusals`, or as it is when there are none.
void answer_refusal(const RefusalHandler& refusals, const ExchangePtr& exchange,
                    HttpResponse response) {
  if (refusals)
    refusals(exchange, std::move(response));
  else
    exchange->respond(std::move(response));
}

}  // namespace

// -- patch 1: limits answered, not a closed connection -------------------------------
//
// Upstream: a request that breaks one of RESTinio's limits, or that
// http_parser cannot read, makes the connection close without a reply.
// Here the parser callbacks keep parsing past a limit without buffering and
// mark the request instead (with a header name clients cannot send:
// http_parser refuses a '/' in a field name, even built lenient, as
// Debian's is, where a space passes); the request handler answers the mark
// with 413, 414 or 431 and the connection stays usable. A parser error is
// answered 400 (431 for a header section over http_parser's own limit),
// after the responses to the earlier requests of the connection, then the
// connection closes, as nginx does. Every such refusal goes through the
// listener's RefusalHandler, which answers it as any response (the Api
// counts and logs it). The limits travel in RESTinio's own
// per-server incoming_http_msg_limits_t: max_url_size, max_field_value_size
// (all header bytes), max_body_size.

namespace parsing {

/// The mark of a request that broke a limit; its value is the status.
constexpr const char* refusal_field = "processpype/refused";
/// The mark of a refusal after which the connection must close.
constexpr const char* close_field = "processpype/close";
/// The mark of a request answered `100 Continue`.
constexpr const char* continued_field = "processpype/continued";

restinio::impl::http_parser_ctx_t& context_of(http_parser* parser) {
  return *reinterpret_cast<restinio::impl::http_parser_ctx_t*>(parser->data);
}

bool refused(restinio::impl::http_parser_ctx_t& context) {
  return context.m_header.has_field(refusal_field);
}

void refuse(restinio::impl::http_parser_ctx_t& context, int status) {
  if (!refused(context)) context.m_header.set_field(refusal_field, std::to_string(status));
  context.m_body.clear();
  context.m_body.shrink_to_fit();
}

int url(http_parser* parser, const char* at, std::size_t length) {
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

int header_field(http_parser* parser, const char* at, std::size_t length) {
  if (refused(context_of(parser))) return 0;
  return restinio::impl::restinio_header_field_cb(parser, at, length);
}

int header_value(http_parser* parser, const char* at, std::size_t length) {
  if (refused(context_of(parser))) return 0;
  return restinio::impl::restinio_header_value_cb(parser, at, length);
}

/// http_parser: "return 1 to skip the body".
constexpr int skip_body = 1;

/// The most body bytes over max_body_bytes read (and dropped) to keep a
/// connection open after its 413.
constexpr std::uint64_t max_dropped_body_bytes = 256 * 1024;

int headers_complete(http_parser* parser) {
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

int body(http_parser* parser, const char* at, std::size_t length) {
  auto& context = context_of(parser);
  if (refused(context)) return 0;
  if (context.m_body.size() + length > context.m_limits.max_body_size()) {
    refuse(context, 413);
    return 0;
  }
  return restinio::impl::restinio_body_cb(parser, at, length);
}

int chunk_header(http_parser* parser) {
  if (refused(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_header_cb(parser);
}

int chunk_complete(http_parser* parser) {
  if (refused(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_complete_cb(parser);
}

/// The refusal marked on `header`, if any. The marks stay on the header:
/// a refused request is answered here and goes nowhere else.
std::optional<RequestReader::Refusal> refusal_of(
    const restinio::http_request_header_t& header,
    const restinio::incoming_http_msg_limits_t& limits) {
  auto mark = header.opt_value_of(refusal_field);
  if (!mark) return std::nullopt;
  int status = 0;
  std::from_chars(mark->data(), mark->data() + mark->size(), status);
  bool close = header.has_field(close_field);
  switch (status) {
    case 413:
      return RequestReader::Refusal{
          413, "Request body exceeds " + std::to_string(limits.max_body_size()) + " bytes", close};
    case 414:
      return RequestReader::Refusal{
          414, "Request URL exceeds " + std::to_string(limits.max_url_size()) + " bytes"};
    default:
      return RequestReader::Refusal{
          431,
          "Request headers exceed " + std::to_string(limits.max_field_value_size()) + " bytes"};
  }
}

/// http_parser_execute, keeping the header limit: while a request's head is
/// incomplete the parser gets at most max_header_bytes of it (the request
/// line, the header lines and the blank line, as http_parser counts them
/// in nread). A longer head is marked 431 and parsed on without being kept,
/// so that the request is answered and the connection stays usable.
std::size_t execute(http_parser& parser, const http_parser_settings& settings, const char* data,
                    std::size_t length) {
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
restinio::incoming_http_msg_limits_t message_limits(const ServerLimits& limits) {
  return restinio::incoming_http_msg_limits_t{}
      .max_url_size(limits.max_url_bytes)
      .max_field_name_size(limits.max_header_bytes + 1)
      .max_field_value_size(limits.max_header_bytes)
      .max_body_size(limits.max_body_bytes);
}

/// Whether to answer `100 Continue` now, once for each request: its head
/// is read, it asked `Expect: 100-continue` over HTTP/1.1, a body is to
/// come and it is within the limits (over them it is refused: 413 at once,
/// `headers_complete`). Marks the request when it returns true.
bool continue_now(http_parser& parser) {
  auto& context = context_of(&parser);
  if (!context.m_leading_headers_completed || context.m_message_complete || refused(context) ||
      context.m_header.has_field(continued_field) || parser.http_major != 1 ||
      parser.http_minor < 1)
    return false;
  auto expect = context.m_header.opt_value_of(restinio::http_field::expect);
  constexpr std::string_view wanted = "100-continue";
  if (!expect || expect->size() != wanted.size() ||
      !std::equal(expect->begin(), expect->end(), wanted.begin(), [](char left, char right) {
        return std::tolower(static_cast<unsigned char>(left)) == right;
      }))
    return false;
  context.m_header.set_field(continued_field, "1");
  return true;
}

/// The refusal of a request the parser could not read.
HttpResponse malformed_request_response(http_parser& parser) {
  auto error = HTTP_PARSER_ERRNO(&parser);
  if (error == HPE_HEADER_OVERFLOW)
    return {431, "application/json", {}, error_body("Request headers are too large"), true};
  return {400,
          "application/json",
          {},
          error_body(std::string{"Malformed HTTP request: "} + http_errno_description(error)),
          true};
}

/// What was read of a request the parser could not read: its method when
/// the parser kept its URL (which comes after the method), else "unknown",
/// and its X-Request-Id (docs/operations.md, "Request ids").
RecordedExchange::Request malformed_request(http_parser& parser, std::string peer) {
  const auto& header = context_of(&parser).m_header;
  RecordedExchange::Request request;
  request.method = header.request_target().empty()
                       ? "unknown"
                       : http_method_str(static_cast<http_method>(parser.method));
  request.path.clear();
  if (auto given = header.opt_value_of("X-Request-Id"))
    request.headers.emplace_back("X-Request-Id", std::string{given->data(), given->size()});
  request.peer = std::move(peer);
  return request;
}

/// The bytes that answer a request the parser could not read, as `refusals`
/// answers it (it answers before it returns).
std::string malformed_request_reply(http_parser& parser, std::string peer,
                                    const RefusalHandler& refusals) {
  auto answered = malformed_request_response(parser);
  auto exchange = std::make_shared<RecordedExchange>(
      malformed_request(parser, std::move(peer)),
      [&answered](const HttpResponse& response) { answered = response; });
  answer_refusal(refusals, exchange, answered);
  return raw_response(answered);
}

}  // namespace parsing
}  // namespace processpype::rest

/// Upstream: RESTinio's default callbacks. Here: the callbacks of patch 1.
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

// -- patch 6: a lingering close --------------------------------------------------------
//
// Upstream: connection_t::close() shuts the socket down both ways and closes
// it. A request refused before its body was read (413 "at once", patch 1)
// leaves that body on its way: the kernel answers it with a reset, and a
// client still sending gets "broken pipe" instead of reading the 413 that
// had arrived. Here the socket is shut down for sending only and a
// duplicate of it lingers (LingeringCloses, ClientDepartures::linger),
// reading and dropping what the client still sends, for up to 5 s or until
// it closes too, as nginx does. The rest is RESTinio's close(). Placed
// before patch 1's consume_data below, which calls close(): a member must be
// specialized before its first use.
#define PROCESSPYPE_LINGERING_CLOSE(Traits)                                             \
  template <>                                                                           \
  inline void restinio::impl::connection_t<Traits>::close() noexcept {                  \
    auto& tcp = m_socket.lowest_layer();                                                \
    restinio::utils::suppress_exceptions(m_logger, "connection.socket.linger", [&] {    \
      auto& context = asio_ns::query(tcp.get_executor(), asio_ns::execution::context);  \
      auto& closes = asio_ns::use_service<processpype::rest::LingeringCloses>(context); \
      if (closes.departures && tcp.is_open())                                           \
        closes.departures->linger(                                                      \
            processpype::rest::OwnedDescriptor::duplicate(tcp.native_handle()),         \
            processpype::rest::LingeringCloses::at_most);                               \
    });                                                                                 \
    restinio::utils::suppress_exceptions(m_logger, "connection.socket.shutdown", [&] {  \
      asio_ns::error_code ignored;                                                      \
      tcp.shutdown(asio_ns::ip::tcp::socket::shutdown_send, ignored);                   \
    });                                                                                 \
    restinio::utils::suppress_exceptions(m_logger, "connection.socket.close",           \
                                         [this] { m_socket.close(); });                 \
    RESTINIO_ENSURE_NOEXCEPT_CALL(cancel_timeout_checking());                           \
    RESTINIO_ENSURE_NOEXCEPT_CALL(m_response_coordinator.reset());                      \
    m_settings->call_state_listener_suppressing_exceptions([this]() noexcept {          \
      return connection_state::notice_t{this->connection_id(), this->m_remote_endpoint, \
                                        connection_state::closed_t{}};                  \
    });                                                                                 \
  }

PROCESSPYPE_LINGERING_CLOSE(processpype::rest::ServerTraits)
PROCESSPYPE_LINGERING_CLOSE(processpype::rest::TlsServerTraits)
#undef PROCESSPYPE_LINGERING_CLOSE

/// Upstream: connection_t::consume_data closes the connection on a parser
/// error. Here (patch 1) the error is answered and the header limit is kept
/// (`execute`). An explicit specialization of a member of RESTinio's
/// connection class, for each of our connection types: it has to reach the
/// connection's internals.
///
/// Patch 7, here too. Upstream: RESTinio never answers `Expect:
/// 100-continue`, so a client that waits for `100 Continue` before its body
/// stalls (curl waits 1 s, and asks for it itself for bodies over 1 MB).
/// Here a request within the limits that asks for it (`continue_now`) is
/// answered `100 Continue` as soon as its head is read, through the
/// connection's own write context: no response is being written then (one
/// request at a time), and a response that comes before the 100 is written
/// waits for it. Reading goes on at once; the body has read_timeout_seconds
/// from the end of that write (docs/security.md).
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
      auto& io =                                                                                  \
          asio_ns::query(m_socket.lowest_layer().get_executor(), asio_ns::execution::context);    \
      auto reply = processpype::rest::parsing::malformed_request_reply(                           \
          parser, processpype::rest::endpoint_text(m_remote_endpoint),                            \
          asio_ns::use_service<processpype::rest::ListenerRefusals>(io).handler);                 \
      /* Posted: this may run inside RESTinio's handling of the end of a */                       \
      /* write (a request that waited in the buffer), which goes on to  */                        \
      /* start the next write itself and must not find the connection   */                        \
      /* closed by a write begun here (an assertion in RESTinio).       */                        \
      asio_ns::post(this->get_executor(), [this, reply = std::move(reply),                        \
                                           ctx = shared_from_this()]() mutable noexcept {         \
        if (m_response_coordinator.closed()) return; /* closing anyway */                         \
        try {                                                                                     \
          writable_items_container_t parts;                                                       \
          parts.emplace_back(std::move(reply));                                                   \
          write_response_parts_impl(                                                              \
              m_response_coordinator.register_new_request(),                                      \
              response_output_flags_t{response_parts_attr_t::final_parts,                         \
                                      response_connection_attr_t::connection_close},              \
              write_group_t{std::move(parts)});                                                   \
        } catch (const std::exception&) {                                                         \
          close();                                                                                \
        }                                                                                         \
      });                                                                                         \
      return;                                                                                     \
    }                                                                                             \
    /* Patch 7 (above). */                                                                        \
    if (processpype::rest::parsing::continue_now(parser) && !m_write_output_ctx.transmitting() && \
        !m_response_coordinator.closed()) {                                                       \
      writable_items_container_t parts;                                                           \
      parts.emplace_back(std::string{"HTTP/1.1 100 Continue\r\n\r\n"});                           \
      m_init_read_after_this_write = false; /* reading goes on below */                           \
      m_write_output_ctx.start_next_write_group(write_group_t{std::move(parts)});                 \
      handle_current_write_ctx();                                                                 \
    }                                                                                             \
    if (m_input.m_parser_ctx.m_message_complete)                                                  \
      on_request_message_complete();                                                              \
    else                                                                                          \
      consume_message();                                                                          \
  }

PROCESSPYPE_ANSWER_MALFORMED_REQUESTS(processpype::rest::ServerTraits)
PROCESSPYPE_ANSWER_MALFORMED_REQUESTS(processpype::rest::TlsServerTraits)
#undef PROCESSPYPE_ANSWER_MALFORMED_REQUESTS

namespace restinio::impl {

// -- patch 2: a bounded TLS handshake ------------------------------------------------
//
// Upstream: RESTinio starts a connection's read timeout only once its TLS
// handshake is done, so a client that connects and sends nothing holds a
// connection slot forever. Here the handshake is bounded by the server's
// read timeout, which its io_context carries (HandshakeLimit). Found by
// ADL, more specialized than RESTinio's own overload.
template <typename Start_Read_CB, typename Failed_CB>
void prepare_connection_and_start_read(tls_socket_t& socket,
                                       connection_t<processpype::rest::TlsServerTraits>& connection,
                                       Start_Read_CB start_read, Failed_CB failed) {
  auto& context = asio_ns::query(socket.get_executor(), asio_ns::execution::context);
  auto timeout = asio_ns::use_service<processpype::rest::HandshakeLimit>(context).timeout;
  auto timer = std::make_shared<asio_ns::steady_timer>(socket.get_executor());
  timer->expires_after(timeout);
  // Both handlers run on the connection's strand: a handshake that ends as
  // the limit expires must not start its first read on one I/O thread while
  // the other closes the socket.
  auto& strand = connection.get_executor();
  timer->async_wait(asio_ns::bind_executor(
      strand, [&socket, keep = connection.shared_from_this()](const asio_ns::error_code& ec) {
        if (!ec)
          socket.lowest_layer().close();  // the handshake below fails and ends the connection
      }));
  socket.async_handshake(
      asio_ns::ssl::stream_base::server,
      asio_ns::bind_executor(strand,
                             [start_read = std::move(start_read), failed = std::move(failed), timer,
                              keep = connection.shared_from_this()](const asio_ns::error_code& ec) {
                               timer->cancel();
                               if (!ec)
                                 start_read();
                               else
                                 failed(ec);
                             }));
}

}  // namespace restinio::impl

namespace processpype::rest {

namespace {

restinio::http_status_line_t status_line(int status) {
  return restinio::http_status_line_t{
      restinio::http_status_code_t{static_cast<std::uint16_t>(status)}, reason_phrase(status)};
}

/// The most an event stream's socket holds unsent (the kernel doubles it).
/// Autotuning grows a send buffer to megabytes for a client that reads
/// nothing, and the kernel keeps it all until the stream is cut for being
/// behind (docs/supervision.md, "Events"); a reader that keeps up on a
/// busy node needs far less.
constexpr int stream_send_buffer_bytes = 128 * 1024;

void limit_send_buffer(const OwnedDescriptor& socket) {
  if (!socket) return;
  ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDBUF, &stream_send_buffer_bytes,
               sizeof stream_send_buffer_bytes);
}

/// Resets the connection of `socket` now: the kernel drops what it still
/// holds for the client. A plain close would leave it queued, orphaned,
/// for as long as a client that reads nothing keeps the connection open,
/// while its place among the streams is free for the next one.
void reset_connection(const OwnedDescriptor& socket) {
  if (!socket) return;
  // Whoever closes the socket last (RESTinio, a lingering close) resets...
  ::linger abortive{1, 0};
  ::setsockopt(socket.get(), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  // ...and a disconnect (connect to AF_UNSPEC) resets at once, whoever
  // still holds a descriptor of it; RESTinio's pending write then fails and
  // it closes the connection.
  ::sockaddr unspecified{};
  unspecified.sa_family = AF_UNSPEC;
  ::connect(socket.get(), &unspecified, sizeof unspecified);
}

template <class Builder>
void add_headers(Builder& builder, const HttpResponse& response) {
  builder.append_header(restinio::http_field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) builder.append_header(name, value);
}

}  // namespace

/// A response body written in pieces; RESTinio's builder is not thread-safe,
/// writers may come from any thread. The listener closes every stream before
/// it stops: a stream must not touch RESTinio once it is gone.
class RestinioStream final : public ResponseStream {
 public:
  /// `socket`: a duplicate of the connection's socket, for abort().
  RestinioStream(restinio::response_builder_t<restinio::chunked_output_t> builder,
                 OwnedDescriptor socket)
      : builder_(std::move(builder)), socket_(std::move(socket)) {}

  void write(std::string chunk, std::function<void(bool)> on_written) override {
    std::lock_guard lock{mutex_};
    if (closed_) {
      if (on_written) on_written(false);
      return;
    }
    builder_.append_chunk(std::move(chunk));
    builder_.flush([on_written = std::move(on_written)](const restinio::asio_ns::error_code& ec) {
      if (on_written) on_written(!ec);
    });
  }

  void close() override {
    std::unique_ptr<ClientDepartures::Watch> watch;
    OwnedDescriptor socket;
    std::lock_guard lock{mutex_};
    // Both end after the lock: the connection may close.
    watch = std::move(watch_);
    socket = std::move(socket_);
    if (std::exchange(closed_, true)) return;
    builder_.done();
  }

  void abort() override {
    OwnedDescriptor socket;
    {
      std::lock_guard lock{mutex_};
      socket = std::move(socket_);
    }
    reset_connection(socket);
    close();
  }

  /// Keeps `watch` (of this stream's client) while the stream is open.
  void keep(std::unique_ptr<ClientDepartures::Watch> watch) {
    std::lock_guard lock{mutex_};
    if (!closed_) std::swap(watch_, watch);
  }

  void on_client_gone(std::function<void()> listener) override {
    std::unique_lock lock{mutex_};
    if (!gone_) {
      on_gone_ = std::move(listener);
      return;
    }
    lock.unlock();
    listener();
  }

  /// The connection closed: nothing more is written, the listener runs.
  void client_gone() {
    std::function<void()> listener;
    std::unique_ptr<ClientDepartures::Watch> watch;
    OwnedDescriptor socket;
    {
      std::lock_guard lock{mutex_};
      closed_ = true;
      gone_ = true;
      listener = std::move(on_gone_);
      watch = std::move(watch_);
      socket = std::move(socket_);
    }
    if (listener) listener();
  }

 private:
  std::mutex mutex_;
  restinio::response_builder_t<restinio::chunked_output_t> builder_;
  bool closed_ = false;
  bool gone_ = false;
  std::function<void()> on_gone_;
  std::unique_ptr<ClientDepartures::Watch> watch_;
  OwnedDescriptor socket_;
};

/// A duplicate of the socket of a request's connection; none once its
/// response was created.
using SocketOf = OwnedDescriptor (*)(restinio::request_t& request);

/// The streams a listener has open, by connection: RESTinio tells it when a
/// connection closes (its connection state listener), so that a stream's
/// writer learns at once that its client left, and the listener closes the
/// rest before it stops. RESTinio reads no connection while its response is
/// in flight, so the departure of a stream's client is watched for here
/// (client_departures.hpp): the stream ends, RESTinio reads the end of the
/// connection and closes it.
class OpenStreams {
 public:
  OpenStreams(SocketOf socket_of, std::shared_ptr<ClientDepartures> departures)
      : socket_of_(socket_of), departures_(std::move(departures)) {}

  /// Before the stream's response is created (RESTinio hands the connection
  /// to it), while the request holds the connection open.
  OwnedDescriptor socket_of(restinio::request_t& request) const { return socket_of_(request); }

  void add(restinio::connection_id_t connection, const std::shared_ptr<RestinioStream>& stream,
           OwnedDescriptor socket) {
    bool stopped = false;
    {
      std::lock_guard lock{mutex_};
      stopped = stopped_;
      if (!stopped) streams_[connection] = stream;
    }
    if (stopped) {
      stream->close();  // opened while the listener stops: nobody else would
      return;
    }
    stream->keep(
        departures_->watch(std::move(socket), [weak = std::weak_ptr<RestinioStream>(stream)] {
          if (auto left = weak.lock()) left->close();
        }));
  }

  void state_changed(const restinio::connection_state::notice_t& notice) noexcept {
    if (!restinio::holds_alternative<restinio::connection_state::closed_t>(notice.cause())) return;
    std::shared_ptr<RestinioStream> stream;
    {
      std::lock_guard lock{mutex_};
      auto found = streams_.find(notice.connection_id());
      if (found == streams_.end()) return;
      stream = found->second.lock();
      streams_.erase(found);
    }
    if (stream) stream->client_gone();
  }

  /// Closes every stream, and each one opened from now on.
  void close_all() {
    std::unordered_map<restinio::connection_id_t, std::weak_ptr<RestinioStream>> streams;
    {
      std::lock_guard lock{mutex_};
      stopped_ = true;
      streams.swap(streams_);
    }
    for (const auto& [connection, weak] : streams)
      if (auto stream = weak.lock()) stream->close();
  }

  /// Once the listener's I/O threads have ended: no departure reaches a
  /// stream after that (nor RESTinio, whose io_context ends next).
  void stop_watching() { departures_->stop(); }

 private:
  std::mutex mutex_;
  std::unordered_map<restinio::connection_id_t, std::weak_ptr<RestinioStream>> streams_;
  bool stopped_ = false;
  SocketOf socket_of_;
  std::shared_ptr<ClientDepartures> departures_;
};

namespace {

// -- patch 3: responses written inside the handler wait for it -----------------------
//
// Upstream: RESTinio 0.6 loses pipelined requests when a response is
// written before the request handler returns (both the end of that write
// and the handler's return start reading the next request). Here a
// response written from inside the handler runs after it returns.

/// The io_context of the listener whose request handler runs on this thread,
/// null outside a handler.
thread_local restinio::asio_ns::io_context* running_handler = nullptr;

/// Marks this thread as running a request handler of `context`.
class HandlerScope {
 public:
  explicit HandlerScope(restinio::asio_ns::io_context& context) { running_handler = &context; }
  ~HandlerScope() { running_handler = nullptr; }
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;
};

/// An HttpExchange over a RESTinio request; respond() may run on any thread.
class RestinioExchange final : public HttpExchange {
 public:
  RestinioExchange(restinio::request_handle_t request, OpenStreams* streams = nullptr)
      : request_(std::move(request)), streams_(streams) {}

  std::string_view method() const override { return request_->header().method().c_str(); }
  std::string_view path() const override {
    auto path = request_->header().path();
    return {path.data(), path.size()};
  }
  std::string_view query() const override {
    auto query = request_->header().query();
    return {query.data(), query.size()};
  }
  std::string_view body() const override { return request_->body(); }
  std::optional<std::string_view> header(std::string_view name) const override {
    auto value = request_->header().opt_value_of(restinio::string_view_t{name.data(), name.size()});
    if (!value) return std::nullopt;
    return std::string_view{value->data(), value->size()};
  }
  std::vector<std::pair<std::string, std::string>> headers() const override {
    std::vector<std::pair<std::string, std::string>> fields;
    request_->header().for_each_field([&](const restinio::http_header_field_t& field) {
      // Marks the parser callbacks set have a '/' no client can send.
      if (field.name().find('/') == std::string::npos)
        fields.emplace_back(field.name(), field.value());
    });
    return fields;
  }
  std::string peer() const override { return endpoint_text(request_->remote_endpoint()); }

  void respond(HttpResponse response) override {
    auto builder = request_->create_response(status_line(response.status));
    add_headers(builder, response);
    if (response.close_connection) builder.connection_close();
    builder.set_body(std::move(response.body));
    if (running_handler == nullptr) {
      builder.done();
      return;
    }
    // defer, not post: a continuation of this handler stays on this thread
    // (Asio's thread-private queue) instead of waking the other I/O thread.
    restinio::asio_ns::defer(running_handler->get_executor(),
                             [builder = std::move(builder)]() mutable { builder.done(); });
  }

  std::shared_ptr<ResponseStream> stream(HttpResponse head) override {
    auto socket = streams_ ? streams_->socket_of(*request_) : OwnedDescriptor{};
    limit_send_buffer(socket);
    auto builder = request_->create_response<restinio::chunked_output_t>(status_line(head.status));
    add_headers(builder, head);
    builder.flush();
    auto stream = std::make_shared<RestinioStream>(std::move(builder),
                                                   OwnedDescriptor::duplicate(socket.get()));
    if (streams_) streams_->add(request_->connection_id(), stream, std::move(socket));
    return stream;
  }

 private:
  restinio::request_handle_t request_;
  OpenStreams* streams_;
};

// -- patch 5: the socket of an event stream's connection ----------------------------
//
// Upstream: RESTinio 0.6 keeps a connection's socket private. Here an event
// stream's socket is watched for its client's departure (OpenStreams),
// which takes its descriptor: read through the rule that an explicit
// instantiation may name a private member ([temp.spec.general]). A RESTinio
// whose connection has no `m_socket` fails to compile here, not at run time.

struct PlainSocketMember {
  using type = ServerTraits::stream_socket_t restinio::impl::connection_t<ServerTraits>::*;
  friend type member(PlainSocketMember);
};
struct TlsSocketMember {
  using type = TlsServerTraits::stream_socket_t restinio::impl::connection_t<TlsServerTraits>::*;
  friend type member(TlsSocketMember);
};

template <class Tag, typename Tag::type Member>
struct MemberAccess {
  friend typename Tag::type member(Tag) { return Member; }
};
template struct MemberAccess<PlainSocketMember,
                             &restinio::impl::connection_t<ServerTraits>::m_socket>;
template struct MemberAccess<TlsSocketMember,
                             &restinio::impl::connection_t<TlsServerTraits>::m_socket>;

template <class Traits>
using SocketMemberOf =
    std::conditional_t<std::is_same_v<Traits, ServerTraits>, PlainSocketMember, TlsSocketMember>;

template <class Traits>
OwnedDescriptor socket_of(restinio::request_t& request) {
  auto* connection = dynamic_cast<restinio::impl::connection_t<Traits>*>(
      restinio::impl::access_req_connection(request).get());
  if (connection == nullptr) return {};
  return OwnedDescriptor::duplicate(
      (connection->*member(SocketMemberOf<Traits>{})).lowest_layer().native_handle());
}

/// One RESTinio server, plain (ServerTraits) or TLS (TlsServerTraits).
template <class Traits>
class RestinioListener final : public HttpListener {
 public:
  RestinioListener(ListenerOptions options, RequestHandler handler, RefusalHandler refusals,
                   std::shared_ptr<restinio::asio_ns::ssl::context> tls)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        refusals_(std::move(refusals)),
        limits_(parsing::message_limits(options_.limits)),
        http_(restinio::external_io_context(io_),
              [&](auto& settings) {
                configure(settings);
                if constexpr (!std::is_same_v<Traits, ServerTraits>) settings.tls_context(tls);
              }),
        runner_(options_.threads, http_) {
    restinio::asio_ns::use_service<HandshakeLimit>(io_).timeout = read_timeout();
    restinio::asio_ns::use_service<LingeringCloses>(io_).departures = departures_;
    restinio::asio_ns::use_service<ListenerRefusals>(io_).handler = refusals_;
  }

  void start() override {
    std::promise<void> started;
    auto result = started.get_future();
    runner_.start(
        [&started]() noexcept { started.set_value(); },
        [&started](std::exception_ptr error) noexcept { started.set_exception(std::move(error)); });
    result.get();
  }

  void stop() override {
    streams_->close_all();  // while RESTinio still runs
    runner_.stop();
    runner_.wait();
    streams_->stop_watching();
    // Patch 4. Upstream: connections still open wait in handlers of the
    // io_context; destroyed with it, after RESTinio's acceptor, each would
    // update the acceptor's connection count after it was freed (RESTinio
    // 0.6). Here they are destroyed now, while the acceptor lives.
    io_.shutdown();
  }

 private:
  std::chrono::steady_clock::duration read_timeout() const {
    return to_duration<std::chrono::steady_clock::duration>(options_.limits.read_timeout_seconds);
  }

  template <class Settings>
  void configure(Settings& settings) {
    settings.address(options_.host)
        .port(options_.port)
        .incoming_http_msg_limits(limits_)
        .max_parallel_connections(options_.limits.max_connections)
        // Nagle's algorithm off, as nginx's tcp_nodelay: with it on, one
        // HTTPS connection had a p99 of 2-12 ms (RESTinio's bare TLS
        // handler too), 0.14 ms without (docs/performance.md).
        .socket_options_setter([](restinio::socket_options_t& socket) {
          restinio::asio_ns::error_code ignored;  // a peer gone already: no matter
          socket.set_option(restinio::asio_ns::ip::tcp::no_delay(true), ignored);
        })
        .connection_state_listener(streams_)
        // One: reading the next request while a response is in flight cost
        // every request a failed read and ~10 µs of its answer
        // (docs/performance.md). Pipelined requests wait in the buffer; an
        // event stream's client is watched for instead (OpenStreams).
        .max_pipelined_requests(1)
        .read_next_http_message_timelimit(read_timeout())
        // A start or stop answers when the transition ends, which the
        // service bounds with its own timeouts; streams last long.
        .handle_request_timeout(std::chrono::hours(24 * 365))
        .request_handler(
            [this](restinio::request_handle_t request) { return handle(std::move(request)); });
  }

  restinio::request_handling_status_t handle(restinio::request_handle_t request) {
    HandlerScope scope{io_};
    if (auto refusal = parsing::refusal_of(request->header(), limits_)) {
      answer_refusal(refusals_, std::make_shared<RestinioExchange>(std::move(request)),
                     HttpResponse{refusal->status,
                                  "application/json",
                                  {},
                                  error_body(refusal->detail),
                                  refusal->close});
    } else {
      handler_(std::make_shared<RestinioExchange>(std::move(request), streams_.get()));
    }
    return restinio::request_accepted();
  }

  ServerIoContext io_;  // first: outlives the server and its runner
  ListenerOptions options_;
  RequestHandler handler_;
  RefusalHandler refusals_;
  restinio::incoming_http_msg_limits_t limits_;
  /// Event streams' clients, and closed connections' (patch 6).
  std::shared_ptr<ClientDepartures> departures_ = std::make_shared<ClientDepartures>();
  std::shared_ptr<OpenStreams> streams_ =
      std::make_shared<OpenStreams>(&socket_of<Traits>, departures_);
  restinio::http_server_t<Traits> http_;
  restinio::on_pool_runner_t<restinio::http_server_t<Traits>> runner_;
};

}  // namespace

std::unique_ptr<HttpListener> make_http_listener(ListenerOptions options, RequestHandler handler,
                                                 RefusalHandler refusals) {
  if (!options.prepare_tls)
    return std::make_unique<RestinioListener<ServerTraits>>(std::move(options), std::move(handler),
                                                            std::move(refusals), nullptr);
  auto context = std::make_shared<restinio::asio_ns::ssl::context>(
      restinio::asio_ns::ssl::context::tls_server);
  options.prepare_tls(context->native_handle());
  return std::make_unique<RestinioListener<TlsServerTraits>>(std::move(options), std::move(handler),
                                                             std::move(refusals), context);
}

// -- RequestReader ----------------------------------------------------------------------

struct RequestReader::State {
  State(const ServerLimits& server_limits, RefusalHandler refusals)
      : limits(parsing::message_limits(server_limits)),
        context(limits),
        refusals(std::move(refusals)) {
    reset();
  }

  /// As RESTinio's connection_input_t::reset_parser.
  void reset() {
    http_parser_init(&parser, HTTP_REQUEST);
    context.reset();
    parser.data = &context;
  }

  restinio::incoming_http_msg_limits_t limits;
  http_parser_settings settings = restinio::impl::create_parser_settings<LimitedHttpMethods>();
  http_parser parser{};
  restinio::impl::http_parser_ctx_t context;
  RefusalHandler refusals;
  std::optional<std::string> malformed;
};

RequestReader::RequestReader(const ServerLimits& limits, RefusalHandler refusals)
    : state_(std::make_unique<State>(limits, std::move(refusals))) {}

RequestReader::~RequestReader() = default;

std::optional<RequestReader::Request> RequestReader::read(std::string_view& bytes) {
  auto& state = *state_;
  if (state.malformed) return std::nullopt;
  auto parsed = parsing::execute(state.parser, state.settings, bytes.data(), bytes.size());
  bytes.remove_prefix(parsed);
  auto error = HTTP_PARSER_ERRNO(&state.parser);
  if (error != HPE_OK && error != HPE_PAUSED) {
    // As patch 1: every earlier request was answered, so the error is.
    state.malformed = parsing::malformed_request_reply(
        state.parser, RecordedExchange::Request{}.peer, state.refusals);
    return std::nullopt;
  }
  if (!state.context.m_message_complete) return std::nullopt;
  const auto& header = state.context.m_header;
  Request request;
  request.method = header.method().c_str();
  request.target = header.request_target();
  request.keep_alive = header.should_keep_alive();
  request.upgrade = state.parser.upgrade != 0;
  request.refusal = parsing::refusal_of(header, state.limits);
  if (request.refusal) return request;
  auto path = header.path();
  request.path.assign(path.data(), path.size());
  auto query = header.query();
  request.query.assign(query.data(), query.size());
  request.body = std::move(state.context.m_body);
  for (const auto& field : header) request.headers.emplace_back(field.name(), field.value());
  return request;
}

const std::optional<std::string>& RequestReader::malformed_reply() const noexcept {
  return state_->malformed;
}

void RequestReader::next() {
  state_->reset();
}

}  // namespace processpype::rest
