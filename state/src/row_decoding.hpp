#pragma once

// Turning one stored row back into a StoredInstance: a pure function of the
// row's column values, so that a fuzzer can drive it with any values. The
// state file may hold anything (an edit by hand, a bug of an older release,
// a disk that flipped bits): a value that does not decode gives the instance
// a `problem`, never an exception or a crash.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sqlite3.h>

#include "processpype/state/stored_instance.hpp"

namespace processpype::state {

/// One column's value as SQLite holds it: any column may hold any type.
struct ColumnValue {
  enum class Type { null, integer, real, text, blob };
  Type type = Type::null;
  std::int64_t integer = 0;
  double real = 0;
  std::string_view bytes;  ///< text or blob; valid while the row is

  /// Column `index` of the current row of `statement` (the bytes stay valid
  /// until the statement steps again).
  static ColumnValue read(sqlite3_stmt* statement, int index);
};

/// The columns of one row of `instances`, in the order load_sql selects them.
struct StoredRow {
  ColumnValue sequence;
  ColumnValue name;
  ColumnValue class_key;
  ColumnValue origin;
  ColumnValue configuration;
  ColumnValue desired;
  ColumnValue deregistered;
};

/// Every row, in registration order, columns as StoredRow reads them.
inline constexpr std::string_view load_sql =
    "SELECT sequence, name, class_key, origin, configuration, desired, deregistered"
    " FROM instances ORDER BY sequence;";

/// A row's columns copied out of SQLite, so that another thread can decode
/// it after the statement moved on.
class CopiedRow {
 public:
  static CopiedRow read(sqlite3_stmt* statement);
  /// Views into this row: valid while it lives, unmoved.
  StoredRow view() const;

 private:
  struct Column {
    ColumnValue::Type type = ColumnValue::Type::null;
    std::int64_t integer = 0;
    double real = 0;
    std::string bytes;
    ColumnValue view() const { return {type, integer, real, bytes}; }
  };
  std::array<Column, 7> columns_;
};

/// The instance a row holds; `problem` says what did not decode. Throws
/// nothing for any value (only std::bad_alloc when memory runs out).
StoredInstance decode_row(const StoredRow& row);

/// decode_row of every row, in order, on up to `threads` threads (parsing
/// the configurations' JSON is most of a load's time).
std::vector<StoredInstance> decode_rows(const std::vector<CopiedRow>& rows, unsigned threads);

}  // namespace processpype::state
