#pragma once

// Reading the node's JSON replies without trusting their shape: a reply
// that lacks a field prints "-" rather than ending the command.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace processpype::ctl {

/// `object[key]` when `object` is an object holding it, else null.
inline const nlohmann::json& member(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json null;
  if (!object.is_object()) return null;
  auto found = object.find(key);
  return found == object.end() ? null : *found;
}

/// A reference into a temporary would dangle: keep the reply in a variable.
const nlohmann::json& member(nlohmann::json&& object, std::string_view key) = delete;

/// `object[key]` when it is a string, else "".
inline std::string string_member(const nlohmann::json& object, std::string_view key) {
  const auto& value = member(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

/// A value as a person reads it: a string without quotes, null as
/// `null_text`, anything else as JSON.
inline std::string display_text(const nlohmann::json& value, std::string_view null_text = "-") {
  if (value.is_null()) return std::string(null_text);
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

}  // namespace processpype::ctl
