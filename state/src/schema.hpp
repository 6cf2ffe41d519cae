#pragma once

// The state file's schema, versioned by SQLite's `PRAGMA user_version`, and
// its migrations (docs/state.md).
//
// Version 2 (current):
//   instances(sequence INTEGER PRIMARY KEY  -- registration order
//             name TEXT NOT NULL UNIQUE, class_key TEXT NOT NULL,
//             origin TEXT NOT NULL          -- 'file' | 'request'
//             configuration TEXT            -- the configure body as a JSON object; NULL: none
//             desired TEXT                  -- 'running' | 'stopped'; NULL: no user start/stop
//             deregistered INTEGER NOT NULL DEFAULT 0)  -- 1: a file instance's tombstone
// Version 1 (the first release): instances(name TEXT PRIMARY KEY, class_key,
//   origin, configuration, running INTEGER -- 1 started, 0 stopped, NULL
//   neither); no tombstones, registration order was the implicit rowid.

#include <sqlite3.h>

namespace processpype::state {

inline constexpr int current_schema_version = 2;

/// The version a file was written with: PRAGMA user_version, or 0 for a
/// database with no tables (a new file). Throws NotStateFile for a database
/// with tables but no version (another program's database), and
/// sqlite::SqliteError when the file cannot be read (e.g. not a database).
int schema_version(sqlite3* connection);

/// A SQLite database that is not a state file.
struct NotStateFile {};

/// Creates the current schema in a new file, or migrates an older version
/// to it, in one transaction. Returns whether anything was written.
/// `version` is what schema_version() returned (at most the current one).
bool upgrade_schema(sqlite3* connection, int version);

}  // namespace processpype::state
