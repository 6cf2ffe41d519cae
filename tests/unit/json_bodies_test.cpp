// status_text and event_text write a body without building a JSON tree; a
// client must not be able to tell: each is the same text as
// json_text(to_json(...)), byte for byte, for any status or event.
#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>

#include "processpype/runtime/events.hpp"
#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/service_status.hpp"

using namespace processpype;

namespace {

std::string tree_text(const ServiceStatus& status) {
  return json_text(to_json(status));
}
std::string tree_text(const Event& event) {
  return json_text(to_json(event));
}

/// Up to 12 random bytes: any of them, valid UTF-8 or not.
class RandomText {
 public:
  std::string operator()() {
    std::string text(static_cast<std::size_t>(length_(random_)), ' ');
    for (auto& c : text) c = static_cast<char>(byte_(random_));
    return text;
  }

 private:
  std::mt19937 random_{20261207};
  std::uniform_int_distribution<int> byte_{0, 255}, length_{0, 12};
};

Event full_event(std::string text) {
  Event event;
  event.seq = 18446744073709551615ULL;
  event.boot = text;
  event.time =
      std::chrono::system_clock::time_point{} + std::chrono::milliseconds{1'796'000'123'456};
  event.node = text;
  event.service = text;
  event.state = text;
  event.error = text;
  event.cause = EventCause::lease_lost;
  event.request_id = text;
  event.from_node = text;
  return event;
}

ServiceStatus full_status(std::string text) {
  ServiceStatus status;
  status.state = ServiceState::error;
  status.error = text;
  status.metadata = {{"name", text}, {"nested", {{"list", {1, 2.5, nullptr, true, text}}}}};
  status.is_configured = true;
  status.restarts = 18446744073709551615ULL;
  status.next_restart_in_seconds = 0.1;
  status.health = HealthReport{
      false, text,
      std::chrono::system_clock::time_point{} + std::chrono::milliseconds{1'796'000'123'456}};
  status.origin = InstanceOrigin::file;
  status.overrides = {text, "port"};
  status.cluster = ClusterPlacement{{"a", text}, text, 42};
  return status;
}

}  // namespace

TEST_CASE("a status body written directly is the text of its JSON tree") {
  CHECK(status_text(ServiceStatus{}) == tree_text(ServiceStatus{}));
  CHECK(status_text(ServiceStatus{}) ==
        R"({"error":null,"health":null,"is_configured":false,"metadata":{},)"
        R"("next_restart_in_seconds":null,"origin":"request","overrides":[],)"
        R"("placement":"node","restarts":0,"state":"initialized"})");

  for (std::string text : {"plain", "", "quote \" and \\ back", "line\nbreak\ttab\x01\x1f\x7f",
                           "caf\xc3\xa9 \xe2\x82\xac", "cut \xe2\x82", "bad \xff\xfe byte"}) {
    INFO(text);
    auto status = full_status(text);
    CHECK(status_text(status) == tree_text(status));
  }

  ServiceStatus healthy;
  healthy.state = ServiceState::running;
  healthy.health = HealthReport{true, "", std::chrono::system_clock::time_point{}};
  healthy.origin = InstanceOrigin::cluster;
  healthy.cluster = ClusterPlacement{};
  for (double seconds : {0.0, 1e-7, 0.5, 12345.678, 1e300}) {
    healthy.next_restart_in_seconds = seconds;
    CHECK(status_text(healthy) == tree_text(healthy));
  }
}

TEST_CASE("a status body written directly matches its JSON tree for random strings") {
  RandomText random_text;
  for (int round = 0; round < 2000; ++round) {
    auto status = full_status(random_text());
    status.overrides.push_back(random_text());
    status.cluster->owner = random_text();
    INFO(tree_text(status));
    REQUIRE(status_text(status) == tree_text(status));
  }
}

TEST_CASE("an event written directly is the text of its JSON tree") {
  Event empty;
  CHECK(event_text(empty) == tree_text(empty));
  CHECK(event_text(empty) ==
        R"({"boot":"","cause":"request","error":null,"from_node":null,"node":"",)"
        R"("request_id":null,"seq":0,"service":"","state":"","time":"1970-01-01T00:00:00.000Z"})");
  for (std::string text :
       {"plain", "quote \" and \\ back", "line\nbreak\x01", "caf\xc3\xa9", "bad \xff byte"}) {
    INFO(text);
    auto event = full_event(text);
    CHECK(event_text(event) == tree_text(event));
  }
  RandomText random_text;
  for (int round = 0; round < 2000; ++round) {
    auto event = full_event(random_text());
    event.error = random_text();
    event.service = random_text();
    INFO(tree_text(event));
    REQUIRE(event_text(event) == tree_text(event));
  }
}
