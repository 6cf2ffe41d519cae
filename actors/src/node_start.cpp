// Runtime::restore: a node's instances at start (docs/state.md, "At
// start"). The application file gives the first layer, the state file's
// request layer goes on top; the service objects are prepared here, off the
// actors (in parallel for large tables), registered in one message to the
// Supervisor, then started by desired state in dependency order.
#include <algorithm>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <caf/all.hpp>

#include "blocking_request.hpp"
#include "change_writer.hpp"
#include "internal_protocol.hpp"
#include "missing_class.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/runtime/dependencies.hpp"

namespace processpype {

namespace {

using nlohmann::json;

/// One instance as the layers describe it, before it is prepared.
struct Planned {
  std::string name;
  std::string class_key;
  InstanceOrigin origin = InstanceOrigin::file;
  const json* file_configuration = nullptr;  ///< the file's mapping; null: a request instance
  /// Its row, if the state file has one: preparing it takes the row's
  /// configuration over.
  state::StoredInstance* stored = nullptr;
  bool enabled_service = false;  ///< named by ENABLED_SERVICES
};

/// The instances the node's start gives before the state file's layer: the
/// application file's, in file order, then an instance of each
/// ENABLED_SERVICES key the file does not list. Both are file instances
/// (docs/state.md, "At start"): a request's changes are layered over them,
/// a DELETE leaves a tombstone.
struct BaseInstances {
  explicit BaseInstances(const StartPlan& plan) {
    std::unordered_set<std::string> names;
    for (const auto& file : plan.file) names.insert(file.name);
    for (const auto& key : plan.enabled_services)
      if (names.insert(key).second) enabled_only.push_back({key, key, json::object()});
    all.reserve(plan.file.size() + enabled_only.size());
    for (const auto& file : plan.file) all.push_back(&file);
    for (const auto& enabled : enabled_only) all.push_back(&enabled);
  }
  std::vector<FileInstance> enabled_only;  ///< ENABLED_SERVICES keys the file does not list
  std::vector<const FileInstance*> all;
};

/// The file's instances, then the state file's layer over them.
std::vector<Planned> plan_instances(const BaseInstances& base, const StartPlan& plan,
                                    std::vector<state::StoredInstance>& stored,
                                    std::vector<std::pair<std::string, std::string>>& problems) {
  std::unordered_map<std::string, state::StoredInstance*> rows;
  for (auto& row : stored) rows.emplace(row.name, &row);
  std::vector<Planned> planned;
  std::unordered_map<std::string, std::size_t> index;
  auto add = [&](Planned instance) {
    index.emplace(instance.name, planned.size());
    planned.push_back(std::move(instance));
  };
  for (const auto* base_instance : base.all) {
    const auto& file = *base_instance;
    auto row = rows.find(file.name);
    auto* stored_row = row == rows.end() ? nullptr : row->second;
    if (stored_row && stored_row->deregistered) continue;  // deregistered by a request
    if (stored_row && stored_row->origin == state::Origin::request) continue;  // the row's, below
    add({file.name, file.class_key, InstanceOrigin::file, &file.configuration, stored_row});
  }
  for (auto& row : stored) {
    if (row.deregistered || index.count(row.name) != 0) continue;
    if (row.origin == state::Origin::file) {
      problems.emplace_back(row.name,
                            "the state file holds changes of a file instance the application "
                            "file no longer lists: not restored");
      continue;
    }
    add({row.name, row.class_key, InstanceOrigin::request, nullptr, &row});
  }
  // ENABLED_SERVICES starts the instance of its name, unless a DELETE left
  // it deregistered. A request instance registered under that name since is
  // a fresh row: its own desired state decides (docs/state.md).
  for (const auto& key : plan.enabled_services)
    if (auto found = index.find(key); found != index.end()) {
      auto& instance = planned[found->second];
      instance.enabled_service = instance.origin == InstanceOrigin::file;
    }
  return planned;
}

/// What preparing one instance gives: the Supervisor's part, and what its
/// start needs to know.
struct Prepared {
  RestoredInstance instance;
  /// Its configuration came from the state file: its problems are the
  /// stored layer's (error, not exit 2).
  bool stored_configuration = false;
  /// Its row's configuration, for its writer: what a configure the service
  /// refuses writes back (docs/state.md).
  std::optional<json> stored_body;
  std::optional<state::DesiredState> desired;
  bool enabled_service = false;
  /// The application file's `enabled` (a file instance): whether it starts
  /// when nothing is stored of a user's start or stop. A stored configure
  /// that leaves `enabled` out does not turn a disabled instance on.
  bool file_enabled = false;
};

/// The file's configuration with defaults filled in, for `overrides`, in
/// the form overrides_basis() gives an instance's: as statuses show it, but
/// a secret field as the file gives it (in clear or as a reference). Never
/// rendered.
std::shared_ptr<const json> file_metadata(const ServiceClass& service_class,
                                          const Planned& planned) {
  if (planned.origin != InstanceOrigin::file) return nullptr;
  try {
    auto configuration = service_class.create(planned.name)->create_configuration();
    if (!planned.file_configuration->empty()) configuration->load(*planned.file_configuration);
    // A secret field as the lifecycle stores it: the value given, else its
    // default (runtime/src/lifecycle.cpp, forms_of).
    auto clear = configuration->to_json();
    auto metadata = configuration->to_public_json();
    for (const auto& name : configuration->secret_field_names())
      metadata[name] = planned.file_configuration->value(name, clear[name]);
    return std::make_shared<const json>(std::move(metadata));
  } catch (const std::exception&) {
    return nullptr;  // a configuration the file cannot give (a required field): nothing to compare
  }
}

/// A file mapping's `enabled` (true when it does not say; false without a mapping).
bool enabled_in(const json* file_configuration) {
  if (file_configuration == nullptr) return false;
  auto found = file_configuration->find("enabled");
  return found == file_configuration->end() || !found->is_boolean() || found->get<bool>();
}

Prepared prepare(const Planned& planned) {
  Prepared prepared;
  auto& instance = prepared.instance;
  instance.name = planned.name;
  instance.origin = planned.origin;
  prepared.enabled_service = planned.enabled_service;
  prepared.file_enabled = enabled_in(planned.file_configuration);
  auto* row = planned.stored;
  if (row) {
    prepared.desired = row->desired;
    prepared.stored_body = std::move(row->configuration);
  }
  instance.service_class = ServiceClassRegistry::global().find(planned.class_key);
  bool class_missing = !instance.service_class;
  if (class_missing) instance.service_class = missing_class(planned.class_key);
  instance.lifecycle =
      std::make_shared<ServiceLifecycle>(instance.service_class->create(planned.name));
  auto& lifecycle = *instance.lifecycle;
  if (class_missing) {
    lifecycle.fail(missing_class_reason(planned.class_key));
    return prepared;
  }
  instance.file_metadata = file_metadata(*instance.service_class, planned);
  if (row && !row->problem.empty()) {
    lifecycle.fail("The state file's record of it cannot be read: " + row->problem);
    return prepared;
  }
  prepared.stored_configuration = prepared.stored_body.has_value();
  const json* configuration = nullptr;
  if (prepared.stored_configuration)
    configuration = &*prepared.stored_body;
  else if (planned.file_configuration && !planned.file_configuration->empty())
    configuration = planned.file_configuration;
  if (configuration == nullptr) return prepared;
  try {
    lifecycle.configure(*configuration);  // autostart never acts here: desired states decide
  } catch (const Error& error) {
    lifecycle.fail(fmt::format("{} configuration refused: {}",
                               prepared.stored_configuration ? "Stored" : "File", error.detail()));
  }
  return prepared;
}

/// Prepares every instance, on several threads when there are many: a
/// configure per instance is most of a large start.
std::vector<Prepared> prepare_all(const std::vector<Planned>& planned) {
  std::vector<Prepared> prepared(planned.size());
  constexpr std::size_t per_thread = 2048;
  auto threads = std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                       (planned.size() + per_thread - 1) / per_thread);
  auto prepare_range = [&](std::size_t first, std::size_t step) {
    for (auto i = first; i < planned.size(); i += step) prepared[i] = prepare(planned[i]);
  };
  if (threads <= 1) {
    prepare_range(0, 1);
    return prepared;
  }
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) workers.emplace_back(prepare_range, t, threads);
  for (auto& worker : workers) worker.join();
  return prepared;
}

bool configured(const Prepared& prepared) {
  const auto& lifecycle = *prepared.instance.lifecycle;
  return lifecycle.state() != ServiceState::error && lifecycle.status().is_configured;
}

/// Dependencies the stored layer broke (an unknown instance, a cycle) leave
/// the instances whose stored configuration names them in error; the file's
/// own were checked before the start (exit 2).
void check_dependencies(std::vector<Prepared>& prepared) {
  std::unordered_map<std::string, Prepared*> by_name;
  for (auto& instance : prepared) by_name.emplace(instance.instance.name, &instance);
  auto dependencies = [&](const std::string& name) -> const std::vector<std::string>* {
    auto found = by_name.find(name);
    if (found == by_name.end()) return nullptr;
    static const std::vector<std::string> none;
    return configured(*found->second)
               ? &found->second->instance.lifecycle->configuration().depends_on
               : &none;
  };
  for (auto& instance : prepared) {
    if (!configured(instance) || !instance.stored_configuration ||
        instance.instance.lifecycle->configuration().depends_on.empty())
      continue;
    auto order = order_along({instance.instance.name}, dependencies);
    if (!order.unknown.empty())
      instance.instance.lifecycle->fail(
          fmt::format("Stored configuration refused: depends_on names unknown instance '{}'",
                      order.unknown.front()));
    else if (order.cycle)
      instance.instance.lifecycle->fail(fmt::format(
          "Stored configuration refused: dependency cycle {}", describe_cycle(*order.cycle)));
  }
}

/// Whether the instance should run after the start: its stored desired
/// state; else, for a file instance, the file's `enabled`; ENABLED_SERVICES
/// always.
bool should_run(const Prepared& prepared) {
  const auto& lifecycle = *prepared.instance.lifecycle;
  if (lifecycle.state() == ServiceState::error) return false;
  if (prepared.desired) return *prepared.desired == state::DesiredState::running;
  if (prepared.enabled_service) return true;
  return prepared.instance.origin == InstanceOrigin::file && prepared.file_enabled;
}

}  // namespace

StartReport Runtime::restore(const StartPlan& plan) {
  StartReport report;
  std::vector<state::StoredInstance> stored;
  if (state_) stored = state_->load();
  BaseInstances base{plan};
  auto planned = plan_instances(base, plan, stored, report.problems);
  auto prepared = prepare_all(planned);
  check_dependencies(prepared);

  std::vector<std::string> roots;
  std::unordered_map<std::string, std::vector<std::string>> dependencies;
  std::vector<RestoredInstance> instances;
  instances.reserve(prepared.size());
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    auto& instance = prepared[i];
    // Without a stored configuration, the writer the Supervisor makes when
    // the instance first acts knows as much.
    if (state_ && instance.stored_body)
      instance.instance.writer =
          state_file_writer(state_, instance.instance.name, planned[i].class_key,
                            instance.instance.origin, std::move(instance.stored_body));
    const auto& lifecycle = *instance.instance.lifecycle;
    if (lifecycle.state() == ServiceState::error)
      report.problems.emplace_back(instance.instance.name, lifecycle.status().error);
    if (should_run(instance)) {
      roots.push_back(instance.instance.name);
      dependencies[instance.instance.name] = lifecycle.configuration().depends_on;
    }
    instances.push_back(std::move(instance.instance));
  }
  // The file's names too, with ENABLED_SERVICES': a request instance
  // deregistered under one of them must leave a tombstone, or the next start
  // would bring the name back (docs/state.md, "What is stored").
  std::vector<std::string> file_names;
  file_names.reserve(base.all.size());
  for (const auto* file : base.all) file_names.push_back(file->name);
  report.registered = blocking_request<std::uint64_t>(
      system_, caf::actor_cast<InternalSupervisorActor>(supervisor_), caf::infinite,
      restore_atom::value, std::move(instances), std::move(file_names));

  auto order = order_along(roots, [&](const std::string& name) {
    auto found = dependencies.find(name);
    return found == dependencies.end() ? nullptr : &found->second;
  });
  for (const auto& name : order.order) {
    if (dependencies.count(name) == 0) continue;  // a dependency that is not to run
    try {
      start(name, EventCause::startup);
      report.started.push_back(name);
    } catch (const Error& error) {
      report.problems.emplace_back(name, error.detail());
    }
  }
  return report;
}

}  // namespace processpype
