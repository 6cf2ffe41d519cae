#pragma once

// Test-only services for the actor tests, and the helpers both test files
// share. The ProbeService's manager is steered by its configuration
// (fail_on, start_delay_ms, stop_delay_ms) and by a per-instance Probe: a
// shared object that counts calls, detects overlapping start/stop and can
// hold start or stop until the test releases them.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "processpype/actors/protocol.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/logging.hpp"
#include "processpype/runtime/routes.hpp"
#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"
#include "processpype/runtime/service_state.hpp"

namespace Catch {
template <>
struct StringMaker<processpype::ErrorCode> {
  static std::string convert(processpype::ErrorCode code) {
    return std::string{processpype::to_string(code)};
  }
};
template <>
struct StringMaker<processpype::ServiceState> {
  static std::string convert(processpype::ServiceState state) {
    return std::string{processpype::to_string(state)};
  }
};
}  // namespace Catch

namespace actor_tests {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using processpype::ErrorCode;
using processpype::ServiceState;

// -- the probe ------------------------------------------------------------------

/// What a test sees of one instance's manager (keyed by instance name).
struct Probe {
  std::atomic<int> starts{0};  ///< start() entered
  std::atomic<int> stops{0};   ///< stop() entered
  std::atomic<int> start_returns{0};
  std::atomic<int> stop_returns{0};
  std::atomic<int> configures{0};
  std::atomic<int> active{0};  ///< start/stop calls in progress right now
  std::atomic<bool> overlapped{false};
  std::atomic<bool> running{false};  ///< the manager's own idea of "started"
  /// configure() reached the manager while its start/stop was still running.
  std::atomic<bool> configured_while_busy{false};

  std::mutex mutex;
  std::condition_variable gate;
  bool hold_start = false;
  bool hold_stop = false;

  void hold(bool start, bool stop) {
    std::lock_guard lock{mutex};
    hold_start = start;
    hold_stop = stop;
  }
  void release() {
    {
      std::lock_guard lock{mutex};
      hold_start = hold_stop = false;
    }
    gate.notify_all();
  }
  /// Blocks while held; never longer than 10 s so a broken test cannot hang.
  void pass_gate(bool start) {
    std::unique_lock lock{mutex};
    gate.wait_for(lock, 10s, [&] { return !(start ? hold_start : hold_stop); });
  }
};

inline std::mutex& probes_mutex() {
  static std::mutex mutex;
  return mutex;
}
inline std::map<std::string, std::shared_ptr<Probe>>& probes() {
  static std::map<std::string, std::shared_ptr<Probe>> map;
  return map;
}
/// The probe of instance `name` (created on first use).
inline std::shared_ptr<Probe> probe(const std::string& name) {
  std::lock_guard lock{probes_mutex()};
  auto& slot = probes()[name];
  if (!slot) slot = std::make_shared<Probe>();
  return slot;
}
/// A new probe for `name`, replacing any left over from an earlier test.
inline std::shared_ptr<Probe> fresh_probe(const std::string& name) {
  std::lock_guard lock{probes_mutex()};
  auto& slot = probes()[name];
  slot = std::make_shared<Probe>();
  return slot;
}
/// Registers a ProbeService instance `name` on `runtime` with a fresh probe.
inline std::shared_ptr<Probe> add_probe(processpype::Runtime& runtime, const std::string& name) {
  auto p = fresh_probe(name);
  REQUIRE(runtime.register_service("probe", name).name == name);
  return p;
}

// -- ProbeService ("probe") -------------------------------------------------------

struct ProbeConfiguration : processpype::ServiceConfiguration {
  std::string fail_on = "none";  // none | start | stop
  std::int64_t start_delay_ms = 0;
  std::int64_t stop_delay_ms = 0;
  std::string label = "probe";
  void fields(processpype::Fields& fields) override {
    fields("fail_on", fail_on, "");
    fields("start_delay_ms", start_delay_ms, "");
    fields("stop_delay_ms", stop_delay_ms, "");
    fields("label", label, "");
  }

  void validate() const override {
    require(fail_on == "none" || fail_on == "start" || fail_on == "stop", "fail_on",
            "must be none, start or stop");
    require(start_delay_ms >= 0, "start_delay_ms", "must be >= 0");
    require(stop_delay_ms >= 0, "stop_delay_ms", "must be >= 0");
  }
};

class ProbeManager : public processpype::ServiceManager {
 public:
  ProbeManager(std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Probe> probe)
      : ServiceManager(std::move(logger)), probe_(std::move(probe)) {}

  void configure(const processpype::ServiceConfiguration& configuration) override {
    const auto& config = static_cast<const ProbeConfiguration&>(configuration);
    fail_on_ = config.fail_on;
    start_delay_ = std::chrono::milliseconds(config.start_delay_ms);
    stop_delay_ = std::chrono::milliseconds(config.stop_delay_ms);
    if (probe_->active > 0) probe_->configured_while_busy = true;
    ++probe_->configures;
  }

  void start() override {
    Section section{*probe_, probe_->start_returns};
    enter("start", probe_->starts, start_delay_);
    probe_->running = true;
  }

  void stop() override {
    Section section{*probe_, probe_->stop_returns};
    enter("stop", probe_->stops, stop_delay_);
    probe_->running = false;
  }

 private:
  /// What start() and stop() do before their effect: count the call in
  /// `calls`, wait while the probe holds it, then `delay` (the manager's own
  /// simulated blocking work, not a test synchronization) and the failure
  /// that fail_on asks for.
  void enter(const std::string& call, std::atomic<int>& calls, std::chrono::milliseconds delay) {
    ++calls;
    probe_->pass_gate(call == "start");
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (fail_on_ == call) throw std::runtime_error("boom on " + call);
  }

  /// Counts the calls in progress; two at once means start/stop overlapped.
  struct Section {
    Probe& probe;
    std::atomic<int>& returns;
    Section(Probe& p, std::atomic<int>& r) : probe(p), returns(r) {
      if (++probe.active > 1) probe.overlapped = true;
    }
    ~Section() {
      --probe.active;
      ++returns;
    }
  };

  std::shared_ptr<Probe> probe_;
  std::string fail_on_ = "none";
  std::chrono::milliseconds start_delay_{0};
  std::chrono::milliseconds stop_delay_{0};
};

class ProbeService : public processpype::ConfiguredService<ProbeConfiguration> {
 public:
  using ConfiguredService::ConfiguredService;

  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<ProbeManager>(logger(), probe(name()));
  }
  bool requires_configuration() const override { return false; }

  void add_routes(processpype::ServiceRoutes& routes) override {
    // GET /state: what the service looks like from inside its actor.
    routes.get("/state", [this](const processpype::RouteRequest&) {
      auto p = probe(name());
      return processpype::RouteResponse::ok({{"state", std::string{to_string(status().state)}},
                                             {"manager_active", p->active.load()},
                                             {"hits", hits_}});
    });
    // POST /hit: a plain, unsynchronized counter; routes are serialized.
    routes.post("/hit", [this](const processpype::RouteRequest&) {
      auto before = hits_;
      hits_ = before + 1;
      return processpype::RouteResponse::ok({{"hits", hits_}});
    });
    routes.get("/items/{key}", [](const processpype::RouteRequest& request) {
      return processpype::RouteResponse::ok({{"key", request.parameter("key")}});
    });
  }

 private:
  std::int64_t hits_ = 0;  // no lock: routes run inside the service's actor
};

// -- StrictService ("strict"): requires configuration, required field -------------

struct StrictConfiguration : processpype::ServiceConfiguration {
  processpype::Required<std::int64_t> capacity;
  void fields(processpype::Fields& fields) override { fields("capacity", capacity, ""); }
  void validate() const override { require(*capacity > 0, "capacity", "must be greater than 0"); }
};

class StrictManager : public processpype::ServiceManager {
 public:
  StrictManager(std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Probe> probe)
      : ServiceManager(std::move(logger)), probe_(std::move(probe)) {}
  void start() override {
    ++probe_->starts;
    probe_->running = true;
  }
  void stop() override {
    ++probe_->stops;
    probe_->running = false;
  }

 private:
  std::shared_ptr<Probe> probe_;
};

class StrictService : public processpype::ConfiguredService<StrictConfiguration> {
 public:
  using ConfiguredService::ConfiguredService;
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<StrictManager>(logger(), probe(name()));
  }
};

// -- a namespaced class, registered through Runtime::register_service<T>() ---------

}  // namespace actor_tests

namespace widgets {
class GadgetService : public processpype::Service {
 public:
  using Service::Service;
  class Manager : public processpype::ServiceManager {
   public:
    using ServiceManager::ServiceManager;
    void start() override {}
    void stop() override {}
  };
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<Manager>(logger());
  }
  bool requires_configuration() const override { return false; }
};
}  // namespace widgets

namespace actor_tests {

// -- a node per test ----------------------------------------------------------------

/// One actor system with a Runtime on it, as an embedding program has.
struct Node {
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<processpype::Runtime> runtime;

  Node() {
    processpype::configure_logging(spdlog::level::off, processpype::LogFormat::text);
    processpype::Runtime::add_types(config);
    system = std::make_unique<caf::actor_system>(config);
    runtime = std::make_unique<processpype::Runtime>(*system);
  }
  ~Node() {
    runtime.reset();
    system.reset();
  }
  processpype::Runtime& operator*() { return *runtime; }
  processpype::Runtime* operator->() { return runtime.get(); }
};

// -- helpers --------------------------------------------------------------------------

/// The processpype::Error `f` throws, if any.
template <class F>
std::optional<processpype::Error> error_of(F&& f) {
  try {
    f();
  } catch (const processpype::Error& error) {
    return error;
  }
  return std::nullopt;
}

/// The processpype::Error that `f` must throw (REQUIREd), CHECKed to carry
/// `code`.
template <class F>
processpype::Error expect_error(ErrorCode code, F&& f) {
  auto error = error_of(std::forward<F>(f));
  REQUIRE(error);
  CHECK(error->code() == code);
  return *error;
}

/// A command answered on another thread: the error it threw, if any.
using Pending = std::future<std::optional<processpype::Error>>;

/// Runs `f` on its own thread; the future holds the error it threw, if any.
template <class F>
Pending in_background(F f) {
  return std::async(std::launch::async, [f = std::move(f)]() mutable { return error_of(f); });
}

/// Polls `condition` until it holds or `deadline` passes.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds deadline = 3000ms) {
  auto until = Clock::now() + deadline;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(1ms);
  }
}

inline ServiceState state_of(processpype::Runtime& runtime, const std::string& name) {
  return runtime.status(name).state;
}

template <class Rep, class Period>
bool ready_within(const Pending& future, std::chrono::duration<Rep, Period> timeout) {
  return future.wait_for(timeout) == std::future_status::ready;
}

/// CHECKs the state of instance `name` and its error text ("" for none).
inline void check_status(processpype::Runtime& runtime, const std::string& name, ServiceState state,
                         const std::string& error = "") {
  auto status = runtime.status(name);
  CHECK(status.state == state);
  CHECK(status.error == error);
}

/// Starts `name` and checks that it runs, without an error.
inline void start_running(processpype::Runtime& runtime, const std::string& name) {
  runtime.start(name);
  check_status(runtime, name, ServiceState::running);
}

/// The manager call a test holds at the probe.
enum class HeldCall { start, stop };

/// Sends `call` to `name` with the manager's call held at its probe `p`;
/// returns once the manager is inside it (the instance starting or
/// stopping) with the command still unanswered.
inline Pending call_held(processpype::Runtime& runtime, const std::string& name, Probe& p,
                         HeldCall call) {
  const bool start = call == HeldCall::start;
  p.hold(start, !start);
  auto& entered = start ? p.starts : p.stops;
  auto before = entered.load();
  auto pending = in_background([&runtime, name, start] {
    if (start)
      runtime.start(name);
    else
      runtime.stop(name);
  });
  REQUIRE(eventually([&] { return entered.load() > before; }));
  REQUIRE(state_of(runtime, name) == (start ? ServiceState::starting : ServiceState::stopping));
  return pending;
}

/// Lets the call `p` holds go on, then REQUIREs every one of `commands` to
/// be answered within 5 s and CHECKs that none failed.
inline void release_and_finish(Probe& p, std::initializer_list<Pending*> commands) {
  p.release();
  for (auto* command : commands) REQUIRE(ready_within(*command, 5s));
  for (auto* command : commands) CHECK_FALSE(command->get());
}

/// A request to a custom route, without body or parameters.
inline processpype::RouteRequest route(std::string method, std::string path) {
  processpype::RouteRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  return request;
}

inline double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

/// Read latencies in ms. The node must answer every read within 50 ms; on a
/// loaded CI machine the OS alone may preempt a thread for tens of ms, so
/// the checks are: the 99th percentile under 50 ms, and no read anywhere
/// near a stall (a blocked scheduler would show the manager's 2 s).
struct Latencies {
  std::vector<double> samples;

  template <class F>
  auto measure(F&& f) {
    auto begin = Clock::now();
    struct Record {
      Latencies& self;
      Clock::time_point begin;
      ~Record() { self.samples.push_back(elapsed_ms(begin)); }
    } record{*this, begin};
    return f();
  }
  double percentile(double q) const {
    if (samples.empty()) return 0;
    auto sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    auto index = static_cast<std::size_t>(q * double(sorted.size() - 1));
    return sorted[index];
  }
  double max() const {
    return samples.empty() ? 0 : *std::max_element(samples.begin(), samples.end());
  }
};

#define CHECK_RESPONSIVE(latencies)                                                        \
  do {                                                                                     \
    INFO("reads " << (latencies).samples.size() << ", p50 " << (latencies).percentile(0.5) \
                  << " ms, p99 " << (latencies).percentile(0.99) << " ms, max "            \
                  << (latencies).max() << " ms");                                          \
    CHECK((latencies).percentile(0.99) < 50.0);                                            \
    CHECK((latencies).max() < 250.0);                                                      \
  } while (false)

}  // namespace actor_tests
