#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "processpype/runtime/service.hpp"

namespace processpype {

/// The state machine of SPEC 2.1 for one service, free of threads and actors:
/// the service actor asks it what a command means, runs the blocking part
/// elsewhere and reports back. Every refusal is thrown as processpype::Error
/// with the text clients see.
class ServiceLifecycle {
 public:
  /// What a stop command means in the current state.
  enum class StopPlan {
    nothing_to_do,        ///< initialized/configured/stopped: 200, nothing called
    run,                  ///< now stopping: run Service::stop
    wait_for_transition,  ///< starting/stopping: answer when the transition ends
  };

  explicit ServiceLifecycle(std::unique_ptr<Service> service);

  Service& service() noexcept { return *service_; }
  const std::string& name() const noexcept { return service_->name(); }
  const ServiceStatus& status() const noexcept { return service_->status_; }
  ServiceState state() const noexcept { return service_->status_.state; }

  /// Validates and applies a whole configuration (no merge). Refused with
  /// conflict while active, invalid_configuration (previous config kept).
  /// Returns whether a start should follow by itself (autostart).
  bool configure(const nlohmann::json& configuration);

  /// Enters `starting`, or throws conflict. When the service requires
  /// configuration and has none, the state becomes `error` first.
  void begin_start();
  /// Leaves `starting`: `running` (error cleared) or `error` with
  /// "Failed to start <name> service: <failure>". Returns the error, if any.
  std::optional<Error> finish_start(const std::optional<std::string>& failure);

  StopPlan begin_stop();
  /// Leaves `stopping`: `stopped` or `error` ("Failed to stop ...").
  std::optional<Error> finish_stop(const std::optional<std::string>& failure);

  /// The transition in flight outlasted its timeout: `error`, with
  /// "Timed out starting|stopping <name> service after <N> s".
  Error time_out();

  /// Any state to `error` with `reason` (e.g. the actor running it failed).
  void fail(std::string reason);

  std::chrono::nanoseconds start_timeout() const;
  std::chrono::nanoseconds stop_timeout() const;

  /// Lets the service reach the actor running it (Service::every).
  void attach(std::shared_ptr<ServiceContext> context) noexcept;

  /// Creates the custom routes on first use.
  const ServiceRoutes& routes();

  /// Runs a lifecycle hook (Service::start or stop) and turns an exception
  /// into its text. Called on a manager thread, after begin_start/begin_stop.
  std::optional<std::string> run_hook(bool start) noexcept;

 private:
  ServiceStatus& mutable_status() noexcept { return service_->status_; }
  void ensure_manager();

  /// Refuses a transition while an earlier hook, abandoned after its
  /// timeout, still runs: a manager never sees start and stop overlap.
  void check_no_hook_in_flight() const;

  std::unique_ptr<Service> service_;
  std::unique_ptr<ServiceRoutes> routes_;
  /// Set when a hook is handed out, cleared by the manager thread when it
  /// returns; outlives a timeout.
  std::atomic<bool> hook_in_flight_{false};
};

}  // namespace processpype
