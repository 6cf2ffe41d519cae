#pragma once

// The files around the database: its folder, its lock and its mode. All
// throw FileProblem with the reason; the store adds the path it was given.

#include <filesystem>
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
/// folder, device or FIFO; reads it only. Checked before the lock file is
/// created and the mode narrowed, so that a file refused is left as it was.
void check_database_header(const std::filesystem::path& database);

/// Creates `database` empty with mode 0600 when it does not exist. An
/// existing file must be a regular file; a mode that lets the group or
/// others in is narrowed to the owner's bits (logged), never widened, and
/// so are the modes of its -wal and -shm files when they exist.
void prepare_database_file(const std::filesystem::path& database, spdlog::logger& logger);

/// Creates `destination` empty with mode 0600 for a backup (VACUUM INTO
/// writes into a new or empty file). An existing empty file is used as it
/// is.
void create_backup_file(const std::filesystem::path& destination);

/// fsync()s the file at `path`.
void sync_file(const std::filesystem::path& path);

/// One node per state file: an exclusive flock on `<database>.lock` for the
/// lock's lifetime. A separate file, because closing any descriptor of the
/// database itself would drop SQLite's own POSIX locks in this process. The
/// descriptor is close-on-exec, so programs a service starts never hold it.
class StateFileLock {
 public:
  /// Throws "locked by another running node" when another process (or
  /// another store in this process) holds it.
  explicit StateFileLock(const std::filesystem::path& database);
  /// Removes the lock file when this lock created it and keep() was not
  /// called: a refused open leaves nothing behind (docs/state.md).
  ~StateFileLock();
  StateFileLock(const StateFileLock&) = delete;
  StateFileLock& operator=(const StateFileLock&) = delete;

  /// The store opened: the lock file stays after the lock is released.
  void keep() noexcept { kept_ = true; }

 private:
  std::string path_;
  int descriptor_ = -1;
  bool created_ = false;
  bool kept_ = false;
};

}  // namespace processpype::state
