// `faulty` (SPEC 6): no routes. Its manager blocks for `start_delay_ms` /
// `stop_delay_ms` (it simulates a slow, blocking manager; the runtime runs it
// off CAF's scheduler) and then throws when `fail_on` names the transition.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

struct FaultyConfiguration : ServiceConfiguration {
  std::string fail_on = "none";
  std::int64_t start_delay_ms = 0;
  std::int64_t stop_delay_ms = 0;
  PROCESSPYPE_FIELDS(fail_on, start_delay_ms, stop_delay_ms)
  void validate() const override {
    require(fail_on == "none" || fail_on == "start" || fail_on == "stop", "fail_on",
            "must be one of \"none\", \"start\", \"stop\"");
    require(start_delay_ms >= 0, "start_delay_ms", "must be greater than or equal to 0");
    require(stop_delay_ms >= 0, "stop_delay_ms", "must be greater than or equal to 0");
  }
};

/// Keeps its own copy of the settings, atomically: a start or stop abandoned
/// after its timeout may still sleep on a manager thread when the next
/// configure arrives.
class FaultyManager : public ServiceManager {
 public:
  using ServiceManager::ServiceManager;

  void configure(const ServiceConfiguration& configuration) override {
    const auto& config = static_cast<const FaultyConfiguration&>(configuration);
    fail_on_start_ = config.fail_on == "start";
    fail_on_stop_ = config.fail_on == "stop";
    start_delay_ms_ = config.start_delay_ms;
    stop_delay_ms_ = config.stop_delay_ms;
  }

  void start() override {
    run("start", start_delay_ms_, fail_on_start_);
    logger().info("Faulty service started");
  }
  void stop() override {
    run("stop", stop_delay_ms_, fail_on_stop_);
    logger().info("Faulty service stopped");
  }

 private:
  static void run(const char* transition, std::int64_t delay_ms, bool fail) {
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (fail)
      throw std::runtime_error(std::string{"simulated failure on "} + transition +
                               " (fail_on: " + transition + ")");
  }

  std::atomic<bool> fail_on_start_{false};
  std::atomic<bool> fail_on_stop_{false};
  std::atomic<std::int64_t> start_delay_ms_{0};
  std::atomic<std::int64_t> stop_delay_ms_{0};
};

class FaultyService : public ConfiguredService<FaultyConfiguration> {
 public:
  using ConfiguredService::ConfiguredService;
  std::unique_ptr<ServiceManager> create_manager() override {
    return std::make_unique<FaultyManager>(logger());
  }
  bool requires_configuration() const override { return false; }
};

PROCESSPYPE_REGISTER_SERVICE(FaultyService);  // registry key "faulty"

}  // namespace
}  // namespace processpype::examples
