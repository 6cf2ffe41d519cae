#include "processpype/runtime/service_state.hpp"

#include <array>

namespace processpype {

namespace {
constexpr std::array<std::string_view, 7> state_names{
    "initialized", "configured", "starting", "running", "stopping", "stopped", "error"};
}  // namespace

std::string_view to_string(ServiceState state) noexcept {
  return state_names[static_cast<std::size_t>(state)];
}

std::optional<ServiceState> service_state_from_string(std::string_view text) noexcept {
  for (std::size_t i = 0; i < state_names.size(); ++i)
    if (state_names[i] == text) return static_cast<ServiceState>(i);
  return std::nullopt;
}

}  // namespace processpype
