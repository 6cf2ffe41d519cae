// The state store (docs/state.md) on real SQLite files: what each change
// stores, the order of loading, the file's mode and settings, group commit,
// a SIGKILL while committing, backups, reset, metrics and closing.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/testing/process.hpp"
#include "state_test_support.hpp"

using namespace processpype::state;
using namespace processpype::state::testing;
using nlohmann::json;
using processpype::testing::ChildProcess;
using processpype::testing::wait_until;

namespace {

mode_t mode_of(const std::filesystem::path& path) {
  struct stat status {};
  REQUIRE(::stat(path.c_str(), &status) == 0);
  return status.st_mode & 07777;
}

bool sanitized() {
  return std::getenv("PROCESSPYPE_TEST_SANITIZED") != nullptr;
}

/// The complete lines of `text` (a line cut by a kill has no newline yet).
std::vector<std::string> complete_lines(const std::string& text) {
  auto end = text.rfind('\n');
  return end == std::string::npos ? std::vector<std::string>{}
                                  : processpype::testing::lines_of(text.substr(0, end + 1));
}

}  // namespace

TEST_CASE("every kind of change is stored and loaded back in registration order") {
  StateFile file;
  {
    auto store = open_store(file.path);
    require_saved(store->commit(request_registration("beta", "counter")));
    require_saved(store->commit(request_registration("alpha")));
    require_saved(store->commit(Registered{"from-file", "echo", Origin::file}));
    require_saved(store->commit(Configured{"beta", {{"step", 2}, {"extra", {1, "two"}}}}));
    require_saved(store->commit(DesiredChanged{"beta", DesiredState::running}));
    require_saved(store->commit(DesiredChanged{"from-file", DesiredState::stopped}));
    require_saved(store->commit(request_registration("gone")));
    require_saved(store->commit(Deregistered{"gone", false}));
  }
  auto instances = open_store(file.path)->load();
  REQUIRE(names_of(instances) == std::vector<std::string>{"beta", "alpha", "from-file"});
  const auto& beta = instances[0];
  CHECK(beta.class_key == "counter");
  CHECK(beta.origin == Origin::request);
  CHECK(beta.configuration == json{{"step", 2}, {"extra", {1, "two"}}});
  CHECK(beta.desired == DesiredState::running);
  CHECK_FALSE(beta.deregistered);
  CHECK(beta.problem.empty());
  const auto& alpha = instances[1];
  CHECK_FALSE(alpha.configuration.has_value());
  CHECK_FALSE(alpha.desired.has_value());
  CHECK(instances[2].origin == Origin::file);
  CHECK(instances[2].desired == DesiredState::stopped);
  CHECK(instances[0].sequence < instances[1].sequence);
  CHECK(instances[1].sequence < instances[2].sequence);
}

TEST_CASE("a configure replaces the stored configuration whole, as given") {
  StateFile file;
  auto store = open_store(file.path);
  require_saved(store->commit(request_registration("echo")));
  require_saved(store->commit(Configured{"echo", {{"a", 1}, {"b", 2}}}));
  require_saved(store->commit(Configured{"echo", {{"c", "three"}}}));
  CHECK(store->load().at(0).configuration == json{{"c", "three"}});
}

TEST_CASE("an unconfigure clears the stored configuration and keeps the rest of the row") {
  StateFile file;
  auto store = open_store(file.path);
  require_saved(store->commit(request_registration("echo")));
  require_saved(store->commit(Configured{"echo", {{"a", 1}}}));
  require_saved(store->commit(DesiredChanged{"echo", DesiredState::stopped}));
  require_saved(store->commit(Unconfigured{"echo"}));
  auto instances = store->load();
  REQUIRE(names_of(instances) == std::vector<std::string>{"echo"});
  CHECK_FALSE(instances[0].configuration.has_value());
  CHECK(instances[0].desired == DesiredState::stopped);
  CHECK(instances[0].problem.empty());
  CHECK_THAT(store->commit(Unconfigured{"nobody"}).error, Catch::Contains("no stored instance"));
}

TEST_CASE("a file instance deregistered stays a tombstone until a request registers the name") {
  StateFile file;
  auto store = open_store(file.path);
  require_saved(store->commit(std::vector<Change>{Registered{"web", "echo", Origin::file},
                                                  Configured{"web", {{"port", 80}}},
                                                  DesiredChanged{"web", DesiredState::running}}));
  require_saved(store->commit(request_registration("later")));
  require_saved(store->commit(Deregistered{"web", true}));
  auto tombstone = store->load().at(0);
  CHECK(tombstone.name == "web");
  CHECK(tombstone.deregistered);
  CHECK(tombstone.origin == Origin::file);
  CHECK_FALSE(tombstone.configuration.has_value());
  CHECK_FALSE(tombstone.desired.has_value());

  SECTION("a configure of the tombstone is refused, nothing written") {
    auto refused = store->commit(Configured{"web", {{"port", 81}}});
    CHECK_FALSE(refused.saved);
    CHECK_THAT(refused.error, Catch::Contains("no stored instance named web"));
    CHECK(store->load().at(0) == tombstone);
  }
  SECTION("a request registering the name gets a fresh row, registered last") {
    require_saved(store->commit(request_registration("web", "counter")));
    auto instances = store->load();
    REQUIRE(names_of(instances) == std::vector<std::string>{"later", "web"});
    CHECK(instances[1].origin == Origin::request);
    CHECK(instances[1].class_key == "counter");
    CHECK_FALSE(instances[1].deregistered);
    CHECK(instances[1].sequence > tombstone.sequence);
  }
}

TEST_CASE("a file instance's registration with its changes keeps its row") {
  StateFile file;
  auto store = open_store(file.path);
  require_saved(store->commit(std::vector<Change>{Registered{"web", "echo", Origin::file},
                                                  Configured{"web", {{"port", 80}}}}));
  require_saved(store->commit(std::vector<Change>{Registered{"web", "echo", Origin::file},
                                                  DesiredChanged{"web", DesiredState::stopped}}));
  auto instances = store->load();
  REQUIRE(instances.size() == 1);
  CHECK(instances[0].configuration == json{{"port", 80}});
  CHECK(instances[0].desired == DesiredState::stopped);
}

TEST_CASE("a registration by request starts a fresh row, whatever row the name had") {
  StateFile file;
  auto store = open_store(file.path);
  // The row of a file instance that the application file no longer lists:
  // kept, not restored (docs/state.md, "At start").
  require_saved(store->commit(std::vector<Change>{Registered{"db", "echo", Origin::file},
                                                  Configured{"db", {{"prefix", "OLD"}}},
                                                  DesiredChanged{"db", DesiredState::running}}));
  require_saved(store->commit(request_registration("later")));
  auto stale = store->load().at(0);
  require_saved(store->commit(request_registration("db", "counter")));
  auto instances = store->load();
  REQUIRE(names_of(instances) == std::vector<std::string>{"later", "db"});
  const auto& db = instances[1];
  CHECK(db.origin == Origin::request);
  CHECK(db.class_key == "counter");
  CHECK_FALSE(db.configuration.has_value());
  CHECK_FALSE(db.desired.has_value());
  CHECK_FALSE(db.deregistered);
  CHECK(db.sequence > stale.sequence);
}

TEST_CASE("a request instance's row becomes a tombstone like a file instance's") {
  // What the Supervisor writes when it deregisters a request instance whose
  // name the application file lists (docs/state.md, "What is stored").
  StateFile file;
  auto store = open_store(file.path);
  require_saved(store->commit(std::vector<Change>{request_registration("db", "counter"),
                                                  Configured{"db", {{"step", 2}}},
                                                  DesiredChanged{"db", DesiredState::running}}));
  require_saved(store->commit(
      std::vector<Change>{Registered{"db", "counter", Origin::file}, Deregistered{"db", true}}));
  auto instances = store->load();
  REQUIRE(instances.size() == 1);
  CHECK(instances[0].deregistered);
  CHECK(instances[0].origin == Origin::file);
  CHECK_FALSE(instances[0].configuration.has_value());
  CHECK_FALSE(instances[0].desired.has_value());
}

TEST_CASE("a submission is stored whole or not at all, and its failure spares the others") {
  StateFile file;
  auto store = open_store(file.path);
  std::mutex mutex;
  std::condition_variable done;
  std::vector<CommitResult> results(2);
  int delivered = 0;
  auto collect = [&](std::size_t index) {
    return [&, index](const CommitResult& result) {
      std::lock_guard guard{mutex};
      results[index] = result;
      ++delivered;
      done.notify_all();
    };
  };
  // Both in one transaction (or two): the first does not fit at its end.
  store->submit(std::vector<Change>{request_registration("half"), Configured{"half", {{"a", 1}}},
                                    DesiredChanged{"missing", DesiredState::running}},
                collect(0));
  store->submit(request_registration("whole"), collect(1));
  {
    std::unique_lock guard{mutex};
    REQUIRE(done.wait_for(guard, std::chrono::seconds(10), [&] { return delivered == 2; }));
  }
  CHECK_FALSE(results[0].saved);
  CHECK_THAT(results[0].error, Catch::Contains("missing"));
  CHECK(results[1].saved);
  CHECK(names_of(store->load()) == std::vector<std::string>{"whole"});
}

TEST_CASE("changes the store could not read back are refused before anything is written") {
  StateFile file;
  auto store = open_store(file.path);
  require_saved(store->commit(request_registration("echo")));
  auto deep = json::array();
  for (int level = 0; level < 80; ++level) deep = json::array({deep});

  auto check_refused = [&](Change change, const std::string& reason) {
    auto result = store->commit(std::vector<Change>{request_registration("other"), change});
    INFO(result.error);
    CHECK_FALSE(result.saved);
    CHECK_THAT(result.error, Catch::Contains(reason));
  };
  check_refused(request_registration("bad name"), "not a valid instance name");
  check_refused(request_registration(""), "not a valid instance name");
  check_refused(request_registration("x", ""), "class key is empty");
  check_refused(Configured{"echo", json::array({1, 2})}, "must be a JSON object");
  check_refused(Configured{"echo", {{"deep", deep}}}, "nests deeper than");
  check_refused(DesiredChanged{"..", DesiredState::running}, "not a valid instance name");
  auto instances = store->load();
  REQUIRE(names_of(instances) == std::vector<std::string>{"echo"});
  CHECK_FALSE(instances[0].configuration.has_value());
}

TEST_CASE("the file is created with mode 0600, its missing folders with mode 0700") {
  TempDirectory root{"state"};
  auto path = root.path() / "var" / "lib" / "state.db";
  auto store = open_store(path);
  CHECK(mode_of(root.path() / "var") == 0700);
  CHECK(mode_of(root.path() / "var" / "lib") == 0700);
  CHECK(mode_of(path) == 0600);
  require_saved(store->commit(request_registration("echo")));
  // SQLite gives its journal files the database's mode.
  CHECK(mode_of(path.string() + "-wal") == 0600);
}

TEST_CASE("an existing file that others may read is narrowed to its owner, never widened") {
  StateFile file;
  open_and_close(file.path);
  REQUIRE(::chmod(file.path.c_str(), 0644) == 0);
  open_and_close(file.path);
  CHECK(mode_of(file.path) == 0600);
  // Narrower than 0600 stays so (the tests run as root, who may still write it).
  REQUIRE(::chmod(file.path.c_str(), 0400) == 0);
  open_and_close(file.path);
  CHECK(mode_of(file.path) == 0400);
}

TEST_CASE("the journal is WAL and the sync setting is what SQLite applies") {
  StateFile file;
  auto sync = GENERATE(SyncMode::normal, SyncMode::full);
  auto store = open_store(file.path, sync);
  auto settings = store->applied_settings();
  CHECK(settings.journal_mode == "wal");
  CHECK(settings.sync == sync);
  CHECK(settings.schema_version == StateStore::current_schema_version());
  CHECK(store->sync() == sync);
  CHECK(store->opened_schema_version() == 0);
}

TEST_CASE("submissions queued while a transaction is in flight share the next one") {
  StateFile file;
  auto store = open_store(file.path);
  constexpr int threads = 8;
  constexpr int per_thread = 50;
  // The first transaction holds only the first submission; its callback
  // then holds the writer thread until every other submission is queued:
  // they can only go into one next transaction.
  std::mutex mutex;
  std::condition_variable changed;
  bool first_committed = false;
  bool all_queued = false;
  std::vector<int> calls(threads * per_thread + 1, 0);
  std::atomic<int> saved{0};
  store->submit(request_registration("first"), [&](const CommitResult& result) {
    std::unique_lock guard{mutex};
    first_committed = true;
    changed.notify_all();
    changed.wait_for(guard, std::chrono::seconds(20), [&] { return all_queued; });
    ++calls[0];
    if (result.saved) ++saved;
  });
  {
    std::unique_lock guard{mutex};
    REQUIRE(changed.wait_for(guard, std::chrono::seconds(20), [&] { return first_committed; }));
  }
  std::vector<std::thread> submitters;
  for (int thread = 0; thread < threads; ++thread)
    submitters.emplace_back([&, thread] {
      for (int n = 0; n < per_thread; ++n) {
        auto index = 1 + thread * per_thread + n;
        auto name = "s" + std::to_string(index);
        store->submit(std::vector<Change>{request_registration(name), Configured{name, {{"n", n}}}},
                      [&, index](const CommitResult& result) {
                        std::lock_guard guard{mutex};
                        ++calls[static_cast<std::size_t>(index)];
                        if (result.saved) ++saved;
                      });
      }
    });
  for (auto& submitter : submitters) submitter.join();
  {
    std::lock_guard guard{mutex};
    all_queued = true;
  }
  changed.notify_all();
  auto instances = store->load();  // after every submission made before it
  CHECK(saved == threads * per_thread + 1);
  CHECK(instances.size() == static_cast<std::size_t>(threads * per_thread + 1));
  CHECK(std::all_of(calls.begin(), calls.end(), [](int count) { return count == 1; }));
  CHECK(store->metrics().commits() == 2);
  CHECK(store->metrics().changes() == 2 * threads * per_thread + 1);
}

TEST_CASE("concurrent committers each get their own answer, in fewer transactions") {
  StateFile file;
  auto store = open_store(file.path);
  constexpr int threads = 8;
  const int per_thread = sanitized() ? 40 : 150;
  std::atomic<int> saved{0};
  std::vector<std::thread> committers;
  for (int thread = 0; thread < threads; ++thread)
    committers.emplace_back([&, thread] {
      for (int n = 0; n < per_thread; ++n) {
        auto name = "t" + std::to_string(thread) + "-" + std::to_string(n);
        if (store->commit(request_registration(name)).saved) ++saved;
      }
    });
  for (auto& committer : committers) committer.join();
  auto submissions = static_cast<std::uint64_t>(threads * per_thread);
  CHECK(saved == threads * per_thread);
  CHECK(store->load().size() == submissions);
  INFO("transactions: " << store->metrics().commits() << " for " << submissions << " commits");
  CHECK(store->metrics().commits() < submissions);
}

TEST_CASE("every change acknowledged before a SIGKILL is in the file after it") {
  const int rounds = sanitized() ? 2 : 5;
  std::mt19937 random{std::random_device{}()};
  for (int round = 0; round < rounds; ++round) {
    StateFile file;
    ChildProcess writer{PROCESSPYPE_STATE_CHILD, {"write", file.path.string(), "8"}};
    // A random moment: after a random number of acknowledged commits.
    auto acknowledged_before_kill = std::uniform_int_distribution<std::size_t>{1, 600}(random);
    REQUIRE(wait_until(
        [&] { return complete_lines(writer.stdout_text()).size() >= acknowledged_before_kill; },
        std::chrono::seconds(30), std::chrono::milliseconds(1)));
    writer.kill();
    INFO("round " << round << ", stderr: " << writer.stderr_text());
    auto acknowledged = complete_lines(writer.stdout_text());
    REQUIRE(acknowledged.size() >= acknowledged_before_kill);

    auto stored = by_name(open_store(file.path)->load());
    std::size_t missing = 0;
    for (const auto& line : acknowledged) {
      auto name = line.substr(4);  // "ack <name>"
      auto found = stored.find(name);
      if (found == stored.end() || !found->second.configuration ||
          found->second.desired != DesiredState::running || !found->second.problem.empty()) {
        ++missing;
        UNSCOPED_INFO("lost or incomplete: " << name);
      }
    }
    CHECK(missing == 0);
  }
}

TEST_CASE("a backup taken while commits go on opens as a state file with the same rows") {
  StateFile file;
  auto store = open_store(file.path);
  for (int n = 0; n < 50; ++n) {
    auto name = "i" + std::to_string(n);
    require_saved(store->commit(
        std::vector<Change>{request_registration(name), Configured{name, {{"n", n}}}}));
  }
  std::atomic<bool> stop{false};
  std::thread committer([&] {
    for (int n = 0; !stop; ++n) store->commit(request_registration("during-" + std::to_string(n)));
  });
  auto copy = file.folder.path() / "backup.db";
  store->backup(copy);
  stop = true;
  committer.join();
  CHECK(mode_of(copy) == 0600);

  auto restored = open_store(copy)->load();
  auto original = by_name(store->load());
  REQUIRE(restored.size() >= 50);
  for (const auto& instance : restored) {
    INFO(instance.name);
    REQUIRE(original.count(instance.name) == 1);
    CHECK(instance == original.at(instance.name));
  }
  SECTION("an existing, non-empty destination is refused") {
    try {
      store->backup(copy);
      FAIL("the backup overwrote a file");
    } catch (const StateError& error) {
      CHECK_THAT(error.what(), Catch::Contains("exists and is not empty"));
    }
  }
}

TEST_CASE("reset empties the store") {
  StateFile file;
  {
    auto store = open_store(file.path);
    require_saved(store->commit(request_registration("a")));
    require_saved(store->commit(Registered{"b", "echo", Origin::file}));
    require_saved(store->commit(Deregistered{"b", true}));
    store->reset();
    CHECK(store->load().empty());
    require_saved(store->commit(request_registration("after")));
  }
  CHECK(names_of(open_store(file.path)->load()) == std::vector<std::string>{"after"});
}

TEST_CASE("metrics count transactions, changes and durations in Prometheus form") {
  StateFile file;
  auto store = open_store(file.path);
  require_saved(store->commit(
      std::vector<Change>{request_registration("a"), Configured{"a", json::object()}}));
  require_saved(store->commit(request_registration("b")));
  const auto& metrics = store->metrics();
  CHECK(metrics.commits() == 2);
  CHECK(metrics.changes() == 3);
  CHECK(metrics.errors() == 0);
  CHECK(metrics.commit_seconds_sum() > 0);
  CHECK(metrics.commits_within(StateMetrics::bucket_bounds.size() - 1) <= 2);
  auto text = metrics.prometheus_text();
  CHECK_THAT(text, Catch::Contains("# TYPE processpype_state_commit_seconds histogram"));
  CHECK_THAT(text, Catch::Contains("processpype_state_commit_seconds_bucket{le=\"0.0005\"} "));
  CHECK_THAT(text, Catch::Contains("processpype_state_commit_seconds_bucket{le=\"+Inf\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("processpype_state_commit_seconds_count 2\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE processpype_state_errors_total counter"));
  CHECK_THAT(text, Catch::Contains("processpype_state_errors_total 0\n"));
}

TEST_CASE("closing the store stores what was queued, answers every callback and frees the file") {
  StateFile file;
  std::atomic<int> saved{0};
  {
    auto store = open_store(file.path);
    for (int n = 0; n < 200; ++n)
      store->submit(request_registration("q" + std::to_string(n)),
                    [&](const CommitResult& result) { saved += result.saved ? 1 : 0; });
  }
  CHECK(saved == 200);
  CHECK(open_store(file.path)->load().size() == 200);
}

TEST_CASE("a blocking call from a commit callback is refused instead of waiting for itself") {
  StateFile file;
  auto store = open_store(file.path);
  std::promise<std::string> refused;
  store->submit(request_registration("a"), [&](const CommitResult&) {
    try {
      store->load();
      refused.set_value("");
    } catch (const std::logic_error& error) {
      refused.set_value(error.what());
    }
  });
  auto answer = refused.get_future();
  REQUIRE(answer.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK_THAT(answer.get(), Catch::Contains("from a commit callback"));
}
