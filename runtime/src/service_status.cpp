#include "processpype/runtime/service_status.hpp"

namespace processpype {

nlohmann::json to_json(const ServiceStatus& status) {
  return {
      {"state", to_string(status.state)},
      {"error", status.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(status.error)},
      {"metadata", status.metadata},
      {"is_configured", status.is_configured},
  };
}

}  // namespace processpype
