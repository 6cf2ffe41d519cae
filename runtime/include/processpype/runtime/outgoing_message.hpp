#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace processpype {

/// A message for people, which a node's communications backends deliver to
/// every enabled backend whose labels contain its label
/// (docs/communications.md). The fields are ProcessPype's `OutgoingMessage`.
/// It lives here, beside the Service API that sends it, so that a service
/// needs nothing of the transports; processpype::communications delivers
/// this very type (communications::Message).
struct OutgoingMessage {
  std::string message{};          ///< the text
  std::string label = "default";  ///< what routes it
  /// Who it is about: an instance, a node. Service::emit fills in the
  /// instance's name and Runtime::emit the node's id when it is empty.
  std::string source{};
  std::string severity = "info";  ///< debug, info, warning, error or critical
  std::string subject{};          ///< the email subject; "" makes one from the rest
  /// Free-form details. An email backend reads `recipients` (a list of
  /// addresses) in place of its default recipients, as ProcessPype does.
  nlohmann::json metadata = nlohmann::json::object();
};

}  // namespace processpype
