#include "processpype/state/stored_instance.hpp"

#include "processpype/state/change.hpp"

namespace processpype::state {

std::string_view to_string(Origin origin) noexcept {
  return origin == Origin::file ? "file" : "request";
}

std::string_view to_string(DesiredState desired) noexcept {
  return desired == DesiredState::running ? "running" : "stopped";
}

std::optional<Origin> origin_from_string(std::string_view text) noexcept {
  if (text == "file") return Origin::file;
  if (text == "request") return Origin::request;
  return std::nullopt;
}

std::optional<DesiredState> desired_state_from_string(std::string_view text) noexcept {
  if (text == "running") return DesiredState::running;
  if (text == "stopped") return DesiredState::stopped;
  return std::nullopt;
}

const std::string& instance_name(const Change& change) noexcept {
  return std::visit([](const auto& alternative) -> const std::string& { return alternative.name; },
                    change);
}

}  // namespace processpype::state
