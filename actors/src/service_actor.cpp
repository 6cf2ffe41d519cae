#include "service_actor.hpp"

#include <fmt/format.h>
#include <caf/all.hpp>

#include "actor_service_context.hpp"
#include "change_writer.hpp"
#include "health_checks.hpp"
#include "instance_publisher.hpp"
#include "manager_gate.hpp"
#include "pending_writes.hpp"
#include "processpype/actors/calling_thread_execution.hpp"
#include "processpype/actors/stray_messages.hpp"
#include "restart_schedule.hpp"
#include "service_timers.hpp"
#include "transition_waiters.hpp"

namespace processpype {

namespace {

using Call = ServiceLifecycle::Call;
using StatePromise = TransitionWaiters::StatePromise;
using StopPromise = TransitionWaiters::StopPromise;
using TextPromise = TransitionWaiters::TextPromise;
using StopWaiter = TransitionWaiters::StopWaiter;
/// How a command passes the gate: ManagerGate::admit or admit_ahead.
using Admission = void (ManagerGate::*)(ManagerGate::Command, ManagerGate::Refusal);

/// One service instance (internal_protocol.hpp: ServiceActor). It carries
/// out the commands through its ServiceLifecycle and runs the manager's
/// calls, inline or on ManagerThreads, through a ManagerGate. Its parts act
/// on their own timers: Service::every (ServiceTimers), health checks
/// (HealthChecks) and restarts (RestartSchedule). InstancePublisher tells
/// the others of every change before a reply goes out.
class ServiceActorImpl final : public ServiceActor::base, public RunsOnCallingThread {
 public:
  ServiceActorImpl(caf::actor_config& config, ServiceActorSetup setup)
      : ServiceActor::base(config),
        shared_lifecycle_(std::move(setup.lifecycle)),
        lifecycle_(*shared_lifecycle_),
        threads_(std::move(setup.threads)),
        busy_managers_(std::move(setup.busy_managers)),
        inherited_failure_(std::move(setup.inherited_failure)),
        messages_(std::move(setup.messages)),
        gate_(lifecycle_.name()),
        writer_(std::move(setup.writer)),
        record_(setup.record),
        restarts_(this, lifecycle_, std::move(setup.restarts), std::move(setup.table)),
        health_(this, lifecycle_),
        timers_(this, lifecycle_),
        publisher_(this, lifecycle_, std::move(setup.record), std::move(setup.events),
                   std::move(setup.supervisor), restarts_) {
    drop_stray_messages(*this);
  }

  const char* name() const override { return "processpype.service"; }

  behavior_type make_behavior() override {
    std::optional<std::int64_t> fencing_token;
    if (const auto& cluster = record_->cluster()) fencing_token = cluster->fencing_token;
    context_ = std::make_shared<ActorServiceContext>(caf::actor_cast<caf::weak_actor_ptr>(ctrl()),
                                                     lifecycle_.name(), fencing_token,
                                                     publisher_.events(), messages_);
    lifecycle_.attach(context_);
    publisher_.refresh_configuration();
    if (inherited_failure_) {
      supervise_failure();
      enter_state(EventCause::failure, Supervised::yes);
    }
    return {
        [this](configure_atom, nlohmann::json& configuration, Trigger& trigger) {
          return admit<ServiceState>([this, configuration = std::move(configuration),
                                      trigger = std::move(trigger)](StatePromise promise) {
            configure(configuration, trigger, promise);
          });
        },
        [this](start_atom, Trigger& trigger) {
          return admit<ServiceState>([this, trigger = std::move(trigger)](StatePromise promise) {
            user_start(trigger, promise);
          });
        },
        [this](stop_atom, Trigger& trigger) {
          return admit<StopResult>([this, trigger = std::move(trigger)](StopPromise promise) {
            user_stop(trigger, promise);
          });
        },
        // The stop of a lease at risk or lost: it must end by `within`, so
        // it does not wait for a write to a store that may not answer.
        [this](stop_atom, Trigger& trigger, caf::timespan within) {
          return admit<StopResult>(
              [this, trigger = std::move(trigger), within](StopPromise promise) {
                stop(trigger, StopWaiter{promise, {}}, within);
              },
              &ManagerGate::admit_ahead);
        },
        [this](shutdown_atom, Trigger& trigger) {
          closing_ = true;  // nothing starts it again: it is about to be removed
          cancel_restart();
          return admit<std::string>([this, trigger = std::move(trigger)](TextPromise promise) {
            shut_down(trigger, promise);
          });
        },
        [this](route_atom, RouteRequest& request) -> caf::result<RouteResponse> {
          if (!is_transitioning(lifecycle_.state())) {
            auto response = lifecycle_.routes().dispatch(request);
            apply_reported_failure();
            return response;
          }
          // Routes are serialized with the lifecycle: run after the transition.
          auto promise = make_response_promise<RouteResponse>();
          waiters_.hold_route(std::move(request), promise);
          return promise;
        },
        [this](resume_atom) {
          if (restarts_.on_dependency_running()) restart_now();
        },
        [this](fail_atom, std::string& reason, EventCause cause) {
          if (reason.empty())
            apply_reported_failure();
          else
            fail_at_run_time(std::move(reason), cause);
        },
        [this](restart_atom, std::uint64_t generation) { on_restart_due(generation); },
        [this](timer_atom, caf::timespan interval, Tick& tick) {
          timers_.add(interval, std::move(tick));
        },
        [this](tick_atom, std::uint64_t generation, std::uint64_t index) {
          if (timers_.fire(generation, index)) apply_reported_failure();  // may end the timers
        },
        [this](health_atom, std::uint64_t generation) { on_health_due(generation); },
        [this](done_atom, std::uint64_t id, std::string& failure) {
          on_returned(id, std::move(failure));
        },
        [this](checked_atom, std::uint64_t id, bool ok, std::string& detail) {
          on_returned(id, Health{ok, std::move(detail)});
        },
        [this](late_atom, std::uint64_t id) { on_late(id); },
        [this](committed_atom, std::uint64_t ticket, const caf::error& failure) {
          on_written(ticket, failure);
        },
    };
  }

  /// An actor that ends (killed, or removed) answers everyone still waiting
  /// instead of leaving them hanging.
  void on_exit() override {
    auto gone = make_error(ErrorCode::service_failure, "Service actor of " + name_of() + " ended");
    ++restart_cancellations_;  // a restart that waited in the gate is dropped, not failed
    writes_.abandon(gone);
    waiters_.abandon(gone);
    gate_.abandon(gone);
    publisher_.release_supervisor();
  }

 private:
  const std::string& name_of() const { return lifecycle_.name(); }
  spdlog::logger& log() { return *lifecycle_.service().logger(); }

  /// A command through the manager's gate: `run` answers the caller with
  /// its promise, or the gate refuses it.
  template <class Reply, class Run>
  caf::result<Reply> admit(Run run, Admission admission = &ManagerGate::admit) {
    auto promise = make_response_promise<Reply>();
    (gate_.*admission)([run = std::move(run), promise]() mutable { run(promise); },
                       [promise](const caf::error& error) mutable { promise.deliver(error); });
    return promise;
  }

  // -- write-ahead (docs/state.md; docs/cluster.md, "Records") -------------------------
  //
  // A user's configure, start and stop write their change before they act:
  // to the state file, or to a cluster instance's record. While a write is
  // in flight, later commands wait (the gate), so that they act in the
  // order they were written. Only a lease's stop does not wait: the command
  // whose write it overtook acts no more (docs/cluster.md, "Store outages").

  /// Whether `trigger` changes what is written: only a user's command does,
  /// and the start that a user's configure with `autostart` asks for (not
  /// startup, restarts, dependencies, failover or shutdown). Else a restart
  /// or a failover would not run what autostart ran (docs/state.md).
  bool written_ahead(const Trigger& trigger) const {
    return writer_ &&
           (trigger.cause == EventCause::request || trigger.cause == EventCause::autostart);
  }

  /// Writes `change`, then runs `next` with the outcome, in the actor
  /// (on_written).
  void write_ahead(InstanceChange change, PendingWrites::Continuation next) {
    gate_.begin_commit();
    auto ticket = writes_.add(std::move(next));
    writer_->write_and_notify(std::move(change), caf::actor_cast<ServiceActor>(this), ticket);
  }

  /// The writer answered `ticket`: its command acts (or is refused, also
  /// when a lease's stop overtook it), then the commands that waited for it
  /// run. An actor that ends answers its write's caller instead (on_exit),
  /// and runs nothing more.
  void on_written(std::uint64_t ticket, const caf::error& failure) {
    auto next = writes_.take(ticket);
    if (!next) return;
    auto overtaken = gate_.end_commit();
    (*next)(failure ? failure : overtaken);
    gate_.run_deferred();
  }

  // -- commands ---------------------------------------------------------------

  void configure(const nlohmann::json& configuration, const Trigger& trigger,
                 StatePromise promise) {
    if (closing_) return promise.deliver(being_deregistered()), void();
    ServiceLifecycle::Candidate prepared;
    try {
      prepared = lifecycle_.prepare_configuration(configuration);
    } catch (const Error& error) {
      return promise.deliver(make_error(error)), void();
    }
    if (!written_ahead(trigger)) {
      if (auto refusal = apply_configuration(std::move(prepared), trigger, promise))
        promise.deliver(refusal);
      return;
    }
    // The stored form: a secret sent back as "***" is kept as it was, never
    // as stars (docs/secrets.md).
    ConfigurationChange change{prepared.stored_body};
    ConfigurationChange before{writer_->stored_configuration()};
    // Held for the continuation, which must be copyable.
    auto held = std::make_shared<ServiceLifecycle::Candidate>(std::move(prepared));
    write_ahead(std::move(change),
                [this, held, before, trigger, promise](const caf::error& failure) mutable {
                  if (failure) return refuse_configuration(std::move(before), failure, promise);
                  // Nothing acted in between: later commands waited for this one.
                  if (auto refusal = apply_configuration(std::move(*held), trigger, promise))
                    write_back(std::move(before), std::move(refusal), promise);
                });
  }

  /// A configure that does not act: its write failed, or a lease's stop
  /// overtook it. One overtaken after its write went through gets the
  /// store's configuration back, as a refused one does (write_back).
  void refuse_configuration(ConfigurationChange before, caf::error refusal, StatePromise promise) {
    if (writer_->stored_configuration() == before.stored) return promise.deliver(refusal), void();
    write_back(std::move(before), std::move(refusal), promise);
  }

  /// The service refused a configuration written ahead: the store gets back
  /// what it held before, or a restart would bring the refused one back
  /// (docs/state.md). The refusal is answered once that write ends, so that
  /// later commands (which wait for it) see the store as the instance is.
  void write_back(ConfigurationChange before, caf::error refusal, StatePromise promise) {
    write_ahead(std::move(before), [this, refusal, promise](const caf::error& failure) mutable {
      if (failure)
        log().warn(
            "Service {} refused a configuration that may stay stored (a restart "
            "would apply it): {}",
            name_of(), to_error(failure).detail());
      promise.deliver(refusal);
    });
  }

  /// Makes `prepared` the service's and answers `promise`; when the manager
  /// refuses it, the configuration stays as it was and the refusal comes
  /// back unanswered.
  caf::error apply_configuration(ServiceLifecycle::Candidate prepared, const Trigger& trigger,
                                 StatePromise promise) {
    cancel_restart();
    bool autostart = false;
    try {
      autostart = lifecycle_.apply_configuration(std::move(prepared));
    } catch (const Error& error) {
      return make_error(error);
    } catch (const std::exception& error) {
      return make_error(ErrorCode::service_failure, error.what());
    }
    publisher_.refresh_configuration();
    enter_state(trigger);
    // Anonymous: nobody waits for this start's reply; its events carry the
    // request that configured. Queued before the reply goes out, so that a
    // command the client sends once it has the reply comes after it.
    if (autostart)
      caf::anon_send(caf::actor_cast<ServiceActor>(this), start_atom::value,
                     Trigger{EventCause::autostart, trigger.request_id});
    promise.deliver(ServiceState::configured);
    return caf::none;
  }

  /// A start from a command: written ahead when it is a user's and it would
  /// be accepted (a refused start writes nothing).
  void user_start(const Trigger& trigger, StatePromise promise) {
    if (!written_ahead(trigger) || closing_ || lifecycle_.start_refusal())
      return start(trigger, promise);
    write_ahead(DesiredStateChange{true},
                [this, trigger, promise](const caf::error& failure) mutable {
                  if (!failure) return start(trigger, promise);
                  // Nobody waits for an autostart's answer: say it here.
                  if (trigger.cause == EventCause::autostart)
                    log().warn("Service {}: autostart did not start it: {}", name_of(),
                               to_error(failure).detail());
                  promise.deliver(failure);
                });
  }

  /// A stop from a command: a user's is written ahead. Where the writer
  /// allows it (the state file), it acts even when it cannot be written (an
  /// operator must be able to stop things during an incident), with a
  /// warning.
  void user_stop(const Trigger& trigger, StopPromise promise) {
    if (!written_ahead(trigger)) return stop(trigger, StopWaiter{promise, {}});
    write_ahead(DesiredStateChange{false},
                [this, trigger, promise](const caf::error& failure) mutable {
                  if (failure && !writer_->stop_acts_unwritten())
                    return promise.deliver(failure), void();
                  stop(trigger, StopWaiter{promise, failure ? to_error(failure).detail() : ""});
                });
  }

  void start(const Trigger& trigger, std::optional<StatePromise> promise) {
    if (closing_) {
      if (promise) promise->deliver(being_deregistered());
      return;
    }
    if (trigger.cause != EventCause::restart) cancel_restart();
    try {
      lifecycle_.begin_start();
    } catch (const Error& error) {
      // A missing configuration turns the state into error, unsupervised.
      if (lifecycle_.state() == ServiceState::error) enter_state(EventCause::failure);
      if (promise) promise->deliver(make_error(error));
      return;
    }
    enter_state(trigger);
    if (promise) waiters_.wait_for_start(*promise);
    call_manager(Call::start, trigger, lifecycle_.start_timeout());
  }

  /// `within`: a cap on the manager's stop timeout (a cluster node that
  /// must have stopped its instances before its lease counts as lost).
  void stop(const Trigger& trigger, StopWaiter waiter,
            std::optional<caf::timespan> within = std::nullopt) {
    if (trigger.cause != EventCause::restart) cancel_restart();
    switch (lifecycle_.begin_stop()) {
      case ServiceLifecycle::StopPlan::nothing_to_do:
        deliver_stop(waiter, std::nullopt);
        break;
      case ServiceLifecycle::StopPlan::wait_for_transition:
        if (lifecycle_.state() == ServiceState::starting) waiters_.stop_after_start(trigger);
        waiters_.wait_for_stop(std::move(waiter));
        break;
      case ServiceLifecycle::StopPlan::run:
        stop_timers();
        enter_state(trigger);
        waiters_.wait_for_stop(std::move(waiter));
        call_manager(Call::stop, trigger,
                     within ? std::min<std::chrono::nanoseconds>(lifecycle_.stop_timeout(), *within)
                            : lifecycle_.stop_timeout());
        break;
    }
  }

  /// Deregistration: stop what runs or is about to, then answer the stop
  /// error as text. A service in error is not running: nothing to stop.
  void shut_down(const Trigger& trigger, TextPromise promise) {
    if (lifecycle_.state() == ServiceState::error) {
      promise.deliver(std::string{});
      return;
    }
    stop(trigger, StopWaiter{promise, {}});
  }

  caf::error being_deregistered() const {
    return make_error(ErrorCode::conflict, "Service " + name_of() + " is being deregistered");
  }

  void deliver_stop(StopWaiter& waiter, const std::optional<Error>& error) {
    TransitionWaiters::deliver_stop(waiter, error, lifecycle_.state());
  }

  // -- manager calls ------------------------------------------------------------

  /// Calls the manager: inline if its calls do not block, else on a manager
  /// thread, whose outcome comes back as (done_atom or checked_atom, id,
  /// ...), preceded by (late_atom, id) if it outlives `timeout`.
  void call_manager(Call kind, Trigger trigger, std::chrono::nanoseconds timeout) {
    if (!calls_may_block_) calls_may_block_ = lifecycle_.calls_may_block();
    auto call = gate_.open(kind, std::move(trigger), timeout);
    if (!*calls_may_block_) {
      lifecycle_.hand_out();
      auto outcome = lifecycle_.run(kind);
      return complete(call, std::move(outcome));
    }
    gate_.hold(call);
    lifecycle_.hand_out();
    auto self = caf::actor_cast<ServiceActor>(this);
    auto id = call.id;
    // Counted until it returns, even after this actor is gone: a copy
    // deregistered in a late stop may still run (docs/cluster.md).
    busy_managers_->enter(lifecycle_.name());
    threads_->run(
        [self, lifecycle = shared_lifecycle_, busy = busy_managers_, kind, id] {
          auto outcome = lifecycle->run(kind);
          busy->leave(lifecycle->name());
          if (auto* health = std::get_if<Health>(&outcome))
            caf::anon_send(self, checked_atom::value, id, health->ok, std::move(health->detail));
          else
            caf::anon_send(self, done_atom::value, id, std::get<std::string>(std::move(outcome)));
        },
        timeout, [self, id] { caf::anon_send(self, late_atom::value, id); });
  }

  /// Call `id` returned `outcome`; a stale `id` is ignored.
  void on_returned(std::uint64_t id, ServiceLifecycle::Outcome outcome) {
    auto call = gate_.close(id);
    if (!call) return;
    if (call->late) {  // answered as timed out already: only the manager is free now
      record_->set_manager_overdue(false);
      return late_call_returned(*call, outcome);
    }
    complete(*call, std::move(outcome));
  }

  /// A call answered as timed out has returned. A start that succeeded
  /// after all left the manager started in a service that is in `error`:
  /// its clean-up stop runs before anything else may call the manager
  /// (docs/supervision.md, "Failures").
  void late_call_returned(const CallInFlight& call, const ServiceLifecycle::Outcome& outcome) {
    const auto* failure = std::get_if<std::string>(&outcome);
    if (call.kind == Call::start && failure != nullptr && failure->empty()) {
      log().warn("Service {} started after its start timed out: stopping it", name_of());
      return call_manager(Call::cleanup, EventCause::failure, lifecycle_.stop_timeout());
    }
    manager_freed();
  }

  void on_late(std::uint64_t id) {
    const auto* call = gate_.mark_late(id);
    if (call == nullptr) return;
    if (call->kind != Call::health) record_->set_manager_overdue(true);
    switch (call->kind) {
      case Call::start:
      case Call::stop:
        time_out(call->kind, call->timeout);
        break;
      case Call::cleanup:
        log().error("Clean-up stop of {} timed out after {} s; it still runs", name_of(),
                    lifecycle_.configuration().stop_timeout_seconds);
        break;
      case Call::health:
        record_health(health_.timed_out());
        break;
    }
    // The commands that waited for the manager would wait for as long as
    // the late call runs, perhaps for ever: they get the refusal that a
    // command arriving now gets.
    gate_.refuse_waiting();
  }

  void complete(const CallInFlight& call, ServiceLifecycle::Outcome outcome) {
    switch (call.kind) {
      case Call::start:
        finish_start(call.trigger, std::get<std::string>(outcome));
        break;
      case Call::stop:
        finish_stop(call.trigger, std::get<std::string>(outcome));
        break;
      case Call::cleanup:
        if (const auto& failure = std::get<std::string>(outcome); !failure.empty())
          log().error("Clean-up stop of {} failed: {}", name_of(), failure);
        break;
      case Call::health:
        record_health(std::get<Health>(outcome));
        break;
    }
    manager_freed();
  }

  /// Runs what waited for the manager, once it is free.
  void manager_freed() {
    if (gate_.take_cleanup())
      call_manager(Call::cleanup, EventCause::failure, lifecycle_.stop_timeout());
    gate_.run_deferred();
  }

  // -- the end of a start or stop ---------------------------------------------------

  void finish_start(const Trigger& trigger, const std::string& failure) {
    auto error = lifecycle_.finish_start(failure);
    if (error) {
      fail_transition(*error, Supervised::yes);
    } else {
      restarts_.on_running(RestartSchedule::Clock::now());
      enter_state(trigger);
      health_.arm();
      if (pending_failure_) {  // reported while the start ran: it applies now
        answer_start(std::nullopt);
        auto [reason, failure_cause] = std::move(*std::exchange(pending_failure_, std::nullopt));
        return fail_at_run_time(std::move(reason), failure_cause);
      }
    }
    answer_start(error);
  }

  void finish_stop(const Trigger& trigger, const std::string& failure) {
    auto error = lifecycle_.finish_stop(failure);
    if (error) {
      fail_transition(*error, Supervised::no);
    } else {
      restarts_.on_stopped();
      enter_state(trigger);
    }
    answer_stop(error);
  }

  void time_out(Call kind, std::chrono::nanoseconds bound) {
    auto error = lifecycle_.time_out(bound);
    bool starting = kind == Call::start;
    fail_transition(error, starting ? Supervised::yes : Supervised::no);
    if (starting)
      answer_start(error);
    else
      answer_stop(error);
  }

  /// A start or stop failed: the lifecycle is in `error` already. A failed
  /// start is supervised (restarted by policy); a failed stop is not.
  void fail_transition(const Error& error, Supervised supervised) {
    log().error("{}", error.detail());
    publisher_.count_failure();
    pending_failure_.reset();
    if (supervised == Supervised::yes) supervise_failure();
    enter_state(EventCause::failure, supervised);
  }

  void answer_start(const std::optional<Error>& error) {
    waiters_.answer_start(error, lifecycle_.state());
    if (auto trigger = waiters_.take_stop_after_start()) {
      for (auto& waiter : waiters_.take_stop_waiters()) {
        if (auto stuck = gate_.refusal())  // the start timed out and still runs
          deliver_stop(waiter, to_error(*stuck));
        else
          stop(*trigger, std::move(waiter));
      }
    }
    waiters_.run_routes(lifecycle_);
  }

  void answer_stop(const std::optional<Error>& error) {
    waiters_.answer_stop(error, lifecycle_.state());
    waiters_.run_routes(lifecycle_);
  }

  // -- failures at run time -------------------------------------------------------

  /// A failure reported while the service is meant to run (Service::fail,
  /// failed health checks): `error` at once, then the manager's stop as
  /// clean-up, then the restart policy.
  void fail_at_run_time(std::string reason, EventCause cause) {
    auto state = lifecycle_.state();
    if (state == ServiceState::starting) {
      if (!pending_failure_) pending_failure_.emplace(std::move(reason), cause);
      return;
    }
    if (state != ServiceState::running) return;  // not meant to run: nothing fails
    publisher_.count_failure();
    lifecycle_.fail(std::move(reason));  // redacted (docs/secrets.md)
    log().error("Service {} failed: {}", name_of(), lifecycle_.status().error);
    stop_timers();
    supervise_failure();
    enter_state(cause, Supervised::yes);
    if (!gate_.defer_cleanup())  // else after the health check that has the manager
      call_manager(Call::cleanup, cause, lifecycle_.stop_timeout());
  }

  /// A failure that service code reported (ServiceContext::fail).
  void apply_reported_failure() {
    if (auto reason = context_->take_reported())
      fail_at_run_time(std::move(*reason), EventCause::failure);
  }

  /// Timers and health checks end when the service leaves running.
  void stop_timers() {
    timers_.stop();
    health_.stop();
  }

  // -- health checks (docs/supervision.md) ----------------------------------------------

  void on_health_due(std::uint64_t generation) {
    if (!health_.is_due(generation)) return;
    if (const auto* call = gate_.in_flight()) {
      // A check still running past its timeout counts once more per interval.
      if (call->kind == Call::health && call->late) record_health(health_.timed_out());
      return;  // never overlap another call
    }
    call_manager(Call::health, EventCause::health, lifecycle_.health_timeout());
  }

  void record_health(const Health& health) {
    if (lifecycle_.state() != ServiceState::running) return;
    auto failure = health_.record(health);
    publisher_.publish_view();
    if (failure) fail_at_run_time(std::move(*failure), EventCause::health);
  }

  // -- restarts (docs/supervision.md) ---------------------------------------------

  /// Decides, for a failure the lifecycle has just recorded, whether and
  /// when to restart; a final failure gets the give-up text appended.
  void supervise_failure() {
    const auto& configuration = lifecycle_.configuration();
    if (closing_ || !configuration.restarts_on_failure()) return;
    auto decision = restarts_.schedule(RestartSchedule::Clock::now());
    if (!decision.give_up) return;  // armed once the failure is published (enter_state)
    lifecycle_.fail(lifecycle_.status().error + decision.give_up_text);
    log().error("Service {} will not be restarted: {}", name_of(), lifecycle_.status().error);
  }

  void on_restart_due(std::uint64_t generation) {
    switch (restarts_.on_timer(generation)) {
      case RestartSchedule::Due::no:
        break;
      case RestartSchedule::Due::after_dependencies:
        publisher_.publish_view();
        publisher_.tell_waiting();
        break;
      case RestartSchedule::Due::now:
        restart_now();
        break;
    }
  }

  /// A restart may wait in the gate behind a user's change being written;
  /// that command (a configure, start or stop) cancels restarts when it
  /// acts, so the restart checks, when its turn comes, that no command has
  /// cancelled restarts since it came due.
  void restart_now() {
    publisher_.publish_view();  // no restart pending now: it is being made
    gate_.admit(
        [this, cancellations = restart_cancellations_] {
          if (cancellations != restart_cancellations_) return;
          count_restart();
          start(EventCause::restart, std::nullopt);
        },
        [this, cancellations = restart_cancellations_](const caf::error&) {
          if (cancellations == restart_cancellations_) restart_refused();
        });
  }

  void count_restart() {
    restarts_.on_restart(RestartSchedule::Clock::now());
    log().info("Restarting service {} (restart {})", name_of(), restarts_.restarts());
  }

  /// The manager is stuck in a call that timed out: this restart fails too,
  /// and the policy decides again.
  void restart_refused() {
    count_restart();
    const auto* late = gate_.late_call();
    lifecycle_.fail(
        fmt::format("Failed to start {} service: still running an earlier {} "
                    "that timed out",
                    name_of(), late != nullptr ? describe(late->kind) : "call"));
    fail_transition(Error(ErrorCode::conflict, lifecycle_.status().error), Supervised::yes);
  }

  void cancel_restart() {
    ++restart_cancellations_;
    if (restarts_.cancel()) publisher_.publish_view();
  }

  // -- publishing ---------------------------------------------------------------------

  /// The instance entered the lifecycle's current state: publish it, log
  /// the event and tell the Supervisor what concerns it, all before any
  /// reply goes out.
  void enter_state(const Trigger& trigger, Supervised failure = Supervised::no) {
    if (lifecycle_.state() != ServiceState::running) lifecycle_.clear_health();
    publisher_.publish_state(trigger, failure == Supervised::yes && restarts_.take_give_up());
    // The delay runs from the failure's event on, as a reader of events sees it.
    restarts_.arm();
    publisher_.tell_supervisor(trigger.cause, failure);
  }

  std::shared_ptr<ServiceLifecycle> shared_lifecycle_;  ///< with the manager threads
  ServiceLifecycle& lifecycle_;
  std::shared_ptr<ManagerThreads> threads_;
  std::shared_ptr<BusyManagers> busy_managers_;
  std::optional<std::string> inherited_failure_;
  std::weak_ptr<communications::Dispatcher> messages_;  ///< for context_
  std::shared_ptr<ActorServiceContext> context_;
  std::optional<bool> calls_may_block_;
  bool closing_ = false;  ///< being deregistered
  /// How often restarts were cancelled: a restart that waited in the gate
  /// runs only if none was since (restart_now).
  std::uint64_t restart_cancellations_ = 0;
  /// A failure reported while the start ran: it applies once it ends.
  std::optional<std::pair<std::string, EventCause>> pending_failure_;

  ManagerGate gate_;
  std::shared_ptr<ChangeWriter> writer_;
  PendingWrites writes_;
  RecordPtr record_;
  TransitionWaiters waiters_;
  RestartSchedule restarts_;
  HealthChecks health_;
  ServiceTimers timers_;
  InstancePublisher publisher_;
};

}  // namespace

ServiceActor spawn_service_actor(caf::actor_system& system, ServiceActorSetup setup) {
  return system.spawn<ServiceActorImpl>(std::move(setup));
}

}  // namespace processpype
