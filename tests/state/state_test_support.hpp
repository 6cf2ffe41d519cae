#pragma once

// What the state store's tests share: a state file in a temporary folder,
// raw SQL on it (to build old or damaged files by hand), and short ways to
// read what was stored.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sqlite3.h>

#include <catch2/catch.hpp>

#include "processpype/state/state_store.hpp"
#include "processpype/testing/process.hpp"

namespace processpype::state::testing {

using processpype::testing::TempDirectory;

/// A state file path in a fresh temporary folder (the file does not exist yet).
struct StateFile {
  TempDirectory folder{"state"};
  std::filesystem::path path = folder.path() / "state.db";
};

inline std::unique_ptr<StateStore> open_store(const std::filesystem::path& path,
                                              SyncMode sync = SyncMode::normal) {
  return StateStore::open({path, sync});
}

/// Opens and closes the store at once (creates or migrates the file).
inline void open_and_close(const std::filesystem::path& path) {
  open_store(path);
}

/// The line StateStore::open throws for `path`; "" when it opened.
inline std::string refusal_to_open(const std::filesystem::path& path) {
  try {
    open_store(path);
  } catch (const StateError& error) {
    return error.what();
  }
  return "";
}

/// Runs `sql` on `path` through a connection of its own (the store must be
/// closed, or the SQL only reads).
inline void raw_sql(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* connection = nullptr;
  auto opened = sqlite3_open(path.c_str(), &connection);
  char* error = nullptr;
  auto result = opened == SQLITE_OK
                    ? sqlite3_exec(connection, sql.c_str(), nullptr, nullptr, &error)
                    : opened;
  std::string message = error != nullptr ? error : sqlite3_errstr(result);
  sqlite3_free(error);
  sqlite3_close(connection);
  INFO(sql << " → " << message);
  REQUIRE(result == SQLITE_OK);
}

/// The instances by name.
inline std::map<std::string, StoredInstance> by_name(const std::vector<StoredInstance>& instances) {
  std::map<std::string, StoredInstance> named;
  for (const auto& instance : instances) named[instance.name] = instance;
  return named;
}

inline std::vector<std::string> names_of(const std::vector<StoredInstance>& instances) {
  std::vector<std::string> names;
  for (const auto& instance : instances) names.push_back(instance.name);
  return names;
}

/// REQUIREs that a commit was saved, printing its error otherwise.
inline void require_saved(const CommitResult& result) {
  INFO("error: " << result.error);
  REQUIRE(result.saved);
}

inline Registered request_registration(const std::string& name,
                                       const std::string& class_key = "echo") {
  return {name, class_key, Origin::request};
}

}  // namespace processpype::state::testing
