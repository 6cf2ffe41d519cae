#include "processpype/runtime/events.hpp"
#include <algorithm>

#include <array>
#include <iterator>
#include <random>

#include <fmt/format.h>

#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/service_status.hpp"

namespace processpype {

namespace {

constexpr std::array<std::string_view, 12> cause_names{
    "request",    "autostart", "startup",  "restart",  "failure",   "health",
    "dependency", "shutdown",  "failover", "handover", "rebalance", "lease_lost"};

/// 12 hex digits: random enough to tell boots apart, short enough for SSO.
std::string random_boot_id() {
  std::random_device device;
  std::uniform_int_distribution<std::uint64_t> bits{0, (std::uint64_t{1} << 48) - 1};
  return fmt::format("{:012x}", bits(device));
}

}  // namespace

std::string_view to_string(EventCause cause) noexcept {
  return cause_names[static_cast<std::size_t>(cause)];
}

std::optional<EventCause> event_cause_from_string(std::string_view text) noexcept {
  for (std::size_t i = 0; i < cause_names.size(); ++i)
    if (cause_names[i] == text) return static_cast<EventCause>(i);
  return std::nullopt;
}

nlohmann::json to_json(const Event& event) {
  using nlohmann::json;
  return {{"seq", event.seq},
          {"boot", event.boot},
          {"time", format_utc(event.time)},
          {"node", event.node},
          {"service", event.service},
          {"state", event.state},
          {"error", event.error.empty() ? json(nullptr) : json(event.error)},
          {"cause", to_string(event.cause)},
          {"request_id", event.request_id.empty() ? json(nullptr) : json(event.request_id)},
          {"from_node", event.from_node.empty() ? json(nullptr) : json(event.from_node)}};
}

namespace {

void append_text_or_null(std::string& out, std::string_view text) {
  if (text.empty())
    out += "null";
  else
    append_json_string(out, text);
}

}  // namespace

std::string event_text(const Event& event) {
  // Keys in the order nlohmann's objects keep them (sorted).
  std::string out;
  out.reserve(192);
  out += "{\"boot\":";
  append_json_string(out, event.boot);
  out += ",\"cause\":\"";
  out += to_string(event.cause);
  out += "\",\"error\":";
  append_text_or_null(out, event.error);
  out += ",\"from_node\":";
  append_text_or_null(out, event.from_node);
  out += ",\"node\":";
  append_json_string(out, event.node);
  out += ",\"request_id\":";
  append_text_or_null(out, event.request_id);
  fmt::format_to(std::back_inserter(out), ",\"seq\":{},\"service\":", event.seq);
  append_json_string(out, event.service);
  out += ",\"state\":";
  append_json_string(out, event.state);
  out += ",\"time\":";
  append_json_string(out, format_utc(event.time));
  out += '}';
  return out;
}

EventLog::EventLog(std::string node, std::string boot, std::size_t capacity)
    : boot_(boot.empty() ? random_boot_id() : std::move(boot)),
      capacity_(std::clamp<std::size_t>(capacity, 1, max_capacity)),
      node_(std::move(node)),
      listeners_(std::make_shared<std::vector<std::pair<std::uint64_t, Listener>>>()) {
  ring_.reserve(capacity_);
}

std::string EventLog::node() const {
  std::lock_guard lock{mutex_};
  return node_;
}

void EventLog::set_node(std::string node) {
  std::lock_guard lock{mutex_};
  node_ = std::move(node);
}

std::uint64_t EventLog::append(std::string_view service, std::string_view state,
                               std::string_view error, const Trigger& trigger, bool gave_up) {
  std::uint64_t seq;
  std::shared_ptr<const std::vector<std::pair<std::uint64_t, Listener>>> listeners;
  {
    std::lock_guard lock{mutex_};
    seq = ++last_seq_;
    Event event{seq,
                boot_,
                std::chrono::system_clock::now(),
                node_,
                std::string{service},
                std::string{state},
                std::string{error},
                trigger.cause,
                trigger.request_id,
                trigger.from_node,
                gave_up};
    if (ring_.size() < capacity_)
      ring_.push_back(std::move(event));
    else
      ring_[(seq - 1) % capacity_] = std::move(event);
    listeners = listeners_;
  }
  for (const auto& [id, listener] : *listeners) listener(seq);
  return seq;
}

EventSlice EventLog::since(std::uint64_t after) const {
  std::lock_guard lock{mutex_};
  EventSlice slice;
  slice.last_seq = last_seq_;
  if (ring_.empty()) {
    slice.oldest_seq = last_seq_ + 1;
    slice.gap = after > last_seq_;  // a seq this boot never had
    return slice;
  }
  auto oldest = last_seq_ - ring_.size() + 1;
  slice.oldest_seq = oldest;
  if (after > last_seq_) {
    slice.gap = true;  // from another boot: everything buffered follows
    after = 0;
  }
  if (after + 1 < oldest) {
    if (after != 0) slice.gap = true;  // events between `after` and the buffer are gone
    after = oldest - 1;
  }
  slice.events.reserve(last_seq_ - after);
  for (auto seq = after + 1; seq <= last_seq_; ++seq)
    slice.events.push_back(ring_[(seq - 1) % capacity_]);
  return slice;
}

std::uint64_t EventLog::last_seq() const {
  std::lock_guard lock{mutex_};
  return last_seq_;
}

std::uint64_t EventLog::add_listener(Listener listener) {
  std::lock_guard lock{mutex_};
  auto copy = std::make_shared<std::vector<std::pair<std::uint64_t, Listener>>>(*listeners_);
  auto id = next_listener_++;
  copy->emplace_back(id, std::move(listener));
  listeners_ = std::move(copy);
  return id;
}

void EventLog::remove_listener(std::uint64_t id) {
  std::lock_guard lock{mutex_};
  auto copy = std::make_shared<std::vector<std::pair<std::uint64_t, Listener>>>(*listeners_);
  std::erase_if(*copy, [id](const auto& entry) { return entry.first == id; });
  listeners_ = std::move(copy);
}

}  // namespace processpype
