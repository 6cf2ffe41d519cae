// `ticker` (SPEC 6): counts ticks of a CAF timer (Service::every) while it
// runs; no thread sleeps. GET /ticks answers in any state; the count is the
// instance's total and is kept across restarts.
#include <chrono>
#include <cstdint>
#include <memory>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

struct TickerConfiguration : ServiceConfiguration {
  double interval_seconds = 1.0;
  PROCESSPYPE_FIELDS(interval_seconds)
  void validate() const override {
    require(interval_seconds >= 0.001 && interval_seconds <= 86400.0, "interval_seconds",
            "must be between 0.001 and 86400");
  }
};

class TickerManager : public ServiceManager {
 public:
  using ServiceManager::ServiceManager;
  void start() override { logger().info("Ticker service started"); }
  void stop() override { logger().info("Ticker service stopped"); }
};

class TickerService : public ConfiguredService<TickerConfiguration> {
 public:
  using ConfiguredService::ConfiguredService;
  std::unique_ptr<ServiceManager> create_manager() override {
    return std::make_unique<TickerManager>(logger());
  }
  bool requires_configuration() const override { return false; }

  /// Lifecycle hook: the timer starts with the service and ends by itself
  /// when the service leaves running. Ticks run in the service's actor.
  void start() override {
    Service::start();
    auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(config().interval_seconds));
    every(interval, [this] { ++ticks_; });
  }

  void add_routes(ServiceRoutes& routes) override {
    routes.get("/ticks", [this](const RouteRequest&) {
      return RouteResponse::ok({{"ticks", ticks_}});
    });
  }

 private:
  std::int64_t ticks_ = 0;  // touched only by ticks and routes, in the actor
};

PROCESSPYPE_REGISTER_SERVICE(TickerService);  // registry key "ticker"

}  // namespace
}  // namespace processpype::examples
