#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace processpype::state {

/// Where an instance comes from (docs/state.md): the application's file, or
/// a request (REST or embedding).
enum class Origin { file, request };

/// The run state a user asked for last: start and configure-and-start ask
/// for `running`, a user's stop for `stopped`. Stops by shutdown, failures
/// and dependency cascades do not change it.
enum class DesiredState { running, stopped };

/// "file" / "request": the text stored in the state file and shown as a
/// status's `origin`.
std::string_view to_string(Origin origin) noexcept;
/// "running" / "stopped".
std::string_view to_string(DesiredState desired) noexcept;
/// The stored text back; nullopt when it is not one of the above.
std::optional<Origin> origin_from_string(std::string_view text) noexcept;
std::optional<DesiredState> desired_state_from_string(std::string_view text) noexcept;

/// One instance of the request layer, as the state file holds it.
struct StoredInstance {
  std::string name;
  std::string class_key;  ///< the registry key of its class
  Origin origin = Origin::request;
  /// The whole body of the last accepted configure, as given (defaults not
  /// filled in); nullopt when no configure was stored.
  std::optional<nlohmann::json> configuration;
  /// nullopt: no user start or stop recorded.
  std::optional<DesiredState> desired;
  /// A file instance deregistered by a request: it stays deregistered.
  bool deregistered = false;
  /// Registration order: larger is later. A request instance registered
  /// again after a tombstone gets a new, larger sequence.
  std::uint64_t sequence = 0;
  /// Non-empty when the row could not be decoded (e.g. its configuration is
  /// not a JSON object): the instance is restored in `error` with this
  /// detail, and the other rows load normally. The fields above then hold
  /// what could be read (`name` may be empty or invalid when the name
  /// itself is what is wrong).
  std::string problem;

  bool operator==(const StoredInstance&) const = default;
};

}  // namespace processpype::state
