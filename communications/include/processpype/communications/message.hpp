#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace processpype::communications {

/// A message for people: it goes to every enabled backend whose labels
/// contain its label (docs/communications.md). The fields are ProcessPype's
/// `OutgoingMessage`.
struct Message {
  std::string message{};          ///< the text
  std::string label = "default";  ///< what routes it
  std::string source{};           ///< who it is about: an instance, a node ("" when none)
  std::string severity = "info";  ///< debug, info, warning, error or critical
  std::string subject{};          ///< the email subject; "" makes one from the rest
  /// Free-form details. An email backend reads `recipients` (a list of
  /// addresses) in place of its default recipients, as ProcessPype does.
  nlohmann::json metadata = nlohmann::json::object();
};

}  // namespace processpype::communications
