#include "processpype/actors/supervisor.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <caf/all.hpp>

#include "change_writer.hpp"
#include "dependency_graph.hpp"
#include "internal_protocol.hpp"
#include "manager_threads.hpp"
#include "processpype/actors/calling_thread_execution.hpp"
#include "processpype/actors/stray_messages.hpp"
#include "processpype/runtime/instance_registry.hpp"
#include "service_actor.hpp"
#include "state_commits.hpp"
#include "stop_chain.hpp"
#include "supervised_instance.hpp"

namespace processpype {

namespace {

caf::error service_not_found(std::string_view name) {
  return make_error(ErrorCode::not_found, fmt::format("Service {} not found", name));
}

std::string join(const std::vector<std::string>& names) {
  return fmt::format("{}", fmt::join(names, ", "));
}

class Supervisor final : public InternalSupervisorActor::base, public RunsOnCallingThread {
 public:
  Supervisor(caf::actor_config& config, SupervisorSetup setup)
      : InternalSupervisorActor::base(config), setup_(std::move(setup)) {
    set_down_handler([this](caf::down_msg& message) { on_service_down(message); });
    set_exit_handler([this](caf::exit_msg& message) { shut_down(message.reason); });
    drop_stray_messages(*this);
  }

  const char* name() const override { return "processpype.supervisor"; }

  void on_exit() override {
    commits_.abandon("the Supervisor ended");
    // Service actors hold the Supervisor's handle: CAF frees neither actor's
    // state while the other's handle lives.
    instances_ = {};
    graph_.clear();
    by_actor_.clear();
  }

  behavior_type make_behavior() override {
    return {
        [this](register_atom, RegisterRequest& request) -> caf::result<Registration> {
          return register_instance(request);
        },
        [this](deregister_atom, const std::string& name, Trigger& trigger)
            -> caf::result<Deregistration> { return deregister(name, std::move(trigger)); },
        [this](configure_atom, const std::string& name, nlohmann::json& configuration,
               Trigger& trigger) -> caf::result<ServiceState> {
          auto* entry = live(name);
          if (entry == nullptr) return service_not_found(name);
          return delegate(actor_of(*entry), configure_atom::value, std::move(configuration),
                          std::move(trigger));
        },
        [this](start_atom, const std::string& name, Trigger& trigger) -> caf::result<ServiceState> {
          return start(name, std::move(trigger));
        },
        [this](stop_atom, const std::string& name, Trigger& trigger) -> caf::result<StopResult> {
          return stop(name, std::move(trigger));
        },
        [this](route_atom, RouteCall& call) -> caf::result<RouteResponse> {
          auto* entry = live(call.service);
          if (entry == nullptr) return service_not_found(call.service);
          return delegate(actor_of(*entry), route_atom::value, std::move(call.request));
        },
        [this](status_atom, const std::string& name) -> caf::result<ServiceStatus> {
          if (auto record = setup_.table->find(name)) return record->status();
          return service_not_found(name);
        },
        [this](list_atom) { return list(); },
        [this](count_atom) { return static_cast<std::uint64_t>(setup_.table->size()); },
        [this](info_atom) { return setup_.application; },
        [this](lookup_atom, const std::string& name) -> caf::result<caf::actor> {
          if (auto* entry = live(name)) return caf::actor_cast<caf::actor>(actor_of(*entry));
          return service_not_found(name);
        },
        [this](stop_all_atom, caf::timespan timeout) -> caf::result<std::vector<std::string>> {
          return stop_all(timeout);
        },
        [this](changed_atom, ServiceState state, EventCause, bool failure) {
          if (auto* entry = reporting_entry()) on_changed(*entry, state, failure);
        },
        [this](waiting_atom) {
          if (auto* entry = reporting_entry()) entry->waits_for_dependency = true;
        },
        [this](restore_atom, std::vector<RestoredInstance>& instances) {
          return restore(std::move(instances));
        },
        [this](restore_atom, std::vector<RestoredInstance>& instances,
               std::vector<std::string>& file_names) {
          file_names_ = {file_names.begin(), file_names.end()};
          return restore(std::move(instances));
        },
        [this](committed_atom, std::uint64_t ticket, const caf::error& failure) {
          commits_.complete(ticket, failure);
        },
        [this](stop_atom, std::vector<std::string>& names, Trigger& trigger,
               caf::timespan within) -> caf::result<std::vector<std::string>> {
          return stop_within(std::move(names), std::move(trigger), within);
        },
    };
  }

 private:
  // -- registration ----------------------------------------------------------

  /// The instance `name` as commands see it: registered, and not waiting
  /// for its registration to be written.
  SupervisedInstance* live(const std::string& name) {
    auto* entry = instances_.find(name);
    return entry == nullptr || entry->registering ? nullptr : entry;
  }

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
    if (const auto* existing = instances_.find(name))
      return registered_already(*existing, request, *service_class);
    if (setup_.reserved_names && setup_.reserved_names->reserved(name))
      return make_error(ErrorCode::conflict,
                        fmt::format("Service {} already exists as a cluster instance", name));
    // A deleted instance whose manager is still in a call that outlived its
    // timeout may still run: a new instance of its name would run beside it
    // (docs/supervision.md).
    if (busy_managers_->busy(name))
      return make_error(ErrorCode::conflict,
                        fmt::format("Service {} was deleted, but its manager is still in a call "
                                    "that outlived its timeout: the name is free once it returns",
                                    name));
    if (instances_.size() >= setup_.max_instances)
      return make_error(ErrorCode::conflict,
                        fmt::format("Instance limit of {} reached", setup_.max_instances));
    std::shared_ptr<ServiceLifecycle> lifecycle;
    try {
      lifecycle = std::make_shared<ServiceLifecycle>(service_class->create(name));
    } catch (const std::exception& error) {
      return make_error(ErrorCode::service_failure,
                        fmt::format("Failed to create service {}: {}", name, error.what()));
    }
    SupervisedInstance entry;
    entry.name = name;
    entry.record = setup_.table->make_record(name, service_class);
    entry.idle = std::move(lifecycle);
    Registration registration{name, service_class->type_name};
    if (!commits_.enabled()) {
      publish_registration(instances_.insert(std::move(entry)),
                           Trigger{EventCause::request, request.request_id});
      return registration;
    }
    // Written ahead: the name is taken meanwhile, the instance not there yet.
    entry.registering = true;
    instances_.insert(std::move(entry));
    auto promise = make_response_promise<Registration>();
    commits_.submit(caf::actor_cast<InternalSupervisorActor>(this),
                    {state::Registered{name, service_class->key, state::Origin::request}},
                    [this, name, registration, request_id = request.request_id,
                     promise](const caf::error& failure) mutable {
                      auto* pending = instances_.find(name);
                      if (failure) {
                        instances_.erase(name);
                        return promise.deliver(failure), void();
                      }
                      pending->registering = false;
                      publish_registration(*pending, Trigger{EventCause::request, request_id});
                      promise.deliver(registration);
                    });
    return promise;
  }

  /// A registration of a name that is taken: 409, except for the embedding
  /// API's registration of an instance restored with the same class.
  caf::result<Registration> registered_already(const SupervisedInstance& existing,
                                               const RegisterRequest& request,
                                               const ServiceClass& service_class) {
    const auto& restored_class = existing.record->service_class();
    if (!request.accept_restored || !existing.restored)
      return make_error(ErrorCode::conflict,
                        fmt::format("Service {} already exists", existing.name));
    if (restored_class.key != service_class.key)
      return make_error(ErrorCode::conflict,
                        fmt::format("Service {} was restored with class {}, not {}", existing.name,
                                    restored_class.key, service_class.key));
    return Registration{existing.name, restored_class.type_name};
  }

  void publish_registration(SupervisedInstance& entry, const Trigger& trigger) {
    entry.record->set_has_dependents(graph_.has_dependents(entry.name));
    setup_.table->insert(entry.record);
    setup_.events->append(entry.name, "registered", {}, trigger);
  }

  caf::result<Deregistration> deregister(const std::string& name, Trigger trigger) {
    auto* entry = live(name);
    if (entry == nullptr) return service_not_found(name);
    if (entry->removing)
      return make_error(ErrorCode::conflict,
                        fmt::format("Service {} is already being deregistered", name));
    if (auto dependents = graph_.registered_dependents(name); !dependents.empty())
      return make_error(ErrorCode::conflict,
                        fmt::format("Cannot deregister {}: {} depend{} on it", name,
                                    join(dependents), dependents.size() == 1 ? "s" : ""));
    entry->removing = true;
    auto promise = make_response_promise<Deregistration>();
    // A cluster instance is not in the state file: its record is (its
    // owner removed it before it asked for this).
    if (!commits_.enabled() || entry->record->origin() == InstanceOrigin::cluster) {
      finish_deregistration(name, std::move(trigger), {}, promise);
      return promise;
    }
    // Written ahead; an operator must be able to remove things during an
    // incident: it acts even when the write fails, with a warning. A file
    // instance stays deregistered (a tombstone keeps the file from
    // bringing it back); so does a request instance whose name the file
    // lists, one registered in place of a tombstone (docs/state.md, "What is
    // stored").
    std::vector<state::Change> changes;
    const auto& record = *entry->record;
    bool tombstone = record.origin() == InstanceOrigin::file || file_names_.count(name) != 0;
    if (entry->writer) entry->writer->retire();  // its actor's writes come before, or not at all
    if (tombstone)  // the row to keep: a file instance may have none yet
      changes.push_back(state::Registered{name, record.service_class().key, state::Origin::file});
    changes.push_back(state::Deregistered{name, tombstone});
    commits_.submit(caf::actor_cast<InternalSupervisorActor>(this), std::move(changes),
                    [this, name, trigger, promise](const caf::error& failure) mutable {
                      finish_deregistration(name, std::move(trigger),
                                            failure ? to_error(failure).detail() : "", promise);
                    });
    return promise;
  }

  void finish_deregistration(const std::string& name, Trigger trigger, std::string warning,
                             caf::typed_response_promise<Deregistration> promise) {
    auto* entry = instances_.find(name);
    if (entry == nullptr) return promise.deliver(service_not_found(name)), void();
    if (!entry->actor) {  // never commanded: nothing runs
      remove(name, trigger);
      return promise.deliver(Deregistration{name, {}, std::move(warning)}), void();
    }
    request(entry->actor, caf::infinite, shutdown_atom::value, trigger)
        .then(
            [this, promise, name, trigger, warning](std::string& stop_error) mutable {
              remove(name, trigger);
              promise.deliver(Deregistration{name, std::move(stop_error), std::move(warning)});
            },
            [this, promise, name, trigger, warning](caf::error& error) mutable {
              remove(name, trigger);  // the actor is gone already: nothing left to stop
              promise.deliver(Deregistration{name, to_error(error).detail(), std::move(warning)});
            });
  }

  void remove(const std::string& name, const Trigger& trigger) {
    auto* entry = instances_.find(name);
    if (entry == nullptr) return;
    if (entry->actor) {
      demonitor(entry->actor.address());
      by_actor_.erase(entry->actor.address());
      send_exit(entry->actor, caf::exit_reason::user_shutdown);
    }
    graph_.set_dependencies(*entry, {});
    instances_.erase(name);
    setup_.table->erase(name);
    setup_.events->append(name, "deregistered", {}, trigger);
  }

  // -- the node's start (docs/state.md, "At start") ---------------------------------

  /// Registers prepared instances in bulk: their records and views, their
  /// dependencies, one `registered` event each (cause startup). Nothing
  /// starts here.
  std::uint64_t restore(std::vector<RestoredInstance> restored) {
    std::uint64_t count = 0;
    for (auto& instance : restored) {
      if (instances_.contains(instance.name)) continue;
      SupervisedInstance entry;
      entry.name = instance.name;
      entry.record =
          setup_.table->make_record(instance.name, instance.service_class, instance.origin,
                                    std::move(instance.file_metadata), std::move(instance.cluster));
      entry.idle = std::move(instance.lifecycle);
      entry.writer = std::move(instance.writer);
      entry.restored = instance.origin != InstanceOrigin::cluster;
      entry.record->publish(idle_view(*entry.idle, *entry.record));
      auto& inserted = instances_.insert(std::move(entry));
      if (inserted.idle->status().is_configured)
        graph_.set_dependencies(inserted, inserted.idle->configuration().depends_on);
      publish_registration(inserted, instance.trigger);
      ++count;
    }
    return count;
  }

  /// The view of an instance no actor runs yet, as its lifecycle is.
  static std::shared_ptr<const ServiceView> idle_view(const ServiceLifecycle& lifecycle,
                                                      const InstanceRecord& record) {
    auto view = std::make_shared<ServiceView>();
    view->state = lifecycle.state();
    view->error = lifecycle.status().error;
    view->configuration = describe_configuration(lifecycle, record);
    return view;
  }

  // -- commands -----------------------------------------------------------------

  caf::result<ServiceState> start(const std::string& name, Trigger trigger) {
    auto* entry = live(name);
    if (entry == nullptr) return service_not_found(name);
    if (auto refusal = graph_.start_refusal(name)) return *refusal;
    entry->stopped_by_dependency = false;
    entry->waits_for_dependency = false;
    return delegate(actor_of(*entry), start_atom::value, std::move(trigger));
  }

  /// Stops the dependents that run first (dependents before what they
  /// depend on), then `name`; answers with `name`'s state.
  caf::result<StopResult> stop(const std::string& name, Trigger trigger) {
    auto* entry = live(name);
    if (entry == nullptr) return service_not_found(name);
    entry->stopped_by_dependency = false;
    entry->waits_for_dependency = false;
    auto dependents = graph_.active_dependents(name);
    if (dependents.empty()) return delegate(actor_of(*entry), stop_atom::value, std::move(trigger));
    auto promise = make_response_promise<StopResult>();
    // The dependents' events carry the request that stopped what they need.
    auto chain =
        stop_chain(std::move(dependents), Trigger{EventCause::dependency, trigger.request_id});
    chain->on_done = [this, name, trigger, promise]() mutable {
      auto* target = instances_.find(name);
      if (target == nullptr) return promise.deliver(service_not_found(name)), void();
      request(actor_of(*target), caf::infinite, stop_atom::value, trigger)
          .then([promise](StopResult& result) mutable { promise.deliver(std::move(result)); },
                [promise](caf::error& error) mutable { promise.deliver(error); });
    };
    chain->run();
    return promise;
  }

  caf::result<std::vector<std::string>> stop_all(caf::timespan timeout) {
    shutting_down_ = true;
    std::vector<const SupervisedInstance*> active;
    for (const auto& entry : instances_)
      if (is_active(entry.record->state())) active.push_back(&entry);
    std::sort(active.begin(), active.end(), [](auto* a, auto* b) {
      return a->record->running_since() > b->record->running_since();
    });
    std::vector<std::string> roots;
    for (auto* entry : active) roots.push_back(entry->name);
    std::vector<std::string> order;
    for (auto& name : graph_.stop_order(roots).order)
      if (auto* entry = instances_.find(name); entry && is_active(entry->record->state()))
        order.push_back(std::move(name));
    auto chain = stop_chain(std::move(order), EventCause::shutdown);
    chain->deadline = clock().now() + timeout;
    auto promise = make_response_promise<std::vector<std::string>>();
    auto not_stopped = std::make_shared<std::vector<std::string>>();
    chain->on_failure = [not_stopped](const std::string& name, const caf::error&) {
      not_stopped->push_back(name);
    };
    chain->on_done = [this, promise, not_stopped]() mutable {
      shutting_down_ = false;
      promise.deliver(*not_stopped);
    };
    chain->run();
    return promise;
  }

  /// Stops `names` at once (they have no dependents: cluster instances),
  /// each manager's stop timeout capped at `within`; answers those still
  /// active (or whose manager still runs) when all answered.
  caf::result<std::vector<std::string>> stop_within(std::vector<std::string> names, Trigger trigger,
                                                    caf::timespan within) {
    auto promise = make_response_promise<std::vector<std::string>>();
    auto waiting = std::make_shared<std::size_t>(0);
    auto done = [this, names, promise, waiting]() mutable {
      if (--*waiting != 0) return;
      std::vector<std::string> active;
      for (const auto& name : names)
        if (auto record = setup_.table->find(name))
          if (is_active(record->state()) || record->manager_overdue()) active.push_back(name);
      promise.deliver(std::move(active));
    };
    ++*waiting;  // held until every stop is sent
    for (const auto& name : names) {
      auto* entry = live(name);
      if (entry == nullptr || !is_active(entry->record->state())) continue;
      ++*waiting;
      request(actor_of(*entry), within + std::chrono::seconds(1), stop_atom::value, trigger, within)
          .then([done](StopResult&) mutable { done(); }, [done](caf::error&) mutable { done(); });
    }
    done();
    return promise;
  }

  std::shared_ptr<StopChain> stop_chain(std::vector<std::string> order, Trigger trigger) {
    return std::make_shared<StopChain>(
        this, instances_,
        [this](SupervisedInstance& entry) -> const ServiceActor& { return actor_of(entry); },
        std::move(order), std::move(trigger));
  }

  std::vector<NamedStatus> list() const {
    std::vector<NamedStatus> result;
    result.reserve(setup_.table->size());
    auto now = std::chrono::steady_clock::now();
    setup_.table->listing().for_each([&](const InstanceRecord& record) {
      result.push_back({record.name(), record.status(now)});
      return true;
    });
    return result;
  }

  // -- what service actors report ----------------------------------------------------

  /// The instance whose actor sent the current message; null for a late
  /// report from an actor that was replaced or removed.
  SupervisedInstance* reporting_entry() {
    auto found = by_actor_.find(caf::actor_cast<caf::actor_addr>(current_sender()));
    return found == by_actor_.end() ? nullptr : instances_.find(found->second);
  }

  void on_changed(SupervisedInstance& entry, ServiceState state, bool failure) {
    switch (state) {
      case ServiceState::configured:
        graph_.set_dependencies(entry, entry.record->view()->configuration->depends_on);
        break;
      case ServiceState::running:
        entry.stopped_by_dependency = false;
        entry.waits_for_dependency = false;
        resume_dependents(entry.name);
        break;
      case ServiceState::error:
        if (failure) stop_dependents_of_failed(entry.name);
        break;
      default:
        break;
    }
  }

  /// `name` failed: its active dependents stop (cause dependency) and start
  /// again once it runs.
  void stop_dependents_of_failed(const std::string& name) {
    auto dependents = graph_.active_dependents(name);
    if (dependents.empty() || shutting_down_) return;
    for (const auto& dependent : dependents)
      if (auto* entry = instances_.find(dependent)) entry->stopped_by_dependency = true;
    stop_chain(std::move(dependents), EventCause::dependency)->run();
  }

  /// `name` runs (again): start the dependents that a failure stopped, and
  /// wake restarts that waited for it, once all their dependencies run.
  void resume_dependents(const std::string& name) {
    if (shutting_down_) return;
    for (const auto& dependent : graph_.dependents_of(name)) {
      auto* entry = instances_.find(dependent);
      if (entry == nullptr || entry->removing) continue;
      if (entry->waits_for_dependency) {
        send(actor_of(*entry), resume_atom::value);
      } else if (entry->stopped_by_dependency && !graph_.start_refusal(dependent)) {
        entry->stopped_by_dependency = false;
        request(actor_of(*entry), caf::infinite, start_atom::value, Trigger{EventCause::dependency})
            .then([](ServiceState) {}, [](caf::error&) {});
      }
    }
  }

  // -- service actors --------------------------------------------------------------------

  const ServiceActor& actor_of(SupervisedInstance& entry) {
    if (!entry.actor) entry.actor = spawn_instance(entry, std::move(entry.idle), std::nullopt);
    return entry.actor;
  }

  ServiceActor spawn_instance(SupervisedInstance& entry,
                              std::shared_ptr<ServiceLifecycle> lifecycle,
                              std::optional<std::string> inherited_failure) {
    // Kept for the actors that replace this one: the writer knows what the
    // store holds of the instance's configuration.
    if (!entry.writer && setup_.state)
      entry.writer = state_file_writer(setup_.state, *entry.record);
    auto writer = entry.writer;
    ServiceActorSetup actor_setup{std::move(lifecycle),
                                  entry.record,
                                  entry.restarts,
                                  setup_.table,
                                  setup_.events,
                                  caf::actor_cast<InternalSupervisorActor>(this),
                                  threads_,
                                  busy_managers_,
                                  std::move(inherited_failure),
                                  std::move(writer),
                                  setup_.messages};
    auto actor = spawn_service_actor(system(), std::move(actor_setup));
    monitor(actor);
    by_actor_.emplace(actor.address(), entry.name);
    return actor;
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
      entry->actor = spawn_instance(*entry, revive(*entry, reason), reason);
    } catch (const std::exception& error) {
      entry->actor = nullptr;
      entry->idle = nullptr;
    }
  }

  /// A fresh service object for `entry` in state error, with its last valid
  /// configuration (which was accepted once, so it is accepted again): the
  /// stored one, whose secrets are not masked (docs/secrets.md).
  std::shared_ptr<ServiceLifecycle> revive(const SupervisedInstance& entry,
                                           const std::string& reason) {
    auto lifecycle =
        std::make_shared<ServiceLifecycle>(entry.record->service_class().create(entry.name));
    auto view = entry.record->view();
    if (view->configuration->is_configured && view->configuration->stored) {
      try {
        lifecycle->configure(*view->configuration->stored);
      } catch (const std::exception&) {
        // Keep the defaults; the error says what happened.
      }
    }
    lifecycle->fail(reason);
    return lifecycle;
  }

  void shut_down(const caf::error& reason) {
    for (auto& entry : instances_) {
      if (entry.actor) send_exit(entry.actor, reason);
    }
    quit(reason);
  }

  SupervisorSetup setup_;
  StateCommits commits_{setup_.state};
  InstanceRegistry<SupervisedInstance> instances_;
  DependencyGraph graph_{instances_};
  bool shutting_down_ = false;
  std::unordered_map<caf::actor_addr, std::string> by_actor_;
  /// The names of the application file's instances and of ENABLED_SERVICES'
  /// (the node's start gives them): a request instance deregistered under
  /// one leaves a tombstone.
  std::unordered_set<std::string> file_names_;
  std::shared_ptr<ManagerThreads> threads_ = std::make_shared<ManagerThreads>();
  std::shared_ptr<BusyManagers> busy_managers_ =
      setup_.busy_managers ? setup_.busy_managers : std::make_shared<BusyManagers>();
};

}  // namespace

SupervisorActor spawn_supervisor(caf::actor_system& system, SupervisorSetup setup) {
  return system.spawn<Supervisor>(std::move(setup));
}

}  // namespace processpype
