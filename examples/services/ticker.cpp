// `ticker` (docs/rest-api.md, "Example services"): counts ticks of a CAF
// timer (Service::every) while it runs; no thread sleeps. GET /ticks
// answers in any state; the count is the instance's total and is kept
// across restarts.
#include <chrono>
#include <cstdint>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

struct TickerConfiguration : ServiceConfiguration {
  double interval_seconds = 1.0;

  void fields(Fields& fields) override {
    fields("interval_seconds", interval_seconds, "Seconds between ticks").between(0.001, 86400);
  }
};

class TickerService : public ConfiguredService<TickerConfiguration> {
 public:
  using ConfiguredService::ConfiguredService;
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
    routes.get(
        "/ticks",
        [this](const RouteRequest&) {
          return RouteResponse::ok({{"ticks", ticks_}});
        },
        "Ticks counted so far");
  }

 private:
  std::int64_t ticks_ = 0;  // touched only by ticks and routes, in the actor
};

PROCESSPYPE_REGISTER_SERVICE(TickerService);  // registry key "ticker"

}  // namespace
}  // namespace processpype::examples
