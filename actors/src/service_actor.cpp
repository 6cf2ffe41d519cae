#include "service_actor.hpp"

#include <vector>

#include "processpype/actors/protocol.hpp"

namespace processpype {

namespace {

/// Lets Service::every reach the actor from any thread; weak, so the service
/// does not keep its own actor alive.
class ActorServiceContext final : public ServiceContext {
 public:
  explicit ActorServiceContext(caf::weak_actor_ptr actor) : actor_(std::move(actor)) {}

  void every(std::chrono::nanoseconds interval, std::function<void()> tick) override {
    if (auto actor = caf::actor_cast<caf::actor>(actor_.lock()))
      caf::anon_send(actor, add_timer_atom::value, caf::timespan{interval}, std::move(tick));
  }

 private:
  caf::weak_actor_ptr actor_;
};

/// A caller waiting for a stop to finish. A deregistration wants the stop's
/// error as text instead of a failed reply.
struct StopWaiter {
  caf::response_promise promise;
  bool error_as_text = false;
};

struct Timer {
  caf::timespan interval;
  std::function<void()> tick;
};

/// Everything a service actor keeps only while callers wait on a transition:
/// allocated on demand, so an idle instance stays small.
struct Waiting {
  std::vector<caf::response_promise> start;
  std::vector<StopWaiter> stop;
  bool stop_after_start = false;
  std::vector<std::pair<RouteRequest, caf::response_promise>> routes;
};

class ServiceActor final : public caf::event_based_actor {
 public:
  ServiceActor(caf::actor_config& config, std::shared_ptr<ServiceLifecycle> lifecycle,
               caf::actor supervisor, std::shared_ptr<ManagerThreads> threads)
      : caf::event_based_actor(config),
        lifecycle_(std::move(lifecycle)),
        supervisor_(std::move(supervisor)),
        threads_(std::move(threads)) {
    set_default_handler(caf::drop);  // a stray message must not end the service
    // CAF ends an actor on an error message nobody asked for (e.g. bounced
    // from a peer); ours drop it.
    set_error_handler([](caf::error&) {});
  }

  const char* name() const override { return "processpype.service"; }

  caf::behavior make_behavior() override {
    lifecycle_->attach(
        std::make_shared<ActorServiceContext>(caf::actor_cast<caf::weak_actor_ptr>(ctrl())));
    return {
        [this](configure_atom, const nlohmann::json& configuration) -> caf::result<void> {
          return configure(configuration);
        },
        [this](start_atom) -> caf::result<void> { return start(); },
        [this](stop_atom) -> caf::result<void> { return stop(); },
        [this](shutdown_atom) -> caf::result<std::string> { return shut_down(); },
        [this](route_atom, RouteRequest& request) -> caf::result<RouteResponse> {
          return route(std::move(request));
        },
        [this](add_timer_atom, caf::timespan interval, std::function<void()>& tick) {
          add_timer(interval, std::move(tick));
        },
        [this](tick_atom, std::uint64_t generation, std::size_t index) { tick(generation, index); },
        [this](hook_done_atom, std::uint64_t call, std::string& failure) {
          if (!take_call(call)) return;
          finish(failure.empty() ? std::nullopt : std::optional{std::move(failure)}, false);
        },
        [this](hook_timeout_atom, std::uint64_t call) {
          if (take_call(call)) finish(std::nullopt, true);
        },
    };
  }

 private:
  // -- commands ---------------------------------------------------------------

  caf::result<void> configure(const nlohmann::json& configuration) {
    if (closing_) return being_deregistered();
    try {
      bool autostart = lifecycle_->configure(configuration);
      publish(true);
      // Anonymous: nobody waits for this start's reply. It runs after this reply.
      if (autostart) caf::anon_send(caf::actor_cast<caf::actor>(this), start_atom::value);
      return caf::unit;
    } catch (const Error& error) {
      return make_error(error);
    } catch (const std::exception& error) {
      return make_error(ErrorCode::service_failure, error.what());
    }
  }

  caf::result<void> start() {
    if (closing_) return being_deregistered();
    try {
      lifecycle_->begin_start();
    } catch (const Error& error) {
      publish();  // a missing configuration turns the state into error
      return make_error(error);
    }
    publish();
    auto promise = make_response_promise();
    waiting().start.push_back(promise);
    run_hook(true, lifecycle_->start_timeout());
    return promise;
  }

  caf::result<void> stop() { return request_stop(false); }

  /// Deregistration: stop what runs or is about to, then answer the stop
  /// error as text. A service in error is not running: nothing to stop.
  caf::result<std::string> shut_down() {
    closing_ = true;  // nothing starts it again: it is about to be removed
    if (lifecycle_->state() == ServiceState::error) return std::string{};
    return request_stop(true);
  }

  caf::response_promise request_stop(bool error_as_text) {
    auto promise = make_response_promise();
    ServiceLifecycle::StopPlan plan;
    try {
      plan = lifecycle_->begin_stop();
    } catch (const Error& error) {
      deliver_stop(StopWaiter{promise, error_as_text}, error);
      return promise;
    }
    switch (plan) {
      case ServiceLifecycle::StopPlan::nothing_to_do:
        deliver_stop(StopWaiter{promise, error_as_text}, std::nullopt);
        break;
      case ServiceLifecycle::StopPlan::wait_for_transition:
        if (lifecycle_->state() == ServiceState::starting) waiting().stop_after_start = true;
        waiting().stop.push_back({promise, error_as_text});
        break;
      case ServiceLifecycle::StopPlan::run:
        publish();
        waiting().stop.push_back({promise, error_as_text});
        run_hook(false, lifecycle_->stop_timeout());
        break;
    }
    return promise;
  }

  caf::result<RouteResponse> route(RouteRequest request) {
    if (is_transitioning(lifecycle_->state())) {
      // Routes are serialized with the lifecycle: run after the transition.
      auto promise = make_response_promise();
      waiting().routes.emplace_back(std::move(request), promise);
      return promise;
    }
    return lifecycle_->routes().dispatch(request);
  }

  caf::error being_deregistered() const {
    return make_error(ErrorCode::conflict,
                      "Service " + lifecycle_->name() + " is being deregistered");
  }

  /// An actor that ends (killed, or removed) answers everyone still waiting
  /// instead of leaving them hanging.
  void on_exit() override {
    if (!waiting_) return;
    auto gone =
        make_error(ErrorCode::service_failure, "Service actor of " + lifecycle_->name() + " ended");
    for (auto& promise : waiting_->start) promise.deliver(gone);
    for (auto& waiter : waiting_->stop) waiter.promise.deliver(gone);
    for (auto& [request, promise] : waiting_->routes) promise.deliver(gone);
    waiting_.reset();
  }

  // -- manager calls ------------------------------------------------------------

  void run_hook(bool starting, caf::timespan timeout) {
    awaited_call_ = ++last_call_;
    threads_->run(ManagerCall{lifecycle_, starting}, timeout, caf::actor_cast<caf::actor>(this),
                  awaited_call_);
  }

  /// Whether `call` is the one awaited: its first answer (done or late) wins.
  bool take_call(std::uint64_t call) {
    if (call != awaited_call_ || call == 0) return false;
    awaited_call_ = 0;
    return true;
  }

  void finish(std::optional<std::string> failure, bool timed_out) {
    bool started = lifecycle_->state() == ServiceState::starting;
    std::optional<Error> error;
    if (timed_out)
      error = lifecycle_->time_out();
    else if (started)
      error = lifecycle_->finish_start(failure);
    else
      error = lifecycle_->finish_stop(failure);
    publish();
    if (started)
      answer_start(error);
    else
      answer_stop(error);
    if (!is_transitioning(lifecycle_->state())) run_deferred_routes();
  }

  void answer_start(const std::optional<Error>& error) {
    if (!waiting_) return;
    for (auto& promise : std::exchange(waiting_->start, {})) {
      if (error)
        promise.deliver(make_error(*error));
      else
        promise.deliver(caf::unit);
    }
    if (std::exchange(waiting_->stop_after_start, false)) {
      auto waiters = std::exchange(waiting_->stop, {});
      waiting_->stop = std::move(waiters);
      auto plan = ServiceLifecycle::StopPlan::nothing_to_do;
      try {
        plan = lifecycle_->begin_stop();
      } catch (const Error& error) {
        answer_stop(error);
        return;
      }
      if (plan == ServiceLifecycle::StopPlan::run) {
        publish();
        run_hook(false, lifecycle_->stop_timeout());
      } else {
        answer_stop(std::nullopt);
      }
    }
  }

  void answer_stop(const std::optional<Error>& error) {
    if (!waiting_) return;
    for (auto& waiter : std::exchange(waiting_->stop, {})) deliver_stop(waiter, error);
  }

  static void deliver_stop(StopWaiter waiter, const std::optional<Error>& error) {
    if (waiter.error_as_text)
      waiter.promise.deliver(error ? error->detail() : std::string{});
    else if (error)
      waiter.promise.deliver(make_error(*error));
    else
      waiter.promise.deliver(caf::unit);
  }

  void run_deferred_routes() {
    if (!waiting_) return;
    for (auto& [request, promise] : std::exchange(waiting_->routes, {}))
      promise.deliver(lifecycle_->routes().dispatch(request));
    if (waiting_->start.empty() && waiting_->stop.empty()) waiting_.reset();
  }

  // -- timers (Service::every) ---------------------------------------------------

  void add_timer(caf::timespan interval, std::function<void()> tick) {
    auto state = lifecycle_->state();
    if (state != ServiceState::starting && state != ServiceState::running) return;
    timers_.push_back({interval, std::move(tick)});
    delayed_send(this, interval, tick_atom::value, timer_generation_, timers_.size() - 1);
  }

  void tick(std::uint64_t generation, std::size_t index) {
    if (generation != timer_generation_ || index >= timers_.size()) return;
    if (lifecycle_->state() == ServiceState::running) timers_[index].tick();
    delayed_send(this, timers_[index].interval, tick_atom::value, generation, index);
  }

  // -- status ---------------------------------------------------------------------

  /// Sends the new status to the supervisor before any reply goes out: the
  /// whole status only when the configuration changed, else state and error.
  void publish(bool configuration_changed = false) {
    auto state = lifecycle_->state();
    if (state != ServiceState::starting && state != ServiceState::running && !timers_.empty()) {
      timers_.clear();  // timers end when the service leaves running
      ++timer_generation_;
    }
    const auto& status = lifecycle_->status();
    if (configuration_changed)
      send(supervisor_, status_changed_atom::value, status);
    else
      send(supervisor_, state_changed_atom::value, status.state, status.error);
  }

  Waiting& waiting() {
    if (!waiting_) waiting_ = std::make_unique<Waiting>();
    return *waiting_;
  }

  std::shared_ptr<ServiceLifecycle> lifecycle_;
  caf::actor supervisor_;
  std::shared_ptr<ManagerThreads> threads_;
  std::uint64_t last_call_ = 0;
  std::uint64_t awaited_call_ = 0;  ///< 0: no manager call awaited
  std::unique_ptr<Waiting> waiting_;
  std::vector<Timer> timers_;
  std::uint64_t timer_generation_ = 0;
  bool closing_ = false;
};

}  // namespace

caf::actor spawn_service_actor(caf::actor_system& system,
                               std::shared_ptr<ServiceLifecycle> lifecycle, caf::actor supervisor,
                               std::shared_ptr<ManagerThreads> threads) {
  return system.spawn<ServiceActor>(std::move(lifecycle), std::move(supervisor),
                                    std::move(threads));
}

}  // namespace processpype
