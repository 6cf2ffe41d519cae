#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace processpype {

/// The lifecycle state of a service (docs/architecture.md, "Lifecycle"). On the wire it is the
/// lowercase name, e.g. "running".
enum class ServiceState : std::uint8_t {
  initialized,
  configured,
  starting,
  running,
  stopping,
  stopped,
  error,
};

/// The lowercase wire name of `state`.
std::string_view to_string(ServiceState state) noexcept;

/// Parses a lowercase wire name; nullopt for anything else.
std::optional<ServiceState> service_state_from_string(std::string_view text) noexcept;

/// True while a manager call is in flight (starting, stopping).
constexpr bool is_transitioning(ServiceState state) noexcept {
  return state == ServiceState::starting || state == ServiceState::stopping;
}

/// True in the states where configure and start are refused with 409.
constexpr bool is_active(ServiceState state) noexcept {
  return is_transitioning(state) || state == ServiceState::running;
}

}  // namespace processpype
