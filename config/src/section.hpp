#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/config/diagnostics.hpp"

namespace processpype {

/// One mapping of the application file, declared once: each key with its
/// target, type, constraints and description. The same declaration reads a
/// file (every problem recorded under its key, the target left at its
/// default; keys nobody declared are errors, with a "did you mean") and
/// describes the format as JSON Schema (`processpype config-schema`), so
/// the reader and the schema cannot disagree.
///
///     section.port("port", server.port, "HTTP port")
///         .section("limits", "What a request may cost", [&](Section& limits) { ... });
class Section {
 public:
  /// Reads `value`, the file's value at `key` (null reads as an empty
  /// mapping; anything else but a mapping is an error).
  static Section reader(const nlohmann::json& value, std::string key,
                        ConfigDiagnostics& diagnostics);
  /// Describes the declared keys into `schema`, a JSON Schema object.
  static Section describer(nlohmann::json& schema);

  /// A string; numbers and booleans read as their text (`version: 1.0`).
  Section& text(std::string_view name, std::string& target, std::string_view description);
  Section& flag(std::string_view name, bool& target, std::string_view description);
  Section& port(std::string_view name, std::uint16_t& target, std::string_view description);
  Section& port(std::string_view name, std::optional<std::uint16_t>& target,
                std::string_view description);
  /// A positive integer.
  Section& count(std::string_view name, std::size_t& target, std::string_view description);
  /// Seconds: greater than 0, at most a year (longer overflows timers).
  Section& seconds(std::string_view name, double& target, std::string_view description);
  /// Seconds, 0 allowed (meaning "forever" or "off", said by the description).
  Section& seconds_or_zero(std::string_view name, double& target, std::string_view description);
  /// One of `values`.
  Section& choice(std::string_view name, std::string& target, std::vector<std::string> values,
                  std::string_view description);
  /// A secret given in the file: present means set, and set means not empty.
  Section& token(std::string_view name, std::optional<std::string>& target,
                 std::string_view description);
  /// A list of strings.
  Section& texts(std::string_view name, std::vector<std::string>& target,
                 std::string_view description);
  /// A nested mapping with keys of its own.
  Section& section(std::string_view name, std::string_view description,
                   const std::function<void(Section&)>& declare);
  /// A mapping whose keys are names the user picks (instances, loggers):
  /// `read` gets each entry's name, value and key; `value_schema` describes
  /// every value.
  /// `order`, when given, is the file's order of the entries.
  Section& entries(std::string_view name, std::string_view description, nlohmann::json value_schema,
                   const std::function<void(const std::string& entry, const nlohmann::json& value,
                                            const std::string& key)>& read,
                   const std::vector<std::string>* order = nullptr);
  /// A rule between keys, checked when reading: `message` under this
  /// section's key unless it holds.
  Section& rule(bool holds, std::string_view message);
  /// A rule on the value of key `name`, checked when reading (after the key
  /// was declared and read): `message` under that key unless it holds.
  Section& check(std::string_view name, bool holds, std::string_view message);

  /// Records the keys nobody declared (reading); closes the schema
  /// (`additionalProperties: false`).
  void finish();

  bool reading() const noexcept { return diagnostics_ != nullptr; }
  const std::string& key() const noexcept { return key_; }
  ConfigDiagnostics& diagnostics() { return *diagnostics_; }

 private:
  Section(const nlohmann::json* object, std::string key, ConfigDiagnostics* diagnostics,
          nlohmann::json* schema);

  /// The value of `name` when reading and present (not null); records the
  /// name as declared either way.
  const nlohmann::json* value_of(std::string_view name);
  std::string child(std::string_view name) const;
  void fail(std::string_view name, std::string_view message);
  /// Describing: adds `name` with `property` (type, constraints), the
  /// description and the default.
  void describe(std::string_view name, nlohmann::json property, std::string_view description,
                nlohmann::json default_value = nullptr);

  const nlohmann::json* object_;
  std::string key_;
  ConfigDiagnostics* diagnostics_;
  nlohmann::json* schema_;
  std::vector<std::string> declared_;
};

/// Lets a typed JSON Schema property (integer, number, boolean) also take a
/// `${VAR}` placeholder, as every value of the file may: editors validate
/// the text before the start replaces them.
void allow_placeholders(nlohmann::json& property);

}  // namespace processpype
