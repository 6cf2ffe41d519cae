// `counter` (SPEC 6): GET /value, POST /increment and POST /reset, in any
// state. The value lives in the manager and restarts at `initial_value` with
// every accepted configure.
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

struct CounterConfiguration : ServiceConfiguration {
  std::int64_t initial_value = 0;
  std::int64_t step = 1;
  PROCESSPYPE_FIELDS(initial_value, step)
  void validate() const override { require(step > 0, "step", "must be greater than 0"); }
};

/// Value and step are touched only by routes and configure, which all run in
/// the service's actor: no locks.
class CounterManager : public ServiceManager {
 public:
  CounterManager(std::shared_ptr<spdlog::logger> logger, const CounterConfiguration& config)
      : ServiceManager(std::move(logger)), value_(config.initial_value), step_(config.step) {}

  void start() override { logger().info("Counter service started"); }
  void stop() override { logger().info("Counter service stopped"); }

  void configure(const ServiceConfiguration& configuration) override {
    const auto& config = static_cast<const CounterConfiguration&>(configuration);
    value_ = config.initial_value;
    step_ = config.step;
  }

  std::int64_t value() const noexcept { return value_; }
  void reset() noexcept { value_ = 0; }
  void increment() {
    if (value_ > std::numeric_limits<std::int64_t>::max() - step_)
      throw Error(ErrorCode::conflict, "Counter value " + std::to_string(value_) +
                                           " cannot be incremented by " + std::to_string(step_) +
                                           " without overflowing int64");
    value_ += step_;
  }

 private:
  std::int64_t value_;
  std::int64_t step_;
};

class CounterService : public ConfiguredService<CounterConfiguration> {
 public:
  using ConfiguredService::ConfiguredService;
  std::unique_ptr<ServiceManager> create_manager() override {
    return std::make_unique<CounterManager>(logger(), config());
  }
  bool requires_configuration() const override { return false; }

  void add_routes(ServiceRoutes& routes) override {
    routes.get("/value", [this](const RouteRequest&) { return value(); });
    routes.post("/increment", [this](const RouteRequest&) {
      counter().increment();
      return value();
    });
    routes.post("/reset", [this](const RouteRequest&) {
      counter().reset();
      return value();
    });
  }

 private:
  CounterManager& counter() { return static_cast<CounterManager&>(manager()); }
  RouteResponse value() { return RouteResponse::ok({{"value", counter().value()}}); }
};

PROCESSPYPE_REGISTER_SERVICE(CounterService);  // registry key "counter"

}  // namespace
}  // namespace processpype::examples
