#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/runtime/errors.hpp"

namespace processpype {

/// What a status shows of a secret field that is set (docs/secrets.md); a
/// configure that sends it back keeps the field's current value.
inline constexpr std::string_view masked_secret = "***";

/// What answers show of a secret field's `value`: `"***"` when set, `""`
/// when it is the empty string, null when unset.
nlohmann::json mask_secret(const nlohmann::json& value);

/// A configuration was refused: names the field and says why. Maps to 422.
class ConfigurationError : public Error {
 public:
  ConfigurationError(std::string field, const std::string& reason);

  const std::string& field() const noexcept { return field_; }
  /// What is wrong with the field, e.g. "must be an integer".
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string field_;
  std::string reason_;
};

/// Marks a configuration field without a default: a configure that omits it
/// is refused naming the field.
template <class T>
class Required {
 public:
  bool has_value() const noexcept { return has_value_; }
  const T& value() const {
    if (!has_value_) throw std::logic_error("required configuration field read before it was set");
    return value_;
  }
  const T& operator*() const { return value(); }
  operator const T&() const { return value(); }  // NOLINT: reads like the plain field

 private:
  friend class Fields;
  T value_{};
  bool has_value_ = false;
};

/// The types a field may have: JSON integer, number, boolean, string, a list
/// of strings, or any JSON value.
using FieldRef = std::variant<bool*, std::int64_t*, double*, std::string*,
                              std::vector<std::string>*, nlohmann::json*>;

/// One declared field: where it lives, what it means and what it accepts.
/// Constraints are checked when a configuration is loaded and appear in the
/// class's JSON Schema, so the schema and the checks come from this one
/// declaration.
class FieldDeclaration {
 public:
  FieldDeclaration(std::string_view name, FieldRef target, bool* is_set,
                   std::string_view description);

  /// Numbers: inclusive bounds, and an exclusive lower bound.
  FieldDeclaration& at_least(double minimum);
  FieldDeclaration& at_most(double maximum);
  FieldDeclaration& greater_than(double bound);
  FieldDeclaration& between(double minimum, double maximum) {
    return at_least(minimum).at_most(maximum);
  }
  /// Numbers: 0 is accepted as well, outside the bounds (a duration whose 0
  /// means "off").
  FieldDeclaration& or_zero() noexcept {
    zero_allowed_ = true;
    return *this;
  }
  /// Strings: the accepted values.
  FieldDeclaration& one_of(std::initializer_list<std::string_view> values);
  /// A secret (docs/secrets.md): answers, events and documents show it as
  /// `"***"`; a configure may set it to a `${secret:backend:key}`
  /// reference, resolved at each configure.
  FieldDeclaration& secret() noexcept {
    secret_ = true;
    return *this;
  }

  const std::string& name() const noexcept { return name_; }
  const std::string& description() const noexcept { return description_; }
  bool required() const noexcept { return is_set_ != nullptr; }
  bool is_secret() const noexcept { return secret_; }

  /// Reads `value` into the field with strict types, then checks the
  /// constraints. Throws ConfigurationError naming the field.
  void read(const nlohmann::json& value) const;
  /// The field's current value (null for a required field not set yet).
  nlohmann::json value() const;
  /// The JSON Schema of the field, `default` from its current value
  /// (masked for a secret).
  nlohmann::json schema() const;

 private:
  void check_constraints() const;
  void check_bounds(double number) const;

  std::string name_;
  FieldRef target_;
  bool* is_set_;  ///< the Required flag; null for fields with a default
  std::string description_;
  std::optional<double> minimum_;
  std::optional<double> maximum_;
  std::optional<double> exclusive_minimum_;
  bool zero_allowed_ = false;
  std::vector<std::string> allowed_;
  bool secret_ = false;
};

/// What a configuration's `fields` receives: declare each field once, with
/// its description and constraints.
///
///     void fields(processpype::Fields& fields) override {
///       fields("step", step, "What one increment adds").greater_than(0);
///     }
class Fields {
 public:
  template <class T>
  FieldDeclaration& operator()(std::string_view name, T& member, std::string_view description) {
    return declarations_.emplace_back(name, FieldRef{&member}, nullptr, description);
  }
  template <class T>
  FieldDeclaration& operator()(std::string_view name, Required<T>& member,
                               std::string_view description) {
    return declarations_.emplace_back(name, FieldRef{&member.value_}, &member.has_value_,
                                      description);
  }

  const std::vector<FieldDeclaration>& declarations() const noexcept { return declarations_; }

 private:
  std::vector<FieldDeclaration> declarations_;
};

/// The base configuration of every service (docs/configuration.md lists the
/// fields). Custom configurations derive from it, give their fields
/// defaults, declare them once in `fields` and may add cross-field checks in
/// `validate`:
///
///     struct CounterConfiguration : processpype::ServiceConfiguration {
///       std::int64_t initial_value = 0;
///       std::int64_t step = 1;
///       void fields(processpype::Fields& fields) override {
///         fields("initial_value", initial_value, "The value after a configure");
///         fields("step", step, "What one increment adds").greater_than(0);
///       }
///     };
class ServiceConfiguration {
 public:
  bool enabled = true;
  bool autostart = false;
  double start_timeout_seconds = 60.0;
  double stop_timeout_seconds = 60.0;

  // Supervision (docs/supervision.md).
  std::string restart = "never";
  double restart_delay_seconds = 1.0;
  double restart_max_delay_seconds = 30.0;
  std::int64_t max_restarts = 5;
  double restart_window_seconds = 60.0;
  double health_interval_seconds = 0.0;
  double health_timeout_seconds = 5.0;
  std::int64_t health_failures = 3;
  std::vector<std::string> depends_on;

  ServiceConfiguration() = default;
  virtual ~ServiceConfiguration() = default;
  ServiceConfiguration(const ServiceConfiguration&) = delete;
  ServiceConfiguration& operator=(const ServiceConfiguration&) = delete;

  /// Replaces every field from `object` (absent ones keep their defaults),
  /// keeps unknown keys, then validates. Throws ConfigurationError.
  void load(const nlohmann::json& object);

  /// Every problem load(object) would refuse, not just the first: each
  /// declared field's, then (when they all pass) the cross-field checks'.
  /// For reports that list them all (`processpype check-config`).
  std::vector<ConfigurationError> problems(const nlohmann::json& object);

  /// The names of the declared fields, base ones first.
  std::vector<std::string> field_names() const;

  /// The names of the fields declared secret.
  std::vector<std::string> secret_field_names() const;

  /// Every field (base, declared, unknown extras) as one JSON object, in
  /// clear: what the manager sees. Never put it in an answer.
  nlohmann::json to_json() const;
  /// The same with secret fields masked (mask_secret): what statuses show.
  nlohmann::json to_public_json() const;

  /// The JSON Schema (2020-12) of this configuration type: every declared
  /// field with type, default, description and constraints; required fields;
  /// other properties allowed (they are kept).
  nlohmann::json schema() const;

  /// Whether the application should start this instance by itself:
  /// `autostart` and `enabled` (a disabled instance never starts by itself).
  bool starts_by_itself() const noexcept { return enabled && autostart; }
  bool restarts_on_failure() const noexcept { return restart == "on-failure"; }

 protected:
  /// Declares the fields of a derived configuration.
  virtual void fields(Fields& /*fields*/) {}

  /// Checks that involve several fields, called after every field was read
  /// and checked. Throw ConfigurationError (or use require) to refuse.
  virtual void validate() const {}

  /// Throws ConfigurationError(field, reason) unless `condition` holds.
  static void require(bool condition, std::string_view field, std::string_view reason);

 private:
  /// Every field, base ones first. Not const: declarations point into *this.
  Fields declare();
  Fields declare() const { return const_cast<ServiceConfiguration*>(this)->declare(); }
  void base_fields(Fields& fields);

  nlohmann::json extra_fields_;  ///< null until there are some (no allocation)
};

}  // namespace processpype
