#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "processpype/runtime/service_state.hpp"

namespace processpype {

/// What a client sees of one service instance (GET /services/{name}).
struct ServiceStatus {
  ServiceState state = ServiceState::initialized;
  /// Empty when there is no error (null on the wire).
  std::string error;
  /// The full configuration as JSON; `{}` before the first configure.
  nlohmann::json metadata = nlohmann::json::object();
  bool is_configured = false;

  friend bool operator==(const ServiceStatus&, const ServiceStatus&) = default;
};

/// `{"state", "error", "metadata", "is_configured"}`.
nlohmann::json to_json(const ServiceStatus& status);

}  // namespace processpype
