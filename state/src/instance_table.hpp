#pragma once

// The `instances` table of one connection: its statements, compiled once and
// reused, applying changes and loading every row. Transactions are the
// caller's (the store's writer groups many changes into one).

#include <optional>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "processpype/state/change.hpp"
#include "processpype/state/stored_instance.hpp"
#include "sqlite.hpp"

namespace processpype::state {

class InstanceTable {
 public:
  /// Compiles the statements; the schema must be current.
  explicit InstanceTable(sqlite3* connection);

  /// Why `change` cannot be stored, if it cannot: a value the table would
  /// not read back (an invalid name, a configuration that is not a JSON
  /// object or nests too deep). Checked before anything is written. A
  /// deletion (Deregistered without a tombstone) takes any name.
  static std::optional<std::string> refusal(const Change& change);

  /// Writes `change` (valid per refusal()). Returns why it did not fit the
  /// stored rows (e.g. a configure of a name with no row), with nothing
  /// written; throws sqlite::SqliteError when SQLite fails.
  std::optional<std::string> apply(const Change& change);

  /// Every row in registration order (one statement, then decoded on up to
  /// 8 threads); a row that does not decode comes back with its `problem`. Throws
  /// sqlite::SqliteError when the file cannot be read (e.g. a corrupt page).
  std::vector<StoredInstance> load();

  /// Deletes every row.
  void clear();

 private:
  std::optional<std::string> apply_one(const Registered& change);
  std::optional<std::string> apply_one(const Configured& change);
  std::optional<std::string> apply_one(const Unconfigured& change);
  std::optional<std::string> apply_one(const DesiredChanged& change);
  std::optional<std::string> apply_one(const Deregistered& change);

  sqlite3* connection_;
  sqlite::Statement delete_tombstone_;
  sqlite::Statement upsert_registration_;
  sqlite::Statement update_configuration_;
  sqlite::Statement clear_configuration_;
  sqlite::Statement update_desired_;
  sqlite::Statement delete_instance_;
  sqlite::Statement make_tombstone_;
  sqlite::Statement select_all_;
  sqlite::Statement delete_all_;
};

}  // namespace processpype::state
