#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/config/diagnostics.hpp"

namespace processpype {

/// A YAML document as JSON: every scalar has `${VAR}` / `${VAR:-default}`
/// replaced from the environment (the default applies when VAR is unset or
/// empty), then plain scalars are typed like YAML's core schema (bool,
/// integer, float, null, string) and quoted ones stay strings, as do those
/// holding a `${secret:...}` reference (left in place for later). Problems
/// (an unset variable, a key given twice, nesting deeper than 64 levels, an
/// alias that expands without end) are recorded under their key; the
/// offending value reads as null.
struct YamlTree {
  nlohmann::json root = nlohmann::json::object();
  /// The instance names of `services`, in file order (a JSON object sorts
  /// its keys; the file's order is the start order).
  std::vector<std::string> service_order;
};

/// Parses `text`. Throws YAML::Exception for text that is not YAML.
YamlTree read_yaml_tree(const std::string& text, ConfigDiagnostics& diagnostics);

/// Replaces `${VAR}` and `${VAR:-default}` in `text`, leaving
/// `${secret:...}` references as they are (they resolve from the secrets
/// backends, docs/secrets.md). Throws std::runtime_error naming the
/// variable when it is unset.
std::string substitute_environment(std::string_view text);

}  // namespace processpype
