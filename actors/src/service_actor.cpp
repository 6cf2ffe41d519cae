#include "service_actor.hpp"

#include "processpype/actors/stray_messages.hpp"

#include <deque>
#include <mutex>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <caf/all.hpp>

namespace processpype {

namespace {

using Call = ServiceLifecycle::Call;
using Clock = std::chrono::steady_clock;
using StatePromise = caf::typed_response_promise<ServiceState>;
using TextPromise = caf::typed_response_promise<std::string>;
using RoutePromise = caf::typed_response_promise<RouteResponse>;

/// Lets service code reach its actor from any thread; weak, so the service
/// does not keep its own actor alive. A reported failure is kept here as
/// well as sent: the actor applies it right after the route or timer tick
/// that reported it, so the route's reply already shows it.
class ActorServiceContext final : public ServiceContext {
 public:
  explicit ActorServiceContext(caf::weak_actor_ptr actor) : actor_(std::move(actor)) {}

  void every(std::chrono::nanoseconds interval, std::function<void()> tick) override {
    if (auto actor = caf::actor_cast<ServiceActor>(actor_.lock()))
      caf::anon_send(actor, timer_atom::value, caf::timespan{interval}, Tick{std::move(tick)});
  }
  void fail(std::string reason) override {
    {
      std::lock_guard lock{mutex_};
      if (reported_) return;  // the first report wins until it is applied
      reported_ = std::move(reason);
    }
    if (auto actor = caf::actor_cast<ServiceActor>(actor_.lock()))
      caf::anon_send(actor, fail_atom::value, std::string{}, EventCause::failure);
  }

  /// The failure reported since the last call, if any.
  std::optional<std::string> take_reported() {
    std::lock_guard lock{mutex_};
    return std::exchange(reported_, std::nullopt);
  }

 private:
  caf::weak_actor_ptr actor_;
  std::mutex mutex_;
  std::optional<std::string> reported_;
};

/// A caller waiting for a stop: a command wants the state, a
/// deregistration the stop's error as text.
using StopWaiter = std::variant<StatePromise, TextPromise>;

/// A command that arrived while a clean-up or a health check had the
/// manager: it runs when the manager is free, or is answered `error` if the
/// actor ends first.
struct DeferredCommand {
  std::function<void()> run;
  std::function<void(const caf::error&)> abandon;
};

struct Timer {
  caf::timespan interval;
  Tick tick;
};

/// Whether a failure is supervised (the restart policy applies, the
/// Supervisor hears of it): a failed start or a failure at run time is; a
/// failed stop is not.
enum class Supervised : bool { no, yes };

/// The manager call in flight. `late`: it outlived its timeout and was
/// answered as timed out, but it still runs (the manager stays busy).
struct CallInFlight {
  std::uint64_t id = 0;
  Call kind = Call::start;
  EventCause cause = EventCause::request;
  bool late = false;
};

class ServiceActorImpl final : public ServiceActor::base {
 public:
  ServiceActorImpl(caf::actor_config& config, ServiceActorSetup setup)
      : ServiceActor::base(config), setup_(std::move(setup)), lifecycle_(*setup_.lifecycle) {
    drop_stray_messages(*this);
  }

  const char* name() const override { return "processpype.service"; }

  behavior_type make_behavior() override {
    context_ = std::make_shared<ActorServiceContext>(caf::actor_cast<caf::weak_actor_ptr>(ctrl()));
    lifecycle_.attach(context_);
    refresh_configuration_view();
    if (setup_.inherited_failure) {
      supervise_failure();
      enter_state(EventCause::failure, Supervised::yes);
    }
    return {
        [this](configure_atom, nlohmann::json& configuration,
               EventCause cause) -> caf::result<ServiceState> {
          auto promise = make_response_promise<ServiceState>();
          gated([this, configuration = std::move(configuration), cause,
                 promise]() mutable { configure(configuration, cause, promise); },
                refusal_to(promise));
          return promise;
        },
        [this](start_atom, EventCause cause) -> caf::result<ServiceState> {
          auto promise = make_response_promise<ServiceState>();
          gated([this, cause, promise]() mutable { start(cause, promise); }, refusal_to(promise));
          return promise;
        },
        [this](stop_atom, EventCause cause) -> caf::result<ServiceState> {
          auto promise = make_response_promise<ServiceState>();
          gated([this, cause, promise]() mutable { stop(cause, StopWaiter{promise}); },
                refusal_to(promise));
          return promise;
        },
        [this](shutdown_atom) -> caf::result<std::string> {
          auto promise = make_response_promise<std::string>();
          closing_ = true;  // nothing starts it again: it is about to be removed
          cancel_restart();
          gated([this, promise]() mutable { shut_down(promise); }, refusal_to(promise));
          return promise;
        },
        [this](route_atom, RouteRequest& request) -> caf::result<RouteResponse> {
          if (!is_transitioning(lifecycle_.state())) {
            auto response = lifecycle_.routes().dispatch(request);
            apply_reported_failure();
            return response;
          }
          // Routes are serialized with the lifecycle: run after the transition.
          auto promise = make_response_promise<RouteResponse>();
          deferred_routes_.emplace_back(std::move(request), promise);
          return promise;
        },
        [this](resume_atom) { resume_restart(); },
        [this](fail_atom, std::string& reason, EventCause cause) {
          if (reason.empty())
            apply_reported_failure();
          else
            fail_at_run_time(std::move(reason), cause);
        },
        [this](restart_atom, std::uint64_t generation) { on_restart_due(generation); },
        [this](timer_atom, caf::timespan interval, Tick& tick) {
          add_timer(interval, std::move(tick));
        },
        [this](tick_atom, std::uint64_t generation, std::uint64_t index) {
          on_tick(generation, index);
        },
        [this](health_atom, std::uint64_t generation) { on_health_due(generation); },
        [this](done_atom, std::uint64_t id, std::string& failure) {
          if (auto call = take_call(id)) complete(*call, std::move(failure));
        },
        [this](checked_atom, std::uint64_t id, bool ok, std::string& detail) {
          if (auto call = take_call(id)) complete(*call, Health{ok, std::move(detail)});
        },
        [this](late_atom, std::uint64_t id) { on_late(id); },
    };
  }

  /// An actor that ends (killed, or removed) answers everyone still waiting
  /// instead of leaving them hanging.
  void on_exit() override {
    auto gone = make_error(ErrorCode::service_failure, "Service actor of " + name_of() + " ended");
    for (auto& promise : std::exchange(start_waiters_, {})) promise.deliver(gone);
    for (auto& waiter : std::exchange(stop_waiters_, {}))
      std::visit([&](auto& promise) { promise.deliver(gone); }, waiter);
    for (auto& [request, promise] : std::exchange(deferred_routes_, {})) promise.deliver(gone);
    for (auto& command : std::exchange(deferred_, {})) command.abandon(gone);
    // A handle back to the Supervisor, which holds this actor's handle:
    // CAF frees neither actor's state while the other's handle lives.
    setup_.supervisor = decltype(setup_.supervisor){};
  }

 private:
  const std::string& name_of() const { return lifecycle_.name(); }
  spdlog::logger& log() { return *lifecycle_.service().logger(); }

  // -- the manager's gate ------------------------------------------------------
  //
  // A manager never sees two calls at once. A command that needs the
  // manager waits while a clean-up or a health check has it, and is refused
  // while a call that outlived its timeout still runs.

  using Refuse = std::function<void(const caf::error&)>;

  template <class Promise>
  static Refuse refusal_to(Promise promise) {
    return [promise](const caf::error& error) mutable { promise.deliver(error); };
  }

  void gated(std::function<void()> command, Refuse refuse) {
    if (auto stuck = manager_stuck()) return refuse(*stuck);
    if (call_ && (call_->kind == Call::cleanup || call_->kind == Call::health)) {
      deferred_.push_back({std::move(command), std::move(refuse)});
      return;
    }
    command();
  }

  /// The refusal while a call that outlived its timeout still runs.
  std::optional<caf::error> manager_stuck() const {
    if (!call_ || !call_->late) return std::nullopt;
    return make_error(ErrorCode::conflict,
                      fmt::format("Service {} is still running an earlier {} that timed out",
                                  name_of(), describe(call_->kind)));
  }

  static const char* describe(Call kind) {
    switch (kind) {
      case Call::start:
        return "start";
      case Call::stop:
        return "stop";
      case Call::cleanup:
        return "clean-up stop";
      case Call::health:
        return "health check";
    }
    return "call";
  }

  /// Runs what waited for the manager, once it is free.
  void manager_freed() {
    if (cleanup_pending_ && !call_) {
      cleanup_pending_ = false;
      call_manager(Call::cleanup, EventCause::failure, lifecycle_.stop_timeout());
    }
    while (!deferred_.empty() && !(call_ && (call_->kind == Call::cleanup ||
                                             call_->kind == Call::health || call_->late))) {
      auto command = std::move(deferred_.front());
      deferred_.pop_front();
      command.run();
    }
  }

  // -- commands ---------------------------------------------------------------

  void configure(const nlohmann::json& configuration, EventCause cause, StatePromise promise) {
    if (closing_) return promise.deliver(being_deregistered()), void();
    cancel_restart();
    bool autostart = false;
    try {
      autostart = lifecycle_.configure(configuration);
    } catch (const Error& error) {
      promise.deliver(make_error(error));
      return;
    } catch (const std::exception& error) {
      promise.deliver(make_error(ErrorCode::service_failure, error.what()));
      return;
    }
    dependencies_changed_ = refresh_configuration_view();
    enter_state(cause);
    promise.deliver(ServiceState::configured);
    // Anonymous: nobody waits for this start's reply. It runs after this reply.
    if (autostart)
      caf::anon_send(caf::actor_cast<ServiceActor>(this), start_atom::value, EventCause::autostart);
  }

  void start(EventCause cause, std::optional<StatePromise> promise) {
    if (closing_) {
      if (promise) promise->deliver(being_deregistered());
      return;
    }
    if (cause != EventCause::restart) cancel_restart();
    try {
      lifecycle_.begin_start();
    } catch (const Error& error) {
      // A missing configuration turns the state into error, unsupervised.
      if (lifecycle_.state() == ServiceState::error) enter_state(EventCause::failure);
      if (promise) promise->deliver(make_error(error));
      return;
    }
    enter_state(cause);
    if (promise) start_waiters_.push_back(*promise);
    call_manager(Call::start, cause, lifecycle_.start_timeout());
  }

  void stop(EventCause cause, StopWaiter waiter) {
    if (cause != EventCause::restart) cancel_restart();
    switch (lifecycle_.begin_stop()) {
      case ServiceLifecycle::StopPlan::nothing_to_do:
        deliver_stop(waiter, std::nullopt);
        break;
      case ServiceLifecycle::StopPlan::wait_for_transition:
        if (lifecycle_.state() == ServiceState::starting) stop_after_start_ = cause;
        stop_waiters_.push_back(std::move(waiter));
        break;
      case ServiceLifecycle::StopPlan::run:
        stop_timers();
        enter_state(cause);
        stop_waiters_.push_back(std::move(waiter));
        call_manager(Call::stop, cause, lifecycle_.stop_timeout());
        break;
    }
  }

  /// Deregistration: stop what runs or is about to, then answer the stop
  /// error as text. A service in error is not running: nothing to stop.
  void shut_down(TextPromise promise) {
    if (lifecycle_.state() == ServiceState::error) {
      promise.deliver(std::string{});
      return;
    }
    stop(EventCause::request, StopWaiter{promise});
  }

  caf::error being_deregistered() const {
    return make_error(ErrorCode::conflict, "Service " + name_of() + " is being deregistered");
  }

  void deliver_stop(StopWaiter& waiter, const std::optional<Error>& error) {
    std::visit(
        [&](auto& promise) {
          using Promise = std::decay_t<decltype(promise)>;
          if constexpr (std::is_same_v<Promise, TextPromise>)
            promise.deliver(error ? error->detail() : std::string{});
          else if (error)
            promise.deliver(make_error(*error));
          else
            promise.deliver(lifecycle_.state());
        },
        waiter);
  }

  // -- manager calls ------------------------------------------------------------

  void call_manager(Call kind, EventCause cause, std::chrono::nanoseconds timeout) {
    if (!calls_may_block_) calls_may_block_ = lifecycle_.calls_may_block();
    CallInFlight call{++last_call_, kind, cause, false};
    if (!*calls_may_block_) {
      lifecycle_.hand_out();
      auto outcome = lifecycle_.run(kind);
      return complete(call, std::move(outcome));
    }
    call_ = call;
    lifecycle_.hand_out();
    auto self = caf::actor_cast<ServiceActor>(this);
    auto lifecycle = setup_.lifecycle;
    auto id = call.id;
    setup_.threads->run(
        [self, lifecycle, kind, id] {
          auto outcome = lifecycle->run(kind);
          if (auto* health = std::get_if<Health>(&outcome))
            caf::anon_send(self, checked_atom::value, id, health->ok, std::move(health->detail));
          else
            caf::anon_send(self, done_atom::value, id, std::get<std::string>(std::move(outcome)));
        },
        timeout, [self, id] { caf::anon_send(self, late_atom::value, id); });
  }

  /// The call in flight with `id`, now finished; none for a stale id.
  std::optional<CallInFlight> take_call(std::uint64_t id) {
    if (!call_ || call_->id != id) return std::nullopt;
    auto call = *call_;
    call_.reset();
    if (call.late) {  // answered as timed out already: only the manager is free now
      manager_freed();
      return std::nullopt;
    }
    return call;
  }

  void on_late(std::uint64_t id) {
    if (!call_ || call_->id != id || call_->late) return;
    call_->late = true;
    switch (call_->kind) {
      case Call::start:
      case Call::stop:
        time_out(call_->kind);
        break;
      case Call::cleanup:
        log().error("Clean-up stop of {} timed out after {} s; it still runs", name_of(),
                    lifecycle_.configuration().stop_timeout_seconds);
        break;
      case Call::health:
        record_health(Health{false, health_timeout_text()});
        break;
    }
  }

  void complete(const CallInFlight& call, ServiceLifecycle::Outcome outcome) {
    switch (call.kind) {
      case Call::start:
        finish_start(call.cause, std::get<std::string>(outcome));
        break;
      case Call::stop:
        finish_stop(call.cause, std::get<std::string>(outcome));
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

  void finish_start(EventCause cause, const std::string& failure) {
    auto error = lifecycle_.finish_start(failure);
    if (error) {
      fail_transition(*error, Supervised::yes);
    } else {
      setup_.restarts->tracker.on_running(Clock::now());
      enter_state(cause);
      arm_health_checks();
      if (pending_failure_) {  // reported while the start ran: it applies now
        answer_start(std::nullopt);
        auto [reason, failure_cause] = std::move(*std::exchange(pending_failure_, std::nullopt));
        return fail_at_run_time(std::move(reason), failure_cause);
      }
    }
    answer_start(error);
  }

  void finish_stop(EventCause cause, const std::string& failure) {
    auto error = lifecycle_.finish_stop(failure);
    if (error) {
      fail_transition(*error, Supervised::no);
    } else {
      setup_.restarts->tracker.on_stopped();
      enter_state(cause);
    }
    answer_stop(error);
  }

  void time_out(Call kind) {
    auto error = lifecycle_.time_out();
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
    setup_.record->counters().failures.fetch_add(1, std::memory_order_relaxed);
    pending_failure_.reset();
    if (supervised == Supervised::yes) supervise_failure();
    enter_state(EventCause::failure, supervised);
  }

  void answer_start(const std::optional<Error>& error) {
    for (auto& promise : std::exchange(start_waiters_, {})) {
      if (error)
        promise.deliver(make_error(*error));
      else
        promise.deliver(lifecycle_.state());
    }
    if (auto cause = std::exchange(stop_after_start_, std::nullopt)) {
      auto waiters = std::exchange(stop_waiters_, {});
      for (auto& waiter : waiters) {
        if (auto stuck = manager_stuck())  // the start timed out and still runs
          deliver_stop(waiter, to_error(*stuck));
        else
          stop(*cause, std::move(waiter));
      }
    }
    run_deferred_routes();
  }

  void answer_stop(const std::optional<Error>& error) {
    for (auto& waiter : std::exchange(stop_waiters_, {})) deliver_stop(waiter, error);
    run_deferred_routes();
  }

  void run_deferred_routes() {
    if (is_transitioning(lifecycle_.state())) return;
    for (auto& [request, promise] : std::exchange(deferred_routes_, {}))
      promise.deliver(lifecycle_.routes().dispatch(request));
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
    log().error("Service {} failed: {}", name_of(), reason);
    setup_.record->counters().failures.fetch_add(1, std::memory_order_relaxed);
    lifecycle_.fail(std::move(reason));
    stop_timers();
    supervise_failure();
    enter_state(cause, Supervised::yes);
    if (call_)
      cleanup_pending_ = true;  // after the health check that has the manager
    else
      call_manager(Call::cleanup, cause, lifecycle_.stop_timeout());
  }

  /// A failure that service code reported (ServiceContext::fail).
  void apply_reported_failure() {
    if (auto reason = context_->take_reported())
      fail_at_run_time(std::move(*reason), EventCause::failure);
  }

  // -- restarts (docs/supervision.md) ---------------------------------------------

  /// Decides, for a failure the lifecycle has just recorded, whether and
  /// when to restart; a final failure gets the give-up text appended.
  void supervise_failure() {
    const auto& configuration = lifecycle_.configuration();
    if (closing_ || !configuration.restarts_on_failure()) return;
    auto now = Clock::now();
    auto decision = setup_.restarts->tracker.on_failure(configuration, now);
    if (decision.give_up) {
      lifecycle_.fail(lifecycle_.status().error + decision.give_up_text);
      log().error("Service {} will not be restarted: {}", name_of(), lifecycle_.status().error);
      return;
    }
    next_restart_at_ = now + decision.delay;
    restart_delay_ = decision.delay;  // armed once the failure is published (enter_state)
  }

  void on_restart_due(std::uint64_t generation) {
    if (generation != restart_generation_ || lifecycle_.state() != ServiceState::error) return;
    next_restart_at_.reset();
    if (!dependencies_running()) {
      waiting_for_dependency_ = true;  // not a failure: start once they run
      publish_view();
      send(setup_.supervisor, waiting_atom::value);
      return;
    }
    restart_now();
  }

  void resume_restart() {
    if (!waiting_for_dependency_ || lifecycle_.state() != ServiceState::error) return;
    if (!dependencies_running()) return;
    waiting_for_dependency_ = false;
    restart_now();
  }

  void restart_now() {
    setup_.restarts->tracker.on_restart(Clock::now());
    log().info("Restarting service {} (restart {})", name_of(),
               setup_.restarts->tracker.restarts());
    if (call_ && call_->late) {  // the manager is stuck: this start fails too
      lifecycle_.fail(
          fmt::format("Failed to start {} service: still running an earlier {} "
                      "that timed out",
                      name_of(), describe(call_->kind)));
      fail_transition(Error(ErrorCode::conflict, lifecycle_.status().error), Supervised::yes);
      return;
    }
    gated([this] { start(EventCause::restart, std::nullopt); }, [](const caf::error&) {});
  }

  void cancel_restart() {
    if (!next_restart_at_ && !waiting_for_dependency_) return;
    ++restart_generation_;
    next_restart_at_.reset();
    waiting_for_dependency_ = false;
    publish_view();
  }

  bool dependencies_running() const {
    for (const auto& dependency : lifecycle_.configuration().depends_on) {
      auto record = setup_.table->find(dependency);
      if (!record || record->state() != ServiceState::running) return false;
    }
    return true;
  }

  // -- health checks ------------------------------------------------------------------

  void arm_health_checks() {
    consecutive_unhealthy_ = 0;
    auto interval = lifecycle_.health_interval();
    if (interval <= std::chrono::nanoseconds::zero()) return;
    delayed_send(this, interval, health_atom::value, ++health_generation_);
  }

  void on_health_due(std::uint64_t generation) {
    if (generation != health_generation_ || lifecycle_.state() != ServiceState::running) return;
    delayed_send(this, lifecycle_.health_interval(), health_atom::value, generation);
    if (call_) {
      // A check still running past its timeout counts once more per interval.
      if (call_->kind == Call::health && call_->late)
        record_health(Health{false, health_timeout_text()});
      return;  // never overlap another call
    }
    call_manager(Call::health, EventCause::health, lifecycle_.health_timeout());
  }

  std::string health_timeout_text() const {
    return fmt::format("Health check timed out after {} s",
                       lifecycle_.configuration().health_timeout_seconds);
  }

  void record_health(const Health& health) {
    if (lifecycle_.state() != ServiceState::running) return;
    lifecycle_.record_health(health);
    consecutive_unhealthy_ = health.ok ? 0 : consecutive_unhealthy_ + 1;
    publish_view();
    auto limit = lifecycle_.configuration().health_failures;
    if (consecutive_unhealthy_ >= limit)
      fail_at_run_time(
          fmt::format("Health check failed {} times: {}", consecutive_unhealthy_, health.detail),
          EventCause::health);
  }

  // -- timers (Service::every) -----------------------------------------------------------

  void add_timer(caf::timespan interval, Tick tick) {
    auto state = lifecycle_.state();
    if (state != ServiceState::starting && state != ServiceState::running) return;
    timers_.push_back({interval, std::move(tick)});
    delayed_send(this, interval, tick_atom::value, timer_generation_,
                 std::uint64_t{timers_.size() - 1});
  }

  void on_tick(std::uint64_t generation, std::uint64_t index) {
    if (generation != timer_generation_ || index >= timers_.size()) return;
    auto interval = timers_[index].interval;
    if (lifecycle_.state() == ServiceState::running) timers_[index].tick();
    delayed_send(this, interval, tick_atom::value, generation, index);
    apply_reported_failure();  // may end the timers
  }

  /// Timers and health checks end when the service leaves running.
  void stop_timers() {
    if (!timers_.empty()) {
      timers_.clear();
      ++timer_generation_;
    }
    ++health_generation_;
  }

  // -- publishing -------------------------------------------------------------------------

  /// Returns whether `depends_on` changed.
  bool refresh_configuration_view() {
    const auto& status = lifecycle_.status();
    bool dependencies_changed = !configuration_view_ || configuration_view_->depends_on !=
                                                            lifecycle_.configuration().depends_on;
    auto view = std::make_shared<ConfigurationView>();
    view->metadata = status.metadata;
    view->is_configured = status.is_configured;
    view->depends_on = lifecycle_.configuration().depends_on;
    view->enabled = lifecycle_.configuration().enabled;
    configuration_view_ = std::move(view);
    return dependencies_changed;
  }

  void publish_view() {
    const auto& status = lifecycle_.status();
    auto view = std::make_shared<ServiceView>();
    view->state = status.state;
    view->error = status.error;
    view->configuration = configuration_view_;
    view->health = status.health;
    view->restarts = setup_.restarts->tracker.restarts();
    view->next_restart_at = next_restart_at_;
    setup_.record->publish(std::move(view));
  }

  /// The instance entered the lifecycle's current state: publish it, log
  /// the event and tell the Supervisor what concerns it, all before any
  /// reply goes out.
  void enter_state(EventCause cause, Supervised failure = Supervised::no) {
    auto state = lifecycle_.state();
    auto& record = *setup_.record;
    if (state != ServiceState::running) lifecycle_.clear_health();
    if (state == ServiceState::running) record.mark_running();
    publish_view();
    record.counters().transitions[static_cast<std::size_t>(state)].fetch_add(
        1, std::memory_order_relaxed);
    // An event's error is the error of that state (a start keeps the old
    // status.error until it succeeds, but its `starting` has none).
    setup_.events->append(name_of(), to_string(state),
                          state == ServiceState::error ? lifecycle_.status().error : "", cause);
    // The delay runs from the failure's event on, as a reader of events sees it.
    if (auto delay = std::exchange(restart_delay_, std::nullopt))
      delayed_send(this, *delay, restart_atom::value, ++restart_generation_);
    if (concerns_supervisor(state, failure))
      send(setup_.supervisor, changed_atom::value, state, cause, failure == Supervised::yes);
  }

  /// The Supervisor keeps the dependency graph: it hears of new
  /// dependencies, and of an instance with dependents that runs or fails.
  bool concerns_supervisor(ServiceState state, Supervised failure) {
    if (state == ServiceState::configured) return std::exchange(dependencies_changed_, false);
    bool relevant = state == ServiceState::running ||
                    (state == ServiceState::error && failure == Supervised::yes);
    return relevant && setup_.record->has_dependents();
  }

  ServiceActorSetup setup_;
  ServiceLifecycle& lifecycle_;
  std::shared_ptr<ActorServiceContext> context_;
  std::shared_ptr<const ConfigurationView> configuration_view_;
  std::optional<bool> calls_may_block_;
  bool dependencies_changed_ = false;

  std::uint64_t last_call_ = 0;
  std::optional<CallInFlight> call_;
  std::deque<DeferredCommand> deferred_;
  bool cleanup_pending_ = false;
  std::optional<std::pair<std::string, EventCause>> pending_failure_;

  std::vector<StatePromise> start_waiters_;
  std::vector<StopWaiter> stop_waiters_;
  std::optional<EventCause> stop_after_start_;
  std::vector<std::pair<RouteRequest, RoutePromise>> deferred_routes_;

  std::vector<Timer> timers_;
  std::uint64_t timer_generation_ = 0;
  std::uint64_t health_generation_ = 0;
  std::int64_t consecutive_unhealthy_ = 0;

  std::uint64_t restart_generation_ = 0;
  std::optional<Clock::time_point> next_restart_at_;
  std::optional<Clock::duration> restart_delay_;
  bool waiting_for_dependency_ = false;
  bool closing_ = false;
};

}  // namespace

ServiceActor spawn_service_actor(caf::actor_system& system, ServiceActorSetup setup) {
  return system.spawn<ServiceActorImpl>(std::move(setup));
}

}  // namespace processpype
