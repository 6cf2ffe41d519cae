#pragma once

// Reading a Server-Sent Events body as it arrives (the WHATWG "event stream"
// format the node writes: docs/supervision.md, "Events").

#include <functional>
#include <string>
#include <string_view>

namespace processpype::ctl {

/// One dispatched event: its `id:`, `event:` and `data:` fields (several
/// data lines joined with '\n').
struct ServerSentEvent {
  std::string id;     ///< "" when the event has no id line
  std::string event;  ///< "message" when the event has no event line
  std::string data;
};

/// Splits a byte stream into events, whatever the pieces it arrives in.
/// Lines end with "\n", "\r\n" or "\r"; comment lines (": keep-alive") and
/// unknown fields are skipped; a blank line dispatches the event (one
/// without data lines is dropped, as browsers do).
class ServerSentEventParser {
 public:
  using Handler = std::function<void(const ServerSentEvent&)>;

  /// Parses `bytes` and calls `on_event` for each event they complete.
  void feed(std::string_view bytes, const Handler& on_event);

  /// Forgets a partly received event (a new connection starts afresh).
  void reset();

 private:
  void on_line(std::string_view line, const Handler& on_event);

  std::string line_;
  bool after_carriage_return_ = false;
  ServerSentEvent pending_;
  bool has_data_ = false;
};

}  // namespace processpype::ctl
