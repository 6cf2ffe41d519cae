#include "schema.hpp"

#include <string>

#include "sqlite.hpp"

namespace processpype::state {

namespace {

constexpr const char* instances_table_v2 =
    "CREATE TABLE instances ("
    " sequence INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " class_key TEXT NOT NULL,"
    " origin TEXT NOT NULL,"
    " configuration TEXT,"
    " desired TEXT,"
    " deregistered INTEGER NOT NULL DEFAULT 0);";

/// Version 1 stored the desired run state as an integer and had no
/// tombstones. A `running` value other than 0, 1 or NULL is carried over as
/// text, so that loading reports that row instead of silently dropping it.
constexpr const char* copy_version_1_rows =
    "INSERT INTO instances (name, class_key, origin, configuration, desired)"
    " SELECT name, class_key, origin, configuration,"
    "  CASE WHEN running IS NULL THEN NULL"
    "   WHEN running = 1 THEN 'running' WHEN running = 0 THEN 'stopped'"
    "   ELSE 'version 1 running=' || CAST(running AS TEXT) END"
    " FROM instances_v1 ORDER BY rowid;"
    "DROP TABLE instances_v1;";

void migrate_from_version_1(sqlite3* connection) {
  sqlite::execute(connection, "ALTER TABLE instances RENAME TO instances_v1;");
  sqlite::execute(connection, instances_table_v2);
  sqlite::execute(connection, copy_version_1_rows);
}

void set_version(sqlite3* connection, int version) {
  auto sql = "PRAGMA user_version = " + std::to_string(version) + ";";
  sqlite::execute(connection, sql.c_str());
}

}  // namespace

int schema_version(sqlite3* connection) {
  auto version = sqlite::query_integer(connection, "PRAGMA user_version;");
  if (version == 0 && sqlite::query_integer(connection, "SELECT count(*) FROM sqlite_master;") > 0)
    throw NotStateFile{};
  return static_cast<int>(version);
}

bool upgrade_schema(sqlite3* connection, int version) {
  if (version == current_schema_version) return false;
  sqlite::execute(connection, "BEGIN IMMEDIATE;");
  try {
    // Another connection cannot have changed the version in between: the
    // store holds the file's lock before it reads it.
    if (version == 0) sqlite::execute(connection, instances_table_v2);
    if (version == 1) migrate_from_version_1(connection);
    set_version(connection, current_schema_version);
    sqlite::execute(connection, "COMMIT;");
  } catch (...) {
    if (sqlite3_get_autocommit(connection) == 0)
      sqlite3_exec(connection, "ROLLBACK;", nullptr, nullptr, nullptr);
    throw;
  }
  return true;
}

}  // namespace processpype::state
