// docs/state.md through the embedding API: a Runtime on a state file brings
// back what its requests did (Runtime::restore), registering again in code
// is idempotent, and a problem of the stored layer leaves that instance in
// error while the rest starts.
#include <filesystem>
#include <random>

#include "processpype/state/state_store.hpp"
#include "test_services.hpp"

using namespace actor_tests;
using nlohmann::json;
using processpype::StartPlan;
using processpype::state::StateStore;

namespace {

/// A folder for one test's state file, removed afterwards.
struct StateFolder {
  StateFolder()
      : path(std::filesystem::temp_directory_path() /
             ("processpype-restore-" + std::to_string(std::random_device{}()))) {}
  ~StateFolder() { std::filesystem::remove_all(path); }
  std::filesystem::path file() const { return path / "state.db"; }
  std::filesystem::path path;
};

/// A node whose Runtime keeps its state in `file`.
struct StatefulNode {
  explicit StatefulNode(const std::filesystem::path& file) {
    processpype::configure_logging(spdlog::level::off, processpype::LogFormat::text);
    processpype::Runtime::add_types(config);
    system = std::make_unique<caf::actor_system>(config);
    processpype::RuntimeOptions options;
    options.state = processpype::state::StateStoreOptions{file};
    runtime = std::make_unique<processpype::Runtime>(*system, options);
  }
  ~StatefulNode() {
    runtime->stop_all(5s);
    runtime.reset();
    system.reset();
  }
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<processpype::Runtime> runtime;
  processpype::Runtime* operator->() { return runtime.get(); }
};

// -- "picky": a service whose manager refuses some configurations ----------------

struct PickyConfiguration : processpype::ServiceConfiguration {
  std::string mode = "plain";
  void fields(processpype::Fields& fields) override {
    fields("mode", mode, "\"refused\": the manager's configure() throws");
  }
};

/// Refuses in configure() what the configuration's own checks accept: the
/// refusal comes after the change was written ahead.
class PickyManager : public processpype::ConfiguredManager<PickyConfiguration> {
 public:
  PickyManager(std::shared_ptr<spdlog::logger> logger, const PickyConfiguration&)
      : ConfiguredManager(std::move(logger)) {}
  void configure(const PickyConfiguration& config) override {
    if (config.mode == "refused") throw std::runtime_error("mode refused by the manager");
  }
  void start() override {}
  void stop() override {}
  bool may_block() const override { return false; }
};

class PickyService : public processpype::ConfiguredService<PickyConfiguration, PickyManager> {
 public:
  using ConfiguredService::ConfiguredService;
  bool requires_configuration() const override { return false; }
};

PROCESSPYPE_REGISTER_SERVICE(PickyService);  // key "picky"

/// Configures `name` with the mode the manager refuses.
void configure_refused(processpype::Runtime& runtime, const std::string& name) {
  auto refused = expect_error(ErrorCode::service_failure, [&] {
    runtime.configure(name, {{"mode", "refused"}});
  });
  CHECK_THAT(refused.detail(), Catch::Contains("mode refused by the manager"));
}

/// The state file's row of `name`.
processpype::state::StoredInstance stored_row(const std::filesystem::path& file,
                                              const std::string& name) {
  for (auto& row : StateStore::open({file})->load())
    if (row.name == name) return row;
  FAIL("no stored row of " << name);
  return {};
}

}  // namespace

TEST_CASE("a Runtime on a state file brings back what its requests did", "[state]") {
  StateFolder folder;
  {
    StatefulNode node{folder.file()};
    node->register_service("counter", std::string{"kept"});
    node->configure("kept", {{"step", 3}});
    node->start("kept");
    node->register_service("counter", std::string{"halted"});
    node->start("halted");
    node->stop("halted");
  }
  StatefulNode node{folder.file()};
  auto report = node->restore();
  CHECK(report.registered == 2);
  CHECK(report.started == std::vector<std::string>{"kept"});
  CHECK(report.problems.empty());
  auto kept = node->status("kept");
  CHECK(kept.state == ServiceState::running);
  CHECK(kept.origin == processpype::InstanceOrigin::request);
  CHECK(kept.metadata["step"] == 3);
  CHECK(node->status("halted").state == ServiceState::initialized);

  // Registering in code at every start is idempotent; another class is not.
  CHECK(node->register_service("counter", std::string{"kept"}).name == "kept");
  auto refused = error_of([&] { node->register_service("echo", std::string{"kept"}); });
  REQUIRE(refused);
  CHECK(refused->code() == ErrorCode::conflict);
  CHECK_THAT(refused->detail(), Catch::Contains("restored with class counter"));
}

TEST_CASE("a problem of the stored layer leaves that instance in error, the rest starts",
          "[state]") {
  StateFolder folder;
  {
    auto store = StateStore::open({folder.file()});
    using namespace processpype::state;
    auto running = DesiredChanged{"", DesiredState::running};
    auto desired = [&](std::string name) {
      running.name = std::move(name);
      return running;
    };
    REQUIRE(store->commit({Registered{"gone", "nosuchclass"}, desired("gone")}).saved);
    REQUIRE(store
                ->commit({Registered{"invalid", "counter"}, Configured{"invalid", {{"step", 0}}},
                          desired("invalid")})
                .saved);
    REQUIRE(store
                ->commit({Registered{"loop_a", "counter"},
                          Configured{"loop_a", {{"depends_on", json{"loop_b"}}}},
                          Registered{"loop_b", "counter"},
                          Configured{"loop_b", {{"depends_on", json{"loop_a"}}}}})
                .saved);
    REQUIRE(store
                ->commit({Registered{"orphan", "counter"},
                          Configured{"orphan", {{"depends_on", json{"nobody"}}}}})
                .saved);
    REQUIRE(store->commit({Registered{"fine", "counter"}, desired("fine")}).saved);
  }
  StatefulNode node{folder.file()};
  auto report = node->restore();
  CHECK(report.registered == 6);
  CHECK(report.started == std::vector<std::string>{"fine"});
  auto error_of_instance = [&](const std::string& name) {
    auto status = node->status(name);
    CHECK(status.state == ServiceState::error);
    return status.error;
  };
  CHECK_THAT(error_of_instance("gone"), Catch::Contains("'nosuchclass' is not registered"));
  CHECK_THAT(error_of_instance("invalid"),
             Catch::Contains("Stored configuration refused") && Catch::Contains("step"));
  CHECK_THAT(error_of_instance("loop_a"), Catch::Contains("dependency cycle"));
  CHECK_THAT(error_of_instance("orphan"), Catch::Contains("unknown instance 'nobody'"));
  CHECK(node->status("fine").state == ServiceState::running);
  // A start of the instance whose class is gone says why.
  auto refused = error_of([&] { node->start("gone"); });
  REQUIRE(refused);
  CHECK_THAT(refused->detail(), Catch::Contains("not registered on this node"));
}

TEST_CASE("a configure that leaves enabled out does not start a disabled file instance",
          "[state]") {
  StateFolder folder;
  StartPlan plan;
  plan.file = {{"disabled", "counter", {{"enabled", false}}}};
  {
    StatefulNode node{folder.file()};
    CHECK(node->restore(plan).started.empty());
    node->configure("disabled", {{"step", 2}});  // tuning, not a start
  }
  StatefulNode node{folder.file()};
  CHECK(node->restore(plan).started.empty());
  auto status = node->status("disabled");
  CHECK(status.state == ServiceState::configured);
  CHECK(status.metadata["step"] == 2);
}

TEST_CASE("the file's instances start by their enabled flag unless a user decided otherwise",
          "[state]") {
  StateFolder folder;
  StartPlan plan;
  plan.file = {{"enabled_one", "counter", json::object()},
               {"disabled_one", "counter", {{"enabled", false}}},
               {"user_stopped", "counter", json::object()}};
  {
    StatefulNode node{folder.file()};
    auto report = node->restore(plan);
    CHECK(report.started == std::vector<std::string>{"enabled_one", "user_stopped"});
    node->stop("user_stopped");   // a user's stop: remembered
    node->start("disabled_one");  // a user's start: remembered
  }
  StatefulNode node{folder.file()};
  auto report = node->restore(plan);
  CHECK(report.started == std::vector<std::string>{"enabled_one", "disabled_one"});
  CHECK(node->status("user_stopped").state == ServiceState::initialized);
  CHECK(node->status("user_stopped").origin == processpype::InstanceOrigin::file);

  // The node's counts (readiness, metrics, systemd's STATUS=) agree with it.
  const auto& counts = node->table().counts();
  auto count = [&](ServiceState state) {
    return counts.by_state[static_cast<std::size_t>(state)].load();
  };
  CHECK(count(ServiceState::running) == 2);
  CHECK(count(ServiceState::initialized) == 1);
  CHECK(count(ServiceState::configured) == 0);
}

TEST_CASE("a registration by request takes nothing from a stored row the file no longer uses",
          "[state]") {
  StateFolder folder;
  StartPlan with_db;
  with_db.file = {{"db", "echo", {{"enabled", false}}}};
  {
    StatefulNode node{folder.file()};
    node->restore(with_db);
    node->configure("db", {{"prefix", "SECRET-OLD-CONFIG"}});
    node->start("db");
  }
  {
    StatefulNode node{folder.file()};
    auto report = node->restore();  // the file no longer lists db: its row is not restored
    CHECK(report.registered == 0);
    node->register_service("echo", std::string{"db"});  // neither configured nor started
  }
  StatefulNode node{folder.file()};
  auto report = node->restore();
  CHECK(report.registered == 1);
  CHECK(report.started.empty());
  auto db = node->status("db");
  CHECK(db.origin == processpype::InstanceOrigin::request);
  CHECK(db.state == ServiceState::initialized);
  CHECK_FALSE(db.is_configured);
  CHECK(db.metadata.dump().find("SECRET-OLD-CONFIG") == std::string::npos);
}

TEST_CASE("a request instance deregistered under a name the file lists stays deregistered",
          "[state]") {
  StateFolder folder;
  StartPlan plan;
  plan.file = {{"db", "echo", json::object()}, {"other", "counter", json::object()}};
  SECTION("registered and deregistered in one run") {
    StatefulNode node{folder.file()};
    node->restore(plan);
    node->deregister("db");                                // a file instance: a tombstone
    node->register_service("counter", std::string{"db"});  // a request row replaces it
    node->start("db");
    node->deregister("db");
  }
  SECTION("deregistered after a restart restored it") {
    {
      StatefulNode node{folder.file()};
      node->restore(plan);
      node->deregister("db");
      node->register_service("counter", std::string{"db"});
    }
    StatefulNode node{folder.file()};
    node->restore(plan);
    CHECK(node->status("db").origin == processpype::InstanceOrigin::request);
    node->deregister("db");
  }
  StatefulNode node{folder.file()};
  auto report = node->restore(plan);
  CHECK(report.registered == 1);
  CHECK(report.started == std::vector<std::string>{"other"});
  expect_error(ErrorCode::not_found, [&] { node->status("db"); });
  // The name can be taken again by a request.
  CHECK(node->register_service("echo", std::string{"db"}).name == "db");
}

TEST_CASE("a request instance the file does not list leaves no row when deregistered", "[state]") {
  StateFolder folder;
  StartPlan plan;
  plan.file = {{"other", "counter", json::object()}};
  {
    StatefulNode node{folder.file()};
    node->restore(plan);
    node->register_service("counter", std::string{"gone"});
    node->configure("gone", {{"step", 2}});
    node->deregister("gone");
  }
  CHECK(StateStore::open({folder.file()})->load().empty());
}

// An ENABLED_SERVICES instance is a file instance (docs/state.md, "At
// start"): a DELETE keeps it deregistered, its changes are restored.

TEST_CASE("a deregistered ENABLED_SERVICES instance stays deregistered", "[state]") {
  StateFolder folder;
  StartPlan plan;
  plan.file = {{"other", "counter", json::object()}};
  plan.enabled_services = {"echo"};
  SECTION("deregistered as it was") {
    StatefulNode node{folder.file()};
    CHECK(node->restore(plan).started == std::vector<std::string>{"other", "echo"});
    node->deregister("echo");
  }
  SECTION("deregistered after a request registered it again") {
    {
      StatefulNode node{folder.file()};
      node->restore(plan);
      node->deregister("echo");                             // a tombstone
      node->register_service("echo", std::string{"echo"});  // a request row replaces it
    }
    StatefulNode node{folder.file()};
    node->restore(plan);
    CHECK(node->status("echo").origin == processpype::InstanceOrigin::request);
    node->deregister("echo");
  }
  StatefulNode node{folder.file()};
  auto report = node->restore(plan);
  CHECK(report.registered == 1);
  CHECK(report.started == std::vector<std::string>{"other"});
  CHECK(report.problems.empty());
  expect_error(ErrorCode::not_found, [&] { node->status("echo"); });
}

TEST_CASE("a request instance under an ENABLED_SERVICES name starts as its own row says",
          "[state]") {
  StateFolder folder;
  StartPlan plan;
  plan.enabled_services = {"echo"};
  {
    StatefulNode node{folder.file()};
    node->restore(plan);
    node->deregister("echo");                             // a tombstone
    node->register_service("echo", std::string{"echo"});  // a fresh request row, never started
    node->configure("echo", {{"prefix", "Fresh"}});
  }
  {
    StatefulNode node{folder.file()};
    auto report = node->restore(plan);
    CHECK(report.started.empty());  // nothing of the ENABLED_SERVICES instance comes back
    CHECK(node->status("echo").state == ServiceState::configured);
    node->start("echo");  // a user's start: the row's desired state
  }
  StatefulNode node{folder.file()};
  CHECK(node->restore(plan).started == std::vector<std::string>{"echo"});
  CHECK(node->status("echo").origin == processpype::InstanceOrigin::request);
}

TEST_CASE("an ENABLED_SERVICES instance gets back its configure and its desired state", "[state]") {
  StateFolder folder;
  StartPlan plan;
  plan.enabled_services = {"counter", "echo"};
  {
    StatefulNode node{folder.file()};
    CHECK(node->restore(plan).started == std::vector<std::string>{"counter", "echo"});
    node->stop("counter");  // a user's stop: remembered
    node->configure("counter", {{"step", 3}});
    node->stop("echo");
    node->configure("echo", {{"prefix", "Kept"}});
    node->start("echo");
  }
  StatefulNode node{folder.file()};
  auto report = node->restore(plan);
  CHECK(report.registered == 2);
  CHECK(report.started == std::vector<std::string>{"echo"});
  CHECK(report.problems.empty());
  auto counter = node->status("counter");
  CHECK(counter.state == ServiceState::configured);
  CHECK(counter.origin == processpype::InstanceOrigin::file);
  CHECK(counter.metadata["step"] == 3);
  CHECK(counter.overrides == std::vector<std::string>{"step"});
  auto echo = node->status("echo");
  CHECK(echo.state == ServiceState::running);
  CHECK(echo.origin == processpype::InstanceOrigin::file);
  CHECK(echo.metadata["prefix"] == "Kept");
}

TEST_CASE("a start by autostart is restored like a user's start", "[state][autostart]") {
  StateFolder folder;
  {
    StatefulNode node{folder.file()};
    node->register_service("counter", std::string{"auto"});
    node->configure("auto", {{"autostart", true}});  // the user's configure starts it
    REQUIRE(eventually([&] { return state_of(*node.runtime, "auto") == ServiceState::running; }));
  }
  CHECK(stored_row(folder.file(), "auto").desired == processpype::state::DesiredState::running);
  StatefulNode node{folder.file()};
  CHECK(node->restore({}).started == std::vector<std::string>{"auto"});
}

TEST_CASE("a configure the manager refuses leaves the stored configuration as it was", "[state]") {
  StateFolder folder;
  {
    StatefulNode node{folder.file()};
    node->register_service("picky", std::string{"kept"});
    node->configure("kept", {{"mode", "first"}});
    configure_refused(*node.runtime, "kept");
    CHECK(node->status("kept").metadata["mode"] == "first");
    node->register_service("picky", std::string{"fresh"});
    configure_refused(*node.runtime, "fresh");
    CHECK_FALSE(node->status("fresh").is_configured);
  }
  CHECK(stored_row(folder.file(), "kept").configuration == json{{"mode", "first"}});
  CHECK_FALSE(stored_row(folder.file(), "fresh").configuration.has_value());
  {
    StatefulNode node{folder.file()};
    auto report = node->restore();
    CHECK(report.problems.empty());
    auto kept = node->status("kept");
    CHECK(kept.state == ServiceState::configured);
    CHECK(kept.metadata["mode"] == "first");
    auto fresh = node->status("fresh");
    CHECK(fresh.state == ServiceState::initialized);
    CHECK_FALSE(fresh.is_configured);
    // Restored: what is written back is the row's configuration.
    configure_refused(*node.runtime, "kept");
  }
  CHECK(stored_row(folder.file(), "kept").configuration == json{{"mode", "first"}});
}

TEST_CASE("a file instance whose configure the manager refuses keeps following its file",
          "[state]") {
  StateFolder folder;
  StartPlan plan;
  plan.file = {{"picky", "picky", {{"mode", "from-file"}, {"enabled", false}}}};
  {
    StatefulNode node{folder.file()};
    node->restore(plan);
    configure_refused(*node.runtime, "picky");
    CHECK(node->status("picky").metadata["mode"] == "from-file");
  }
  // The file changed meanwhile: with no configure stored, its mapping applies.
  plan.file = {{"picky", "picky", {{"mode", "edited"}, {"enabled", false}}}};
  StatefulNode node{folder.file()};
  auto report = node->restore(plan);
  CHECK(report.problems.empty());
  auto picky = node->status("picky");
  CHECK(picky.metadata["mode"] == "edited");
  CHECK(picky.overrides.empty());
}

TEST_CASE("a file instance's secret field is an override only when a request changed it",
          "[state][secrets]") {
  // Statuses show a secret as "***": compared with the file's value in
  // clear, every secret field looked overridden.
  StateFolder folder;
  StartPlan plan;
  plan.file = {{"st", "store", json{{"capacity", 10}, {"password", "file-password"}}},
               {"open", "store", json{{"capacity", 10}}}};  // its default: no password
  StatefulNode node{folder.file()};
  node->restore(plan);
  CHECK(node->status("st").overrides.empty());
  CHECK(node->status("open").overrides.empty());
  node->stop("st");
  node->configure("st", {{"capacity", 10}, {"password", "***"}});  // sent back as shown: kept
  CHECK(node->status("st").overrides.empty());
  node->configure("st", {{"capacity", 10}, {"password", "another-password"}});
  CHECK(node->status("st").overrides == std::vector<std::string>{"password"});
}
