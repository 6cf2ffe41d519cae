// The state store when things go wrong (docs/state.md): a file another node
// holds (by its name or a hard link), a file removed or replaced while the
// store is open, a newer or an older schema, a file that is not a database or is
// damaged, folders that cannot be created or written, and a full disk.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/testing/process.hpp"
#include "processpype/testing/tmpfs.hpp"
#include "state_test_support.hpp"

using namespace processpype::state;
using namespace processpype::state::testing;
using nlohmann::json;
using processpype::testing::ChildProcess;
using processpype::testing::mount_tmpfs_or_skip;
using processpype::testing::TmpfsMount;

namespace {

void write_bytes(const std::filesystem::path& path, const std::string& bytes,
                 std::streamoff offset = 0) {
  std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
  if (!out) out.open(path, std::ios::binary | std::ios::out);
  out.seekp(offset);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// Whether an exclusive flock on `path` can be taken now (and released).
bool lockable(const std::filesystem::path& path) {
  int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(descriptor >= 0);
  bool locked = ::flock(descriptor, LOCK_EX | LOCK_NB) == 0;
  ::close(descriptor);
  return locked;
}

std::string random_bytes(std::size_t size) {
  std::mt19937 random{42};
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(random() & 0xff);
  return bytes;
}

/// The line check_state_path throws for `path`; "" when it passes.
std::string check_state_path_refusal(const std::filesystem::path& path) {
  try {
    check_state_path(path);
  } catch (const StateError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a second store on the same file is refused while the first is open") {
  StateFile file;
  {
    auto first = open_store(file.path);
    auto refusal = refusal_to_open(file.path);
    CHECK_THAT(refusal, Catch::StartsWith("State file " + file.path.string() + ": "));
    CHECK_THAT(refusal, Catch::Contains("locked by another running node"));
    // The refused open left the first store working.
    require_saved(first->commit(request_registration("echo")));
  }
  CHECK(refusal_to_open(file.path).empty());
}

TEST_CASE("another process on the same file is refused, and may open it once the node is gone") {
  StateFile file;
  {
    auto node = open_store(file.path);
    ChildProcess second{PROCESSPYPE_STATE_CHILD, {"open", file.path.string()}};
    auto status = second.wait(std::chrono::seconds(20));
    INFO(status.describe() << "; stderr: " << second.stderr_text());
    CHECK(status.code == 2);
    auto lines = processpype::testing::lines_of(second.stderr_text());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == "State file " + file.path.string() + ": locked by another running node");
  }
  ChildProcess later{PROCESSPYPE_STATE_CHILD, {"open", file.path.string()}};
  auto status = later.wait(std::chrono::seconds(20));
  INFO(later.stderr_text());
  CHECK(status.code == 0);
}

TEST_CASE("a file written by a newer schema is refused, naming both versions") {
  StateFile file;
  open_and_close(file.path);
  raw_sql(file.path, "PRAGMA user_version = 3;");
  CHECK(refusal_to_open(file.path) ==
        "State file " + file.path.string() +
            ": written by a newer schema (version 3; this build reads versions up to 2): run a "
            "newer ProcessPype on it");
}

TEST_CASE("a version 1 file is migrated in place, keeping its rows and their order") {
  StateFile file;
  // Version 1 as the first release wrote it, built by hand.
  raw_sql(file.path,
          "CREATE TABLE instances (name TEXT PRIMARY KEY, class_key TEXT NOT NULL,"
          " origin TEXT NOT NULL, configuration TEXT, running INTEGER);"
          "INSERT INTO instances VALUES ('zeta', 'echo', 'request', '{\"a\":1}', 1);"
          "INSERT INTO instances VALUES ('alpha', 'counter', 'file', NULL, 0);"
          "INSERT INTO instances VALUES ('mid', 'echo', 'request', NULL, NULL);"
          "INSERT INTO instances VALUES ('odd', 'echo', 'request', NULL, 7);"
          "PRAGMA user_version = 1;");
  auto store = open_store(file.path);
  CHECK(store->opened_schema_version() == 1);
  CHECK(store->applied_settings().schema_version == 2);
  auto instances = store->load();
  REQUIRE(names_of(instances) == std::vector<std::string>{"zeta", "alpha", "mid", "odd"});
  CHECK(instances[0].configuration == json{{"a", 1}});
  CHECK(instances[0].desired == DesiredState::running);
  CHECK(instances[1].origin == Origin::file);
  CHECK(instances[1].desired == DesiredState::stopped);
  CHECK_FALSE(instances[2].desired.has_value());
  // A value version 1 should never have held is reported, not dropped.
  CHECK_THAT(instances[3].problem, Catch::Contains("desired state"));
  for (std::size_t i = 0; i < 3; ++i) CHECK(instances[i].problem.empty());
  // The migrated file takes every kind of change.
  require_saved(store->commit(Deregistered{"alpha", true}));
  require_saved(store->commit(Configured{"mid", {{"b", 2}}}));
}

TEST_CASE("a file that is not a SQLite database is refused") {
  StateFile file;
  write_bytes(file.path, random_bytes(8192));
  CHECK(refusal_to_open(file.path) ==
        "State file " + file.path.string() + ": not a SQLite database");
}

TEST_CASE("a file that is not a SQLite database is refused before its mode or lock is touched") {
  // docs/state.md, "Opening: what is refused": the file is left as it was.
  for (const auto& content : std::vector<std::string>{"x: 1\n", "short", std::string(4096, 'y')}) {
    StateFile file;
    write_bytes(file.path, content);
    REQUIRE(::chmod(file.path.c_str(), 0644) == 0);
    CHECK(refusal_to_open(file.path) ==
          "State file " + file.path.string() + ": not a SQLite database");
    struct stat status {};
    REQUIRE(::stat(file.path.c_str(), &status) == 0);
    CHECK((status.st_mode & 07777) == 0644);
    CHECK_FALSE(std::filesystem::exists(file.path.string() + ".lock"));
    CHECK(check_state_path_refusal(file.path) ==
          "State file " + file.path.string() + ": not a SQLite database");
  }
}

TEST_CASE("an empty file is a new state file") {
  StateFile file;
  write_bytes(file.path, "");
  CHECK(check_state_path_refusal(file.path).empty());
  CHECK(refusal_to_open(file.path).empty());
  CHECK(check_state_path_refusal(file.path).empty());  // now a database, header and all
}

TEST_CASE("another program's SQLite database is refused, and left as it was") {
  StateFile file;
  raw_sql(file.path, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT);");
  CHECK_THAT(refusal_to_open(file.path), Catch::Contains("not a ProcessPype state file"));
  raw_sql(file.path, "SELECT owner FROM accounts;");
}

TEST_CASE("a database refused after its lock is taken is left unlocked") {
  StateFile file;
  raw_sql(file.path, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT);");
  CHECK_THAT(refusal_to_open(file.path), Catch::Contains("not a ProcessPype state file"));
  CHECK(lockable(file.path));
  CHECK_FALSE(std::filesystem::exists(file.path.string() + ".lock"));
}

TEST_CASE("a second store through a hard link to the file is refused") {
  // The lock is on the file, not on the name it was opened by (docs/state.md).
  StateFile file;
  auto node = open_store(file.path);
  auto link = file.folder.path() / "hard.db";
  std::filesystem::create_hard_link(file.path, link);
  ChildProcess second{PROCESSPYPE_STATE_CHILD, {"open", link.string()}};
  auto status = second.wait(std::chrono::seconds(20));
  INFO(status.describe() << "; stderr: " << second.stderr_text());
  CHECK(status.code == 2);
  CHECK_THAT(second.stderr_text(), Catch::Contains("locked by another running node"));
  CHECK_THAT(refusal_to_open(link), Catch::Contains("locked by another running node"));
  require_saved(node->commit(request_registration("echo")));
}

TEST_CASE("a second store is refused after the files beside the database are removed") {
  // Earlier releases locked <path>.lock: removing it let a second node in.
  StateFile file;
  auto node = open_store(file.path);
  require_saved(node->commit(request_registration("echo")));
  for (const auto* suffix : {".lock", "-shm"}) std::filesystem::remove(file.path.string() + suffix);
  CHECK_THAT(refusal_to_open(file.path), Catch::Contains("locked by another running node"));
}

TEST_CASE("every commit fails once the state file is removed while the store is open") {
  StateFile file;
  auto store = open_store(file.path);
  require_saved(store->commit(request_registration("before")));
  for (const auto* suffix : {"", "-wal", "-shm"})
    REQUIRE(std::filesystem::remove(file.path.string() + suffix));
  auto reason = "the state file " + file.path.string() + " was removed while the node runs";
  for (const auto* name : {"after", "later"}) {
    auto result = store->commit(request_registration(name));
    CHECK_FALSE(result.saved);
    CHECK(result.error == reason);
  }
  CHECK(store->metrics().errors() == 2);
  // No new, empty file takes its place.
  CHECK_FALSE(std::filesystem::exists(file.path));
}

TEST_CASE("every commit fails once the state file is replaced by another database") {
  StateFile file;
  auto store = open_store(file.path);
  require_saved(store->commit(request_registration("before")));
  auto other = file.folder.path() / "other.db";
  open_and_close(other);
  // As a restore from a backup does (docs/state.md), though with the node
  // still running: the journal files of the old file go too.
  for (const auto* suffix : {"-wal", "-shm"}) std::filesystem::remove(file.path.string() + suffix);
  std::filesystem::rename(other, file.path);
  auto result = store->commit(request_registration("after"));
  CHECK_FALSE(result.saved);
  CHECK(result.error == "the state file " + file.path.string() +
                            " was replaced by another file while the node runs");
  CHECK(store->metrics().errors() == 1);
  store.reset();
  // What the replacement holds is left as it was.
  CHECK(open_store(file.path)->load().empty());
}

TEST_CASE("a damaged page is reported as corruption, never a crash") {
  StateFile file;
  {
    auto store = open_store(file.path);
    std::vector<Change> changes;
    for (int n = 0; n < 2000; ++n) {
      auto name = "i" + std::to_string(n);
      changes.push_back(request_registration(name));
      changes.push_back(Configured{name, {{"n", n}, {"text", std::string(100, 'x')}}});
    }
    require_saved(store->commit(std::move(changes)));
  }
  // Page 2 is the root of the instances table (page 1 is SQLite's schema).
  write_bytes(file.path, std::string(4096, '\xff'), 4096);
  std::string reported;
  try {
    auto store = open_store(file.path);
    store->load();
  } catch (const StateError& error) {
    reported = error.what();
  }
  CHECK_THAT(reported, Catch::StartsWith("State file " + file.path.string() + ": "));
  CHECK_THAT(reported, Catch::Contains("corrupt"));
}

TEST_CASE("rows that do not decode come back with a problem, the other rows intact") {
  StateFile file;
  {
    auto store = open_store(file.path);
    for (const auto* name : {"good1", "badjson", "array", "origin", "desired", "flag", "good2"}) {
      require_saved(store->commit(request_registration(name)));
      require_saved(store->commit(Configured{name, {{"name", name}}}));
    }
  }
  raw_sql(file.path,
          "UPDATE instances SET configuration = '{\"unterminated' WHERE name = 'badjson';"
          "UPDATE instances SET configuration = '[1, 2]' WHERE name = 'array';"
          "UPDATE instances SET origin = 'elsewhere' WHERE name = 'origin';"
          "UPDATE instances SET desired = X'00ff' WHERE name = 'desired';"
          "UPDATE instances SET deregistered = 'yes' WHERE name = 'flag';"
          "INSERT INTO instances (name, class_key, origin) VALUES ('', 'echo', 'request');");
  auto instances = open_store(file.path)->load();
  REQUIRE(instances.size() == 8);
  auto named = by_name(instances);
  CHECK_THAT(named["badjson"].problem, Catch::Contains("configuration is not valid JSON"));
  CHECK_THAT(named["array"].problem, Catch::Contains("configuration is not a JSON object"));
  CHECK_THAT(named["origin"].problem, Catch::Contains("origin"));
  CHECK_THAT(named["desired"].problem, Catch::Contains("desired state"));
  CHECK_THAT(named["flag"].problem, Catch::Contains("deregistered flag"));
  CHECK_THAT(named[""].problem, Catch::Contains("name"));
  for (const auto* good : {"good1", "good2"}) {
    INFO(good);
    CHECK(named[good].problem.empty());
    CHECK(named[good].configuration == json{{"name", good}});
  }
  // Every other field of a row with a problem still says what it can.
  CHECK(named["origin"].configuration == json{{"name", "origin"}});
}

TEST_CASE("a large load keeps the order of its rows, and each problem with its own row") {
  StateFile file;
  constexpr int count = 12000;  // decoded by several threads where there are cores
  {
    auto store = open_store(file.path);
    std::vector<Change> changes;
    for (int n = 0; n < count; ++n) {
      auto name = "i" + std::to_string(n);
      changes.push_back(request_registration(name));
      changes.push_back(Configured{name, {{"n", n}}});
    }
    require_saved(store->commit(std::move(changes)));
  }
  raw_sql(file.path, "UPDATE instances SET configuration = 'broken' WHERE sequence % 1000 = 7;");
  auto instances = open_store(file.path)->load();
  REQUIRE(instances.size() == count);
  int problems = 0;
  for (int n = 0; n < count; ++n) {
    const auto& instance = instances[static_cast<std::size_t>(n)];
    INFO(n);
    REQUIRE(instance.name == "i" + std::to_string(n));
    if (instance.sequence % 1000 == 7) {
      ++problems;
      REQUIRE_THAT(instance.problem, Catch::Contains("not valid JSON"));
    } else {
      REQUIRE(instance.problem.empty());
      REQUIRE(instance.configuration == json{{"n", n}});
    }
  }
  CHECK(problems == count / 1000);
}

TEST_CASE("a folder that cannot be created is refused, naming it") {
  TempDirectory root{"state"};
  auto blocker = root.write("plain-file", "not a folder");
  auto path = std::filesystem::path{blocker} / "sub" / "state.db";
  auto refusal = refusal_to_open(path);
  CHECK_THAT(refusal,
             Catch::StartsWith("State file " + path.string() + ": cannot create the folder "));
  CHECK_THAT(refusal, Catch::Contains("Not a directory"));
}

TEST_CASE("a folder that cannot be written is refused, naming it") {
  TempDirectory root{"state"};
  auto mounted =
      mount_tmpfs_or_skip(root.path() / "read-only", 1 << 20, TmpfsMount::Access::read_only);
  if (!mounted) return;
  auto path = mounted->path() / "state.db";
  CHECK(refusal_to_open(path) == "State file " + path.string() + ": the folder " +
                                     mounted->path().string() +
                                     " is not writable: Read-only file system");
}

TEST_CASE("the read-only probe refuses what open refuses of the folder and creates nothing") {
  TempDirectory root{"state"};
  auto blocker = root.write("plain-file", "not a folder");
  auto under_a_file = std::filesystem::path{blocker} / "sub" / "state.db";
  CHECK(check_state_path_refusal(under_a_file) == refusal_to_open(under_a_file));
  CHECK_THAT(check_state_path_refusal(root.path()),
             Catch::EndsWith(root.path().string() + ": not a regular file"));
  auto to_create = root.path() / "var" / "lib" / "state.db";
  CHECK(check_state_path_refusal(to_create).empty());
  CHECK_FALSE(std::filesystem::exists(root.path() / "var"));
  auto mounted =
      mount_tmpfs_or_skip(root.path() / "read-only", 1 << 20, TmpfsMount::Access::read_only);
  if (!mounted) return;
  for (const auto& path : {mounted->path() / "state.db", mounted->path() / "sub" / "state.db"})
    CHECK(check_state_path_refusal(path) == refusal_to_open(path));
}

TEST_CASE("a full disk fails commits with SQLite's reason, reads go on, freed space heals") {
  TempDirectory root{"state"};
  auto mounted = mount_tmpfs_or_skip(root.path() / "small", 2 << 20);
  if (!mounted) return;
  auto store = open_store(mounted->path() / "state.db");
  require_saved(store->commit(
      std::vector<Change>{request_registration("before"), Configured{"before", {{"n", 1}}}}));
  // Larger than anything written so far: the journal must grow to hold it.
  std::vector<Change> large{request_registration("large"),
                            Configured{"large", {{"blob", std::string(512 * 1024, 'z')}}}};

  auto filler = mounted->fill();
  auto failed = store->commit(large);
  CHECK_FALSE(failed.saved);
  CHECK_THAT(failed.error, Catch::Contains("database or disk is full"));
  CHECK(store->metrics().errors() == 1);
  auto during = store->load();
  CHECK(names_of(during) == std::vector<std::string>{"before"});
  CHECK(during[0].configuration == json{{"n", 1}});

  std::filesystem::remove(filler);
  require_saved(store->commit(large));
  require_saved(store->commit(request_registration("after")));
  CHECK(names_of(store->load()) == std::vector<std::string>{"before", "large", "after"});
}

TEST_CASE("a row that loaded with a problem, even in its name, can be deleted") {
  StateFile file;
  open_and_close(file.path);
  raw_sql(
      file.path,
      "INSERT INTO instances (name, class_key, origin) VALUES ('bad name', 'echo', 'request');");
  auto store = open_store(file.path);
  auto instances = store->load();
  REQUIRE(instances.size() == 1);
  CHECK_FALSE(instances[0].problem.empty());
  require_saved(store->commit(Deregistered{instances[0].name, false}));
  CHECK(store->load().empty());
}

TEST_CASE("journal files a crash left, that others may read, are narrowed with the database") {
  StateFile file;
  {
    ChildProcess writer{PROCESSPYPE_STATE_CHILD, {"write", file.path.string(), "2"}};
    REQUIRE(processpype::testing::wait_until(
        [&] { return processpype::testing::lines_of(writer.stdout_text()).size() >= 10; },
        std::chrono::seconds(30)));
    writer.kill();
  }
  // As a tool with a loose umask would have left them.
  for (const auto* suffix : {"-wal", "-shm"})
    REQUIRE(::chmod((file.path.string() + suffix).c_str(), 0644) == 0);
  auto store = open_store(file.path);
  for (const auto* suffix : {"-wal", "-shm"}) {
    INFO(suffix);
    struct stat status {};
    REQUIRE(::stat((file.path.string() + suffix).c_str(), &status) == 0);
    CHECK((status.st_mode & 07777) == 0600);
  }
}
