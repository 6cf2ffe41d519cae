#pragma once

#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "processpype/runtime/service.hpp"

namespace processpype {

/// One registered service class.
struct ServiceClass {
  std::string key;        ///< registry key, e.g. "echo"
  std::string type_name;  ///< C++ class name without namespace, e.g. "EchoService"
  std::function<std::unique_ptr<Service>(std::string instance_name)> create;
};

/// What a class offers, for documents (the OpenAPI document, the dashboard):
/// its configuration's JSON Schema and its custom routes. Made from a
/// throwaway instance, so a service's constructor must stay cheap.
struct ServiceClassDescription {
  nlohmann::json configuration_schema;
  std::vector<RouteInfo> routes;
  bool requires_configuration = true;
};

ServiceClassDescription describe(const ServiceClass& service_class);

/// `EchoService` → `echo`: lowercased, a trailing `service` removed, any
/// namespace qualification dropped.
std::string service_class_key(std::string_view class_name);

/// `ns::EchoService` → `EchoService`.
std::string_view unqualified_type_name(std::string_view class_name) noexcept;

/// Instance names are 1-64 characters of [A-Za-z0-9_.-], not "." or "..".
bool is_valid_instance_name(std::string_view name) noexcept;

/// The process-wide registry of service classes (docs/embedding.md). Thread-safe.
class ServiceClassRegistry {
 public:
  static ServiceClassRegistry& global();

  /// Adds (or replaces) a class. Returns true, for static registration.
  bool add(ServiceClass service_class);

  template <class ServiceType>
  bool add(std::string_view class_name) {
    auto type_name = std::string{unqualified_type_name(class_name)};
    return add(ServiceClass{service_class_key(type_name), type_name, [](std::string name) {
                              return std::unique_ptr<Service>{new ServiceType(std::move(name))};
                            }});
  }

  std::shared_ptr<const ServiceClass> find(std::string_view key) const;
  /// Every class, sorted by key.
  std::vector<std::shared_ptr<const ServiceClass>> classes() const;
  /// Registered keys, sorted.
  std::vector<std::string> keys() const;

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const ServiceClass>> classes_;
};

}  // namespace processpype

/// Adds `Type` to the global class registry under its key (EchoService → "echo").
#define PROCESSPYPE_REGISTER_SERVICE(Type)                           \
  [[maybe_unused]] static const bool processpype_registered_##Type = \
      ::processpype::ServiceClassRegistry::global().add<Type>(#Type)
