// docs/state.md with the real binary and a real SQLite file: what the
// control API did survives a restart and a kill -9; a file the node cannot
// use stops it with exit code 2; a full disk refuses what it cannot write
// and still lets an operator stop things.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>
#include <catch2/catch.hpp>

#include <processpype/testing/checks.hpp>
#include <processpype/testing/process.hpp>
#include <processpype/testing/server.hpp>
#include <processpype/testing/tmpfs.hpp>

using namespace processpype::testing;

namespace {

/// A node on a state file in `folder`, on a port of its own each start.
struct StatefulNode {
  explicit StatefulNode(const std::filesystem::path& state, std::vector<std::string> extra = {},
                        Environment env = {}) {
    ServerOptions options;
    options.args = {"--state", state.string()};
    options.env = std::move(env);
    options.args.insert(options.args.end(), extra.begin(), extra.end());
    server = std::make_unique<ServerProcess>(options);
  }
  HttpClient client() const { return server->client(); }
  std::unique_ptr<ServerProcess> server;
};

json status(HttpClient& api, const std::string& name) {
  return status_of(api, name);
}

/// Runs `sql` on the SQLite file `file` with the sqlite3 command.
bool run_sqlite(const std::string& file, const std::string& sql) {
  ChildProcess sqlite{"sqlite3", {file, sql}};
  return sqlite.wait(10s).code == 0;
}

/// Another program's write transaction on a state file: the node's writes
/// wait (its busy timeout) until it ends.
class HeldWriteLock {
 public:
  explicit HeldWriteLock(const std::filesystem::path& file) {
    REQUIRE(sqlite3_open(file.c_str(), &database_) == SQLITE_OK);
    REQUIRE(sqlite3_exec(database_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  ~HeldWriteLock() { release(); }
  HeldWriteLock(const HeldWriteLock&) = delete;
  HeldWriteLock& operator=(const HeldWriteLock&) = delete;
  void release() {
    if (database_ == nullptr) return;
    sqlite3_exec(database_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(std::exchange(database_, nullptr));
  }

 private:
  sqlite3* database_ = nullptr;
};

}  // namespace

TEST_CASE("a registered, configured, started instance is back after a restart", "[state]") {
  TempDirectory folder{"processpype-state"};
  auto file = folder.path() / "node" / "state.db";
  {
    StatefulNode node{file};
    auto api = node.client();
    REQUIRE(register_service(api, "echo", "greeter").status == 200);
    REQUIRE(api.post("/services/greeter/configure", json{{"prefix", "Hello"}}).status == 200);
    REQUIRE(api.post("/services/greeter/start").status == 200);
    REQUIRE(register_service(api, "counter", "paused").status == 200);
    REQUIRE(api.post("/services/paused/start").status == 200);
    REQUIRE(api.post("/services/paused/stop").status == 200);
    REQUIRE(register_service(api, "counter", "gone").status == 200);
    REQUIRE(api.del("/services/gone").status == 200);
    CHECK(node.server->stop().code == 0);
  }
  CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  StatefulNode again{file};
  auto api = again.client();
  CHECK(service_names(api) == std::vector<std::string>{"greeter", "paused"});
  auto greeter = status(api, "greeter");
  CHECK(greeter["state"] == "running");
  CHECK(greeter["origin"] == "request");
  CHECK(greeter["metadata"]["prefix"] == "Hello");
  CHECK(api.post("/services/greeter/echo", json{{"message", "x"}}).field("message") == "Hello: x");
  CHECK(state_of(api, "paused") == "initialized");  // stopped by a user: not started again
}

TEST_CASE("a file instance changed by requests: the request wins, overrides say where", "[state]") {
  TempDirectory folder{"processpype-state"};
  auto config = folder.write("app.yaml",
                             "services:\n  greeter:\n    type: echo\n    prefix: FromFile\n"
                             "  counter:\n    step: 2\n");
  auto file = folder.path() / "state.db";
  {
    StatefulNode node{file, {"--config", config}};
    auto api = node.client();
    CHECK(status(api, "greeter")["origin"] == "file");
    CHECK(status(api, "greeter")["overrides"] == json::array());
    REQUIRE(api.post("/services/greeter/stop").status == 200);
    REQUIRE(api.post("/services/greeter/configure", json{{"prefix", "FromRequest"}}).status == 200);
    CHECK(status(api, "greeter")["overrides"] == json{"prefix"});
    REQUIRE(api.del("/services/counter").status == 200);  // a file instance: stays deregistered
    node.server->stop();
  }
  {
    StatefulNode node{file, {"--config", config}};
    auto api = node.client();
    CHECK(service_names(api) == std::vector<std::string>{"greeter"});
    auto greeter = status(api, "greeter");
    CHECK(greeter["metadata"]["prefix"] == "FromRequest");
    CHECK(greeter["overrides"] == json{"prefix"});
    CHECK(greeter["state"] == "configured");  // a user's stop outlives the file's enabled
    node.server->stop();
  }
  StatefulNode reset{file, {"--config", config, "--reset-state"}};
  auto api = reset.client();
  CHECK(service_names(api) == std::vector<std::string>{"greeter", "counter"});
  CHECK(status(api, "greeter")["metadata"]["prefix"] == "FromFile");
  CHECK(state_of(api, "greeter") == "running");
  CHECK(status(api, "greeter")["overrides"] == json::array());
}

TEST_CASE("a registration by request takes nothing from the row of a file instance gone",
          "[state]") {
  TempDirectory folder{"processpype-state"};
  auto with_db = folder.write("with-db.yaml",
                              "services:\n  db:\n    type: echo\n    enabled: false\n"
                              "  counter:\n    step: 2\n");
  auto without_db = folder.write("without-db.yaml", "services:\n  counter:\n    step: 2\n");
  auto file = folder.path() / "state.db";
  {
    StatefulNode node{file, {"--config", with_db}};
    auto api = node.client();
    REQUIRE(api.post("/services/db/configure", json{{"prefix", "SECRET-OLD-CONFIG"}}).status ==
            200);
    REQUIRE(api.post("/services/db/start").status == 200);
    CHECK(node.server->stop().code == 0);
  }
  {
    StatefulNode node{file, {"--config", without_db}};  // db's row is kept, not restored
    auto api = node.client();
    CHECK(service_names(api) == std::vector<std::string>{"counter"});
    REQUIRE(register_service(api, "echo", "db").status == 200);  // not configured, not started
    CHECK(node.server->stop().code == 0);
  }
  StatefulNode node{file, {"--config", without_db}};
  auto api = node.client();
  auto db = status(api, "db");
  CHECK(db["origin"] == "request");
  CHECK(db["state"] == "initialized");
  CHECK(db["is_configured"] == false);
  CHECK(db.dump().find("SECRET-OLD-CONFIG") == std::string::npos);
}

TEST_CASE("a DELETE of a request instance whose name the file lists outlives a restart",
          "[state]") {
  TempDirectory folder{"processpype-state"};
  auto config =
      folder.write("app.yaml", "services:\n  db:\n    type: echo\n  counter:\n    step: 2\n");
  auto file = folder.path() / "state.db";
  {
    StatefulNode node{file, {"--config", config}};
    auto api = node.client();
    REQUIRE(api.del("/services/db").status == 200);                 // a file instance: a tombstone
    REQUIRE(register_service(api, "counter", "db").status == 200);  // replaces the tombstone
    REQUIRE(api.post("/services/db/start").status == 200);
    REQUIRE(api.del("/services/db").status == 200);
    CHECK(node.server->stop().code == 0);
  }
  StatefulNode node{file, {"--config", config}};
  auto api = node.client();
  CHECK(service_names(api) == std::vector<std::string>{"counter"});
  CHECK(api.get("/services/db").status == 404);
}

TEST_CASE("an ENABLED_SERVICES instance keeps its DELETE and its configure over a restart",
          "[state]") {
  TempDirectory folder{"processpype-state"};
  auto file = folder.path() / "state.db";
  Environment env;
  env.set = {{"ENABLED_SERVICES", "echo,counter"}};
  {
    StatefulNode node{file, {}, env};
    auto api = node.client();
    REQUIRE(wait_for_state(api, "echo", "running", 10s));
    REQUIRE(api.del("/services/counter").status == 200);
    REQUIRE(api.post("/services/echo/stop").status == 200);
    REQUIRE(api.post("/services/echo/configure", json{{"prefix", "Kept"}}).status == 200);
    REQUIRE(api.post("/services/echo/start").status == 200);
    CHECK(node.server->stop().code == 0);
  }
  StatefulNode node{file, {}, env};
  auto api = node.client();
  CHECK(service_names(api) == std::vector<std::string>{"echo"});
  CHECK(api.get("/services/counter").status == 404);
  REQUIRE(wait_for_state(api, "echo", "running", 10s));
  auto echo = status(api, "echo");
  CHECK(echo["origin"] == "file");
  CHECK(echo["metadata"]["prefix"] == "Kept");
  CHECK(echo["overrides"] == json{"prefix"});
  CHECK(api.post("/services/echo/echo", json{{"message", "x"}}).field("message") == "Kept: x");
}

TEST_CASE("no acknowledged registration or configure is lost to kill -9 in a storm",
          "[state][crash]") {
  TempDirectory folder{"processpype-state"};
  auto file = folder.path() / "state.db";
  std::mt19937 random{std::random_device{}()};
  int rounds = std::getenv("PROCESSPYPE_TEST_SANITIZED") ? 2 : 4;
  std::map<std::string, int> acknowledged;  // instance -> the step of its last 2xx configure
  for (int round = 0; round < rounds; ++round) {
    StatefulNode node{file};
    std::mutex mutex;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; ++c) {
      clients.emplace_back([&, c] {
        auto api = node.client();
        for (int i = 0; !stop; ++i) {
          auto name =
              "r" + std::to_string(round) + "c" + std::to_string(c) + "i" + std::to_string(i);
          if (register_service(api, "counter", name).status != 200) return;
          {
            std::lock_guard lock{mutex};
            acknowledged[name] = 1;  // the default step
          }
          if (api.post("/services/" + name + "/configure", json{{"step", i + 2}}).status != 200)
            return;
          std::lock_guard lock{mutex};
          acknowledged[name] = i + 2;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + random() % 400));  // the storm
    node.server->process().kill();  // kill -9 at a random moment
    stop = true;
    for (auto& client : clients) client.join();
  }
  StatefulNode after{file};
  auto api = after.client();
  auto names = service_names(api);
  std::set<std::string> restored{names.begin(), names.end()};
  INFO(acknowledged.size() << " acknowledged, " << restored.size() << " restored");
  REQUIRE(acknowledged.size() > 20);
  for (const auto& [name, step] : acknowledged) {
    INFO(name);
    REQUIRE(restored.count(name) == 1);
    CHECK(status(api, name)["metadata"].value("step", 1) >= step);
  }
}

TEST_CASE("a state file the node cannot use is exit code 2 naming it", "[state][errors]") {
  TempDirectory folder{"processpype-state"};
  auto check_refused = [](const std::vector<std::string>& args, const std::string& reason) {
    auto result = run_to_completion(args, {}, 15s);
    INFO(result.err);
    CHECK(result.status.code == 2);
    CHECK(result.err.find(reason) != std::string::npos);
  };
  SECTION("not a database") {
    auto garbage = folder.write("garbage.db", std::string(4096, 'x'));
    check_refused({"--state", garbage, "--port", std::to_string(free_port())}, garbage);
  }
  SECTION("locked by a running node") {
    auto file = (folder.path() / "state.db").string();
    StatefulNode first{file};
    check_refused({"--state", file, "--port", std::to_string(free_port())},
                  "locked by another running node");
  }
  SECTION("written by a newer schema") {
    auto file = (folder.path() / "newer.db").string();
    REQUIRE(run_sqlite(file, "CREATE TABLE instances (x); PRAGMA user_version = 99;"));
    check_refused({"--state", file, "--port", std::to_string(free_port())}, "newer schema");
  }
  SECTION("a folder that cannot be created") {
    auto blocked = folder.write("a-file", "not a folder");
    check_refused({"--state", blocked + "/state.db", "--port", std::to_string(free_port())},
                  blocked);
  }
}

TEST_CASE("a state file of the first schema is migrated in place at start", "[state]") {
  TempDirectory folder{"processpype-state"};
  auto file = (folder.path() / "old.db").string();
  // Schema 1, as the first release wrote it.
  REQUIRE(
      run_sqlite(file,
                 "CREATE TABLE instances (name TEXT PRIMARY KEY, class_key TEXT NOT NULL,"
                 " origin TEXT NOT NULL, configuration TEXT, running INTEGER);"
                 "INSERT INTO instances VALUES ('old', 'counter', 'request', '{\"step\":4}', 1);"
                 "PRAGMA user_version = 1;"));
  StatefulNode node{file};
  auto api = node.client();
  CHECK(state_of(api, "old") == "running");
  CHECK(status(api, "old")["metadata"]["step"] == 4);
}

TEST_CASE("a full disk refuses register, configure and start, and still stops and deletes",
          "[state][disk]") {
  TempDirectory folder{"processpype-state"};
  auto mount = mount_tmpfs_or_skip(folder.path() / "small", 2 * 1024 * 1024);
  if (!mount) return;
  StatefulNode node{mount->path() / "state.db"};
  auto api = node.client();
  REQUIRE(register_service(api, "counter", "kept").status == 200);
  REQUIRE(api.post("/services/kept/start").status == 200);
  REQUIRE(register_service(api, "counter", "idle").status == 200);
  auto filler = mount->fill();

  auto refused = register_service(api, "counter", "new");
  CHECK(refused.status == 503);
  CHECK_THAT(refused.detail(), Catch::StartsWith("State not saved: "));
  CHECK(api.get("/services/new").status == 404);  // nothing created
  CHECK(api.post("/services/idle/configure", json{{"step", 5}}).status == 503);
  CHECK(status(api, "idle")["is_configured"] == false);  // nothing changed
  CHECK(api.post("/services/idle/start").status == 503);
  CHECK(state_of(api, "idle") == "initialized");  // not started

  auto stopped = api.post("/services/kept/stop");
  CHECK(stopped.status == 200);
  CHECK_THAT(stopped.field("warning").get<std::string>(), Catch::StartsWith("State not saved: "));
  CHECK(state_of(api, "kept") == "stopped");
  auto deleted = api.del("/services/idle");
  CHECK(deleted.status == 200);
  CHECK(deleted.field("warning").is_string());
  CHECK(api.get("/services/idle").status == 404);
  CHECK(api.get("/services").status == 200);  // reads keep working

  std::filesystem::remove(filler);  // space again: writes work again
  CHECK(register_service(api, "counter", "later").status == 200);
}

TEST_CASE("a state file removed while the node runs refuses register with 503 saying so",
          "[state][errors]") {
  TempDirectory folder{"processpype-state"};
  auto file = folder.path() / "state.db";
  StatefulNode node{file};
  auto api = node.client();
  REQUIRE(register_service(api, "counter", "kept").status == 200);
  for (const auto* suffix : {"", "-wal", "-shm"})
    REQUIRE(std::filesystem::remove(file.string() + suffix));

  auto refused = register_service(api, "counter", "lost");
  CHECK(refused.status == 503);
  CHECK(refused.detail() ==
        "State not saved: the state file " + file.string() + " was removed while the node runs");
  CHECK(api.get("/services/lost").status == 404);
  CHECK_THAT(body_of(api, "/metrics"), Catch::Contains("processpype_state_errors_total 1\n"));
  CHECK_FALSE(std::filesystem::exists(file));
}

TEST_CASE("X-Request-Id: taken or made, echoed, in the events the request caused",
          "[state][request-id]") {
  ServerProcess node;
  auto api = node.client();
  auto given = api.request("POST", "/services/register",
                           json{{"service_name", "echo"}, {"instance_name", "traced"}}.dump(),
                           {"X-Request-Id: trace-1234"});
  CHECK(given.header("x-request-id") == "trace-1234");
  auto made = api.request("POST", "/services/traced/start", std::nullopt, {});
  auto id = made.header("x-request-id");
  CHECK(id.size() == 32);
  auto refused = api.request("GET", "/services/traced", std::nullopt,
                             {"X-Request-Id: " + std::string(129, 'a')});
  CHECK(refused.header("x-request-id").size() == 32);  // too long: a new one
  auto events = api.get("/events").body_json["events"];
  std::map<std::string, std::string> ids;
  for (const auto& event : events)
    if (event["service"] == "traced")
      ids[event["state"].get<std::string>()] =
          event["request_id"].is_string() ? event["request_id"].get<std::string>() : "";
  CHECK(ids["registered"] == "trace-1234");
  CHECK(ids["starting"] == id);
  CHECK(ids["running"] == id);
}

TEST_CASE("a restart that came due while a user's stop was being written does not run",
          "[state][supervision]") {
  TempDirectory folder{"processpype-state"};
  auto file = folder.path() / "state.db";
  StatefulNode node{file};
  auto api = node.client();
  REQUIRE(register_service(api, "faulty", "flaky").status == 200);
  REQUIRE(api.post("/services/flaky/configure", json{{"fail_on", "start"},
                                                     {"restart", "on-failure"},
                                                     {"restart_delay_seconds", 1.0},
                                                     {"restart_max_delay_seconds", 1.0},
                                                     {"max_restarts", 100}})
              .status == 200);
  CHECK(api.post("/services/flaky/start").status != 200);
  REQUIRE(state_of(api, "flaky") == "error");

  HeldWriteLock lock{file};
  std::atomic<int> stop_status{0};
  std::thread stop{[&] {
    auto client = node.client();
    stop_status = client.post("/services/flaky/stop").status;
  }};
  // The restart comes due while the stop waits for its write: it waits too.
  bool queued = wait_until(
      [&] {
        auto now = status(api, "flaky");
        return now["state"] == "error" && now["next_restart_in_seconds"].is_null();
      },
      4s);
  lock.release();
  stop.join();
  REQUIRE(queued);
  CHECK(stop_status == 200);
  // Through the actor again: anything queued behind the first stop has run.
  CHECK(api.post("/services/flaky/stop").status == 200);
  auto after = status(api, "flaky");
  CHECK(after["state"] == "stopped");
  CHECK(after["restarts"] == 0);
}
