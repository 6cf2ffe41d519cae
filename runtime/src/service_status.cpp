#include "processpype/runtime/service_status.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <iterator>
#include <utility>

#include "processpype/runtime/json_input.hpp"

namespace processpype {

std::string format_utc(std::chrono::system_clock::time_point time) {
  auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(time);
  auto milliseconds = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", seconds, milliseconds.count());
}

std::string_view to_string(InstanceOrigin origin) noexcept {
  switch (origin) {
    case InstanceOrigin::file:
      return "file";
    case InstanceOrigin::request:
      return "request";
    case InstanceOrigin::cluster:
      return "cluster";
  }
  return "request";
}

std::vector<std::string> overridden_fields(const nlohmann::json& metadata,
                                           const nlohmann::json& file_metadata) {
  std::vector<std::string> fields;
  // JSON objects iterate in key order: one merge walk over both.
  auto a = metadata.items().begin(), a_end = metadata.items().end();
  auto b = file_metadata.items().begin(), b_end = file_metadata.items().end();
  while (a != a_end || b != b_end) {
    if (b == b_end || (a != a_end && a.key() < b.key())) {
      fields.push_back(a.key());
      ++a;
    } else if (a == a_end || b.key() < a.key()) {
      fields.push_back(b.key());
      ++b;
    } else {
      if (a.value() != b.value()) fields.push_back(a.key());
      ++a, ++b;
    }
  }
  return fields;
}

nlohmann::json to_json(ServiceStatus status) {
  using nlohmann::json;
  json health = nullptr;
  if (status.health)
    health = {{"ok", status.health->ok},
              {"detail", status.health->detail},
              {"checked_at", format_utc(status.health->checked_at)}};
  json body = {
      {"state", to_string(status.state)},
      {"error", status.error.empty() ? json(nullptr) : json(std::move(status.error))},
      {"metadata", std::move(status.metadata)},
      {"is_configured", status.is_configured},
      {"restarts", status.restarts},
      {"next_restart_in_seconds",
       status.next_restart_in_seconds ? json(*status.next_restart_in_seconds) : json(nullptr)},
      {"health", std::move(health)},
      {"origin", to_string(status.origin)},
      {"overrides", std::move(status.overrides)},
      {"placement", status.cluster ? "cluster" : "node"},
  };
  if (status.cluster) {
    body["nodes"] = std::move(status.cluster->nodes);
    body["owner"] = std::move(status.cluster->owner);
  }
  return body;
}

namespace {

void append_strings(std::string& out, const std::vector<std::string>& values) {
  out += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, values[i]);
  }
  out += ']';
}

}  // namespace

std::string status_text(const ServiceStatus& status) {
  // Keys in the order nlohmann's objects keep them (sorted), so that both
  // renderings are the same text.
  std::string out;
  out.reserve(256);
  out += "{\"error\":";
  if (status.error.empty())
    out += "null";
  else
    append_json_string(out, status.error);
  out += ",\"health\":";
  if (status.health) {
    out += "{\"checked_at\":";
    append_json_string(out, format_utc(status.health->checked_at));
    out += ",\"detail\":";
    append_json_string(out, status.health->detail);
    out += status.health->ok ? ",\"ok\":true}" : ",\"ok\":false}";
  } else {
    out += "null";
  }
  out += status.is_configured ? ",\"is_configured\":true" : ",\"is_configured\":false";
  out += ",\"metadata\":";
  out += json_text(status.metadata);
  out += ",\"next_restart_in_seconds\":";
  out += status.next_restart_in_seconds ? json_text(*status.next_restart_in_seconds) : "null";
  if (status.cluster) {
    out += ",\"nodes\":";
    append_strings(out, status.cluster->nodes);
  }
  out += ",\"origin\":\"";
  out += to_string(status.origin);
  out += "\",\"overrides\":";
  append_strings(out, status.overrides);
  if (status.cluster) {
    out += ",\"owner\":";
    append_json_string(out, status.cluster->owner);
  }
  out += status.cluster ? ",\"placement\":\"cluster\"" : ",\"placement\":\"node\"";
  fmt::format_to(std::back_inserter(out), ",\"restarts\":{},\"state\":\"{}\"}}", status.restarts,
                 to_string(status.state));
  return out;
}

}  // namespace processpype
