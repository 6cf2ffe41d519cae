#include "processpype/ctl/configuration_edit.hpp"

#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "processpype/ctl/errors.hpp"

namespace processpype::ctl {

Assignment parse_assignment(std::string_view text) {
  auto equals = text.find('=');
  if (equals == std::string_view::npos)
    throw UsageError(fmt::format("'{}': expected KEY=VALUE", text));
  if (equals == 0) throw UsageError(fmt::format("'{}': the KEY before '=' is empty", text));
  Assignment assignment{std::string(text.substr(0, equals)), nullptr};
  auto value_text = text.substr(equals + 1);
  try {
    assignment.value = nlohmann::json::parse(value_text.begin(), value_text.end());
  } catch (const nlohmann::json::parse_error&) {
    assignment.value = std::string(value_text);  // not JSON: the text itself
  } catch (const nlohmann::json::exception& error) {
    // Valid JSON that no double holds (1e400): a string would only be
    // refused by the node with a less helpful message.
    throw UsageError(fmt::format("'{}': {}", text, error.what()));
  }
  return assignment;
}

nlohmann::json apply_assignments(nlohmann::json configuration,
                                 const std::vector<Assignment>& assignments) {
  if (!configuration.is_object()) configuration = nlohmann::json::object();
  for (const auto& [key, value] : assignments) configuration[key] = value;
  return configuration;
}

nlohmann::json read_configuration_file(const std::string& path, std::istream& input) {
  std::string text;
  std::string name = path == "-" ? "standard input" : path;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>());
  } else {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw UsageError(fmt::format("--file {}: cannot be read", path));
    text.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    if (file.bad()) throw UsageError(fmt::format("--file {}: cannot be read", path));
  }
  nlohmann::json configuration;
  try {
    configuration = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    throw UsageError(fmt::format("--file {}: not valid JSON ({})", name, error.what()));
  }
  if (!configuration.is_object())
    throw UsageError(fmt::format("--file {}: a configuration is a JSON object, not {}", name,
                                 configuration.type_name()));
  return configuration;
}

}  // namespace processpype::ctl
