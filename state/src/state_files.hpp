#pragma once

// The files around the database: its folder, its lock and its mode. All
// throw FileProblem with the reason; the store adds the path it was given.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include <spdlog/logger.h>

namespace processpype::state {

/// Why a file or folder cannot be used, as the end of a StateError's line.
class FileProblem : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Creates the folder of `database` and its missing parents, each with mode
/// 0700 (the state file says what a node runs: only its user reads it).
/// Throws when one cannot be created or the folder is not writable (SQLite
/// writes its -wal and -shm files next to the database).
void prepare_folder(const std::filesystem::path& database);

/// Throws what prepare_folder would, without creating or changing anything:
/// the folder, or the nearest existing one a start would create it in, is
/// not a writable folder.
void check_folder(const std::filesystem::path& database);

/// Throws "not a SQLite database" when `database` exists, is not empty and
/// does not start with SQLite's 16-byte header, "not a regular file" for a
/// folder, device or FIFO; reads it only. Checked before the file is
/// created or locked and its mode narrowed, so that a file refused is left
/// as it was.
void check_database_header(const std::filesystem::path& database);

/// Narrows the mode of `database` and of its -wal and -shm files when they
/// exist: a mode that lets the group or others in is narrowed to the
/// owner's bits (logged), never widened.
void narrow_database_modes(const std::filesystem::path& database, spdlog::logger& logger);

/// Creates `destination` empty with mode 0600 for a backup (VACUUM INTO
/// writes into a new or empty file). An existing empty file is used as it
/// is.
void create_backup_file(const std::filesystem::path& destination);

/// fsync()s the file at `path`.
void sync_file(const std::filesystem::path& path);

/// One node per state file: an exclusive flock on the database file itself
/// for the lock's lifetime. On the file, not on a name: a second node that
/// reaches it through a hard link is refused too (docs/state.md, "The
/// file"). Linux keeps flock locks apart from the
/// POSIX locks SQLite takes, but closing any descriptor of the file drops
/// SQLite's POSIX locks in this process: the lock must outlive every SQLite
/// connection to the file. The descriptor is close-on-exec, so programs a
/// service starts never hold it.
class StateFileLock {
 public:
  /// Opens `database`, creating it empty with mode 0600 when missing, and
  /// locks it. Throws "not a regular file", or "locked by another running
  /// node" when another process (or another store in this process) holds it.
  explicit StateFileLock(const std::filesystem::path& database);
  ~StateFileLock();
  StateFileLock(const StateFileLock&) = delete;
  StateFileLock& operator=(const StateFileLock&) = delete;

  /// Why the path no longer names the locked file, to follow "the state
  /// file <path> ": "was removed while the node runs", "was replaced by
  /// another file while the node runs"; nothing while it does. One stat().
  std::optional<std::string> displaced() const;

 private:
  std::filesystem::path database_;
  int descriptor_ = -1;
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

}  // namespace processpype::state
