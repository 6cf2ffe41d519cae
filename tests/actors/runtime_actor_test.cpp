// The node around the services: naming and deregistration (docs/rest-api.md, "Services"),
// responsiveness while managers block, timeouts, a failing service actor,
// concurrent conflicting commands, custom routes and the actor-message API.

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <vector>

#include "processpype/actors/status_replicas.hpp"
#include "test_services.hpp"

using namespace actor_tests;
using nlohmann::json;
using processpype::Runtime;

namespace {

std::vector<std::string> names_of(Runtime& runtime) {
  std::vector<std::string> names;
  for (const auto& entry : runtime.list()) names.push_back(entry.name);
  return names;
}

/// The service actor of `name`, asked from the supervisor.
caf::actor lookup(Node& node, const std::string& name) {
  caf::scoped_actor self{*node.system};
  caf::actor result;
  self->request(node->supervisor(), std::chrono::seconds(5), processpype::lookup_atom::value, name)
      .receive([&](caf::actor& actor) { result = std::move(actor); },
               [&](caf::error& error) { FAIL("lookup failed: " << to_string(error)); });
  return result;
}

bool is_stable(ServiceState state) {
  return !processpype::is_transitioning(state);
}

/// GET /state of `name`, requested while the manager call that `p` holds
/// is in flight: not answered while it is held (100 ms), answered within
/// 5 s once it is released.
processpype::RouteResponse state_route_after_release(Runtime& runtime, const std::string& name,
                                                     Probe& p) {
  auto routed = std::async(std::launch::async,
                           [&] { return runtime.call_route(name, route("GET", "/state")); });
  CHECK(routed.wait_for(100ms) == std::future_status::timeout);
  p.release();
  REQUIRE(routed.wait_for(5s) == std::future_status::ready);
  return routed.get();
}

}  // namespace

// -- naming ---------------------------------------------------------------------------

TEST_CASE("naming: auto-name key, <key>_<n> suffix, conflicts and bad names", "[naming]") {
  Node node;
  for (auto name : {"probe", "probe_1", "probe_2", "probe_4", "probe_5", "probe_6", "probex"})
    fresh_probe(name);

  auto first = node->register_service("probe");
  CHECK(first.name == "probe");
  CHECK(first.type == "ProbeService");
  CHECK(node->register_service("probe").name == "probe_1");
  CHECK(node->register_service("probe").name == "probe_2");
  // n counts every name that starts with the key, explicit ones included,
  // and grows until the name is free.
  CHECK(node->register_service("probe", std::string{"probe_5"}).name == "probe_5");
  CHECK(node->register_service("probe").name == "probe_4");  // 4 names start with "probe"
  CHECK(node->register_service("probe").name == "probe_6");  // 5 names; probe_5 taken
  CHECK(names_of(*node) ==
        std::vector<std::string>{"probe", "probe_1", "probe_2", "probe_5", "probe_4", "probe_6"});

  SECTION("an explicit name that is taken is 409") {
    expect_error(ErrorCode::conflict,
                 [&] { node->register_service("probe", std::string{"probe_1"}); });
    // A name taken by an instance of another class is taken too.
    expect_error(ErrorCode::conflict,
                 [&] { node->register_service("strict", std::string{"probe"}); });
    CHECK(node->list().size() == 6);
  }
  SECTION("invalid names are 400") {
    for (std::string bad : {std::string{}, std::string{"."}, std::string{".."}, std::string{"a b"},
                            std::string{"a/b"}, std::string{"caf\xc3\xa9"},
                            std::string{"semi;colon"}, std::string(65, 'x')}) {
      INFO("name '" << bad << "'");
      expect_error(ErrorCode::bad_request, [&] { node->register_service("probe", bad); });
    }
    auto longest = std::string(64, 'y');
    fresh_probe(longest);
    CHECK(node->register_service("probe", longest).name == longest);
    fresh_probe("A-z_0.9");
    CHECK(node->register_service("probe", std::string{"A-z_0.9"}).name == "A-z_0.9");
  }
  SECTION("an unknown class is 404, even when the name is taken or invalid") {
    expect_error(ErrorCode::not_found,
                 [&] { node->register_service("nope", std::string{"probe"}); });
    expect_error(ErrorCode::not_found, [&] { node->register_service("nope", std::string{".."}); });
    expect_error(ErrorCode::not_found, [&] { node->register_service("nope"); });
  }
}

TEST_CASE("naming: type is the class name without namespace", "[naming]") {
  Node node;
  auto gadget = node->register_service<widgets::GadgetService>();
  CHECK(gadget.name == "gadget");
  CHECK(gadget.type == "GadgetService");
  auto second = node->register_service("gadget");
  CHECK(second.name == "gadget_1");
  CHECK(second.type == "GadgetService");
  node->start("gadget");
  CHECK(state_of(*node, "gadget") == ServiceState::running);
}

// -- deregistration ------------------------------------------------------------------------

TEST_CASE("deregister: the name can be reused", "[deregister]") {
  Node node;
  add_probe(*node, "temp");
  node->configure("temp", {{"label", "old"}});
  auto gone = node->deregister("temp");
  CHECK(gone.name == "temp");
  CHECK(gone.stop_error.empty());
  expect_error(ErrorCode::not_found, [&] { node->status("temp"); });
  CHECK(names_of(*node).empty());

  expect_error(ErrorCode::not_found, [&] { node->deregister("temp"); });

  add_probe(*node, "temp");
  auto status = node->status("temp");  // a fresh instance
  CHECK(status.state == ServiceState::initialized);
  CHECK(status.metadata == json::object());
  // The auto-name count follows removals too.
  fresh_probe("probe");
  CHECK(node->register_service("probe").name == "probe");
}

TEST_CASE("deregister: a running service is stopped first", "[deregister]") {
  Node node;
  auto p = add_probe(*node, "busy");
  add_probe(*node, "bystander");
  node->start("busy");
  auto gone = node->deregister("busy");
  CHECK(gone.stop_error.empty());
  CHECK(p->stops == 1);
  CHECK_FALSE(p->running);
  CHECK(names_of(*node) == std::vector<std::string>{"bystander"});
}

TEST_CASE("deregister: a starting service is stopped after its start", "[deregister]") {
  Node node;
  auto p = add_probe(*node, "rising");
  p->hold(true, false);
  auto started = in_background([&] { node->start("rising"); });
  REQUIRE(eventually([&] { return p->starts == 1; }));
  auto removed = std::async(std::launch::async, [&] { return node->deregister("rising"); });
  CHECK(removed.wait_for(100ms) == std::future_status::timeout);
  p->release();
  REQUIRE(removed.wait_for(5s) == std::future_status::ready);
  REQUIRE(ready_within(started, 5s));
  CHECK_FALSE(started.get());
  CHECK(removed.get().stop_error.empty());
  CHECK(p->stops == 1);
  CHECK_FALSE(p->overlapped);
  CHECK(names_of(*node).empty());
}

TEST_CASE("deregister: a failing stop is reported and the instance removed anyway",
          "[deregister]") {
  Node node;
  auto p = add_probe(*node, "sticky");
  node->configure("sticky", {{"fail_on", "stop"}});
  node->start("sticky");
  auto gone = node->deregister("sticky");
  CHECK(gone.name == "sticky");
  CHECK(gone.stop_error == "Failed to stop sticky service: boom on stop");
  CHECK(p->stops == 1);
  expect_error(ErrorCode::not_found, [&] { node->status("sticky"); });
  add_probe(*node, "sticky");  // the name is free again
}

TEST_CASE("deregister: the name stays taken while a stop that timed out still runs",
          "[deregister]") {
  // The DELETE answers once the stop timed out, but the manager is still in
  // stop(): a new instance of the name would run beside the old copy.
  Node node;
  auto old = add_probe(*node, "lingering");
  node->configure("lingering", {{"stop_timeout_seconds", 0.2}});
  node->start("lingering");
  old->hold(false, true);
  auto gone = node->deregister("lingering");
  CHECK(gone.stop_error == "Timed out stopping lingering service after 0.2 s");
  CHECK(names_of(*node).empty());
  REQUIRE(old->active == 1);  // still inside stop()

  auto refused = expect_error(ErrorCode::conflict,
                              [&] { node->register_service("probe", std::string{"lingering"}); });
  CHECK(std::string{refused.what()} ==
        "Service lingering was deleted, but its manager is still in a call that outlived its "
        "timeout: the name is free once it returns");
  CHECK(names_of(*node).empty());

  old->release();
  // Free once stop() returned: the manager's thread says so right after.
  std::shared_ptr<Probe> fresh;
  REQUIRE(eventually([&] {
    fresh = fresh_probe("lingering");
    return !error_of([&] { node->register_service("probe", std::string{"lingering"}); });
  }));
  CHECK(old->stop_returns == 1);
  node->start("lingering");
  CHECK(fresh->starts == 1);
  CHECK(state_of(*node, "lingering") == ServiceState::running);
}

// -- a blocking manager must not stall the node ------------------------------------------

TEST_CASE("a manager blocking 2 s in start does not stall status reads", "[blocking]") {
  Node node;
  auto slow = add_probe(*node, "slow");
  add_probe(*node, "other1");
  add_probe(*node, "other2");
  node->start("other1");
  node->configure("slow", {{"start_delay_ms", 2000}});

  auto begin = Clock::now();
  auto started = in_background([&] { node->start("slow"); });
  REQUIRE(eventually([&] { return slow->starts == 1; }));

  Latencies reads;
  int rounds = 0;
  while (slow->start_returns == 0 && elapsed_ms(begin) < 1800) {
    auto self_status = reads.measure([&] { return node->status("slow"); });
    if (slow->start_returns == 0) CHECK(self_status.state == ServiceState::starting);
    CHECK(reads.measure([&] { return node->status("other1"); }).state == ServiceState::running);
    CHECK(reads.measure([&] { return node->list(); }).size() == 3);
    ++rounds;
  }
  CHECK(rounds > 10);
  CHECK_RESPONSIVE(reads);

  // Other services' transitions are not held up either.
  auto t0 = Clock::now();
  node->start("other2");
  node->stop("other2");
  CHECK(elapsed_ms(t0) < 500);

  REQUIRE(ready_within(started, 5s));
  CHECK_FALSE(started.get());
  CHECK(elapsed_ms(begin) >= 1900);  // the start reply waited for the manager
  CHECK(state_of(*node, "slow") == ServiceState::running);
}

TEST_CASE("many blocked managers at once do not stall the node", "[blocking]") {
  Node node;
  constexpr int count = 12;  // more than CAF's worker threads
  std::vector<std::shared_ptr<Probe>> held;
  std::vector<std::future<std::optional<processpype::Error>>> starts;
  for (int i = 0; i < count; ++i) {
    auto name = "held" + std::to_string(i);
    held.push_back(add_probe(*node, name));
    held.back()->hold(true, false);
  }
  for (int i = 0; i < count; ++i) {
    auto name = "held" + std::to_string(i);
    starts.push_back(in_background([&node, name] { node->start(name); }));
  }
  REQUIRE(eventually([&] {
    for (auto& p : held)
      if (p->starts == 0) return false;
    return true;
  }));
  Latencies reads;
  std::vector<processpype::NamedStatus> all;
  for (int i = 0; i < 50; ++i) all = reads.measure([&] { return node->list(); });
  CHECK_RESPONSIVE(reads);
  for (const auto& entry : all) CHECK(entry.status.state == ServiceState::starting);
  for (auto& p : held) p->release();
  for (auto& f : starts) {
    REQUIRE(ready_within(f, 5s));
    CHECK_FALSE(f.get());
  }
  for (const auto& entry : node->list()) CHECK(entry.status.state == ServiceState::running);
}

// -- timeouts ----------------------------------------------------------------------------------

TEST_CASE("a start that outlasts start_timeout_seconds leaves the service in error", "[timeout]") {
  Node node;
  auto p = add_probe(*node, "stuck");
  add_probe(*node, "neighbour");
  node->configure("stuck", {{"start_timeout_seconds", 0.3}, {"start_delay_ms", 2000}});

  auto begin = Clock::now();
  auto error = error_of([&] { node->start("stuck"); });
  auto took = elapsed_ms(begin);
  REQUIRE(error);
  CHECK(error->code() == ErrorCode::service_failure);
  CHECK(std::string{error->what()} == "Timed out starting stuck service after 0.3 s");
  CHECK(took >= 290);
  CHECK(took < 1500);
  check_status(*node, "stuck", ServiceState::error, "Timed out starting stuck service after 0.3 s");

  // The manager is still stuck; the node keeps answering.
  CHECK(p->start_returns == 0);
  Latencies reads;
  while (p->start_returns == 0 && elapsed_ms(begin) < 1700) {
    CHECK(reads.measure([&] { return node->status("stuck"); }).state == ServiceState::error);
    CHECK(reads.measure([&] { return node->status("neighbour"); }).state ==
          ServiceState::initialized);
    CHECK(reads.measure([&] { return node->list(); }).size() == 2);
  }
  CHECK_RESPONSIVE(reads);
  // While the abandoned start still runs, a new start never overlaps it.
  if (p->start_returns == 0) {
    auto again = error_of([&] { node->start("stuck"); });
    if (again) CHECK(again->code() == ErrorCode::conflict);
  }

  // Once the stuck call returned, the service can be started again. The
  // manager thread tells the service actor after the call returned, so a
  // command may still be refused (conflict) for a moment: nothing else.
  REQUIRE(eventually([&] { return p->start_returns >= 1 && p->active == 0; }, 4000ms));
  REQUIRE(eventually(
      [&] {
        auto refused = error_of([&] { node->configure("stuck", {{"start_delay_ms", 0}}); });
        if (refused) CHECK(refused->code() == ErrorCode::conflict);
        return !refused;
      },
      2000ms));
  start_running(*node, "stuck");
  CHECK_FALSE(p->overlapped);
}

TEST_CASE("a stop that outlasts stop_timeout_seconds leaves the service in error", "[timeout]") {
  Node node;
  auto p = add_probe(*node, "stuckstop");
  node->configure("stuckstop", {{"stop_timeout_seconds", 0.25}});
  node->start("stuckstop");
  p->hold(false, true);
  const std::string timed_out = "Timed out stopping stuckstop service after 0.25 s";
  auto error = expect_error(ErrorCode::service_failure, [&] { node->stop("stuckstop"); });
  CHECK(std::string{error.what()} == timed_out);
  check_status(*node, "stuckstop", ServiceState::error, timed_out);
  p->release();
  REQUIRE(eventually([&] { return p->stop_returns == 1 && p->active == 0; }));
  node->stop("stuckstop");  // from error: runs stop again
  CHECK(state_of(*node, "stuckstop") == ServiceState::stopped);
}

TEST_CASE("configure never reaches a manager whose abandoned start still runs", "[timeout]") {
  // ServiceManager::configure is documented as "never while start/stop
  // runs"; after a start timed out the state is error, from which configure
  // is allowed, but the manager's start() is still running on its thread.
  Node node;
  auto p = add_probe(*node, "abandoned");
  node->configure("abandoned", {{"start_timeout_seconds", 0.2}});
  p->hold(true, false);
  expect_error(ErrorCode::service_failure, [&] { node->start("abandoned"); });
  REQUIRE(p->active == 1);  // still inside start()

  auto configured = error_of([&] { node->configure("abandoned", {{"label", "new"}}); });
  // Either refused (409) while the call is in flight, or applied later;
  // never handed to the manager in the middle of its start().
  if (configured) CHECK(configured->code() == ErrorCode::conflict);
  CHECK_FALSE(p->configured_while_busy);

  p->release();
  REQUIRE(eventually([&] { return p->start_returns == 1 && p->active == 0; }));
}

TEST_CASE("a start that succeeds after it timed out is stopped before the next start",
          "[timeout]") {
  // The service is in error, but its manager started after all: left alone,
  // the next start would start it a second time (a port bound twice).
  Node node;
  auto p = add_probe(*node, "latecomer");
  node->configure("latecomer", {{"start_timeout_seconds", 0.2}});
  p->hold(true, false);
  expect_error(ErrorCode::service_failure, [&] { node->start("latecomer"); });
  CHECK(state_of(*node, "latecomer") == ServiceState::error);
  p->release();
  REQUIRE(eventually([&] { return p->start_returns == 1 && p->stop_returns == 1; }));
  CHECK_FALSE(p->running);  // the clean-up stop ran
  node->start("latecomer");
  CHECK(p->starts == 2);
  CHECK(state_of(*node, "latecomer") == ServiceState::running);
  CHECK_FALSE(p->overlapped);
}

// -- a failing service actor ------------------------------------------------------------------

TEST_CASE("a service actor that dies is marked error and can be started again", "[supervision]") {
  Node node;
  auto p = add_probe(*node, "victim");
  add_probe(*node, "survivor");
  node->configure("victim", {{"label", "kept"}});
  node->start("victim");
  node->start("survivor");

  auto actor = lookup(node, "victim");
  REQUIRE(actor);
  caf::anon_send_exit(actor, caf::exit_reason::kill);

  REQUIRE(eventually([&] { return state_of(*node, "victim") == ServiceState::error; }));
  auto status = node->status("victim");
  CHECK_FALSE(status.error.empty());
  CHECK(status.error.find("victim") != std::string::npos);
  CHECK(status.is_configured);
  CHECK(status.metadata.at("label") == "kept");
  CHECK(names_of(*node) == std::vector<std::string>{"victim", "survivor"});
  CHECK(state_of(*node, "survivor") == ServiceState::running);

  auto replacement = lookup(node, "victim");
  CHECK(replacement != actor);

  // The instance works again: its configuration was kept.
  node->start("victim");
  status = node->status("victim");
  CHECK(status.state == ServiceState::running);
  CHECK(status.error.empty());
  CHECK(status.metadata.at("label") == "kept");
  node->stop("victim");
  CHECK(state_of(*node, "victim") == ServiceState::stopped);
}

TEST_CASE("a service actor that dies during a start answers the waiting start", "[supervision]") {
  Node node;
  auto p = add_probe(*node, "midstart");
  p->hold(true, false);
  caf::scoped_actor self{*node.system};
  auto pending =
      self->request(node->supervisor(), std::chrono::seconds(3), processpype::start_atom::value,
                    std::string{"midstart"}, processpype::Trigger{});
  REQUIRE(eventually([&] { return p->starts == 1; }));
  auto actor = lookup(node, "midstart");
  caf::anon_send_exit(actor, caf::exit_reason::kill);

  // The start's caller gets an answer (an error), not silence until its timeout.
  std::optional<processpype::Error> answer;
  bool replied_ok = false;
  pending.receive([&](ServiceState) { replied_ok = true; },
                  [&](caf::error& error) { answer = processpype::to_error(error); });
  CHECK_FALSE(replied_ok);
  REQUIRE(answer);
  INFO("start answered: " << to_string(answer->code()) << " " << answer->what());
  CHECK(answer->code() != ErrorCode::timeout);

  REQUIRE(eventually([&] { return state_of(*node, "midstart") == ServiceState::error; }));
  p->release();
  REQUIRE(eventually([&] { return p->start_returns == 1; }));
}

TEST_CASE("starts racing a deregistration are answered and leave no manager running",
          "[deregister]") {
  // A start forwarded after the deregistration's stop finished, but before
  // the Supervisor removed the instance, must neither start a manager that
  // nobody stops any more nor leave its caller without an answer.
  Node node;
  int leaked = 0;
  int unanswered = 0;
  for (int round = 0; round < 40 && leaked == 0 && unanswered == 0; ++round) {
    auto name = "raced" + std::to_string(round);
    auto p = add_probe(*node, name);
    node->start(name);
    std::atomic<bool> removed{false};
    auto spammer = std::async(std::launch::async, [&] {
      caf::scoped_actor self{*node.system};
      int silent = 0;
      while (!removed && silent == 0) {
        self->request(node->supervisor(), std::chrono::seconds(2), processpype::start_atom::value,
                      name, processpype::Trigger{})
            .receive([](ServiceState) {},
                     [&](caf::error& error) {
                       if (processpype::to_error(error).code() == ErrorCode::timeout) ++silent;
                     });
      }
      return silent;
    });
    auto gone = error_of([&] { node->deregister(name); });
    removed = true;
    REQUIRE(spammer.wait_for(5s) == std::future_status::ready);
    unanswered += spammer.get();
    CHECK_FALSE(gone);
    // Whatever the spammer got, no manager of the removed instance may run.
    CHECK(eventually([&] { return p->active == 0; }, 2500ms));
    if (p->running || p->starts != p->stops) ++leaked;
    INFO("round " << round << ": starts " << p->starts << ", stops " << p->stops);
    CHECK_FALSE(p->running);
  }
  CHECK(unanswered == 0);
  CHECK(leaked == 0);
}

// -- concurrent conflicting commands ----------------------------------------------------------

TEST_CASE("8 threads of conflicting commands end in a consistent state", "[concurrency]") {
  Node node;
  auto p = add_probe(*node, "contended");
  constexpr int threads = 8;
  constexpr int commands = 150;

  std::mutex problems_mutex;
  std::vector<std::string> problems;
  auto problem = [&](std::string text) {
    std::lock_guard lock{problems_mutex};
    problems.push_back(std::move(text));
  };
  std::atomic<int> refusals{0};
  auto expect = [&](const char* what, const std::optional<processpype::Error>& error,
                    std::initializer_list<ErrorCode> allowed) {
    if (!error) return;
    ++refusals;
    for (auto code : allowed)
      if (error->code() == code) return;
    problem(std::string{what} + ": " + std::string{to_string(error->code())} + " " + error->what());
  };

  std::vector<std::future<void>> workers;
  for (int t = 0; t < threads; ++t) {
    workers.push_back(std::async(std::launch::async, [&, t] {
      std::mt19937 random(static_cast<unsigned>(t) * 7919u + 1u);
      for (int i = 0; i < commands; ++i) {
        switch (random() % 6) {
          case 0:
          case 1:
            expect("start", error_of([&] { node->start("contended"); }), {ErrorCode::conflict});
            break;
          case 2:
            expect("stop", error_of([&] { node->stop("contended"); }), {});
            break;
          case 3:
            expect("configure", error_of([&] {
                     node->configure("contended", {{"start_delay_ms", random() % 2},
                                                   {"label", "t" + std::to_string(t)}});
                   }),
                   {ErrorCode::conflict});
            break;
          case 4:
            expect("bad configure", error_of([&] {
                     node->configure("contended", {{"start_delay_ms", "x"}});
                   }),
                   {ErrorCode::conflict, ErrorCode::invalid_value});
            break;
          default:
            expect("status", error_of([&] { node->status("contended"); }), {});
            break;
        }
      }
    }));
  }
  // And one caller of the actor-message API with many requests in flight.
  workers.push_back(std::async(std::launch::async, [&] {
    caf::scoped_actor self{*node.system};
    std::vector<decltype(self->request(node->supervisor(), caf::infinite,
                                       processpype::start_atom::value, std::string{},
                                       processpype::Trigger{}))>
        starts;
    std::vector<decltype(self->request(node->supervisor(), caf::infinite,
                                       processpype::stop_atom::value, std::string{},
                                       processpype::Trigger{}))>
        stops;
    for (int i = 0; i < 50; ++i) {
      starts.push_back(self->request(node->supervisor(), caf::infinite,
                                     processpype::start_atom::value, std::string{"contended"},
                                     processpype::Trigger{}));
      stops.push_back(self->request(node->supervisor(), caf::infinite,
                                    processpype::stop_atom::value, std::string{"contended"},
                                    processpype::Trigger{}));
    }
    auto refused = [&](bool start) {
      return [&, start](caf::error& error) {
        auto converted = processpype::to_error(error);
        if (!(start && converted.code() == ErrorCode::conflict))
          problem(std::string{"actor api: "} + converted.what());
      };
    };
    for (auto& pending : starts) pending.receive([](ServiceState) {}, refused(true));
    for (auto& pending : stops) pending.receive([](processpype::StopResult&) {}, refused(false));
  }));

  bool all_done = true;
  for (auto& worker : workers)
    if (worker.wait_for(30s) != std::future_status::ready) all_done = false;
  REQUIRE(all_done);
  for (auto& worker : workers) worker.get();

  INFO("unexpected replies: " << problems.size() << (problems.empty() ? "" : ", first: ")
                              << (problems.empty() ? "" : problems.front()));
  CHECK(problems.empty());

  auto status = node->status("contended");
  INFO("final state " << to_string(status.state) << ", starts " << p->starts << ", stops "
                      << p->stops << ", refusals " << refusals);
  CHECK(p->starts > 1);
  CHECK(p->stops > 1);
  CHECK(is_stable(status.state));
  CHECK_FALSE(p->overlapped);
  CHECK(p->active == 0);
  CHECK(p->starts == p->start_returns);
  CHECK(p->stops == p->stop_returns);
  // The manager agrees with the state the node reports.
  CHECK(p->running == (status.state == ServiceState::running));
  auto listed = node->list();
  REQUIRE(listed.size() == 1);
  CHECK(listed.front().status == status);
  // And the service still obeys commands.
  node->stop("contended");  // a no-op unless running
  CHECK(state_of(*node, "contended") != ServiceState::running);
  node->start("contended");
  CHECK(state_of(*node, "contended") == ServiceState::running);
  node->stop("contended");
  CHECK(state_of(*node, "contended") == ServiceState::stopped);
}

// -- custom routes -----------------------------------------------------------------------

TEST_CASE("custom routes run in the service actor", "[routes]") {
  Node node;
  auto p = add_probe(*node, "routed");

  auto response = node->call_route("routed", route("GET", "/state"));
  CHECK(response.status == 200);
  CHECK(response.body.at("state") == "initialized");

  response = node->call_route("routed", route("GET", "/items/abc"));
  CHECK(response.status == 200);
  CHECK(response.body.at("key") == "abc");

  response = node->call_route("routed", route("GET", "/missing"));
  CHECK(response.status == 404);
  response = node->call_route("routed", route("DELETE", "/state"));
  CHECK(response.status == 405);
  CHECK(response.allow.find("GET") != std::string::npos);

  expect_error(ErrorCode::not_found, [&] { node->call_route("ghost", route("GET", "/state")); });

  SECTION("routes are serialized: an unsynchronized counter loses no update") {
    std::vector<std::future<std::optional<processpype::Error>>> callers;
    for (int t = 0; t < 8; ++t)
      callers.push_back(in_background([&] {
        for (int i = 0; i < 200; ++i) node->call_route("routed", route("POST", "/hit"));
      }));
    for (auto& caller : callers) {
      REQUIRE(ready_within(caller, 20s));
      CHECK_FALSE(caller.get());
    }
    CHECK(node->call_route("routed", route("GET", "/state")).body.at("hits") == 1600);
  }
  SECTION("a route requested while a start is in flight is answered after the transition") {
    auto started = call_held(*node, "routed", *p, HeldCall::start);
    REQUIRE(p->starts == 1);
    auto answer = state_route_after_release(*node, "routed", *p);
    CHECK(answer.status == 200);
    CHECK(answer.body.at("state") == "running");
    CHECK(answer.body.at("manager_active") == 0);
    REQUIRE(ready_within(started, 5s));
    CHECK_FALSE(started.get());
  }
  SECTION("a route requested while a stop is in flight is answered after it") {
    node->start("routed");
    auto stopped = call_held(*node, "routed", *p, HeldCall::stop);
    REQUIRE(p->stops == 1);
    CHECK(state_route_after_release(*node, "routed", *p).body.at("state") == "stopped");
    REQUIRE(ready_within(stopped, 5s));
  }
}

// -- the actor-message API -------------------------------------------------------------------

TEST_CASE("the actor-message API speaks the protocol of protocol.hpp", "[protocol]") {
  Node node;
  auto p = fresh_probe("wire");
  caf::scoped_actor self{*node.system};
  const auto& supervisor = node->supervisor();
  auto fail = [](caf::error& error) { FAIL("unexpected error: " << to_string(error)); };

  self->request(supervisor, std::chrono::seconds(5), processpype::register_atom::value,
                processpype::RegisterRequest{
                    .class_key = "probe", .instance_name = "wire", .auto_name = false})
      .receive([](processpype::Registration& r) { CHECK(r.name == "wire"); }, fail);
  self->request(supervisor, std::chrono::seconds(5), processpype::configure_atom::value,
                std::string{"wire"}, json{{"label", "w"}}, processpype::Trigger{})
      .receive([](ServiceState) {}, fail);
  self->request(supervisor, std::chrono::seconds(5), processpype::start_atom::value,
                std::string{"wire"}, processpype::Trigger{})
      .receive([](ServiceState) {}, fail);
  // A read that follows a reply sees the new state.
  self->request(supervisor, std::chrono::seconds(5), processpype::status_atom::value,
                std::string{"wire"})
      .receive(
          [](processpype::ServiceStatus& status) {
            CHECK(status.state == ServiceState::running);
            CHECK(status.metadata.at("label") == "w");
          },
          fail);
  self->request(supervisor, std::chrono::seconds(5), processpype::start_atom::value,
                std::string{"wire"}, processpype::Trigger{})
      .receive([](ServiceState) { FAIL("a second start must be refused"); },
               [](caf::error& error) {
                 CHECK(processpype::to_error(error).code() == ErrorCode::conflict);
               });
  self->request(supervisor, std::chrono::seconds(5), processpype::list_atom::value)
      .receive(
          [](std::vector<processpype::NamedStatus>& all) {
            REQUIRE(all.size() == 1);
            CHECK(all.front().name == "wire");
          },
          fail);
  self->request(supervisor, std::chrono::seconds(5), processpype::deregister_atom::value,
                std::string{"wire"}, processpype::Trigger{})
      .receive([](processpype::Deregistration& d) { CHECK(d.stop_error.empty()); }, fail);
  CHECK(p->stops == 1);
  self->request(supervisor, std::chrono::seconds(5), processpype::status_atom::value,
                std::string{"wire"})
      .receive([](processpype::ServiceStatus&) { FAIL("deregistered service still answers"); },
               [](caf::error& error) {
                 CHECK(processpype::to_error(error).code() == ErrorCode::not_found);
               });
}

// -- status replicas (docs/architecture.md, "Status replicas") ----------------------------

namespace {

processpype::StatusEntry status_entry(std::string name, std::string body) {
  return {std::move(name), processpype::StatusEntry::status, std::move(body)};
}

}  // namespace

TEST_CASE("ending an event subscription waits for its running callback, and no callback follows",
          "[events]") {
  Node node;
  std::mutex mutex;
  std::condition_variable changed;
  bool inside = false;
  bool release = false;
  std::atomic<bool> ended{false};
  std::atomic<int> calls_after_end{0};
  auto subscription = std::make_unique<processpype::EventSubscription>(
      node->subscribe([&](const processpype::EventBatch&) {
        if (ended) ++calls_after_end;
        std::unique_lock lock{mutex};
        inside = true;
        changed.notify_all();
        changed.wait_for(lock, 10s, [&] { return release; });
      }));
  add_probe(*node, "watched");
  {
    std::unique_lock lock{mutex};
    REQUIRE(changed.wait_for(lock, 5s, [&] { return inside; }));
  }
  auto ending = std::async(std::launch::async, [&] {
    subscription.reset();
    ended = true;
  });
  CHECK(ending.wait_for(200ms) == std::future_status::timeout);  // the callback still runs
  {
    std::lock_guard lock{mutex};
    release = true;
  }
  changed.notify_all();
  REQUIRE(ending.wait_for(5s) == std::future_status::ready);

  // A later subscriber sees the next event; the ended one is not called.
  std::atomic<bool> witnessed{false};
  auto witness = node->subscribe([&](const processpype::EventBatch& batch) {
    for (const auto& event : batch.events) witnessed = witnessed || event.service == "after";
  });
  add_probe(*node, "after");
  REQUIRE(eventually([&] { return witnessed.load(); }, 5000ms));
  CHECK(calls_after_end == 0);
}

TEST_CASE("replicas: a full batch, then changes, nothing before it, nothing of another run",
          "[replica]") {
  using processpype::StatusBatch;
  using processpype::StatusEntry;
  processpype::StatusReplicas replicas;
  CHECK(replicas.find("b", "x") == nullptr);
  replicas.apply(StatusBatch{"b", {7, 3}, false, {status_entry("x", "early")}});
  CHECK(replicas.find("b", "x") == nullptr);  // a change before the full status

  replicas.apply(
      StatusBatch{"b", {7, 3}, true, {status_entry("x", "one"), status_entry("y", "y")}});
  REQUIRE(replicas.find("b", "x") != nullptr);
  CHECK(*replicas.find("b", "x") == "one");
  CHECK(replicas.find("c", "x") == nullptr);  // another node

  replicas.apply(
      StatusBatch{"b", {7, 4}, false, {status_entry("x", "two"), {"y", StatusEntry::removed, ""}}});
  CHECK(*replicas.find("b", "x") == "two");
  CHECK(replicas.find("b", "y") == nullptr);
  replicas.apply(StatusBatch{"b", {7, 5}, false, {{"x", StatusEntry::ask_owner, ""}}});
  CHECK(replicas.find("b", "x") == nullptr);  // its status depends on the time

  replicas.apply(StatusBatch{"b", {9, 6}, false, {status_entry("x", "stale run")}});
  CHECK(replicas.find("b", "x") == nullptr);  // a batch of another run is dropped
  replicas.forget("b");
  replicas.apply(StatusBatch{"b", {7, 7}, false, {status_entry("x", "three")}});
  CHECK(replicas.find("b", "x") == nullptr);
}

TEST_CASE("replicas: after a reply of version v, reads wait for a batch of v", "[replica]") {
  using processpype::StatusBatch;
  processpype::StatusReplicas replicas;
  replicas.apply(StatusBatch{"b", {7, 10}, true, {status_entry("x", "stopped")}});
  replicas.note_reply("b", {7, 10});
  CHECK(*replicas.find("b", "x") == "stopped");
  replicas.note_reply("b", {7, 12});  // a command's reply: B is at 12 now
  CHECK(replicas.find("b", "x") == nullptr);
  replicas.apply(StatusBatch{"b", {7, 11}, false, {status_entry("x", "starting")}});
  CHECK(replicas.find("b", "x") == nullptr);
  replicas.note_reply("b", {7, 11});  // an older reply does not lower the bar
  CHECK(replicas.find("b", "x") == nullptr);
  replicas.apply(StatusBatch{"b", {7, 12}, false, {status_entry("x", "running")}});
  CHECK(*replicas.find("b", "x") == "running");

  // B restarted: its new full status sets the bar of the new run.
  replicas.apply(StatusBatch{"b", {8, 0}, true, {status_entry("x", "initialized")}});
  CHECK(*replicas.find("b", "x") == "initialized");
  replicas.note_reply("b", {8, 2});
  CHECK(replicas.find("b", "x") == nullptr);
}

TEST_CASE("table changes: free until followed, then each change named once per batch",
          "[replica]") {
  Node node;
  auto& changes = node->table().changes();
  add_probe(*node, "before");
  node->start("before");
  auto unfollowed = changes.version();
  CHECK(unfollowed.sequence == 0);
  CHECK(unfollowed.boot != 0);

  std::atomic<int> wakes{0};
  auto followed = changes.follow([&wakes] { ++wakes; });
  CHECK(followed.sequence == 0);
  add_probe(*node, "after");
  CHECK(wakes == 1);
  node->start("after");
  CHECK(wakes == 1);  // one wake until the next take
  auto batch = changes.take();
  CHECK(batch.version.sequence == changes.version().sequence);
  CHECK(batch.version.sequence >= 3);  // registered, starting, running
  CHECK(batch.names == std::vector<std::string>{"after"});
  node->stop("after");
  CHECK(wakes == 2);
  CHECK(changes.take().names == std::vector<std::string>{"after"});
  CHECK(changes.take().names.empty());
}
