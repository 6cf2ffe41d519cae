// Supervision through the embedding API (docs/supervision.md): runtime
// failures, restart policies, health checks, dependencies and the events
// that tell what happened. Waits are bounded polls; timing checks use the
// events' own times, with tolerances a busy 2-core machine holds.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>

#include "test_services.hpp"

namespace actor_tests {
namespace {

using json = nlohmann::json;
using processpype::Event;
using processpype::EventBatch;

// -- a service steered by the test ------------------------------------------------------

/// What a test controls of one instance's manager.
struct Controls {
  std::atomic<int> failing_starts{0};  ///< the next N starts throw
  std::atomic<int> starts{0};
  std::atomic<int> stops{0};
  std::atomic<int> active{0};  ///< manager calls in progress
  std::atomic<bool> overlapped{false};
  std::atomic<bool> healthy{true};
  std::atomic<int> checks{0};

  std::mutex mutex;
  std::condition_variable gate;
  bool hang_checks = false;  ///< health checks block until released

  void hold_checks() {
    std::lock_guard lock{mutex};
    hang_checks = true;
  }

  void release_checks() {
    {
      std::lock_guard lock{mutex};
      hang_checks = false;
    }
    gate.notify_all();
  }
};

/// The controls of instance `name`; `fresh` replaces those an earlier test
/// case left under the same name.
std::shared_ptr<Controls> controls_of(const std::string& name, bool fresh = false) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<Controls>> all;
  std::lock_guard lock{mutex};
  auto& slot = all[name];
  if (!slot || fresh) slot = std::make_shared<Controls>();
  return slot;
}

class SupervisedManager : public processpype::ServiceManager {
 public:
  SupervisedManager(std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Controls> controls)
      : ServiceManager(std::move(logger)), controls_(std::move(controls)) {}

  void start() override {
    Call call{*controls_};
    ++controls_->starts;
    if (controls_->failing_starts.fetch_sub(1) > 0) throw std::runtime_error("cannot bind");
  }
  void stop() override {
    Call call{*controls_};
    ++controls_->stops;
  }
  processpype::Health check_health() override {
    Call call{*controls_};
    ++controls_->checks;
    std::unique_lock lock{controls_->mutex};
    controls_->gate.wait_for(lock, 20s, [&] { return !controls_->hang_checks; });
    if (controls_->healthy) return {};
    return {false, "disk full"};
  }

 private:
  /// Counts the calls in progress: two at once would be an overlap.
  struct Call {
    Controls& controls;
    explicit Call(Controls& c) : controls(c) {
      if (++controls.active > 1) controls.overlapped = true;
    }
    ~Call() { --controls.active; }
  };
  std::shared_ptr<Controls> controls_;
};

class SupervisedService : public processpype::Service {
 public:
  using Service::Service;
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<SupervisedManager>(logger(), controls_of(name()));
  }
  bool requires_configuration() const override { return false; }

  /// Lets a test fail the instance as its own code would.
  void add_routes(processpype::ServiceRoutes& routes) override {
    routes.post("/fail", [this](const processpype::RouteRequest&) {
      fail("lost the connection");
      return processpype::RouteResponse::ok({});
    });
  }
};

PROCESSPYPE_REGISTER_SERVICE(SupervisedService);  // key "supervised"

// -- events ---------------------------------------------------------------------------

/// Every event of a node, as the embedding API delivers them.
class EventRecorder {
 public:
  explicit EventRecorder(processpype::Runtime& runtime)
      : subscription_(runtime.subscribe([recorded = recorded_](const EventBatch& batch) {
          std::lock_guard lock{recorded->mutex};
          for (const auto& event : batch.events) recorded->events.push_back(event);
        })) {}

  std::vector<Event> of(const std::string& service) const {
    std::lock_guard lock{recorded_->mutex};
    std::vector<Event> result;
    for (const auto& event : recorded_->events)
      if (event.service == service) result.push_back(event);
    return result;
  }

  /// "state/cause" of each event of `service`, in order.
  std::vector<std::string> transitions(const std::string& service) const {
    std::vector<std::string> result;
    for (const auto& event : of(service))
      result.push_back(event.state + "/" + std::string{to_string(event.cause)});
    return result;
  }

  /// Waits until `service` has had `count` events in `state`.
  bool wait_for(const std::string& service, const std::string& state, std::size_t count = 1,
                std::chrono::milliseconds timeout = 10s) const {
    return eventually(
        [&] {
          std::size_t seen = 0;
          for (const auto& event : of(service)) seen += event.state == state ? 1 : 0;
          return seen >= count;
        },
        timeout);
  }

  /// The seq of the first `stopped` event of `service` (0: none).
  std::uint64_t stopped_seq(const std::string& service) const {
    for (const auto& event : of(service))
      if (event.state == "stopped") return event.seq;
    return 0;
  }

  std::vector<std::uint64_t> seqs() const {
    std::lock_guard lock{recorded_->mutex};
    std::vector<std::uint64_t> result;
    for (const auto& event : recorded_->events) result.push_back(event.seq);
    return result;
  }

 private:
  struct Recorded {
    std::mutex mutex;
    std::vector<Event> events;
  };
  std::shared_ptr<Recorded> recorded_ = std::make_shared<Recorded>();
  processpype::EventSubscription subscription_;
};

double seconds_between(const Event& a, const Event& b) {
  return std::chrono::duration<double>(b.time - a.time).count();
}

/// Registers and configures a supervised instance with `configuration`.
std::shared_ptr<Controls> add(processpype::Runtime& runtime, const std::string& name,
                              const json& configuration = json::object()) {
  auto controls = controls_of(name, true);
  runtime.register_service("supervised", name);
  runtime.configure(name, configuration);
  return controls;
}

/// A node and the record of its events, from its first one on.
struct RecordedNode {
  Node node;
  EventRecorder events{*node};
};

/// `restart: on-failure` after `delay_seconds`, with the `more` fields.
json on_failure(double delay_seconds, json more = json::object()) {
  more["restart"] = "on-failure";
  more["restart_delay_seconds"] = delay_seconds;
  return more;
}

void fail(processpype::Runtime& runtime, const std::string& name) {
  auto response = runtime.call_route(name, route("POST", "/fail"));
  REQUIRE(response.status == 200);
}

}  // namespace

// -- failures at run time ----------------------------------------------------------------

TEST_CASE_METHOD(RecordedNode,
                 "a runtime failure puts the service in error at once, then stops its manager",
                 "[supervision]") {
  auto controls = add(*node, "worker");
  node->start("worker");
  fail(*node, "worker");
  REQUIRE(eventually([&] { return state_of(*node, "worker") == ServiceState::error; }));
  CHECK(node->status("worker").error == "lost the connection");
  REQUIRE(eventually([&] { return controls->stops == 1; }));  // the clean-up
  CHECK_FALSE(controls->overlapped);
  REQUIRE(events.wait_for("worker", "error"));
  CHECK(events.transitions("worker") ==
        std::vector<std::string>{"registered/request", "configured/request", "starting/request",
                                 "running/request", "error/failure"});
  // A failure after the service left running does nothing.
  node->stop("worker");
  CHECK(node->status("worker").state == ServiceState::stopped);
}

// -- restarts --------------------------------------------------------------------------

TEST_CASE_METHOD(RecordedNode,
                 "on-failure restarts after the delay, counts restarts and shows the pending one",
                 "[supervision][restart]") {
  add(*node, "svc", on_failure(0.3, {{"max_restarts", 5}}));
  node->start("svc");
  fail(*node, "svc");
  auto pending = node->status("svc");
  CHECK(pending.state == ServiceState::error);
  REQUIRE(pending.next_restart_in_seconds);
  CHECK(*pending.next_restart_in_seconds <= 0.3);
  CHECK(*pending.next_restart_in_seconds > 0.0);
  REQUIRE(events.wait_for("svc", "running", 2));
  auto status = node->status("svc");
  CHECK(status.state == ServiceState::running);
  CHECK(status.restarts == 1);
  CHECK_FALSE(status.next_restart_in_seconds);
  CHECK(status.error.empty());
  auto history = events.transitions("svc");
  std::vector<std::string> tail(history.end() - 3, history.end());
  CHECK(tail == std::vector<std::string>{"error/failure", "starting/restart", "running/restart"});
  auto all = events.of("svc");
  auto error = all[all.size() - 3], restarting = all[all.size() - 2];
  CHECK(seconds_between(error, restarting) >= 0.29);
}

TEST_CASE_METHOD(RecordedNode, "the restart delay doubles after each consecutive restart and caps",
                 "[supervision][restart]") {
  auto controls = add(*node, "svc",
                      on_failure(0.1, {{"restart_max_delay_seconds", 0.25}, {"max_restarts", 10}}));
  controls->failing_starts = 4;  // the first start and three restarts fail
  CHECK_THROWS_AS(node->start("svc"), processpype::Error);
  REQUIRE(events.wait_for("svc", "running", 1, 15s));
  // Gaps between each failure and the next restart's start: 0.1, 0.2, 0.25, 0.25.
  std::vector<double> gaps;
  auto all = events.of("svc");
  for (std::size_t i = 1; i < all.size(); ++i)
    if (all[i - 1].state == "error" && all[i].state == "starting")
      gaps.push_back(seconds_between(all[i - 1], all[i]));
  INFO("gaps: " << Catch::Detail::stringify(gaps));
  REQUIRE(gaps.size() == 4);
  std::vector<double> expected{0.1, 0.2, 0.25, 0.25};
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    CHECK(gaps[i] >= expected[i] - 0.01);
    CHECK(gaps[i] < expected[i] + 0.5);  // scheduling delays on a busy machine, never less
  }
  CHECK(node->status("svc").restarts == 4);
}

TEST_CASE_METHOD(
    RecordedNode,
    "more failures than max_restarts within the window is final, with the give-up text",
    "[supervision][restart]") {
  auto controls =
      add(*node, "svc", on_failure(0.05, {{"max_restarts", 2}, {"restart_window_seconds", 60}}));
  controls->failing_starts = 100;
  CHECK_THROWS_AS(node->start("svc"), processpype::Error);
  REQUIRE(events.wait_for("svc", "error", 3));
  // No fourth attempt comes.
  CHECK_FALSE(events.wait_for("svc", "starting", 4, 600ms));
  auto status = node->status("svc");
  CHECK(status.state == ServiceState::error);
  CHECK(status.restarts == 2);
  CHECK_FALSE(status.next_restart_in_seconds);
  CHECK(status.error ==
        "Failed to start svc service: cannot bind; gave up after 2 restarts in 60 s");
  // The final event carries the same text.
  REQUIRE(eventually([&] { return events.of("svc").back().error == status.error; }));
  CHECK(events.of("svc").back().error == status.error);
}

TEST_CASE_METHOD(RecordedNode, "a user's stop during the restart delay cancels the restart",
                 "[supervision][restart]") {
  auto controls = add(*node, "svc", on_failure(0.5));
  node->start("svc");
  fail(*node, "svc");
  REQUIRE(node->status("svc").next_restart_in_seconds);
  node->stop("svc");
  auto status = node->status("svc");
  CHECK(status.state == ServiceState::stopped);
  CHECK_FALSE(status.next_restart_in_seconds);
  // The restart never comes.
  CHECK_FALSE(events.wait_for("svc", "starting", 2, 1200ms));
  CHECK(node->status("svc").state == ServiceState::stopped);
  CHECK(node->status("svc").restarts == 0);
}

TEST_CASE_METHOD(RecordedNode, "a failed explicit stop is never restarted",
                 "[supervision][restart]") {
  node->register_service("probe", "p");
  node->configure("p", on_failure(0.05, {{"fail_on", "stop"}}));
  node->start("p");
  CHECK_THROWS_AS(node->stop("p"), processpype::Error);
  CHECK(node->status("p").state == ServiceState::error);
  CHECK_FALSE(node->status("p").next_restart_in_seconds);
  CHECK_FALSE(events.wait_for("p", "starting", 2, 500ms));
}

// -- health checks ------------------------------------------------------------------------

TEST_CASE_METHOD(RecordedNode,
                 "failing health checks make a failure after health_failures in a row",
                 "[supervision][health]") {
  auto controls = add(*node, "svc", {{"health_interval_seconds", 0.05}, {"health_failures", 3}});
  node->start("svc");
  REQUIRE(eventually([&] { return node->status("svc").health.has_value(); }));
  auto health = *node->status("svc").health;
  CHECK(health.ok);
  controls->healthy = false;
  REQUIRE(events.wait_for("svc", "error"));
  auto status = node->status("svc");
  CHECK(status.error == "Health check failed 3 times: disk full");
  CHECK(events.of("svc").back().cause == processpype::EventCause::health);
  REQUIRE(eventually([&] { return controls->stops == 1; }));  // clean-up after the checks
  CHECK_FALSE(controls->overlapped);
}

TEST_CASE_METHOD(RecordedNode,
                 "a hanging health check counts as not ok each interval and ends in a failure",
                 "[supervision][health]") {
  auto controls = add(*node, "svc",
                      {{"health_interval_seconds", 0.05},
                       {"health_timeout_seconds", 0.05},
                       {"health_failures", 3}});
  controls->hold_checks();
  node->start("svc");
  // Meanwhile the node answers at once.
  Latencies reads;
  for (int i = 0; i < 50; ++i) reads.measure([&] { return node->status("svc"); });
  CHECK_RESPONSIVE(reads);
  REQUIRE(events.wait_for("svc", "error"));
  CHECK(node->status("svc").error ==
        "Health check failed 3 times: Health check timed out after 0.05 s");
  CHECK(controls->checks == 1);  // never more than one check in flight
  // The clean-up waits for the hung check: a manager never sees two calls.
  CHECK(controls->stops == 0);
  controls->release_checks();
  REQUIRE(eventually([&] { return controls->stops == 1; }));
  CHECK_FALSE(controls->overlapped);
}

TEST_CASE_METHOD(RecordedNode,
                 "a command that waits for a health check is refused once the check is late",
                 "[supervision][health]") {
  // Left waiting, the stop would wait for as long as the hung check runs.
  auto controls = add(*node, "svc",
                      {{"health_interval_seconds", 0.05},
                       {"health_timeout_seconds", 1.0},
                       {"health_failures", 100}});
  controls->hold_checks();
  node->start("svc");
  REQUIRE(eventually([&] { return controls->checks == 1; }));
  auto stop = in_background([&] { node->stop("svc"); });
  REQUIRE(stop.wait_for(5s) == std::future_status::ready);
  auto refusal = stop.get();
  REQUIRE(refusal);
  CHECK(refusal->code() == ErrorCode::conflict);
  CHECK_THAT(refusal->detail(), Catch::Contains("health check that timed out"));
  controls->release_checks();
  // The manager is free again once the actor has seen the check return
  // (shortly after the manager's own call ends): stops are refused until then.
  REQUIRE(eventually([&] { return !error_of([&] { node->stop("svc"); }); }));
  CHECK(state_of(*node, "svc") == ServiceState::stopped);
  CHECK_FALSE(controls->overlapped);
}

TEST_CASE_METHOD(RecordedNode,
                 "an embedded configure that waits longer than the call timeout is not "
                 "reported as timed out",
                 "[supervision][health]") {
  // RuntimeOptions::timeout (5 s) bounds reads; a configure that waits for
  // a hung check must not time out and then apply: it is refused (409).
  auto controls = add(*node, "svc",
                      {{"health_interval_seconds", 0.05},
                       {"health_timeout_seconds", 5.5},
                       {"health_failures", 1000}});
  controls->hold_checks();
  node->start("svc");
  REQUIRE(eventually([&] { return controls->checks == 1; }));
  auto refused = error_of([&] { node->configure("svc", {{"health_timeout_seconds", 1.0}}); });
  controls->release_checks();
  REQUIRE(refused);
  CHECK(refused->code() == ErrorCode::conflict);  // waited for the check, then refused
  CHECK_THAT(refused->detail(), Catch::Contains("health check that timed out"));
  CHECK(node->status("svc").metadata.at("health_timeout_seconds") == 5.5);
}

// -- dependencies -------------------------------------------------------------------------

TEST_CASE("a start whose dependency does not run is refused, naming it", "[supervision][deps]") {
  Node node;
  add(*node, "db");
  add(*node, "api", {{"depends_on", {"db"}}});
  auto refused = expect_error(ErrorCode::conflict, [&] { node->start("api"); });
  CHECK(refused.detail() == "Cannot start api: dependency db is not running");
  add(*node, "orphan", {{"depends_on", {"missing"}}});
  auto orphan = error_of([&] { node->start("orphan"); });
  REQUIRE(orphan);
  CHECK(orphan->detail() == "Cannot start orphan: dependency missing is not running");
  node->start("db");
  node->start("api");
  CHECK(node->status("api").state == ServiceState::running);
}

TEST_CASE("depending on itself is refused at configure, a cycle at start", "[supervision][deps]") {
  Node node;
  add(*node, "x");
  auto self = expect_error(ErrorCode::invalid_value, [&] {
    node->configure("x", {{"depends_on", {"x"}}});
  });
  CHECK(self.detail().find("depends_on") != std::string::npos);
  add(*node, "y", {{"depends_on", {"z"}}});
  add(*node, "z", {{"depends_on", {"y"}}});
  auto cycle = expect_error(ErrorCode::conflict, [&] { node->start("y"); });
  CHECK(cycle.detail() == "Cannot start y: dependency cycle y -> z -> y");
}

TEST_CASE_METHOD(RecordedNode, "stopping a dependency stops its dependents first, then it",
                 "[supervision][deps]") {
  add(*node, "a");
  add(*node, "b", {{"depends_on", {"a"}}});
  add(*node, "c", {{"depends_on", {"b"}}});
  for (auto name : {"a", "b", "c"}) node->start(name);
  node->stop("a");  // answers when all three stopped
  for (auto name : {"a", "b", "c"}) CHECK(node->status(name).state == ServiceState::stopped);
  // Events reach subscribers a moment later.
  for (auto name : {"a", "b", "c"}) REQUIRE(events.wait_for(name, "stopped"));
  CHECK(events.stopped_seq("c") < events.stopped_seq("b"));
  CHECK(events.stopped_seq("b") < events.stopped_seq("a"));
  CHECK(events.of("c").back().cause == processpype::EventCause::dependency);
  CHECK(events.of("a").back().cause == processpype::EventCause::request);
}

TEST_CASE_METHOD(RecordedNode,
                 "a failing dependency stops its dependents, which start again when it runs",
                 "[supervision][deps]") {
  add(*node, "db", on_failure(0.2));
  add(*node, "api", {{"depends_on", {"db"}}});
  node->start("db");
  node->start("api");
  fail(*node, "db");
  REQUIRE(events.wait_for("api", "stopped"));
  CHECK(events.of("api").back().cause == processpype::EventCause::dependency);
  REQUIRE(events.wait_for("db", "running", 2));
  REQUIRE(events.wait_for("api", "running", 2));
  CHECK(node->status("api").state == ServiceState::running);
  auto api = events.transitions("api");
  CHECK(api.back() == "running/dependency");
}

TEST_CASE_METHOD(RecordedNode,
                 "a restart waits for its dependency to run, without counting as a failure",
                 "[supervision][deps]") {
  add(*node, "db");
  add(*node, "api", on_failure(0.05, {{"depends_on", {"db"}}}));
  node->start("db");
  node->start("api");
  node->stop("db");  // stops api too (cause dependency)
  node->start("db");
  node->start("api");
  fail(*node, "api");
  node->stop("db");  // api is in error, not running: db stops alone
  // The restart came due while db was stopped: api waits, still in error.
  CHECK_FALSE(events.wait_for("api", "starting", 3, 400ms));
  CHECK(node->status("api").state == ServiceState::error);
  node->start("db");
  REQUIRE(events.wait_for("api", "running", 3));
  CHECK(node->status("api").restarts == 1);
}

TEST_CASE("an instance others depend on cannot be deregistered", "[supervision][deps]") {
  Node node;
  add(*node, "db");
  add(*node, "api", {{"depends_on", {"db"}}});
  add(*node, "web", {{"depends_on", {"db"}}});
  auto refused = expect_error(ErrorCode::conflict, [&] { node->deregister("db"); });
  CHECK(refused.detail() == "Cannot deregister db: api, web depend on it");
  node->deregister("api");
  node->deregister("web");
  CHECK_NOTHROW(node->deregister("db"));
}

TEST_CASE_METHOD(RecordedNode, "stop_all stops dependents before their dependencies",
                 "[supervision][deps]") {
  add(*node, "c");
  add(*node, "b", {{"depends_on", {"c"}}});
  add(*node, "a", {{"depends_on", {"b"}}});
  node->start("c");
  node->start("b");
  node->start("a");
  CHECK(node->stop_all(5s).empty());
  for (auto name : {"a", "b", "c"}) REQUIRE(events.wait_for(name, "stopped"));
  CHECK(events.stopped_seq("a") < events.stopped_seq("b"));
  CHECK(events.stopped_seq("b") < events.stopped_seq("c"));
  CHECK(events.of("a").back().cause == processpype::EventCause::shutdown);
}

// -- events ---------------------------------------------------------------------------------

TEST_CASE_METHOD(RecordedNode,
                 "every state change and (de)registration is an event, seqs increasing from 1",
                 "[supervision][events]") {
  add(*node, "e");
  node->start("e");
  node->stop("e");
  node->deregister("e");
  REQUIRE(events.wait_for("e", "deregistered"));
  CHECK(events.transitions("e") ==
        std::vector<std::string>{"registered/request", "configured/request", "starting/request",
                                 "running/request", "stopping/request", "stopped/request",
                                 "deregistered/request"});
  auto seqs = events.seqs();
  for (std::size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == i + 1);
  auto first = events.of("e").front();
  CHECK(first.boot == node->event_log().boot());
  CHECK(first.node == node->node_id());
}

}  // namespace actor_tests
