#include "processpype/actors/supervisor.hpp"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "manager_threads.hpp"
#include "processpype/actors/protocol.hpp"
#include "processpype/runtime/instance_registry.hpp"
#include "processpype/runtime/service_registry.hpp"
#include "service_actor.hpp"

namespace processpype {

namespace {

struct Entry {
  std::string name;
  std::shared_ptr<const ServiceClass> service_class;
  /// Spawned on the first command: until then the instance is just `idle`,
  /// which keeps an idle instance small and a registration cheap.
  caf::actor actor;
  std::shared_ptr<ServiceLifecycle> idle;
  ServiceStatus status;
  bool removing = false;
  std::uint64_t running_since = 0;  ///< order of reaching running (0: never)
};

/// A stop_all in progress: the services left to stop and what failed.
struct StopAll {
  std::vector<std::string> order;
  std::size_t next = 0;
  std::vector<std::string> not_stopped;
  caf::response_promise promise;
  caf::actor_clock::time_point deadline;
};

caf::error service_not_found(std::string_view name) {
  return make_error(ErrorCode::not_found, fmt::format("Service {} not found", name));
}

class Supervisor final : public caf::event_based_actor {
 public:
  explicit Supervisor(caf::actor_config& config) : caf::event_based_actor(config) {
    set_down_handler([this](caf::down_msg& message) { on_service_down(message); });
    set_exit_handler([this](caf::exit_msg& message) { shut_down(message.reason); });
    set_default_handler(caf::drop);  // a stray (or remote) message must not end the node
    // CAF ends an actor on an error message nobody asked for (e.g. bounced
    // from a peer); ours drop it.
    set_error_handler([](caf::error&) {});
  }

  const char* name() const override { return "processpype.supervisor"; }

  caf::behavior make_behavior() override {
    return {
        [this](register_atom, RegisterRequest& request) -> caf::result<Registration> {
          return register_instance(request);
        },
        [this](deregister_atom, const std::string& name) -> caf::result<Deregistration> {
          return deregister(name);
        },
        [this](configure_atom, const std::string& name, nlohmann::json& configuration) {
          forward(name, configure_atom::value, std::move(configuration));
        },
        [this](start_atom, const std::string& name) { forward(name, start_atom::value); },
        [this](stop_atom, const std::string& name) { forward(name, stop_atom::value); },
        [this](route_atom, RouteCall& call) {
          forward(call.service, route_atom::value, std::move(call.request));
        },
        [this](status_atom, const std::string& name) -> caf::result<ServiceStatus> {
          if (auto* entry = instances_.find(name)) return entry->status;
          return service_not_found(name);
        },
        [this](list_atom) { return list(); },
        [this](count_atom) { return static_cast<std::uint64_t>(instances_.size()); },
        [this](lookup_atom, const std::string& name) -> caf::result<caf::actor> {
          if (auto* entry = instances_.find(name)) return actor_of(*entry);
          return service_not_found(name);
        },
        [this](status_changed_atom, ServiceStatus& status) {
          if (auto* entry = reporting_entry()) update_status(*entry, std::move(status));
        },
        [this](state_changed_atom, ServiceState state, std::string& error) {
          auto* entry = reporting_entry();
          if (entry == nullptr) return;
          auto status = std::move(entry->status);
          status.state = state;
          status.error = std::move(error);
          update_status(*entry, std::move(status));
        },
        [this](stop_all_atom, caf::timespan timeout) -> caf::result<std::vector<std::string>> {
          return stop_all(timeout);
        },
    };
  }

 private:
  caf::result<Registration> register_instance(const RegisterRequest& request) {
    auto service_class = ServiceClassRegistry::global().find(request.class_key);
    if (!service_class)
      return make_error(ErrorCode::not_found,
                        fmt::format("Unknown service class: {}", request.class_key));
    std::string name =
        request.auto_name ? instances_.auto_name(service_class->key) : request.instance_name;
    if (!is_valid_instance_name(name))
      return make_error(ErrorCode::bad_request,
                        fmt::format("Invalid instance name '{}': use 1-64 characters of "
                                    "[A-Za-z0-9_.-], not '.' or '..'",
                                    name));
    if (instances_.contains(name))
      return make_error(ErrorCode::conflict, fmt::format("Service {} already exists", name));
    std::shared_ptr<ServiceLifecycle> lifecycle;
    try {
      lifecycle = std::make_shared<ServiceLifecycle>(service_class->create(name));
    } catch (const std::exception& error) {
      return make_error(ErrorCode::service_failure,
                        fmt::format("Failed to create service {}: {}", name, error.what()));
    }
    instances_.insert(Entry{name, service_class, {}, std::move(lifecycle), {}, false, 0});
    return Registration{name, service_class->type_name};
  }

  caf::result<Deregistration> deregister(const std::string& name) {
    auto* entry = instances_.find(name);
    if (entry == nullptr) return service_not_found(name);
    if (entry->removing)
      return make_error(ErrorCode::conflict,
                        fmt::format("Service {} is already being deregistered", name));
    if (!entry->actor) {  // never commanded: nothing runs
      remove(name);
      return Deregistration{name, {}};
    }
    entry->removing = true;
    auto promise = make_response_promise();
    request(entry->actor, caf::infinite, shutdown_atom::value)
        .then(
            [this, promise, name](std::string& stop_error) mutable {
              remove(name);
              promise.deliver(Deregistration{name, std::move(stop_error)});
            },
            [this, promise, name](caf::error& error) mutable {
              remove(name);  // the actor is gone already: nothing left to stop
              promise.deliver(Deregistration{name, to_error(error).detail()});
            });
    return promise;
  }

  /// The instance whose actor sent the current message; null for a late
  /// report from an actor that was replaced or removed.
  Entry* reporting_entry() {
    auto found = by_actor_.find(caf::actor_cast<caf::actor_addr>(current_sender()));
    return found == by_actor_.end() ? nullptr : instances_.find(found->second);
  }

  void update_status(Entry& entry, ServiceStatus status) {
    if (status.state == ServiceState::running && entry.status.state != ServiceState::running)
      entry.running_since = ++running_sequence_;
    entry.status = std::move(status);
  }

  caf::result<std::vector<std::string>> stop_all(caf::timespan timeout) {
    auto job = std::make_shared<StopAll>();
    std::vector<const Entry*> active;
    for (const auto& entry : instances_)
      if (is_active(entry.status.state)) active.push_back(&entry);
    std::sort(active.begin(), active.end(),
              [](auto* a, auto* b) { return a->running_since > b->running_since; });
    for (auto* entry : active) job->order.push_back(entry->name);
    job->promise = make_response_promise();
    job->deadline = clock().now() + timeout;
    stop_next(job);
    return job->promise;
  }

  void stop_next(const std::shared_ptr<StopAll>& job) {
    if (job->next == job->order.size()) {
      job->promise.deliver(std::move(job->not_stopped));
      return;
    }
    const auto& name = job->order[job->next++];
    auto* entry = instances_.find(name);
    auto remaining = job->deadline - clock().now();
    if (entry == nullptr) return stop_next(job);
    if (remaining <= caf::timespan::zero()) {
      job->not_stopped.push_back(name);
      return stop_next(job);
    }
    request(entry->actor, remaining, stop_atom::value)
        .then([this, job] { stop_next(job); },
              [this, job, name](caf::error&) {
                job->not_stopped.push_back(name);
                stop_next(job);
              });
  }

  std::vector<NamedStatus> list() const {
    std::vector<NamedStatus> result;
    result.reserve(instances_.size());
    for (const auto& entry : instances_) result.push_back({entry.name, entry.status});
    return result;
  }

  template <class... Ts>
  void forward(const std::string& name, Ts&&... message) {
    auto* entry = instances_.find(name);
    if (entry == nullptr) {
      make_response_promise().deliver(service_not_found(name));
      return;
    }
    delegate(actor_of(*entry), std::forward<Ts>(message)...);
  }

  const caf::actor& actor_of(Entry& entry) {
    if (!entry.actor) entry.actor = spawn_instance(entry.name, std::move(entry.idle));
    return entry.actor;
  }

  caf::actor spawn_instance(const std::string& name, std::shared_ptr<ServiceLifecycle> lifecycle) {
    auto actor = spawn_service_actor(system(), std::move(lifecycle),
                                     caf::actor_cast<caf::actor>(this), threads_);
    monitor(actor);
    by_actor_.emplace(actor.address(), name);
    return actor;
  }

  void remove(const std::string& name) {
    auto* entry = instances_.find(name);
    if (entry == nullptr) return;
    if (entry->actor) {
      demonitor(entry->actor);
      by_actor_.erase(entry->actor.address());
      send_exit(entry->actor, caf::exit_reason::user_shutdown);
    }
    instances_.erase(name);
  }

  void on_service_down(const caf::down_msg& message) {
    auto found = by_actor_.find(message.source);
    if (found == by_actor_.end()) return;
    auto* entry = instances_.find(found->second);
    by_actor_.erase(found);
    if (entry == nullptr || entry->removing) return;
    auto reason =
        fmt::format("Service actor of {} failed: {}", entry->name, to_string(message.reason));
    try {
      entry->actor = spawn_instance(entry->name, revive(*entry, reason));
    } catch (const std::exception& error) {
      reason += fmt::format(" (and it could not be recreated: {})", error.what());
    }
    entry->status = ServiceStatus{ServiceState::error, reason, entry->status.metadata,
                                  entry->status.is_configured};
  }

  /// A fresh service object for `entry` in state error, with its last valid
  /// configuration (which was accepted once, so it is accepted again).
  std::shared_ptr<ServiceLifecycle> revive(const Entry& entry, const std::string& reason) {
    auto lifecycle = std::make_shared<ServiceLifecycle>(entry.service_class->create(entry.name));
    if (entry.status.is_configured) {
      try {
        lifecycle->configure(entry.status.metadata);
      } catch (const std::exception&) {
        // Keep the defaults; the error below says what happened.
      }
    }
    lifecycle->fail(reason);
    return lifecycle;
  }

  void shut_down(const caf::error& reason) {
    for (auto& entry : instances_)
      if (entry.actor) send_exit(entry.actor, reason);
    quit(reason);
  }

  InstanceRegistry<Entry> instances_;
  std::uint64_t running_sequence_ = 0;
  std::unordered_map<caf::actor_addr, std::string> by_actor_;
  std::shared_ptr<ManagerThreads> threads_ = std::make_shared<ManagerThreads>();
};

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& system) {
  return system.spawn<Supervisor>();
}

}  // namespace processpype
