#include "yaml_tree.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/secrets.hpp"

namespace processpype {

namespace {

using nlohmann::json;

/// `text` as a T when all of it is one (an optional leading '+' allowed);
/// an integer out of int64's range is not an integer.
template <class T>
std::optional<T> parse_whole(std::string_view text) {
  bool plus = text.starts_with('+');  // from_chars takes '-' only
  if (plus) text.remove_prefix(1);
  if (plus && text.starts_with('-')) return std::nullopt;
  T value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(value)) return std::nullopt;  // "inf", "nan" stay strings
  return value;
}

/// What a file may expand to. YAML aliases repeat a node without repeating
/// its text: an alias inside its own anchor is a node that contains itself,
/// and nested aliases multiply (a few lines can stand for billions of nodes).
constexpr std::size_t max_expanded_values = 100'000;

class Converter {
 public:
  explicit Converter(ConfigDiagnostics& diagnostics) : diagnostics_(diagnostics) {}

  /// Null, with a problem recorded, once the document is too large.
  json convert(const YAML::Node& node, const std::string& key, std::size_t depth = 0) {
    if (exhausted_) return nullptr;
    if (depth > max_json_depth) {
      fail(key, fmt::format("nested deeper than {} levels (an alias inside its own anchor?)",
                            max_json_depth));
      return nullptr;
    }
    if (++values_ > max_expanded_values) {
      fail(key, "expands to more than 100000 values (aliases that repeat each other?)");
      return nullptr;
    }
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar(node, key);
      case YAML::NodeType::Sequence: {
        auto array = json::array();
        for (std::size_t i = 0; i < node.size(); ++i)
          array.push_back(convert(node[i], child(key, std::to_string(i)), depth + 1));
        return array;
      }
      case YAML::NodeType::Map: {
        auto object = json::object();
        for (const auto& item : node) {
          auto name = item.first.as<std::string>();
          // yaml-cpp keeps both of two equal keys; which one a reader sees
          // would depend on the reader.
          if (object.contains(name)) {
            diagnostics_.error(child(key, name), "appears twice");
            continue;
          }
          object[name] = convert(item.second, child(key, name), depth + 1);
        }
        return object;
      }
    }
    return nullptr;
  }

 private:
  static std::string child(const std::string& key, std::string_view name) {
    return key.empty() ? std::string{name} : key + "." + std::string{name};
  }

  /// Depth and size problems end the conversion: one report is enough.
  void fail(const std::string& key, std::string message) {
    diagnostics_.error(key.empty() ? "(top)" : key, std::move(message));
    exhausted_ = true;
  }

  json scalar(const YAML::Node& node, const std::string& key) {
    std::string text;
    try {
      text = substitute_environment(node.Scalar());
    } catch (const std::runtime_error& error) {
      diagnostics_.error(key, error.what());
      return nullptr;
    }
    // Quoted, or holding a secret reference (docs/secrets.md): a secret
    // `123456` stays text.
    if (node.Tag() == "!" || mentions_secret(text)) return text;
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
      return nullptr;
    if (auto integer = parse_whole<std::int64_t>(text)) return *integer;
    if (auto number = parse_whole<double>(text)) return *number;
    return text;
  }

  ConfigDiagnostics& diagnostics_;
  std::size_t values_ = 0;
  bool exhausted_ = false;
};

}  // namespace

std::string substitute_environment(std::string_view text) {
  std::string result;
  std::size_t position = 0;
  while (true) {
    auto start = text.find("${", position);
    if (start == std::string_view::npos) break;
    auto end = text.find('}', start);
    if (end == std::string_view::npos) break;
    result.append(text.substr(position, start - position));
    auto expression = text.substr(start + 2, end - start - 2);
    if (expression.starts_with("secret:")) {  // resolved later, from the secrets backends
      result.append(text.substr(start, end + 1 - start));
      position = end + 1;
      continue;
    }
    auto separator = expression.find(":-");
    auto name = std::string{expression.substr(0, separator)};
    const char* value = std::getenv(name.c_str());
    if (separator != std::string_view::npos) {
      result += (value != nullptr && *value != '\0') ? std::string_view{value}
                                                     : expression.substr(separator + 2);
    } else if (value != nullptr) {
      result += value;
    } else {
      throw std::runtime_error(
          fmt::format("environment variable {} is not set and has no default", name));
    }
    position = end + 1;
  }
  result.append(text.substr(position));
  return result;
}

YamlTree read_yaml_tree(const std::string& text, ConfigDiagnostics& diagnostics) {
  const YAML::Node document = YAML::Load(text);
  YamlTree tree;
  Converter converter{diagnostics};
  tree.root = converter.convert(document, "");
  if (tree.root.is_null()) tree.root = json::object();
  // A const node's missing key is an invalid node: ask IsDefined first.
  if (document.IsMap())
    if (auto services = document["services"]; services.IsDefined() && services.IsMap())
      for (const auto& item : services) {
        auto name = item.first.as<std::string>();
        if (std::find(tree.service_order.begin(), tree.service_order.end(), name) ==
            tree.service_order.end())
          tree.service_order.push_back(std::move(name));
      }
  return tree;
}

}  // namespace processpype
