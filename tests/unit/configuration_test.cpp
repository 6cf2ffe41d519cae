#include <catch2/catch.hpp>

#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/service_status.hpp"
#include "thrown.hpp"

using nlohmann::json;
using processpype::ConfigurationError;

namespace {

struct CounterConfiguration : processpype::ServiceConfiguration {
  std::int64_t initial_value = 0;
  std::int64_t step = 1;
  double ratio = 0.5;
  std::string label = "counter";

  void fields(processpype::Fields& fields) override {
    fields("initial_value", initial_value, "");
    fields("step", step, "");
    fields("ratio", ratio, "");
    fields("label", label, "");
  }
  void validate() const override { require(step > 0, "step", "must be greater than 0"); }
};

struct StoreConfiguration : processpype::ServiceConfiguration {
  processpype::Required<std::int64_t> capacity;

  void fields(processpype::Fields& fields) override { fields("capacity", capacity, ""); }
};

std::string refused_field(processpype::ServiceConfiguration& configuration, const json& input) {
  auto error = unit_tests::thrown_by<ConfigurationError>([&] { configuration.load(input); });
  return error ? error->field() : "<accepted>";
}

}  // namespace

TEST_CASE("service states have lowercase wire names and parse back") {
  using processpype::ServiceState;
  for (auto state :
       {ServiceState::initialized, ServiceState::configured, ServiceState::starting,
        ServiceState::running, ServiceState::stopping, ServiceState::stopped, ServiceState::error})
    CHECK(processpype::service_state_from_string(processpype::to_string(state)) == state);
  CHECK(processpype::to_string(ServiceState::running) == "running");
  CHECK_FALSE(processpype::service_state_from_string("Running"));
}

TEST_CASE("a status renders every field, error null when empty") {
  processpype::ServiceStatus status;
  auto rendered = processpype::to_json(status);
  CHECK(rendered == json{{"state", "initialized"},
                         {"error", nullptr},
                         {"metadata", json::object()},
                         {"is_configured", false},
                         {"restarts", 0},
                         {"next_restart_in_seconds", nullptr},
                         {"health", nullptr},
                         {"origin", "request"},
                         {"overrides", json::array()},
                         {"placement", "node"}});
  status.error = "boom";
  CHECK(processpype::to_json(status)["error"] == "boom");
}

TEST_CASE("a configuration fills defaults, keeps unknown fields and renders every field") {
  CounterConfiguration configuration;
  configuration.load({{"step", 3}, {"extra", {1, 2}}});
  auto rendered = configuration.to_json();
  CHECK(rendered["initial_value"] == 0);
  CHECK(rendered["step"] == 3);
  CHECK(rendered["label"] == "counter");
  CHECK(rendered["extra"] == json({1, 2}));
  CHECK(rendered["enabled"] == true);
  CHECK(rendered["autostart"] == false);
  CHECK(rendered["start_timeout_seconds"] == 60.0);
  CHECK(rendered["stop_timeout_seconds"] == 60.0);
}

TEST_CASE("configuration types are strict and a refusal names the field") {
  CounterConfiguration configuration;
  CHECK(refused_field(configuration, {{"step", "3"}}) == "step");
  CHECK(refused_field(configuration, {{"step", 1.5}}) == "step");
  CHECK(refused_field(configuration, {{"step", true}}) == "step");
  CHECK(refused_field(configuration, {{"step", 18446744073709551615ull}}) == "step");
  CHECK(refused_field(configuration, {{"label", 3}}) == "label");
  CHECK(refused_field(configuration, {{"enabled", 1}}) == "enabled");
  CHECK(refused_field(configuration, {{"ratio", "x"}}) == "ratio");
  CHECK(refused_field(configuration, {{"ratio", 2}}) == "<accepted>");  // int for a float
  CHECK(refused_field(configuration, {{"step", 9223372036854775807ll}}) == "<accepted>");
}

TEST_CASE("a service validator refuses with the field's name") {
  CounterConfiguration configuration;
  try {
    configuration.load({{"step", 0}});
    FAIL("step 0 was accepted");
  } catch (const ConfigurationError& error) {
    CHECK(error.field() == "step");
    CHECK(std::string{error.what()}.find("step") != std::string::npos);
    CHECK(error.code() == processpype::ErrorCode::invalid_value);
  }
  CHECK(refused_field(configuration, {{"start_timeout_seconds", 0}}) == "start_timeout_seconds");
}

TEST_CASE("a required field without a value is refused naming it") {
  StoreConfiguration configuration;
  CHECK(refused_field(configuration, json::object()) == "capacity");
  CHECK(refused_field(configuration, {{"capacity", nullptr}}) == "capacity");
  configuration.load({{"capacity", 2}});
  CHECK(configuration.capacity.value() == 2);
  CHECK(configuration.to_json()["capacity"] == 2);
}

TEST_CASE("enabled false disables autostart") {
  CounterConfiguration disabled;
  disabled.load({{"autostart", true}, {"enabled", false}});
  CHECK_FALSE(disabled.starts_by_itself());
  CounterConfiguration enabled;
  enabled.load({{"autostart", true}});
  CHECK(enabled.starts_by_itself());
}
