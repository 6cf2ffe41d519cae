#include "sqlite.hpp"

namespace processpype::state::sqlite {

void check(sqlite3* connection, int result) {
  if (result == SQLITE_OK || result == SQLITE_ROW || result == SQLITE_DONE) return;
  // The connection's message describes its last failure; sqlite3_errstr is
  // the generic text when there is no connection.
  auto message = connection != nullptr ? sqlite3_errmsg(connection) : sqlite3_errstr(result);
  auto code = connection != nullptr ? sqlite3_extended_errcode(connection) : result;
  throw SqliteError(code, message);
}

namespace {

/// SQLite counts the memory it allocates under a process-wide mutex, taken
/// at every allocation of every statement; nothing here reads the counts.
/// It can only be turned off before SQLite initializes (a later call is
/// refused and changes nothing).
void skip_memory_statistics() noexcept {
  static const bool configured [[maybe_unused]] =
      sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
}

}  // namespace

Connection open(const std::string& path, int flags) {
  skip_memory_statistics();
  sqlite3* raw = nullptr;
  auto result = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Connection connection{raw};  // closed on every path, also when the open failed
  if (result != SQLITE_OK) {
    if (raw == nullptr) throw SqliteError(result, sqlite3_errstr(result));
    check(raw, result);
  }
  sqlite3_extended_result_codes(raw, 1);
  return connection;
}

void execute(sqlite3* connection, const char* sql) {
  check(connection, sqlite3_exec(connection, sql, nullptr, nullptr, nullptr));
}

Statement prepare(sqlite3* connection, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  auto result = sqlite3_prepare_v3(connection, sql.data(), static_cast<int>(sql.size()),
                                   SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Statement statement{raw};
  check(connection, result);
  return statement;
}

std::int64_t query_integer(sqlite3* connection, const char* sql) {
  auto statement = prepare(connection, sql);
  auto result = sqlite3_step(statement.get());
  check(connection, result);
  return result == SQLITE_ROW ? sqlite3_column_int64(statement.get(), 0) : 0;
}

std::string query_text(sqlite3* connection, const char* sql) {
  auto statement = prepare(connection, sql);
  auto result = sqlite3_step(statement.get());
  check(connection, result);
  if (result != SQLITE_ROW) return {};
  const auto* text = sqlite3_column_text(statement.get(), 0);
  return text != nullptr ? reinterpret_cast<const char*>(text) : "";
}

void bind_text(sqlite3_stmt* statement, int index, std::string_view text) {
  check(sqlite3_db_handle(statement),
        sqlite3_bind_text64(statement, index, text.data(), text.size(), SQLITE_TRANSIENT,
                            SQLITE_UTF8));
}

void bind_lasting_text(sqlite3_stmt* statement, int index, std::string_view text) {
  check(sqlite3_db_handle(statement), sqlite3_bind_text64(statement, index, text.data(),
                                                          text.size(), SQLITE_STATIC, SQLITE_UTF8));
}

void bind_integer(sqlite3_stmt* statement, int index, std::int64_t value) {
  check(sqlite3_db_handle(statement), sqlite3_bind_int64(statement, index, value));
}

void bind_null(sqlite3_stmt* statement, int index) {
  check(sqlite3_db_handle(statement), sqlite3_bind_null(statement, index));
}

int run(sqlite3_stmt* statement) {
  ResetOnExit reset{statement};
  auto* connection = sqlite3_db_handle(statement);
  int result = SQLITE_ROW;
  while (result == SQLITE_ROW) result = sqlite3_step(statement);
  check(connection, result);
  return sqlite3_changes(connection);
}

}  // namespace processpype::state::sqlite
