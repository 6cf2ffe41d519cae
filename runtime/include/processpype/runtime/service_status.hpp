#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/runtime/service_state.hpp"

namespace processpype {

/// The last health check of a service.
struct HealthReport {
  bool ok = true;
  std::string detail;
  std::chrono::system_clock::time_point checked_at;

  friend bool operator==(const HealthReport&, const HealthReport&) = default;
};

/// Where an instance comes from (docs/state.md): the application file, a
/// request (REST, the embedding API), or, for a cluster instance, its record
/// in the cluster store (docs/cluster.md).
enum class InstanceOrigin : std::uint8_t { file, request, cluster };

/// "file" / "request" / "cluster".
std::string_view to_string(InstanceOrigin origin) noexcept;

/// Where a cluster instance runs (docs/cluster.md), fixed while this node
/// owns it.
struct ClusterPlacement {
  /// The nodes that may own it; empty: every node that has its class.
  std::vector<std::string> nodes;
  /// The node that owns it (and runs it when it runs).
  std::string owner;
  /// The owner key's create revision: larger for every new owner. A service
  /// guarding something outside the process passes it along
  /// (ServiceManager::fencing_token).
  std::int64_t fencing_token = 0;

  friend bool operator==(const ClusterPlacement&, const ClusterPlacement&) = default;
};

/// What a client sees of one service instance (GET /services/{name}).
struct ServiceStatus {
  ServiceState state = ServiceState::initialized;
  /// Empty when there is no error (null on the wire).
  std::string error;
  /// The full configuration as JSON; `{}` before the first configure.
  nlohmann::json metadata = nlohmann::json::object();
  bool is_configured = false;
  /// Automatic restarts since registration.
  std::uint64_t restarts = 0;
  /// Seconds until a pending restart, if one is pending.
  std::optional<double> next_restart_in_seconds;
  /// The last health check; none while checks are off or have not run.
  std::optional<HealthReport> health;
  InstanceOrigin origin = InstanceOrigin::request;
  /// The top-level fields whose value differs from the application file's
  /// (docs/state.md): empty for request instances and untouched file ones.
  std::vector<std::string> overrides;
  /// Set for a cluster instance.
  std::optional<ClusterPlacement> cluster;

  friend bool operator==(const ServiceStatus&, const ServiceStatus&) = default;
};

/// `{"state", "error", "metadata", "is_configured", "restarts",
/// "next_restart_in_seconds", "health", "origin", "overrides", "placement"}`
/// and, for a cluster instance, `"nodes"` and `"owner"` (the body of GET
/// /services/{name}): the one place a status's JSON is made.
/// By value: a status made for it gives up its metadata instead of a copy.
nlohmann::json to_json(ServiceStatus status);

/// The same body as compact text, exactly what `json_text(to_json(status))`
/// gives, written without building the tree: a body is rendered for every
/// view an instance publishes that someone reads or another node follows
/// (docs/performance.md, "Remote calls").
std::string status_text(const ServiceStatus& status);

/// The top-level fields whose values differ between `metadata` and
/// `file_metadata` (present in one only counts), sorted.
std::vector<std::string> overridden_fields(const nlohmann::json& metadata,
                                           const nlohmann::json& file_metadata);

/// ISO 8601 in UTC with milliseconds: `2026-11-27T03:09:45.123Z`.
std::string format_utc(std::chrono::system_clock::time_point time);

}  // namespace processpype
