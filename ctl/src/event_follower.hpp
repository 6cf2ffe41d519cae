#pragma once

// `processpype ctl events --follow`: one line per event as it arrives from
// the node's Server-Sent Events stream, across reconnections
// (docs/cli.md, "events").

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/ctl/http_client.hpp"
#include "processpype/ctl/server_sent_events.hpp"

namespace processpype::ctl {

struct FollowOptions {
  /// Every node's events (`GET /events?scope=cluster`) rather than one
  /// node's.
  bool cluster = false;
  bool json = false;    ///< each event's JSON, one a line
  bool colour = false;  ///< ANSI colours
  /// The wait before the first reconnection; it doubles up to
  /// `longest_retry`, and starts again once a stream opens.
  std::chrono::milliseconds first_retry{200};
  std::chrono::milliseconds longest_retry{5000};
  /// A stream silent this long is dropped and opened again: the node
  /// writes a comment every 15 s, so three were missed.
  std::chrono::seconds stall_timeout{45};
};

/// Follows the events until the process ends. A stream that breaks or ends
/// is opened again after a growing wait: one node's stream resumes with
/// `Last-Event-ID` (the node replays what was missed, after an `event: gap`
/// when it cannot), a cluster stream from where each node's events left
/// off (see resume_cluster). Throws Unreachable when the first connection
/// fails, and Refusal when the server refuses for good (401, 403, 404,
/// 400; 502-504 are retried).
class EventFollower {
 public:
  /// `stream_client` carries the stream, `request_client` the requests made
  /// meanwhile (a cluster stream's catch-up).
  EventFollower(HttpClient& stream_client, HttpClient& request_client, FollowOptions options,
                std::ostream& out, std::ostream& err);

  [[noreturn]] void run();

 private:
  /// A node's last printed event.
  struct Position {
    std::string boot;
    std::uint64_t seq = 0;
  };

  Request stream_request() const;
  void on_open();
  void on_event(const ServerSentEvent& event);
  void on_cluster_event(const nlohmann::json& event, const std::string& data);

  /// Catches up with node `node`'s own log (GET /nodes/{node}/events): the
  /// events after its position, up to `until` when given (an event that
  /// arrived and is not printed yet). The cluster stream is live only
  /// (the server subscribes it to each node from "now"), so what a node
  /// emitted while the stream was down, or before the stream's
  /// subscription reached it, comes from there.
  void catch_up(const std::string& node, const std::optional<Position>& until);
  /// The first connection of a cluster stream: every up node's buffered
  /// events, oldest first, as a node's stream replays its own.
  void print_cluster_history();
  /// Prints a state event and moves its node's position.
  void print_event(const nlohmann::json& event, const std::string& data);
  void print_line(const std::string& line);

  HttpClient& stream_client_;
  HttpClient& request_client_;
  FollowOptions options_;
  std::ostream& out_;
  std::ostream& err_;
  ServerSentEventParser parser_;
  std::string last_event_id_;              ///< one node's stream: where to resume
  std::map<std::string, Position> nodes_;  ///< a cluster stream: where each node is
  bool opened_once_ = false;
};

}  // namespace processpype::ctl
