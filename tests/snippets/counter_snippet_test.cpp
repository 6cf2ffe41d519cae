// The counter of README.md and docs/configuration.md, cut from here
// (docs/embedding.md, "The C++ blocks of these docs"), and what those docs
// say of it: the fields a configuration declares give its defaults, its
// checks and its JSON Schema, and a custom route answers from the service.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <caf/all.hpp>

#include "processpype/actors/runtime.hpp"

// [snippet:counter-service]
// [snippet:counter-configuration]
struct CounterConfiguration : processpype::ServiceConfiguration {
  std::int64_t initial_value = 0;
  std::int64_t step = 1;
  void fields(processpype::Fields& fields) override {
    fields("initial_value", initial_value, "The value after each configure");
    fields("step", step, "What one increment adds").greater_than(0);
  }
};
// [snippet-end:counter-configuration]

class CounterService : public processpype::ConfiguredService<CounterConfiguration> {
  // [snippet-skip]
 public:
  using ConfiguredService::ConfiguredService;
  bool requires_configuration() const override { return false; }
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<CounterManager>(logger(), value_);
  }

 private:
  /// Sets the value to `initial_value` at each accepted configure, which runs
  /// in the service's actor as the routes do: no locks.
  class CounterManager : public processpype::ConfiguredManager<CounterConfiguration> {
   public:
    CounterManager(std::shared_ptr<spdlog::logger> logger, std::int64_t& value)
        : ConfiguredManager(std::move(logger)), value_(value) {}
    void start() override {}
    void stop() override {}
    bool may_block() const override { return false; }
    void configure(const CounterConfiguration& config) override { value_ = config.initial_value; }

   private:
    std::int64_t& value_;
  };

  std::int64_t value_ = 0;

 public:
  // [snippet-resume]
  void add_routes(processpype::ServiceRoutes& routes) override {
    routes.get("/value", [this](const processpype::RouteRequest&) {
      return processpype::RouteResponse::ok({{"value", value_}});
    });
  }
};
// [snippet-end:counter-service]

namespace {

/// A node running the counter of the docs.
struct CounterNode {
  caf::actor_system_config config;
  caf::actor_system system{add_types(config)};
  processpype::Runtime runtime{system};
  std::string name = runtime.register_service<CounterService>().name;

  static caf::actor_system_config& add_types(caf::actor_system_config& config) {
    processpype::Runtime::add_types(config);
    return config;
  }

  nlohmann::json value() {
    processpype::RouteRequest request;
    request.method = "GET";
    request.path = "/value";
    return runtime.call_route(name, std::move(request)).body["value"];
  }
};

}  // namespace

TEST_CASE("The docs' counter fills in the defaults its configuration declares") {
  CounterNode node;
  CHECK(node.value() == 0);
  node.runtime.configure(node.name, {{"initial_value", 5}});
  CHECK(node.value() == 5);
  auto metadata = node.runtime.status(node.name).metadata;
  CHECK(metadata["initial_value"] == 5);
  CHECK(metadata["step"] == 1);
}

TEST_CASE("The docs' counter refuses a step that is not greater than 0, keeping its value") {
  CounterNode node;
  node.runtime.configure(node.name, {{"initial_value", 7}});
  try {
    node.runtime.configure(node.name, {{"initial_value", 9}, {"step", 0}});
    FAIL("a configure with step 0 was accepted");
  } catch (const processpype::Error& error) {
    CHECK(error.code() == processpype::ErrorCode::invalid_value);
    CHECK_THAT(error.detail(), Catch::Contains("step"));
  }
  CHECK(node.value() == 7);
  CHECK(node.runtime.status(node.name).metadata["step"] == 1);
}

TEST_CASE("The docs' counter publishes its fields and its route in its class description") {
  CounterNode node;  // registers the class
  auto counter_class = processpype::ServiceClassRegistry::global().find("counter");
  REQUIRE(counter_class);
  auto description = processpype::describe(*counter_class);
  const auto& properties = description.configuration_schema["properties"];
  CHECK(properties["initial_value"]["description"] == "The value after each configure");
  CHECK(properties["step"]["description"] == "What one increment adds");
  CHECK(properties["step"]["exclusiveMinimum"] == 0);
  REQUIRE(description.routes.size() == 1);
  CHECK(description.routes[0].method == "GET");
  CHECK(description.routes[0].pattern == "/value");
}
