// `counter` (docs/rest-api.md, "Example services"): GET /value, POST
// /increment and POST /reset, in any state. The value lives in the manager
// and restarts at `initial_value` with every accepted configure.
#include <cstdint>
#include <limits>
#include <string>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

struct CounterConfiguration : ServiceConfiguration {
  std::int64_t initial_value = 0;
  std::int64_t step = 1;

  void fields(Fields& fields) override {
    fields("initial_value", initial_value, "The value after each configure");
    fields("step", step, "What one increment adds").greater_than(0);
  }
};

/// Value and step are touched only by routes and configure, which all run in
/// the service's actor: no locks. Nothing here blocks.
class CounterManager : public ConfiguredManager<CounterConfiguration> {
 public:
  CounterManager(std::shared_ptr<spdlog::logger> logger, const CounterConfiguration& config)
      : ConfiguredManager(std::move(logger)), value_(config.initial_value), step_(config.step) {}

  void start() override { logger().info("Counter service started"); }
  void stop() override { logger().info("Counter service stopped"); }
  bool may_block() const override { return false; }

  void configure(const CounterConfiguration& config) override {
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

class CounterService : public ConfiguredService<CounterConfiguration, CounterManager> {
 public:
  using ConfiguredService::ConfiguredService;
  bool requires_configuration() const override { return false; }

  void add_routes(ServiceRoutes& routes) override {
    routes.get(
        "/value", [this](const RouteRequest&) { return value(); }, "The current value");
    routes.post(
        "/increment",
        [this](const RouteRequest&) {
          manager().increment();
          return value();
        },
        "Add the step");
    routes.post(
        "/reset",
        [this](const RouteRequest&) {
          manager().reset();
          return value();
        },
        "Set the value to 0");
  }

 private:
  RouteResponse value() { return RouteResponse::ok({{"value", manager().value()}}); }
};

PROCESSPYPE_REGISTER_SERVICE(CounterService);  // registry key "counter"

}  // namespace
}  // namespace processpype::examples
