#include "section.hpp"

#include <fmt/format.h>

namespace processpype {

namespace {

using nlohmann::json;

const json& empty_object() {
  static const json empty = json::object();
  return empty;
}

constexpr double seconds_in_a_year = 365.0 * 24 * 3600;

}  // namespace

void allow_placeholders(json& property) {
  auto type = property.find("type");
  if (type == property.end()) return;
  bool takes_strings =
      *type == "string" ||
      (type->is_array() && std::find(type->begin(), type->end(), "string") != type->end());
  if (takes_strings || *type == "object" || *type == "array") return;
  json typed = json::object();
  for (auto key : {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"})
    if (auto found = property.find(key); found != property.end()) {
      typed[key] = std::move(*found);
      property.erase(key);
    }
  property["anyOf"] = {std::move(typed),
                       {{"type", "string"},
                        {"pattern", "\\$\\{[^}]+\\}"},
                        {"description", "${VAR} or ${VAR:-default}, replaced at start"}}};
}

Section::Section(const json* object, std::string key, ConfigDiagnostics* diagnostics, json* schema)
    : object_(object), key_(std::move(key)), diagnostics_(diagnostics), schema_(schema) {
  if (schema_ != nullptr) {
    (*schema_)["type"] = "object";
    (*schema_)["properties"] = json::object();
  }
}

Section Section::reader(const json& value, std::string key, ConfigDiagnostics& diagnostics) {
  if (value.is_null()) return Section{&empty_object(), std::move(key), &diagnostics, nullptr};
  if (!value.is_object()) {
    diagnostics.error(key.empty() ? "(top)" : key,
                      key.empty() ? "the file must be a mapping" : "must be a mapping");
    return Section{&empty_object(), std::move(key), &diagnostics, nullptr};
  }
  return Section{&value, std::move(key), &diagnostics, nullptr};
}

Section Section::describer(json& schema) {
  return Section{nullptr, {}, nullptr, &schema};
}

std::string Section::child(std::string_view name) const {
  return key_.empty() ? std::string{name} : key_ + "." + std::string{name};
}

void Section::fail(std::string_view name, std::string_view message) {
  diagnostics_->error(child(name), std::string{message});
}

const json* Section::value_of(std::string_view name) {
  declared_.emplace_back(name);
  if (!reading()) return nullptr;
  auto found = object_->find(name);
  return found == object_->end() || found->is_null() ? nullptr : &*found;
}

void Section::describe(std::string_view name, json property, std::string_view description,
                       json default_value) {
  if (reading()) return;
  allow_placeholders(property);
  property["description"] = description;
  if (!default_value.is_null()) property["default"] = std::move(default_value);
  (*schema_)["properties"][std::string{name}] = std::move(property);
}

Section& Section::text(std::string_view name, std::string& target, std::string_view description) {
  describe(name, {{"type", {"string", "number", "boolean"}}}, description,
           target.empty() ? json(nullptr) : json(target));
  auto* value = value_of(name);
  if (value == nullptr) return *this;
  if (value->is_string())
    target = value->get<std::string>();
  else if (value->is_number() || value->is_boolean())
    target = value->dump();
  else
    fail(name, "must be a string");
  return *this;
}

Section& Section::flag(std::string_view name, bool& target, std::string_view description) {
  describe(name, {{"type", "boolean"}}, description, target);
  auto* value = value_of(name);
  if (value == nullptr) return *this;
  if (value->is_boolean())
    target = value->get<bool>();
  else
    fail(name, "must be true or false");
  return *this;
}

Section& Section::port(std::string_view name, std::uint16_t& target, std::string_view description) {
  std::optional<std::uint16_t> read = target;
  port(name, read, description);
  target = *read;
  return *this;
}

Section& Section::port(std::string_view name, std::optional<std::uint16_t>& target,
                       std::string_view description) {
  describe(name, {{"type", "integer"}, {"minimum", 0}, {"maximum", 65535}}, description,
           target ? json(*target) : json(nullptr));
  auto* value = value_of(name);
  if (value == nullptr) return *this;
  if (!value->is_number_integer() || value->get<std::int64_t>() < 0 ||
      value->get<std::int64_t>() > 65535)
    fail(name, "must be a port number (0-65535)");
  else
    target = static_cast<std::uint16_t>(value->get<std::int64_t>());
  return *this;
}

Section& Section::count(std::string_view name, std::size_t& target, std::string_view description) {
  describe(name, {{"type", "integer"}, {"minimum", 1}}, description, target);
  auto* value = value_of(name);
  if (value == nullptr) return *this;
  if (!value->is_number_integer() || value->get<std::int64_t>() < 1)
    fail(name, "must be a positive integer");
  else
    target = static_cast<std::size_t>(value->get<std::int64_t>());
  return *this;
}

Section& Section::seconds(std::string_view name, double& target, std::string_view description) {
  describe(name, {{"type", "number"}, {"exclusiveMinimum", 0}, {"maximum", seconds_in_a_year}},
           description, target);
  auto* value = value_of(name);
  if (value == nullptr) return *this;
  if (!value->is_number())
    fail(name, "must be a number");
  else if (!(value->get<double>() > 0))
    fail(name, "must be greater than 0");
  else if (value->get<double>() > seconds_in_a_year)
    fail(name, "must be at most 31536000 (a year)");
  else
    target = value->get<double>();
  return *this;
}

Section& Section::seconds_or_zero(std::string_view name, double& target,
                                  std::string_view description) {
  describe(name, {{"type", "number"}, {"minimum", 0}, {"maximum", seconds_in_a_year}}, description,
           target);
  auto* value = value_of(name);
  if (value == nullptr) return *this;
  if (!value->is_number())
    fail(name, "must be a number");
  else if (value->get<double>() < 0)
    fail(name, "must be at least 0");
  else if (value->get<double>() > seconds_in_a_year)
    fail(name, "must be at most 31536000 (a year)");
  else
    target = value->get<double>();
  return *this;
}

Section& Section::choice(std::string_view name, std::string& target,
                         std::vector<std::string> values, std::string_view description) {
  describe(name, {{"type", "string"}, {"enum", values}}, description, target);
  auto* value = value_of(name);
  if (value == nullptr) return *this;
  if (value->is_string() &&
      std::find(values.begin(), values.end(), value->get<std::string>()) != values.end())
    target = value->get<std::string>();
  else
    fail(name, fmt::format("must be one of {}", fmt::join(values, ", ")));
  return *this;
}

Section& Section::token(std::string_view name, std::optional<std::string>& target,
                        std::string_view description) {
  describe(name, {{"type", "string"}, {"minLength", 1}}, description);
  declared_.emplace_back(name);
  if (!reading()) return *this;
  auto found = object_->find(name);
  if (found == object_->end()) return *this;
  // `admin_token: ${EMPTY}` reads as null: an empty token, never "no token".
  if (found->is_null()) return fail(name, "is empty (an unset or empty variable?)"), *this;
  if (!found->is_string()) return fail(name, "must be a string"), *this;
  auto token = found->get<std::string>();
  if (token.find_first_not_of(" \t\r\n") == std::string::npos)
    return fail(name, "is empty (an unset or empty variable?)"), *this;
  target = std::move(token);
  return *this;
}

Section& Section::texts(std::string_view name, std::vector<std::string>& target,
                        std::string_view description) {
  describe(name, {{"type", "array"}, {"items", {{"type", "string"}}}}, description,
           target.empty() ? json(nullptr) : json(target));
  auto* value = value_of(name);
  if (value == nullptr) return *this;
  bool all_strings =
      value->is_array() &&
      std::all_of(value->begin(), value->end(), [](const json& item) { return item.is_string(); });
  if (!all_strings) return fail(name, "must be a list of strings"), *this;
  target = value->get<std::vector<std::string>>();
  return *this;
}

Section& Section::section(std::string_view name, std::string_view description,
                          const std::function<void(Section&)>& declare) {
  if (!reading()) {
    auto& property = (*schema_)["properties"][std::string{name}];
    property = json::object();
    Section nested{nullptr, {}, nullptr, &property};
    declare(nested);
    nested.finish();
    property["description"] = description;
    declared_.emplace_back(name);
    return *this;
  }
  static const json absent = nullptr;
  auto* value = value_of(name);
  auto nested = Section::reader(value != nullptr ? *value : absent, child(name), *diagnostics_);
  declare(nested);
  nested.finish();
  return *this;
}

Section& Section::entries(
    std::string_view name, std::string_view description, json value_schema,
    const std::function<void(const std::string&, const json&, const std::string&)>& read,
    const std::vector<std::string>* order) {
  describe(name, {{"type", "object"}, {"additionalProperties", std::move(value_schema)}},
           description);
  auto* value = value_of(name);
  if (value == nullptr) return *this;
  if (!value->is_object()) return fail(name, "must be a mapping"), *this;
  if (order == nullptr) {
    for (const auto& [entry, entry_value] : value->items())
      read(entry, entry_value, child(name) + "." + entry);
    return *this;
  }
  for (const auto& entry : *order)
    if (auto found = value->find(entry); found != value->end())
      read(entry, *found, child(name) + "." + entry);
  return *this;
}

Section& Section::rule(bool holds, std::string_view message) {
  if (reading() && !holds) diagnostics_->error(key_.empty() ? "(top)" : key_, std::string{message});
  return *this;
}

Section& Section::check(std::string_view name, bool holds, std::string_view message) {
  if (reading() && !holds) fail(name, message);
  return *this;
}

void Section::finish() {
  if (!reading()) {
    (*schema_)["additionalProperties"] = false;
    return;
  }
  for (const auto& [name, value] : object_->items()) {
    if (std::find(declared_.begin(), declared_.end(), name) != declared_.end()) continue;
    auto suggestion = closest_name(name, declared_);
    diagnostics_->error(child(name),
                        suggestion.empty()
                            ? "unknown key"
                            : fmt::format("unknown key (did you mean {}?)", suggestion));
  }
}

}  // namespace processpype
