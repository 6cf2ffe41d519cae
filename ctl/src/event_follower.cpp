#include "event_follower.hpp"

#include <algorithm>
#include <ostream>
#include <thread>

#include <fmt/format.h>

#include "event_lines.hpp"
#include "json_fields.hpp"
#include "processpype/ctl/errors.hpp"

namespace processpype::ctl {

namespace {

using json = nlohmann::json;

/// 5xx (a node down, too many streams, a peer that did not answer) may
/// pass; 4xx (no token, an unknown node) will not.
bool worth_retrying(long status) {
  return status >= 500;
}

}  // namespace

EventFollower::EventFollower(HttpClient& stream_client, HttpClient& request_client,
                             FollowOptions options, std::ostream& out, std::ostream& err)
    : stream_client_(stream_client),
      request_client_(request_client),
      options_(options),
      out_(out),
      err_(err) {}

void EventFollower::run() {
  auto wait = options_.first_retry;
  while (true) {
    parser_.reset();
    bool opened = false;
    auto request = stream_request();
    auto end = stream_client_.stream(
        request, options_.stall_timeout,
        [&](long status) {
          if (status < 200 || status >= 300) return;
          opened = true;
          wait = options_.first_retry;
          on_open();
        },
        [&](std::string_view bytes) {
          parser_.feed(bytes, [this](const ServerSentEvent& event) { on_event(event); });
          return true;
        });
    const auto& response = end.response;
    std::string reason;
    if (opened) {
      reason = end.transport_error.empty() ? "the server ended the stream" : end.transport_error;
    } else if (response.status != 0) {
      if (!worth_retrying(response.status)) throw Refusal(response.status, response.detail());
      reason = fmt::format("{} (HTTP {})", response.detail(), response.status);
    } else {
      if (!opened_once_)
        throw Unreachable(fmt::format("cannot reach {}: {}", stream_client_.url_of(request),
                                      end.transport_error));
      reason = end.transport_error;
    }
    err_ << fmt::format("processpype ctl: event stream: {}; reconnecting in {:.1f} s\n", reason,
                        std::chrono::duration<double>(wait).count())
         << std::flush;
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, options_.longest_retry);
  }
}

Request EventFollower::stream_request() const {
  Request request;
  request.headers = {"Accept: text/event-stream"};
  if (options_.cluster) {
    request.path = "/events?scope=cluster";
    request.node = "";  // the same stream from any node
  } else {
    request.path = "/events";
    if (!last_event_id_.empty()) request.headers.push_back("Last-Event-ID: " + last_event_id_);
  }
  return request;
}

void EventFollower::on_open() {
  if (opened_once_) err_ << "processpype ctl: event stream open again\n" << std::flush;
  if (options_.cluster) {
    if (!opened_once_) {
      print_cluster_history();
    } else {
      std::vector<std::string> known;
      for (const auto& [node, position] : nodes_) known.push_back(node);
      for (const auto& node : known) catch_up(node, std::nullopt);
    }
  }
  opened_once_ = true;
}

void EventFollower::on_event(const ServerSentEvent& event) {
  auto data = json::parse(event.data, nullptr, false);
  if (event.event == "gap" || event.event == "node_down") {
    if (options_.json) {
      json tagged = data.is_object() ? data : json::object();
      tagged["event"] = event.event;
      return print_line(tagged.dump());
    }
    if (event.event == "node_down")
      return print_line(node_down_line(string_member(data, "node"), options_.colour));
    auto node = options_.cluster ? string_member(data, "node") : stream_client_.connection().node;
    return print_line(gap_line(node, data, options_.colour));
  }
  if (options_.cluster) return on_cluster_event(data, event.data);
  print_event(data, event.data);
  if (!event.id.empty()) last_event_id_ = event.id;
}

void EventFollower::on_cluster_event(const json& event, const std::string& data) {
  auto node = string_member(event, "node");
  auto boot = string_member(event, "boot");
  const auto& seq = member(event, "seq");
  auto known = nodes_.find(node);
  if (node.empty() || boot.empty() || !seq.is_number_unsigned() || known == nodes_.end())
    return print_event(event, data);
  Position position{boot, seq.get<std::uint64_t>()};
  auto printed = [&] {
    const auto& last = nodes_[node];
    return last.boot == position.boot && position.seq <= last.seq;
  };
  if (printed()) return;  // the catch-up printed it already
  if (known->second.boot != boot || position.seq > known->second.seq + 1) {
    catch_up(node, position);
    if (printed()) return;
  }
  print_event(event, data);
}

void EventFollower::catch_up(const std::string& node, const std::optional<Position>& until) {
  Request request;
  request.path = "/events";
  request.node = node;
  json events;
  try {
    auto response = request_client_.send(request);
    if (!response.success()) return;  // down or gone: its next event tries again
    auto reply = json::parse(response.body, nullptr, false);
    events = member(reply, "events");
  } catch (const Unreachable&) {
    return;
  }
  if (!events.is_array()) return;
  auto known = nodes_[node];
  auto boot = until            ? until->boot
              : events.empty() ? known.boot
                               : string_member(events.back(), "boot");
  std::vector<const json*> of_boot;
  for (const auto& event : events)
    if (string_member(event, "boot") == boot && member(event, "seq").is_number_unsigned())
      of_boot.push_back(&event);
  auto first_seq =
      of_boot.empty() ? std::uint64_t{0} : (*of_boot.front())["seq"].get<std::uint64_t>();
  bool lost = boot != known.boot || first_seq > known.seq + 1;
  if (lost) {
    json gap = {{"node", node}, {"boot", boot}, {"oldest_seq", first_seq}};
    if (options_.json) {
      gap["event"] = "gap";
      print_line(gap.dump());
    } else {
      print_line(gap_line(node, gap, options_.colour));
    }
  }
  for (const auto* event : of_boot) {
    auto seq = (*event)["seq"].get<std::uint64_t>();
    if (boot == known.boot && seq <= known.seq) continue;
    if (until && seq >= until->seq) break;
    print_event(*event, event->dump());
  }
}

void EventFollower::print_cluster_history() {
  Request nodes_request;
  nodes_request.path = "/nodes";
  nodes_request.node = "";
  std::vector<json> history;
  try {
    auto reply = json::parse(request_client_.send(nodes_request).body, nullptr, false);
    const auto& nodes = member(reply, "nodes");
    if (!nodes.is_array()) return;
    for (const auto& node : nodes) {
      if (member(node, "state") != "up" || !member(node, "id").is_string()) continue;
      Request request;
      request.path = "/events";
      request.node = node["id"].get<std::string>();
      auto response = request_client_.send(request);
      if (!response.success()) continue;
      auto events_reply = json::parse(response.body, nullptr, false);
      const auto& events = member(events_reply, "events");
      if (events.is_array()) history.insert(history.end(), events.begin(), events.end());
    }
  } catch (const Unreachable&) {
    // The stream is open: its live events still come.
  }
  std::stable_sort(history.begin(), history.end(), [](const json& a, const json& b) {
    return string_member(a, "time") < string_member(b, "time");
  });
  for (const auto& event : history) print_event(event, event.dump());
}

void EventFollower::print_event(const json& event, const std::string& data) {
  if (options_.json)
    print_line(data);
  else if (event.is_object())
    print_line(event_line(event, options_.colour));
  else
    print_line(printable(data));
  auto node = string_member(event, "node");
  const auto& seq = member(event, "seq");
  if (options_.cluster && !node.empty() && seq.is_number_unsigned())
    nodes_[node] = Position{string_member(event, "boot"), seq.get<std::uint64_t>()};
}

void EventFollower::print_line(const std::string& line) {
  out_ << line << '\n' << std::flush;
}

}  // namespace processpype::ctl
