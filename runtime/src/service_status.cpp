#include "processpype/runtime/service_status.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <utility>

namespace processpype {

std::string format_utc(std::chrono::system_clock::time_point time) {
  auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(time);
  auto milliseconds = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", seconds, milliseconds.count());
}

nlohmann::json to_json(ServiceStatus status) {
  using nlohmann::json;
  json health = nullptr;
  if (status.health)
    health = {{"ok", status.health->ok},
              {"detail", status.health->detail},
              {"checked_at", format_utc(status.health->checked_at)}};
  return {
      {"state", to_string(status.state)},
      {"error", status.error.empty() ? json(nullptr) : json(std::move(status.error))},
      {"metadata", std::move(status.metadata)},
      {"is_configured", status.is_configured},
      {"restarts", status.restarts},
      {"next_restart_in_seconds",
       status.next_restart_in_seconds ? json(*status.next_restart_in_seconds) : json(nullptr)},
      {"health", std::move(health)},
  };
}

}  // namespace processpype
