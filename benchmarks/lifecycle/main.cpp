// lifecycle_benchmark: how fast the embedded runtime moves services through
// their lifecycle (with a manager that does not block, and with one that may),
// how fast it registers instances, what an idle instance costs, and how soon
// a failed service runs again, each against a baseline measured in the same
// run (a bare CAF request/response, or one plain start/stop).
//
//   lifecycle_benchmark [--quick] [--only=transitions|state|registration|restarts]
//
// --quick runs a tenth of the work; --only skips the other phases (for
// profiling one phase; the baseline always runs).
//
// Everything goes through the actor-message API (protocol.hpp): a driver
// actor keeps many requests in flight to the Supervisor, so the figures are
// the runtime's throughput, not one blocking caller's latency. The baseline
// uses the same driver, the same messages (an atom and the service name) and
// the same number of requests in flight, against an actor that answers at
// once; a ratio of 1.0 would mean the runtime costs nothing over CAF.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <caf/all.hpp>

#include "processpype/actors/protocol.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/runtime/logging.hpp"
#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using processpype::register_atom;
using processpype::RegisterRequest;
using processpype::Registration;
using processpype::start_atom;
using processpype::stop_atom;

// -- a trivial service ----------------------------------------------------------------

/// A manager whose calls return at once: they run inside the service's actor.
class BenchManager : public processpype::ServiceManager {
 public:
  using ServiceManager::ServiceManager;
  void start() override {}
  void stop() override {}
  bool may_block() const override { return false; }
};

/// The same manager as one that may block: its calls go to the manager threads.
class BlockingBenchManager : public processpype::ServiceManager {
 public:
  using ServiceManager::ServiceManager;
  void start() override {}
  void stop() override {}
};

class BenchService : public processpype::Service {
 public:
  using Service::Service;
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<BenchManager>(logger());
  }
  bool requires_configuration() const override { return false; }
  /// POST /fail: a failure at run time, as the service's own code reports one.
  void add_routes(processpype::ServiceRoutes& routes) override {
    routes.post("/fail", [this](const processpype::RouteRequest&) {
      fail("benchmark failure");
      return processpype::RouteResponse::ok({});
    });
  }
};

class BlockingBenchService : public processpype::Service {
 public:
  using Service::Service;
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<BlockingBenchManager>(logger());
  }
  bool requires_configuration() const override { return false; }
};

}  // namespace

PROCESSPYPE_REGISTER_SERVICE(BenchService);          // key "bench"
PROCESSPYPE_REGISTER_SERVICE(BlockingBenchService);  // key "blockingbench"

namespace {

// -- the driver -------------------------------------------------------------------------

struct Run {
  double seconds = 0;
  std::size_t replies = 0;
  std::size_t failures = 0;
  std::string first_failure;

  double rate() const { return seconds > 0 ? double(replies - failures) / seconds : 0; }
};

/// Keeps one request in flight per slot until `total` requests were
/// answered. `make(slot)` builds the next request of a slot; a slot's next
/// request is sent only when its previous one was answered, so a slot can be
/// one service that alternates start and stop without ever conflicting.
/// The reply of a start (ServiceState) or a stop (StopResult): what the
/// drivers of transitions expect.
struct Transition {};

template <class Response>
class Driver final : public caf::event_based_actor {
 public:
  Driver(caf::actor_config& config, caf::actor target, std::size_t slots, std::size_t total,
         std::function<caf::message(std::size_t)> make, std::promise<Run>* done)
      : caf::event_based_actor(config),
        target_(std::move(target)),
        slots_(slots),
        total_(total),
        make_(std::move(make)),
        done_(done) {}

  caf::behavior make_behavior() override {
    begin_ = Clock::now();
    for (std::size_t slot = 0; slot < std::min(slots_, total_); ++slot) issue(slot);
    return {[](caf::atom_value) {}};
  }

 private:
  void issue(std::size_t slot) {
    ++sent_;
    auto message = make_(slot);
    bool stop = message.match_element<stop_atom>(0);
    auto handle = request(target_, caf::infinite, std::move(message));
    auto failed = [this, slot](caf::error& error) {
      if (run_.failures++ == 0) run_.first_failure = processpype::to_error(error).what();
      answered(slot);
    };
    if constexpr (std::is_same_v<Response, Transition>) {
      if (stop)
        handle.then([this, slot](processpype::StopResult&) { answered(slot); }, failed);
      else
        handle.then([this, slot](processpype::ServiceState) { answered(slot); }, failed);
    } else if constexpr (std::is_void_v<Response>) {
      handle.then([this, slot] { answered(slot); }, failed);
    } else {
      handle.then([this, slot](Response&) { answered(slot); }, failed);
    }
  }

  void answered(std::size_t slot) {
    ++run_.replies;
    if (sent_ < total_) {
      issue(slot);
    } else if (run_.replies == total_) {
      run_.seconds = std::chrono::duration<double>(Clock::now() - begin_).count();
      done_->set_value(run_);
      quit();
    }
  }

  caf::actor target_;
  std::size_t slots_;
  std::size_t total_;
  std::function<caf::message(std::size_t)> make_;
  std::promise<Run>* done_;
  std::size_t sent_ = 0;
  Clock::time_point begin_;
  Run run_;
};

/// One driver's share of the work.
struct Lane {
  std::size_t slots;
  std::size_t total;
  std::function<caf::message(std::size_t)> make;
};

/// Runs one driver per lane at once against `target`; the wall time is
/// from spawning the first driver to the last reply.
template <class Response>
Run drive(caf::actor_system& system, const caf::actor& target, std::vector<Lane> lanes) {
  std::vector<std::promise<Run>> done(lanes.size());
  auto begin = Clock::now();
  for (std::size_t i = 0; i < lanes.size(); ++i)
    system.spawn<Driver<Response>>(target, lanes[i].slots, lanes[i].total, std::move(lanes[i].make),
                                   &done[i]);
  Run total;
  for (auto& lane : done) {
    auto run = lane.get_future().get();
    total.replies += run.replies;
    if (total.failures == 0) total.first_failure = run.first_failure;
    total.failures += run.failures;
  }
  total.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  return total;
}

/// Slot k is service names[k]; it alternates start and stop.
std::function<caf::message(std::size_t)> alternate_start_stop(std::vector<std::string> names) {
  auto running = std::make_shared<std::vector<bool>>(names.size(), false);
  return [names = std::move(names), running](std::size_t slot) {
    bool was_running = (*running)[slot];
    (*running)[slot] = !was_running;
    processpype::Trigger trigger{processpype::EventCause::request};
    return was_running ? caf::make_message(stop_atom::value, names[slot], trigger)
                       : caf::make_message(start_atom::value, names[slot], trigger);
  };
}

/// `total` start/stop commands over `names`, one command in flight per name,
/// the names split over `drivers` driver actors.
std::vector<Lane> start_stop_lanes(const std::vector<std::string>& names, std::size_t total,
                                   std::size_t drivers) {
  std::vector<Lane> lanes;
  drivers = std::min(drivers, names.size());
  for (std::size_t d = 0; d < drivers; ++d) {
    std::vector<std::string> share;
    for (std::size_t k = d; k < names.size(); k += drivers) share.push_back(names[k]);
    auto slots = share.size();
    lanes.push_back({slots, total / drivers, alternate_start_stop(std::move(share))});
  }
  return lanes;
}

/// One registration of class `key` per name, `in_flight` at once, over
/// `drivers` drivers.
std::vector<Lane> registration_lanes(const std::vector<std::string>& names, std::size_t in_flight,
                                     std::size_t drivers, const std::string& key = "bench") {
  std::vector<Lane> lanes;
  for (std::size_t d = 0; d < drivers; ++d) {
    auto share = std::make_shared<std::vector<std::string>>();
    for (std::size_t k = d; k < names.size(); k += drivers) share->push_back(names[k]);
    auto count = share->size();
    lanes.push_back({std::max<std::size_t>(1, in_flight / drivers), count,
                     [share, key, next = std::size_t{0}](std::size_t) mutable {
                       return caf::make_message(register_atom::value,
                                                RegisterRequest{.class_key = key,
                                                                .instance_name = (*share)[next++],
                                                                .auto_name = false});
                     }});
  }
  return lanes;
}

/// The baseline's peer: answers the same messages at once.
caf::behavior echo_peer() {
  return {
      [](start_atom, const std::string&, const processpype::Trigger&) {
        return processpype::ServiceState::running;
      },
      [](stop_atom, const std::string&, const processpype::Trigger&) {
        return processpype::StopResult{};
      },
  };
}

// -- helpers -----------------------------------------------------------------------------

std::size_t resident_bytes() {
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

std::vector<std::string> numbered(const std::string& prefix, std::size_t count) {
  std::vector<std::string> names;
  names.reserve(count);
  for (std::size_t i = 0; i < count; ++i) names.push_back(prefix + std::to_string(i));
  return names;
}

Run register_all(caf::actor_system& system, processpype::Runtime& runtime,
                 const std::vector<std::string>& names, std::size_t in_flight, std::size_t drivers,
                 const std::string& key = "bench") {
  auto run = drive<Registration>(system, caf::actor_cast<caf::actor>(runtime.supervisor()),
                                 registration_lanes(names, in_flight, drivers, key));
  if (run.failures > 0)
    std::fprintf(stderr, "registration: %zu failures, first: %s\n", run.failures,
                 run.first_failure.c_str());
  return run;
}

void check(const Run& run, const char* what) {
  if (run.failures > 0)
    std::printf("  !! %s: %zu of %zu requests failed, first: %s\n", what, run.failures, run.replies,
                run.first_failure.c_str());
}

const char* verdict(bool met) {
  return met ? "met" : "MISSED";
}

double percentile(std::vector<double> samples, double q) {
  std::sort(samples.begin(), samples.end());
  return samples[static_cast<std::size_t>(q * double(samples.size() - 1))];
}

/// Waits for the events of one instance to reach `state` with `cause`.
class StateWaiter {
 public:
  StateWaiter(processpype::Runtime& runtime, std::string service)
      : service_(std::move(service)),
        subscription_(runtime.subscribe(
            [this](const processpype::EventBatch& batch) {
              std::lock_guard lock{mutex_};
              for (const auto& event : batch.events)
                if (event.service == service_)
                  ++seen_[event.state + "/" + std::string{to_string(event.cause)}];
              changed_.notify_all();
            },
            processpype::live_events_only)) {}

  /// Blocks until `state/cause` was seen `count` times in all.
  void wait(const std::string& state_and_cause, std::size_t count) {
    std::unique_lock lock{mutex_};
    if (!changed_.wait_for(lock, std::chrono::seconds(10),
                           [&] { return seen_[state_and_cause] >= count; }))
      throw std::runtime_error("no " + state_and_cause + " event in 10 s");
  }

 private:
  std::string service_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::size_t> seen_;
  processpype::EventSubscription subscription_;
};

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string only;
  long workers = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strncmp(argv[i], "--only=", 7) == 0) {
      only = argv[i] + 7;
    } else if (std::strncmp(argv[i], "--workers=", 10) == 0) {
      workers = std::strtol(argv[i] + 10, nullptr, 10);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--quick] [--only=transitions|registration|restarts] "
                   "[--workers=N]\n",
                   argv[0]);
      return 2;
    }
  }
  processpype::configure_logging(spdlog::level::off, processpype::LogFormat::text);

  caf::actor_system_config config;
  processpype::Runtime::add_types(config);
  if (workers > 0) config.set("scheduler.max-threads", static_cast<std::size_t>(workers));
  caf::actor_system system{config};

  const std::size_t services = 1000;
  const std::size_t in_flight = services;  // requests in flight for the pipelined figures
  const std::size_t drivers = 10;          // driver actors sharing them (100 each)
  const std::size_t registrations = quick ? 10'000 : 100'000;
  const std::size_t single_total = quick ? 2'000 : 20'000;
  const std::size_t many_total = quick ? 20'000 : 200'000;
  const std::size_t baseline_single_total = quick ? 20'000 : 200'000;
  const std::size_t baseline_total = quick ? 100'000 : 1'000'000;

  std::printf(
      "lifecycle_benchmark: %u hardware threads, CAF scheduler %zu workers; pipelined figures "
      "keep %zu requests in flight from %zu driver actors\n",
      std::thread::hardware_concurrency(), system.scheduler().num_workers(), in_flight, drivers);

  // 1. baseline: bare request/response, same drivers, same messages, an
  // actor that answers at once.
  auto peer = system.spawn(echo_peer);
  auto baseline_names = numbered("svc", services);
  auto base_single = drive<Transition>(
      system, peer, start_stop_lanes({baseline_names.front()}, baseline_single_total, 1));
  auto base_many =
      drive<Transition>(system, peer, start_stop_lanes(baseline_names, baseline_total, drivers));
  caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
  std::printf("\n1. baseline: bare CAF request/response round trips\n");
  std::printf("   1 in flight:        %10.0f requests/s\n", base_single.rate());
  std::printf("   %zu in flight:     %10.0f requests/s\n", in_flight, base_many.rate());

  // 2. start/stop transitions of a trivial service, its manager called in
  // its actor (it does not block) or on the manager threads (it may).
  if (only.empty() || only == "transitions") {
    std::printf(
        "\n2. start/stop transitions (trivial manager, one command in flight per service)\n");
    for (std::string key : {"bench", "blockingbench"}) {
      processpype::Runtime runtime{system};
      auto names = numbered("svc", services);
      register_all(system, runtime, names, in_flight, drivers, key);
      auto supervisor = caf::actor_cast<caf::actor>(runtime.supervisor());
      auto single =
          drive<Transition>(system, supervisor, start_stop_lanes({names.front()}, single_total, 1));
      check(single, "one service");
      auto many =
          drive<Transition>(system, supervisor, start_stop_lanes(names, many_total, drivers));
      check(many, "1,000 services");
      for (const auto& name : names) runtime.stop(name);
      bool inline_calls = key == "bench";
      std::printf("   manager %s\n", inline_calls ? "that does not block (called in its actor)"
                                                  : "that may block (called on manager threads)");
      std::printf(
          "     one service:      %10.0f transitions/s   ratio to baseline (1 in flight): %.4f\n",
          single.rate(), single.rate() / base_single.rate());
      std::printf(
          "     1,000 services:   %10.0f transitions/s   ratio to baseline (%zu in flight): %.4f",
          many.rate(), in_flight, many.rate() / base_many.rate());
      if (inline_calls) std::printf("   aim >= 150,000/s: %s", verdict(many.rate() >= 150'000));
      std::printf("\n");
    }
  }

  // 2b. The same transitions written ahead to a state file (docs/state.md):
  // every user's start and stop is a commit, grouped by the store.
  if (only.empty() || only == "transitions" || only == "state") {
    std::printf("\n2b. the same with a state file (sync normal), manager that does not block\n");
    auto folder = std::filesystem::temp_directory_path() /
                  ("processpype-lifecycle-" + std::to_string(::getpid()));
    std::filesystem::remove_all(folder);
    double rates[2] = {0, 0};
    std::uint64_t transactions = 0;
    std::uint64_t changes = 0;
    for (bool with_state : {false, true}) {
      processpype::RuntimeOptions options;
      if (with_state) options.state = processpype::state::StateStoreOptions{folder / "state.db"};
      processpype::Runtime runtime{system, options};
      auto names = numbered("svc", services);
      register_all(system, runtime, names, in_flight, drivers, "bench");
      auto supervisor = caf::actor_cast<caf::actor>(runtime.supervisor());
      const auto* store = runtime.state_store().get();
      auto commits_before = store ? store->metrics().commits() : 0;
      auto changes_before = store ? store->metrics().changes() : 0;
      auto many =
          drive<Transition>(system, supervisor, start_stop_lanes(names, many_total, drivers));
      check(many, with_state ? "with a state file" : "without a state file");
      if (store) {
        transactions = store->metrics().commits() - commits_before;
        changes = store->metrics().changes() - changes_before;
      }
      for (const auto& name : names) runtime.stop(name);
      rates[with_state ? 1 : 0] = many.rate();
    }
    std::filesystem::remove_all(folder);
    std::printf("     1,000 services, no state file:   %10.0f transitions/s\n", rates[0]);
    std::printf(
        "     1,000 services, state file:      %10.0f transitions/s   ratio to no state file: "
        "%.2f   aim >= 100,000/s: %s\n",
        rates[1], rates[1] / rates[0], verdict(rates[1] >= 100'000));
    std::printf("     (%llu changes in %llu transactions: %.0f per group commit)\n",
                static_cast<unsigned long long>(changes),
                static_cast<unsigned long long>(transactions),
                transactions > 0 ? double(changes) / double(transactions) : 0.0);
  }

  // 3 + 4. registration of many instances, and what an idle one costs.
  if (only.empty() || only == "registration") {
    processpype::RuntimeOptions options;
    options.max_instances = 2 * registrations;
    processpype::Runtime runtime{system, options};
    auto names = numbered("idle", registrations);
    // Warm up the allocator and CAF with a few instances first.
    register_all(system, runtime, numbered("warm", 1000), in_flight, drivers);
    auto before = resident_bytes();
    auto run = register_all(system, runtime, names, in_flight, drivers);
    auto after = resident_bytes();
    auto listed = runtime.list().size();

    double per_instance = double(after - before) / double(registrations);
    std::printf("\n3. registration of %zu instances (%zu in flight)\n", registrations, in_flight);
    std::printf(
        "   total %.3f s = %10.0f registrations/s   ratio to baseline (%zu in flight): %.4f   "
        "aim < 1 s: %s\n",
        run.seconds, run.rate(), in_flight, run.rate() / base_many.rate(),
        verdict(run.seconds < 1.0));
    check(run, "registration");
    std::printf("\n4. resident memory per idle registered instance (VmRSS, %zu instances)\n",
                registrations);
    std::printf("   %.0f bytes/instance (RSS %.1f -> %.1f MiB, %zu listed)   aim <= 4096: %s\n",
                per_instance, before / 1048576.0, after / 1048576.0, listed,
                verdict(per_instance <= 4096));
    std::printf("   ratio to the 4 KiB aim: %.2f\n", per_instance / 4096.0);
  }
  // 5. How soon a service that fails at run time runs again, with
  // restart_delay_seconds 0, against one plain stop and start.
  if (only.empty() || only == "restarts") {
    processpype::Runtime runtime{system};
    const std::size_t restarts = quick ? 100 : 1000;
    runtime.register_service("bench", "phoenix");
    runtime.configure("phoenix", {{"restart", "on-failure"},
                                  {"restart_delay_seconds", 0},
                                  {"max_restarts", 1'000'000'000},
                                  {"restart_window_seconds", 0.001}});
    StateWaiter waiter{runtime, "phoenix"};
    runtime.start("phoenix");
    processpype::RouteRequest fail;
    fail.method = "POST";
    fail.path = "/fail";
    std::vector<double> restart_us, plain_us;
    for (std::size_t i = 0; i < restarts; ++i) {
      auto begin = Clock::now();
      runtime.call_route("phoenix", fail);
      waiter.wait("running/restart", i + 1);
      restart_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - begin).count());
    }
    for (std::size_t i = 0; i < restarts; ++i) {
      auto begin = Clock::now();
      runtime.stop("phoenix");
      runtime.start("phoenix");
      plain_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - begin).count());
    }
    auto plain50 = percentile(plain_us, 0.5);
    std::printf(
        "\n5. from a runtime failure to running again (restart_delay_seconds 0), %zu times\n",
        restarts);
    std::printf(
        "   p50 %8.1f us   p99 %8.1f us   ratio of p50 to a plain stop+start (%.1f us): %.2f\n",
        percentile(restart_us, 0.5), percentile(restart_us, 0.99), plain50,
        percentile(restart_us, 0.5) / plain50);
    std::printf(
        "   (the failure's clean-up stop and the restart's start, plus the event that\n"
        "   tells this thread; the plain round trip is two blocking calls)\n");
  }
  return 0;
}
