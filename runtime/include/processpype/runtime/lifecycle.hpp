#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/runtime/service.hpp"

namespace processpype {

/// The lifecycle of one service (docs/architecture.md, "Lifecycle"), free
/// of threads and actors: the service actor asks it what a command means,
/// runs the manager's part where it may run and reports back. Every refusal
/// is thrown as processpype::Error with the text clients see.
///
///   command    accepted in                               leads to
///   ---------  ----------------------------------------  ---------------------------
///   configure  initialized, configured, stopped, error   configured
///   start      initialized, configured, stopped, error   starting → running | error
///   stop       running, error (starting: after it)       stopping → stopped | error
///   failure    any (a throw, a timeout, a report, ...)   error
class ServiceLifecycle {
 public:
  /// What a stop command means in the current state.
  enum class StopPlan {
    nothing_to_do,        ///< initialized/configured/stopped: 200, nothing called
    run,                  ///< now stopping: run the stop hook
    wait_for_transition,  ///< starting/stopping: answer when the transition ends
  };

  /// The manager calls, each run where Service::may_block says.
  enum class Call { start, stop, cleanup, health };

  /// What a manager call returned: a failure text for start/stop/cleanup
  /// (empty: none), or a health answer.
  using Outcome = std::variant<std::string, Health>;

  explicit ServiceLifecycle(std::unique_ptr<Service> service);

  Service& service() noexcept { return *service_; }
  const std::string& name() const noexcept { return service_->name(); }
  const ServiceStatus& status() const noexcept { return service_->status_; }
  ServiceState state() const noexcept { return service_->status_.state; }
  const ServiceConfiguration& configuration() const { return service_->configuration(); }
  /// The configuration as it must be applied again (a revived actor, the
  /// state file, a cluster record): every field, secret ones in clear or as
  /// their `${secret:...}` references (docs/secrets.md). Never rendered:
  /// answers show status().metadata, where secrets are masked.
  const std::shared_ptr<const nlohmann::json>& stored_configuration() const noexcept {
    return stored_;
  }

  /// Validates and applies a whole configuration (no merge). Refused with
  /// conflict while active, invalid_value (previous config kept). Secret
  /// fields sent as `"***"` keep their value; their references resolve
  /// against SecretStore::global() now. Returns whether a start should
  /// follow by itself (autostart).
  bool configure(const nlohmann::json& configuration);
  /// A configuration read and checked, to be made the service's: configure
  /// in two steps, for a change written ahead to the state file
  /// (docs/state.md) between them.
  struct Candidate {
    std::unique_ptr<ServiceConfiguration> configuration;
    /// The body as the state file keeps it: secret fields as given (in
    /// clear or as references), those sent as `"***"` in their current form.
    nlohmann::json stored_body;
    nlohmann::json metadata;                       ///< what statuses will show: secrets masked
    std::shared_ptr<const nlohmann::json> stored;  ///< stored_configuration() once applied
    std::shared_ptr<const std::vector<std::string>> secret_values;  ///< for redaction
  };
  /// Checks the state and reads `configuration` as configure does
  /// (throwing the same refusals); nothing changes.
  Candidate prepare_configuration(const nlohmann::json& configuration) const;
  /// Makes a prepared configuration the service's; returns whether a start
  /// should follow by itself (autostart).
  bool apply_configuration(Candidate candidate);

  /// Why a start would be refused now, if it would (begin_start throws it).
  std::optional<Error> start_refusal() const;

  /// Enters `starting`, or throws conflict. When the service requires
  /// configuration and has none, the state becomes `error` first.
  void begin_start();
  /// Leaves `starting`: `running` (error cleared) or `error` with
  /// "Failed to start <name> service: <failure>". Returns the error, if any.
  std::optional<Error> finish_start(const std::string& failure);

  StopPlan begin_stop();
  /// Leaves `stopping`: `stopped` or `error` ("Failed to stop ...").
  std::optional<Error> finish_stop(const std::string& failure);

  /// The transition in flight outlasted `bound` (its configured timeout,
  /// or less when a lost lease cut it short): `error`, with "Timed out
  /// starting|stopping <name> service after <N> s".
  Error time_out(std::chrono::nanoseconds bound);

  /// Any state to `error` with `reason` (redacted).
  void fail(std::string reason);

  /// `text` with the clear value of every secret field (of 4 characters or
  /// more) replaced by `***`: failure texts come from service code, which
  /// may quote what it was given. Any thread.
  std::string redact(std::string text) const;

  /// Records a health check's answer (it does not change the state).
  void record_health(const Health& health);
  /// Forgets the last health check (the service left running).
  void clear_health();

  std::chrono::nanoseconds start_timeout() const;
  std::chrono::nanoseconds stop_timeout() const;
  std::chrono::nanoseconds health_interval() const;
  std::chrono::nanoseconds health_timeout() const;

  /// Whether manager calls may block (and so run on manager threads).
  bool calls_may_block();

  /// Lets the service reach the actor running it (Service::every, fail).
  void attach(std::shared_ptr<ServiceContext> context) noexcept;

  /// Creates the custom routes on first use.
  const ServiceRoutes& routes();

  /// Marks a manager call as handed out; `manager_busy()` stays true until
  /// run() returns, even past the call's timeout.
  void hand_out() noexcept { call_in_flight_.store(true, std::memory_order_release); }
  bool manager_busy() const noexcept { return call_in_flight_.load(std::memory_order_acquire); }

  /// Runs a handed-out manager call and turns an exception into its text.
  /// Called on a manager thread, or in the actor when calls do not block.
  Outcome run(Call call) noexcept;

 private:
  ServiceStatus& mutable_status() noexcept { return service_->status_; }
  void ensure_manager();
  void check_dependencies(const ServiceConfiguration& candidate) const;

  std::unique_ptr<Service> service_;
  std::unique_ptr<ServiceRoutes> routes_;
  std::shared_ptr<const nlohmann::json> stored_;  ///< shared with the published views
  /// The clear values redact() hides; read by manager threads.
  std::atomic<std::shared_ptr<const std::vector<std::string>>> secret_values_;
  /// Set when a call is handed out, cleared by whoever ran it when it
  /// returns; outlives a timeout.
  std::atomic<bool> call_in_flight_{false};
};

}  // namespace processpype
