#include "processpype/ctl/server_sent_events.hpp"

namespace processpype::ctl {

void ServerSentEventParser::feed(std::string_view bytes, const Handler& on_event) {
  for (char c : bytes) {
    // "\r\n" is one line end, even when it is split between two pieces.
    if (c == '\n' && after_carriage_return_) {
      after_carriage_return_ = false;
      continue;
    }
    after_carriage_return_ = c == '\r';
    if (c == '\r' || c == '\n') {
      on_line(line_, on_event);
      line_.clear();
    } else {
      line_.push_back(c);
    }
  }
}

void ServerSentEventParser::reset() {
  line_.clear();
  after_carriage_return_ = false;
  pending_ = {};
  has_data_ = false;
}

void ServerSentEventParser::on_line(std::string_view line, const Handler& on_event) {
  if (line.empty()) {
    if (has_data_) {
      if (pending_.event.empty()) pending_.event = "message";
      on_event(pending_);
    }
    pending_ = {};
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // a comment: the node's keep-alive
  auto colon = line.find(':');
  auto field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) pending_.data.push_back('\n');
    pending_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    pending_.event = value;
  } else if (field == "id") {
    pending_.id = value;
  }
}

}  // namespace processpype::ctl
