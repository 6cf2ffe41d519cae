#include "secret_references.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "processpype/runtime/service_registry.hpp"

namespace processpype {

namespace {

using nlohmann::json;

std::string child(const std::string& key, std::string_view name) {
  return key + "." + std::string{name};
}

/// The keys of a `services` entry that name a class, nodes or instances
/// (docs/secrets.md): lists, statuses and error messages quote them, so a
/// secret there would be shown. Their references are refused, not resolved.
constexpr std::string_view naming_keys[] = {"type", "placement", "nodes", "depends_on"};

bool is_naming_key(std::string_view field) {
  return std::find(std::begin(naming_keys), std::end(naming_keys), field) != std::end(naming_keys);
}

class ReferenceResolver {
 public:
  ReferenceResolver(const SecretBackends& backends, ConfigDiagnostics& diagnostics)
      : backends_(backends), diagnostics_(diagnostics) {}

  /// Replaces every reference below `value`; true when there was one.
  bool resolve(json& value, const std::string& key) {
    if (value.is_string()) {
      const auto& text = value.get_ref<const std::string&>();
      if (!mentions_secret(text)) return false;
      try {
        std::vector<std::string> secrets;
        value = backends_.substitute(text, &secrets);
        for (auto& secret : secrets) diagnostics_.hide(std::move(secret));
      } catch (const SecretError& error) {
        diagnostics_.error(key, error.detail());
        value = nullptr;
      }
      return true;
    }
    bool found = false;
    if (value.is_object())
      for (auto& [name, item] : value.items()) found = resolve(item, child(key, name)) || found;
    if (value.is_array())
      for (std::size_t i = 0; i < value.size(); ++i)
        found = resolve(value[i], child(key, std::to_string(i))) || found;
    return found;
  }

  /// Checks the references of a secret field's value and keeps them.
  void check(const json& value, const std::string& key) {
    if (!value.is_string() || !mentions_secret(value.get_ref<const std::string&>())) return;
    try {
      backends_.substitute(value.get_ref<const std::string&>());
    } catch (const SecretError& error) {
      diagnostics_.error(key, error.detail());
    }
  }

  /// Reports each reference below `value` as written, leaving it as text.
  void refuse(const json& value, const std::string& key) {
    if (value.is_string() && mentions_secret(value.get_ref<const std::string&>())) {
      diagnostics_.error(key, fmt::format("'{}': secret references cannot name a class, a node "
                                          "or an instance (lists and statuses show them)",
                                          value.get_ref<const std::string&>()));
    } else if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i)
        refuse(value[i], child(key, std::to_string(i)));
    }
  }

  /// One entry of `services`: secret fields keep their references, naming
  /// keys refuse them.
  void resolve_instance(const std::string& name, json& body, const std::string& key) {
    if (!body.is_object()) return resolve(body, key), void();
    auto secret_fields = secret_fields_of(name, body);
    for (auto& [field, value] : body.items()) {
      auto field_key = child(key, field);
      if (is_naming_key(field))
        refuse(value, field_key);
      else if (std::find(secret_fields.begin(), secret_fields.end(), field) != secret_fields.end())
        check(value, field_key);
      else if (resolve(value, field_key))
        diagnostics_.warning(field_key,
                             "holds a secret reference but is not a secret field: statuses "
                             "show its value");
    }
  }

 private:
  /// The secret fields of the instance's class (none when the class is
  /// unknown: that is reported where classes are checked).
  static std::vector<std::string> secret_fields_of(const std::string& name, const json& body) {
    auto type = body.find("type");
    auto key = type != body.end() && type->is_string() ? type->get<std::string>() : name;
    auto service_class = ServiceClassRegistry::global().find(key);
    if (!service_class) return {};
    try {
      return service_class->create(name)->create_configuration()->secret_field_names();
    } catch (const std::exception&) {
      return {};  // a class that cannot be made is reported at registration
    }
  }

  const SecretBackends& backends_;
  ConfigDiagnostics& diagnostics_;
};

void refuse_references(json& value, const std::string& key, ConfigDiagnostics& diagnostics) {
  if (value.is_string() && mentions_secret(value.get_ref<const std::string&>())) {
    diagnostics.error(key, "secret references cannot be used inside secrets");
    value = nullptr;
  } else if (value.is_object()) {
    for (auto& [name, item] : value.items()) refuse_references(item, child(key, name), diagnostics);
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i)
      refuse_references(value[i], child(key, std::to_string(i)), diagnostics);
  }
}

}  // namespace

void refuse_references_in_secrets(json& root, ConfigDiagnostics& diagnostics) {
  if (!root.is_object()) return;
  if (auto secrets = root.find("secrets"); secrets != root.end())
    refuse_references(*secrets, "secrets", diagnostics);
}

void resolve_secret_references(json& root, const SecretBackends& backends,
                               ConfigDiagnostics& diagnostics) {
  if (!root.is_object()) return;
  ReferenceResolver resolver{backends, diagnostics};
  for (auto& [section, value] : root.items()) {
    if (section == "secrets") continue;
    if (section == "services" && value.is_object()) {
      for (auto& [name, body] : value.items())
        resolver.resolve_instance(name, body, child(section, name));
    } else {
      resolver.resolve(value, section);
    }
  }
}

}  // namespace processpype
