#include "processpype/runtime/configuration.hpp"

#include <cmath>
#include <limits>
#include <unordered_set>

#include <fmt/format.h>

#include "processpype/runtime/json_input.hpp"

namespace processpype {

using nlohmann::json;

ConfigurationError::ConfigurationError(std::string field, const std::string& reason)
    : Error(ErrorCode::invalid_value, "Invalid configuration: field '" + field + "' " + reason),
      field_(std::move(field)),
      reason_(reason) {}

json mask_secret(const json& value) {
  if (value.is_null()) return nullptr;
  if (value.is_string() && value.get_ref<const std::string&>().empty()) return "";
  return masked_secret;
}

void ServiceConfiguration::require(bool condition, std::string_view field,
                                   std::string_view reason) {
  if (!condition) throw ConfigurationError(std::string{field}, std::string{reason});
}

// -- one field -------------------------------------------------------------------

namespace {

/// 1.0 → "1", 0.001 → "0.001": bounds as a person writes them.
std::string format_bound(double value) {
  return fmt::format("{}", value);
}

void assign(const std::string& key, const json& value, bool& target) {
  if (!value.is_boolean()) throw ConfigurationError(key, "must be a boolean");
  target = value.get<bool>();
}

void assign(const std::string& key, const json& value, std::int64_t& target) {
  // Unsigned JSON integers above int64's range are refused, not wrapped.
  if (value.is_number_unsigned() &&
      value.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
    throw ConfigurationError(key, "is out of the 64-bit integer range");
  if (!value.is_number_integer()) throw ConfigurationError(key, "must be an integer");
  target = value.get<std::int64_t>();
}

void assign(const std::string& key, const json& value, double& target) {
  if (!value.is_number()) throw ConfigurationError(key, "must be a number");
  target = value.get<double>();
  if (!std::isfinite(target)) throw ConfigurationError(key, "must be a finite number");
}

void assign(const std::string& key, const json& value, std::string& target) {
  if (!value.is_string()) throw ConfigurationError(key, "must be a string");
  target = value.get<std::string>();
}

void assign(const std::string& key, const json& value, std::vector<std::string>& target) {
  if (!value.is_array()) throw ConfigurationError(key, "must be a list of strings");
  std::vector<std::string> items;
  items.reserve(value.size());
  for (const auto& item : value) {
    if (!item.is_string()) throw ConfigurationError(key, "must be a list of strings");
    items.push_back(item.get<std::string>());
  }
  target = std::move(items);
}

void assign(const std::string& key, const json& value, json& target) {
  if (!json_depth_within(value))
    throw ConfigurationError(key, fmt::format("is nested deeper than {} levels", max_json_depth));
  target = value;
}

const char* json_type(const FieldRef& target) {
  struct {
    const char* operator()(bool*) const { return "boolean"; }
    const char* operator()(std::int64_t*) const { return "integer"; }
    const char* operator()(double*) const { return "number"; }
    const char* operator()(std::string*) const { return "string"; }
    const char* operator()(std::vector<std::string>*) const { return "array"; }
    const char* operator()(json*) const { return nullptr; }
  } visitor;
  return std::visit(visitor, target);
}

std::optional<double> numeric_value(const FieldRef& target) {
  if (auto* integer = std::get_if<std::int64_t*>(&target)) return static_cast<double>(**integer);
  if (auto* number = std::get_if<double*>(&target)) return **number;
  return std::nullopt;
}

}  // namespace

FieldDeclaration::FieldDeclaration(std::string_view name, FieldRef target, bool* is_set,
                                   std::string_view description)
    : name_(name), target_(target), is_set_(is_set), description_(description) {}

FieldDeclaration& FieldDeclaration::at_least(double minimum) {
  minimum_ = minimum;
  return *this;
}

FieldDeclaration& FieldDeclaration::at_most(double maximum) {
  maximum_ = maximum;
  return *this;
}

FieldDeclaration& FieldDeclaration::greater_than(double bound) {
  exclusive_minimum_ = bound;
  return *this;
}

FieldDeclaration& FieldDeclaration::one_of(std::initializer_list<std::string_view> values) {
  allowed_.assign(values.begin(), values.end());
  return *this;
}

void FieldDeclaration::read(const json& value) const {
  std::visit([&](auto* target) { assign(name_, value, *target); }, target_);
  if (is_set_ != nullptr) *is_set_ = true;
  check_constraints();
}

void FieldDeclaration::check_constraints() const {
  if (auto number = numeric_value(target_); number && !(zero_allowed_ && *number == 0))
    check_bounds(*number);
  if (auto* text = std::get_if<std::string*>(&target_); text && !allowed_.empty()) {
    for (const auto& allowed : allowed_)
      if (**text == allowed) return;
    std::string listed;
    for (const auto& allowed : allowed_)
      listed += fmt::format("{}\"{}\"", listed.empty() ? "" : ", ", allowed);
    throw ConfigurationError(name_, "must be one of " + listed);
  }
}

void FieldDeclaration::check_bounds(double number) const {
  const char* or_zero = zero_allowed_ ? "0 or " : "";
  if (minimum_ && maximum_ && (number < *minimum_ || number > *maximum_))
    throw ConfigurationError(name_, fmt::format("must be {}between {} and {}", or_zero,
                                                format_bound(*minimum_), format_bound(*maximum_)));
  if (minimum_ && number < *minimum_)
    throw ConfigurationError(name_, fmt::format("must be {}greater than or equal to {}", or_zero,
                                                format_bound(*minimum_)));
  if (maximum_ && number > *maximum_)
    throw ConfigurationError(
        name_, fmt::format("must be {}less than or equal to {}", or_zero, format_bound(*maximum_)));
  if (exclusive_minimum_ && number <= *exclusive_minimum_)
    throw ConfigurationError(name_, fmt::format("must be {}greater than {}", or_zero,
                                                format_bound(*exclusive_minimum_)));
}

json FieldDeclaration::value() const {
  if (is_set_ != nullptr && !*is_set_) return nullptr;
  return std::visit([](auto* source) { return json(*source); }, target_);
}

json FieldDeclaration::schema() const {
  auto schema = json::object();
  if (const char* type = json_type(target_)) schema["type"] = type;
  if (std::holds_alternative<std::vector<std::string>*>(target_))
    schema["items"] = {{"type", "string"}};
  if (!description_.empty()) schema["description"] = description_;
  if (is_set_ == nullptr) schema["default"] = secret_ ? mask_secret(value()) : value();
  if (secret_) {
    schema["x-processpype-secret"] = true;
    if (std::holds_alternative<std::string*>(target_)) schema["format"] = "password";
  }
  if (minimum_) schema["minimum"] = *minimum_;
  if (maximum_) schema["maximum"] = *maximum_;
  if (exclusive_minimum_) schema["exclusiveMinimum"] = *exclusive_minimum_;
  if (zero_allowed_ && minimum_ && *minimum_ > 0) {
    // 0, or from the minimum: what lies between is refused.
    schema["minimum"] = 0;
    schema["not"] = {{"exclusiveMinimum", 0}, {"exclusiveMaximum", *minimum_}};
  }
  if (!allowed_.empty()) schema["enum"] = allowed_;
  return schema;
}

// -- the whole configuration ----------------------------------------------------------

namespace {

/// One year: a longer duration overflows the nanoseconds of a timer.
constexpr double longest_duration_seconds = 365.0 * 24 * 3600;
/// One millisecond, as communications' timeout_seconds: a shorter duration
/// is a mistake, and below a nanosecond it becomes 0 as a timer, which is
/// "off" for health_interval_seconds (docs/configuration.md).
constexpr double shortest_duration_seconds = 0.001;

}  // namespace

void ServiceConfiguration::base_fields(Fields& fields) {
  fields("enabled", enabled, "Started when the application starts its enabled services");
  fields("autostart", autostart, "Start by itself right after each configure");
  fields("start_timeout_seconds", start_timeout_seconds,
         "How long the manager's start may take before the service is in error")
      .at_least(shortest_duration_seconds)
      .at_most(longest_duration_seconds);
  fields("stop_timeout_seconds", stop_timeout_seconds,
         "How long the manager's stop may take before the service is in error")
      .at_least(shortest_duration_seconds)
      .at_most(longest_duration_seconds);
  fields("restart", restart, "Whether the supervisor restarts the service after a failure")
      .one_of({"never", "on-failure"});
  fields("restart_delay_seconds", restart_delay_seconds,
         "Delay before the first restart; doubles after each consecutive restart")
      .at_least(0)
      .at_most(longest_duration_seconds);
  fields("restart_max_delay_seconds", restart_max_delay_seconds, "Cap of the restart delay")
      .at_least(0)
      .at_most(longest_duration_seconds);
  fields("max_restarts", max_restarts, "Restarts allowed within restart_window_seconds")
      .at_least(0);
  fields("restart_window_seconds", restart_window_seconds,
         "The sliding window of max_restarts, and how long a service must run for the delay to "
         "reset")
      .at_least(shortest_duration_seconds)
      .at_most(longest_duration_seconds);
  fields("health_interval_seconds", health_interval_seconds,
         "Seconds between health checks while running (0: no checks)")
      .at_least(shortest_duration_seconds)
      .at_most(longest_duration_seconds)
      .or_zero();
  fields("health_timeout_seconds", health_timeout_seconds,
         "How long a health check may take before it counts as not ok")
      .at_least(shortest_duration_seconds)
      .at_most(longest_duration_seconds);
  fields("health_failures", health_failures, "Consecutive not-ok health checks that make a failure")
      .at_least(1);
  fields("depends_on", depends_on,
         "Instances on this node that must be running before this one starts");
}

Fields ServiceConfiguration::declare() {
  Fields declared;
  base_fields(declared);
  fields(declared);
  return declared;
}

void ServiceConfiguration::load(const json& object) {
  if (!object.is_object())
    throw Error(ErrorCode::invalid_value, "Configuration must be a JSON object");
  auto declared = declare();
  std::unordered_set<std::string_view> consumed;
  for (const auto& field : declared.declarations()) {
    auto found = object.find(field.name());
    bool absent = found == object.end() || (field.required() && found->is_null());
    if (absent) {
      if (field.required()) throw ConfigurationError(field.name(), "is required");
      continue;
    }
    consumed.insert(field.name());
    field.read(*found);
  }
  extra_fields_ = nullptr;
  for (const auto& [key, value] : object.items()) {
    if (consumed.count(key) != 0) continue;
    if (!json_depth_within(value))
      throw ConfigurationError(key, fmt::format("is nested deeper than {} levels", max_json_depth));
    extra_fields_[key] = value;
  }
  validate();
}

std::vector<ConfigurationError> ServiceConfiguration::problems(const json& object) {
  if (!object.is_object())
    return {ConfigurationError("", "must be a mapping of configuration fields")};
  std::vector<ConfigurationError> found;
  auto declared = declare();
  for (const auto& field : declared.declarations()) {
    auto value = object.find(field.name());
    bool absent = value == object.end() || (field.required() && value->is_null());
    try {
      if (absent && field.required()) throw ConfigurationError(field.name(), "is required");
      if (!absent) field.read(*value);
    } catch (const ConfigurationError& error) {
      found.push_back(error);
    }
  }
  for (const auto& [key, value] : object.items())
    if (!json_depth_within(value))
      found.emplace_back(key, fmt::format("is nested deeper than {} levels", max_json_depth));
  if (!found.empty()) return found;
  try {
    validate();
  } catch (const ConfigurationError& error) {
    found.push_back(error);
  }
  return found;
}

std::vector<std::string> ServiceConfiguration::field_names() const {
  std::vector<std::string> names;
  auto declared = declare();
  for (const auto& field : declared.declarations()) names.push_back(field.name());
  return names;
}

std::vector<std::string> ServiceConfiguration::secret_field_names() const {
  std::vector<std::string> names;
  auto declared = declare();
  for (const auto& field : declared.declarations())
    if (field.is_secret()) names.push_back(field.name());
  return names;
}

json ServiceConfiguration::to_json() const {
  json object = extra_fields_.is_null() ? json::object() : extra_fields_;
  auto declared = declare();
  for (const auto& field : declared.declarations()) object[field.name()] = field.value();
  return object;
}

json ServiceConfiguration::to_public_json() const {
  json object = extra_fields_.is_null() ? json::object() : extra_fields_;
  auto declared = declare();
  for (const auto& field : declared.declarations())
    object[field.name()] = field.is_secret() ? mask_secret(field.value()) : field.value();
  return object;
}

json ServiceConfiguration::schema() const {
  auto properties = json::object();
  auto required = json::array();
  auto declared = declare();
  for (const auto& field : declared.declarations()) {
    properties[field.name()] = field.schema();
    if (field.required()) required.push_back(field.name());
  }
  json schema = {
      {"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", true}};
  if (!required.empty()) schema["required"] = std::move(required);
  return schema;
}

}  // namespace processpype
