#include "dependency_graph.hpp"

#include <fmt/format.h>

namespace processpype {

void DependencyGraph::set_dependencies(SupervisedInstance& instance,
                                       std::vector<std::string> depends_on) {
  for (const auto& dependency : instance.depends_on) {
    auto& list = dependents_[dependency];
    std::erase(list, instance.name);
    if (list.empty()) {
      dependents_.erase(dependency);
      mark_dependents(dependency, false);
    }
  }
  instance.depends_on = std::move(depends_on);
  for (const auto& dependency : instance.depends_on) {
    dependents_[dependency].push_back(instance.name);
    mark_dependents(dependency, true);
  }
}

const std::vector<std::string>& DependencyGraph::dependents_of(const std::string& name) const {
  static const std::vector<std::string> none;
  auto found = dependents_.find(name);
  return found == dependents_.end() ? none : found->second;
}

std::vector<std::string> DependencyGraph::registered_dependents(const std::string& name) const {
  std::vector<std::string> result;
  for (const auto& dependent : dependents_of(name))
    if (auto* instance = instances_.find(dependent); instance != nullptr && !instance->removing)
      result.push_back(dependent);
  return result;
}

std::optional<caf::error> DependencyGraph::start_refusal(const std::string& name) const {
  auto dependencies_of = [this](const std::string& n) -> const std::vector<std::string>* {
    auto* instance = instances_.find(n);
    return instance == nullptr ? nullptr : &instance->depends_on;
  };
  // Most instances depend on nothing: no cycle can pass through them, and
  // every start would otherwise pay for a walk (a map, a path, an order).
  if (const auto* own = dependencies_of(name); own != nullptr && own->empty()) return std::nullopt;
  auto order = order_along({name}, dependencies_of);
  if (order.cycle)
    return make_error(ErrorCode::conflict, fmt::format("Cannot start {}: dependency cycle {}", name,
                                                       describe_cycle(*order.cycle)));
  for (const auto& dependency : *dependencies_of(name)) {
    auto* instance = instances_.find(dependency);
    if (instance == nullptr || instance->record->state() != ServiceState::running)
      return make_error(
          ErrorCode::conflict,
          fmt::format("Cannot start {}: dependency {} is not running", name, dependency));
  }
  return std::nullopt;
}

std::vector<std::string> DependencyGraph::active_dependents(const std::string& name) const {
  std::vector<std::string> active;
  if (!has_dependents(name)) return active;
  for (const auto& dependent : stop_order({name}).order) {
    if (dependent == name) continue;
    auto* instance = instances_.find(dependent);
    if (instance != nullptr && is_active(instance->record->state())) active.push_back(dependent);
  }
  return active;
}

DependencyOrder DependencyGraph::stop_order(const std::vector<std::string>& roots) const {
  return order_along(roots, [this](const std::string& n) { return &dependents_of(n); });
}

void DependencyGraph::mark_dependents(const std::string& name, bool has_dependents) {
  if (auto* instance = instances_.find(name)) instance->record->set_has_dependents(has_dependents);
}

}  // namespace processpype
