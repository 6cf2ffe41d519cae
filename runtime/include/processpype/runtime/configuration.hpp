#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "processpype/runtime/errors.hpp"

namespace processpype {

/// A configuration was refused: names the field and says why. Maps to 422.
class ConfigurationError : public Error {
 public:
  ConfigurationError(std::string field, const std::string& reason);

  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
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
  friend class FieldVisitor;
  T value_{};
  bool has_value_ = false;
};

/// The supported field types; every field is one of these (by address).
using FieldRef = std::variant<bool*, std::int64_t*, double*, std::string*, nlohmann::json*>;

/// Walks the declared fields of a configuration, once to read them from JSON
/// and once to write them back. Configurations never implement it; they only
/// list their fields (PROCESSPYPE_FIELDS).
class FieldVisitor {
 public:
  virtual ~FieldVisitor() = default;

  template <class T>
  void operator()(std::string_view name, T& value) {
    visit(name, FieldRef{&value}, nullptr);
  }
  template <class T>
  void operator()(std::string_view name, Required<T>& value) {
    visit(name, FieldRef{&value.value_}, &value.has_value_);
  }

 protected:
  /// `is_set` is null for fields with a default, else the Required flag.
  virtual void visit(std::string_view name, FieldRef field, bool* is_set) = 0;
};

/// The base configuration of every service (SPEC 2.1). Custom configurations
/// derive from it, give their fields defaults, list them once with
/// PROCESSPYPE_FIELDS and may override validate():
///
///     struct CounterConfiguration : processpype::ServiceConfiguration {
///       std::int64_t initial_value = 0;
///       std::int64_t step = 1;
///       PROCESSPYPE_FIELDS(initial_value, step)
///       void validate() const override { require(step > 0, "step", "must be greater than 0"); }
///     };
class ServiceConfiguration {
 public:
  bool enabled = true;
  bool autostart = false;
  double start_timeout_seconds = 60.0;
  double stop_timeout_seconds = 60.0;

  ServiceConfiguration() = default;
  virtual ~ServiceConfiguration() = default;
  ServiceConfiguration(const ServiceConfiguration&) = delete;
  ServiceConfiguration& operator=(const ServiceConfiguration&) = delete;

  /// Replaces every field from `object` (absent ones keep their defaults) and
  /// keeps unknown keys; then validates. Throws ConfigurationError.
  void load(const nlohmann::json& object);

  /// Every field (base, declared, unknown extras) as one JSON object.
  nlohmann::json to_json() const;

  /// Whether the application should start this instance by itself:
  /// `autostart` and `enabled` (a disabled instance never starts by itself).
  bool starts_by_itself() const noexcept { return enabled && autostart; }

 protected:
  /// Lists the fields of a derived configuration; PROCESSPYPE_FIELDS writes it.
  virtual void fields(FieldVisitor& /*visitor*/) {}

  /// Service-defined checks, called after the fields were read. Throw
  /// ConfigurationError (or use require) to refuse.
  virtual void validate() const {}

  /// Throws ConfigurationError(field, reason) unless `condition` holds.
  static void require(bool condition, std::string_view field, std::string_view reason);

 private:
  void base_fields(FieldVisitor& visitor);
  void validate_base() const;

  nlohmann::json extra_fields_;  ///< null until there are some (no allocation)
};

}  // namespace processpype

#define PROCESSPYPE_DETAIL_VISIT_FIELD(field) processpype_visitor(#field, field);

/// Declares the JSON fields of a configuration, once: name and member are the
/// same token.
#define PROCESSPYPE_FIELDS(...)                                                            \
 protected:                                                                                \
  void fields(::processpype::FieldVisitor& processpype_visitor) override {                 \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(PROCESSPYPE_DETAIL_VISIT_FIELD, __VA_ARGS__)) \
  }                                                                                        \
                                                                                           \
 public:
