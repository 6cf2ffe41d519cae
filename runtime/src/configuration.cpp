#include "processpype/runtime/configuration.hpp"

#include <limits>
#include <unordered_set>

namespace processpype {

ConfigurationError::ConfigurationError(std::string field, const std::string& reason)
    : Error(ErrorCode::invalid_configuration,
            "Invalid configuration: field '" + field + "' " + reason),
      field_(std::move(field)) {}

void ServiceConfiguration::require(bool condition, std::string_view field,
                                   std::string_view reason) {
  if (!condition) throw ConfigurationError(std::string{field}, std::string{reason});
}

namespace {

/// Reads each declared field from a JSON object with strict types and
/// remembers which keys it consumed.
class FieldReader final : public FieldVisitor {
 public:
  explicit FieldReader(const nlohmann::json& object) : object_(object) {}

  bool consumed(const std::string& key) const { return consumed_.count(key) != 0; }

 protected:
  void visit(std::string_view name, FieldRef field, bool* is_set) override {
    auto key = std::string{name};
    auto found = object_.find(key);
    if (found == object_.end() || (is_set != nullptr && found->is_null())) {
      if (is_set != nullptr) throw ConfigurationError(key, "is required");
      return;
    }
    consumed_.insert(key);
    std::visit([&](auto* target) { assign(key, *found, *target); }, field);
    if (is_set != nullptr) *is_set = true;
  }

 private:
  static void assign(const std::string& key, const nlohmann::json& value, bool& target) {
    if (!value.is_boolean()) throw ConfigurationError(key, "must be a boolean");
    target = value.get<bool>();
  }
  static void assign(const std::string& key, const nlohmann::json& value, std::int64_t& target) {
    // Unsigned JSON integers above int64's range are refused, not wrapped.
    if (value.is_number_unsigned() &&
        value.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      throw ConfigurationError(key, "is out of the 64-bit integer range");
    if (!value.is_number_integer()) throw ConfigurationError(key, "must be an integer");
    target = value.get<std::int64_t>();
  }
  static void assign(const std::string& key, const nlohmann::json& value, double& target) {
    if (!value.is_number()) throw ConfigurationError(key, "must be a number");
    target = value.get<double>();
  }
  static void assign(const std::string& key, const nlohmann::json& value, std::string& target) {
    if (!value.is_string()) throw ConfigurationError(key, "must be a string");
    target = value.get<std::string>();
  }
  static void assign(const std::string&, const nlohmann::json& value, nlohmann::json& target) {
    target = value;
  }

  const nlohmann::json& object_;
  std::unordered_set<std::string> consumed_;
};

class FieldWriter final : public FieldVisitor {
 public:
  explicit FieldWriter(nlohmann::json& object) : object_(object) {}

 protected:
  void visit(std::string_view name, FieldRef field, bool* is_set) override {
    auto& slot = object_[std::string{name}];
    if (is_set != nullptr && !*is_set) {
      slot = nullptr;
      return;
    }
    std::visit([&](auto* source) { slot = *source; }, field);
  }

 private:
  nlohmann::json& object_;
};

}  // namespace

void ServiceConfiguration::base_fields(FieldVisitor& visitor) {
  visitor("enabled", enabled);
  visitor("autostart", autostart);
  visitor("start_timeout_seconds", start_timeout_seconds);
  visitor("stop_timeout_seconds", stop_timeout_seconds);
}

void ServiceConfiguration::validate_base() const {
  require(start_timeout_seconds > 0, "start_timeout_seconds", "must be greater than 0");
  require(stop_timeout_seconds > 0, "stop_timeout_seconds", "must be greater than 0");
}

void ServiceConfiguration::load(const nlohmann::json& object) {
  if (!object.is_object())
    throw Error(ErrorCode::invalid_configuration, "Configuration must be a JSON object");
  FieldReader reader{object};
  base_fields(reader);
  fields(reader);
  extra_fields_ = nullptr;
  for (const auto& [key, value] : object.items())
    if (!reader.consumed(key)) extra_fields_[key] = value;
  validate_base();
  validate();
}

nlohmann::json ServiceConfiguration::to_json() const {
  nlohmann::json object = extra_fields_.is_null() ? nlohmann::json::object() : extra_fields_;
  FieldWriter writer{object};
  // Visiting needs non-const references; writing only reads through them.
  auto& self = const_cast<ServiceConfiguration&>(*this);
  self.base_fields(writer);
  self.fields(writer);
  return object;
}

}  // namespace processpype
