#include "processpype/runtime/service_registry.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

namespace processpype {

std::string_view unqualified_type_name(std::string_view class_name) noexcept {
  auto colon = class_name.rfind("::");
  return colon == std::string_view::npos ? class_name : class_name.substr(colon + 2);
}

std::string service_class_key(std::string_view class_name) {
  std::string key{unqualified_type_name(class_name)};
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  constexpr std::string_view suffix = "service";
  if (key.size() > suffix.size() && key.ends_with(suffix)) key.resize(key.size() - suffix.size());
  return key;
}

bool is_valid_instance_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

ServiceClassRegistry& ServiceClassRegistry::global() {
  static ServiceClassRegistry registry;
  return registry;
}

bool ServiceClassRegistry::add(ServiceClass service_class) {
  std::unique_lock lock{mutex_};
  auto key = service_class.key;
  classes_[std::move(key)] = std::make_shared<const ServiceClass>(std::move(service_class));
  return true;
}

std::shared_ptr<const ServiceClass> ServiceClassRegistry::find(std::string_view key) const {
  std::shared_lock lock{mutex_};
  auto found = classes_.find(std::string{key});
  return found == classes_.end() ? nullptr : found->second;
}

std::vector<std::shared_ptr<const ServiceClass>> ServiceClassRegistry::classes() const {
  std::vector<std::shared_ptr<const ServiceClass>> result;
  {
    std::shared_lock lock{mutex_};
    for (const auto& [key, service_class] : classes_) result.push_back(service_class);
  }
  std::sort(result.begin(), result.end(),
            [](const auto& a, const auto& b) { return a->key < b->key; });
  return result;
}

ServiceClassDescription describe(const ServiceClass& service_class) {
  auto instance = service_class.create(service_class.key);
  ServiceRoutes routes;
  instance->add_routes(routes);
  ServiceClassDescription description;
  description.configuration_schema = instance->create_configuration()->schema();
  description.requires_configuration = instance->requires_configuration();
  for (const auto& route : routes.table().routes()) description.routes.push_back(route.info);
  return description;
}

std::vector<std::string> ServiceClassRegistry::keys() const {
  std::shared_lock lock{mutex_};
  std::vector<std::string> result;
  result.reserve(classes_.size());
  for (const auto& [key, _] : classes_) result.push_back(key);
  std::sort(result.begin(), result.end());
  return result;
}

}  // namespace processpype
