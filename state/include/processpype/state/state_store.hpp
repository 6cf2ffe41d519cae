#pragma once

// The durable state of a node (docs/state.md): what the control API did
// (registrations, configurations, desired run states, deregistrations),
// kept in one SQLite file so that a restart or a crash loses no
// acknowledged request.
//
//   auto store = StateStore::open({"/var/lib/processpype/state.db"});
//   for (auto& instance : store->load()) ...            // at start
//   store->submit(Configured{"echo", body}, [](const CommitResult& result) {
//     // on the store's writer thread: hand the result over, return at once
//   });
//
// Writes are write-ahead and grouped: submit() returns at once; the store's
// writer thread takes every submission queued so far, writes them in one
// transaction, then calls each callback. Submissions are stored in the
// order they were made.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "processpype/state/change.hpp"
#include "processpype/state/state_error.hpp"
#include "processpype/state/state_metrics.hpp"
#include "processpype/state/stored_instance.hpp"

namespace processpype::state {

/// SQLite's `synchronous` setting with a WAL journal. `normal` syncs at
/// checkpoints only: a commit survives a crash of the process, and a power
/// loss may take the last commits. `full` syncs the journal at every commit:
/// a commit also survives a power loss, at the cost of one fsync each.
enum class SyncMode { normal, full };

std::string_view to_string(SyncMode sync) noexcept;
/// "normal" / "full"; nullopt for anything else.
std::optional<SyncMode> sync_mode_from_string(std::string_view text) noexcept;

struct StateStoreOptions {
  std::filesystem::path path;  ///< the database file; its folder is created if missing
  SyncMode sync = SyncMode::normal;
};

/// What StateStore::open refuses before it opens the database, found
/// without creating, locking or changing anything (`processpype
/// check-config`): the folder cannot be created or written, or the file
/// exists and is not a regular file or not a SQLite database (by its
/// header; an empty file is a new one). Throws StateError as open() does.
/// Only open() finds a database that is not a state file, is damaged, newer
/// or locked.
void check_state_path(const std::filesystem::path& path);

/// How a submission ended.
struct CommitResult {
  bool saved = false;
  /// Why not, when not saved: SQLite's message for a failed write (e.g.
  /// "database or disk is full"), or why a change did not fit the stored
  /// rows (a bug of the caller).
  std::string error;
};

/// What SQLite applied, read back from the store's connection (for the log
/// line at start, and tests).
struct AppliedSettings {
  std::string journal_mode;      ///< "wal"
  std::optional<SyncMode> sync;  ///< nullopt: a `synchronous` level other than NORMAL and FULL
  int schema_version = 0;        ///< PRAGMA user_version
};

/// Called once per submission, on the store's writer thread, after its
/// transaction committed or failed. It delays every later commit while it
/// runs: keep it short (send a message, fulfil a promise), and never call a
/// blocking member of the store from it.
using CommitCallback = std::function<void(const CommitResult&)>;

/// The state file of one node. Every member may be called from any thread.
/// The blocking ones (commit, load, reset, applied_settings) throw
/// std::logic_error when called from a commit callback, which would wait for
/// itself; submit() from a callback is fine.
class StateStore {
 public:
  using Options = StateStoreOptions;

  /// Opens (or creates) the state file and locks the file itself (not its
  /// name: a hard link to a locked file is refused too). Creates the
  /// folder (mode 0700) and the file (mode 0600) when missing, narrows the
  /// mode of an existing file that others may read, sets the WAL journal
  /// and `sync`, creates the schema or migrates an older one in place.
  /// Throws StateError, one line naming the path and the reason, when the
  /// folder cannot be created or written, the file cannot be opened, is not
  /// a SQLite database or not a state file, is corrupt, is locked by another
  /// running node (or another store of this process), or was written by a
  /// newer schema.
  static std::unique_ptr<StateStore> open(const Options& options);

  /// Finishes every queued submission (their callbacks run), stops the
  /// writer thread, closes the file and releases the lock.
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  /// Queues `changes` (stored atomically: all or none) and returns at once;
  /// `done` is called on the writer thread once they are committed, or with
  /// the reason they are not. A write that fails rolls back its whole
  /// transaction: every submission in it fails with SQLite's message. While
  /// the path no longer names the file the store opened (removed or
  /// replaced), every write fails, saying so. A change that does not fit (invalid name,
  /// configuration not a JSON object, a row that does not exist) fails its own submission only.
  /// Once the store is being destroyed, `done` is called at once, on the
  /// caller's thread, with "the state store is closing".
  void submit(std::vector<Change> changes, CommitCallback done);
  void submit(Change change, CommitCallback done);

  /// submit() and wait for the result: for the start of a node and for
  /// embedding code outside any actor. Never call it from a callback.
  CommitResult commit(std::vector<Change> changes);
  CommitResult commit(Change change);

  /// Every stored instance in registration order, after every submission
  /// made before the call. A row that does not decode comes back with its
  /// `problem` set. Throws StateError when the file cannot be read.
  std::vector<StoredInstance> load();

  /// Deletes everything stored (`--reset-state`). Throws StateError.
  void reset();

  /// Writes a consistent copy of the committed state to `destination` (a new
  /// file, mode 0600; its folder must exist) while the node keeps running
  /// and committing: SQLite's VACUUM INTO, on a connection of its own, so
  /// commits do not wait for it. The copy is a state file like any other:
  /// start a node on it to restore. Throws StateError when the copy cannot
  /// be written (an existing non-empty destination is refused).
  void backup(const std::filesystem::path& destination);

  /// Reads the settings back from SQLite (after everything queued before).
  AppliedSettings applied_settings();

  /// Commit durations, committed transactions and changes, errors.
  const StateMetrics& metrics() const noexcept;

  const std::filesystem::path& path() const noexcept;
  SyncMode sync() const noexcept;
  /// The schema version the file had when it was opened (0: a new file);
  /// smaller than current_schema_version() when it was migrated.
  int opened_schema_version() const noexcept;
  static int current_schema_version() noexcept;

 private:
  struct Impl;
  explicit StateStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace processpype::state
