// `faulty` (docs/rest-api.md, "Example services"): a service that fails on
// purpose, to exercise supervision. Its manager blocks for `start_delay_ms`
// / `stop_delay_ms` (a slow, blocking manager: the runtime runs it off
// CAF's scheduler), throws when `fail_on` names the transition or for the
// first `fail_starts` starts, reports a runtime failure `fail_after_ms`
// after each start, and turns unhealthy `unhealthy_after_ms` after each
// start. POST /fail fails it now; POST /health sets its health answer.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

using Clock = std::chrono::steady_clock;

struct FaultyConfiguration : ServiceConfiguration {
  std::string fail_on = "none";
  std::int64_t start_delay_ms = 0;
  std::int64_t stop_delay_ms = 0;
  std::int64_t fail_starts = 0;
  std::int64_t fail_after_ms = 0;
  std::int64_t unhealthy_after_ms = 0;

  void fields(Fields& fields) override {
    fields("fail_on", fail_on, "Which transition throws").one_of({"none", "start", "stop"});
    fields("start_delay_ms", start_delay_ms, "How long start blocks").at_least(0);
    fields("stop_delay_ms", stop_delay_ms, "How long stop blocks").at_least(0);
    fields("fail_starts", fail_starts, "How many starts after each configure fail").at_least(0);
    fields("fail_after_ms", fail_after_ms,
           "Report a runtime failure this long after each start (0: never)")
        .at_least(0);
    fields("unhealthy_after_ms", unhealthy_after_ms,
           "Answer health checks not ok from this long after each start (0: never)")
        .at_least(0);
  }
};

/// Keeps its own copy of the settings, atomically: a start or stop abandoned
/// after its timeout may still sleep on a manager thread when the next
/// configure arrives; health checks run on manager threads while routes run
/// in the actor.
class FaultyManager : public ConfiguredManager<FaultyConfiguration> {
 public:
  using ConfiguredManager::ConfiguredManager;

  void configure(const FaultyConfiguration& config) override {
    fail_on_start_ = config.fail_on == "start";
    fail_on_stop_ = config.fail_on == "stop";
    start_delay_ms_ = config.start_delay_ms;
    stop_delay_ms_ = config.stop_delay_ms;
    fail_starts_ = config.fail_starts;
    failed_starts_ = 0;
    unhealthy_after_ms_ = config.unhealthy_after_ms;
  }

  void start() override {
    pause(start_delay_ms_);
    if (fail_on_start_) throw std::runtime_error("simulated failure on start (fail_on: start)");
    if (auto failed = failed_starts_.load(); failed < fail_starts_) {
      failed_starts_ = failed + 1;
      throw std::runtime_error("planned failure " + std::to_string(failed + 1) + " of " +
                               std::to_string(fail_starts_.load()));
    }
    started_at_ = Clock::now().time_since_epoch().count();
    logger().info("Faulty service started");
  }

  void stop() override {
    pause(stop_delay_ms_);
    if (fail_on_stop_) throw std::runtime_error("simulated failure on stop (fail_on: stop)");
    logger().info("Faulty service stopped");
  }

  Health check_health() override {
    {
      std::lock_guard lock{mutex_};
      if (forced_health_) return *forced_health_;
    }
    auto after = unhealthy_after_ms_.load();
    auto started = Clock::time_point{Clock::duration{started_at_.load()}};
    if (after > 0 && Clock::now() - started >= std::chrono::milliseconds(after))
      return {false, "planned unhealthy after " + std::to_string(after) + " ms"};
    return {};
  }

  /// What health checks answer from now on (POST /health).
  void force_health(Health health) {
    std::lock_guard lock{mutex_};
    forced_health_ = std::move(health);
  }

 private:
  static void pause(std::int64_t delay_ms) {
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  }

  std::atomic<bool> fail_on_start_{false};
  std::atomic<bool> fail_on_stop_{false};
  std::atomic<std::int64_t> start_delay_ms_{0};
  std::atomic<std::int64_t> stop_delay_ms_{0};
  std::atomic<std::int64_t> fail_starts_{0};
  std::atomic<std::int64_t> failed_starts_{0};
  std::atomic<std::int64_t> unhealthy_after_ms_{0};
  std::atomic<Clock::rep> started_at_{0};
  std::mutex mutex_;
  std::optional<Health> forced_health_;
};

class FaultyService : public ConfiguredService<FaultyConfiguration, FaultyManager> {
 public:
  using ConfiguredService::ConfiguredService;
  bool requires_configuration() const override { return false; }

  /// Lifecycle hook: arm the planned runtime failure with a CAF timer.
  void start() override {
    Service::start();
    if (auto after = config().fail_after_ms; after > 0)
      every(std::chrono::milliseconds(after),
            [this, after] { fail("planned failure after " + std::to_string(after) + " ms"); });
  }

  void add_routes(ServiceRoutes& routes) override {
    routes.post(
        "/fail",
        [this](const RouteRequest& request) {
          if (status().state != ServiceState::running)
            throw Error(ErrorCode::conflict, "Service " + name() + " is not running");
          auto reason = text_field(request.body, "reason").value_or("requested failure");
          fail(reason);
          return RouteResponse::ok({{"service", name()}, {"failed", reason}});
        },
        "Report a runtime failure now");
    routes.post(
        "/health",
        [this](const RouteRequest& request) {
          const auto& body = request.body;
          if (!body.is_object() || !body.contains("ok") || !body["ok"].is_boolean())
            throw Error(ErrorCode::invalid_value, "Field 'ok' must be true or false");
          Health health{body["ok"].get<bool>(), text_field(body, "detail").value_or("")};
          manager().force_health(health);
          return RouteResponse::ok({{"ok", health.ok}, {"detail", health.detail}});
        },
        "Set what health checks answer from now on");
  }

 private:
  static std::optional<std::string> text_field(const nlohmann::json& body, const char* key) {
    if (!body.is_object() || !body.contains(key)) return std::nullopt;
    if (!body[key].is_string())
      throw Error(ErrorCode::invalid_value, std::string{"Field '"} + key + "' must be a string");
    return body[key].get<std::string>();
  }
};

PROCESSPYPE_REGISTER_SERVICE(FaultyService);  // registry key "faulty"

}  // namespace
}  // namespace processpype::examples
