#pragma once

// A thin RAII layer over SQLite's C API: owned connections and statements,
// and one exception for every failed call, carrying SQLite's result code and
// message (e.g. "database or disk is full").

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sqlite3.h>

namespace processpype::state::sqlite {

/// A failed SQLite call: the (extended) result code and SQLite's message.
class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}

  /// The extended result code; `primary()` is its low byte (SQLITE_FULL...).
  int code() const noexcept { return code_; }
  int primary() const noexcept { return code_ & 0xff; }

 private:
  int code_;
};

struct ConnectionCloser {
  void operator()(sqlite3* connection) const noexcept { sqlite3_close_v2(connection); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

/// Throws SqliteError with the connection's current error when `result` is
/// not SQLITE_OK, SQLITE_ROW or SQLITE_DONE.
void check(sqlite3* connection, int result);

/// Opens `path` with `flags` (SQLITE_OPEN_*), extended result codes on.
Connection open(const std::string& path, int flags);

/// Runs one or more statements that return nothing of interest.
void execute(sqlite3* connection, const char* sql);

/// A statement, compiled once, kept for the connection's lifetime.
Statement prepare(sqlite3* connection, std::string_view sql);

/// One integer that a statement such as `PRAGMA user_version` returns.
std::int64_t query_integer(sqlite3* connection, const char* sql);
/// One text that a statement such as `PRAGMA journal_mode` returns ("" for NULL).
std::string query_text(sqlite3* connection, const char* sql);

/// Binding helpers (1-based parameter indexes); the text is copied.
void bind_text(sqlite3_stmt* statement, int index, std::string_view text);
/// The same without the copy: `text` must outlive the run() that follows
/// (run() clears the bindings), as a change's name does while it is stored.
void bind_lasting_text(sqlite3_stmt* statement, int index, std::string_view text);
void bind_integer(sqlite3_stmt* statement, int index, std::int64_t value);
void bind_null(sqlite3_stmt* statement, int index);

/// Steps `statement` to its end, then resets it and clears its bindings,
/// also when a step fails; returns how many rows it changed.
int run(sqlite3_stmt* statement);

/// Resets a statement and clears its bindings when the scope ends, so that
/// a reused statement never stays half-run after an error.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* statement) noexcept : statement_(statement) {}
  ~ResetOnExit() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* statement_;
};

}  // namespace processpype::state::sqlite
