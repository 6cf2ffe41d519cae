#pragma once

// One stored row of the state file (fuzz_state_row and tests/state): the
// input's columns are written, with the SQLite types the input gives them,
// into a real `instances` table (in memory, the current schema), then
// loaded through the store's own path (InstanceTable::load → decode_row).
// A row that does not decode must come back with a `problem`, never an
// exception or a crash; a row that decodes cleanly must be storable again
// and read back the same.
//
// Input: up to 7 columns, in the table's order (sequence, name, class_key,
// origin, configuration, desired, deregistered), separated by '\n'; each
// starts with its type: `n` NULL, `i` integer, `r` real, `t` text, `b` blob,
// followed by the value (numbers in decimal). A missing column is NULL.

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <sqlite3.h>

#include "instance_table.hpp"
#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/service_registry.hpp"
#include "row_decoding.hpp"
#include "schema.hpp"
#include "sqlite.hpp"

namespace processpype::fuzz {

namespace state_row_detail {

using state::ColumnValue;
using Type = ColumnValue::Type;

/// The columns of the input (views into it, and numbers parsed from it).
inline std::vector<ColumnValue> columns_of(std::string_view input) {
  std::vector<ColumnValue> columns;
  while (columns.size() < 7) {
    auto end = input.find('\n');
    auto field = input.substr(0, end);
    ColumnValue column;
    auto value = field.empty() ? field : field.substr(1);
    switch (field.empty() ? 'n' : field.front()) {
      case 'i':
        column.type = Type::integer;
        std::from_chars(value.data(), value.data() + value.size(), column.integer);
        break;
      case 'r':
        column.type = Type::real;
        std::from_chars(value.data(), value.data() + value.size(), column.real);
        break;
      case 't':
        column.type = Type::text;
        column.bytes = value;
        break;
      case 'b':
        column.type = Type::blob;
        column.bytes = value;
        break;
      default:
        break;
    }
    columns.push_back(column);
    if (end == std::string_view::npos) break;
    input.remove_prefix(end + 1);
  }
  columns.resize(7);
  return columns;
}

inline void bind(sqlite3_stmt* statement, int index, const ColumnValue& column) {
  auto size = static_cast<sqlite3_uint64>(column.bytes.size());
  switch (column.type) {
    case Type::integer:
      sqlite3_bind_int64(statement, index, column.integer);
      break;
    case Type::real:
      sqlite3_bind_double(statement, index, column.real);
      break;
    case Type::text:
      sqlite3_bind_text64(statement, index, column.bytes.data(), size, SQLITE_TRANSIENT,
                          SQLITE_UTF8);
      break;
    case Type::blob:
      sqlite3_bind_blob64(statement, index, column.bytes.data(), size, SQLITE_TRANSIENT);
      break;
    case Type::null:
      sqlite3_bind_null(statement, index);
      break;
  }
}

/// What is wrong with a decoded instance, if anything: a clean instance
/// must hold only what a request could have given.
inline std::optional<std::string> decoded_problem(const state::StoredInstance& instance) {
  if (instance.problem.find('\n') != std::string::npos) return "a problem spans lines";
  if (!instance.problem.empty()) {
    if (instance.problem.rfind("Stored state is unreadable: ", 0) != 0)
      return "a problem without its prefix: " + instance.problem;
    return std::nullopt;
  }
  if (!is_valid_instance_name(instance.name)) return "a clean row with an invalid name";
  if (instance.class_key.empty()) return "a clean row without a class";
  if (instance.sequence == 0) return "a clean row with sequence 0";
  if (instance.configuration &&
      (!instance.configuration->is_object() || !json_depth_within(*instance.configuration)))
    return "a clean row whose configuration is not a shallow JSON object";
  return std::nullopt;
}

/// The changes that store `instance` again.
inline std::vector<state::Change> changes_storing(const state::StoredInstance& instance) {
  std::vector<state::Change> changes{
      state::Registered{instance.name, instance.class_key, instance.origin}};
  if (instance.configuration)
    changes.push_back(state::Configured{instance.name, *instance.configuration});
  if (instance.desired) changes.push_back(state::DesiredChanged{instance.name, *instance.desired});
  if (instance.deregistered) changes.push_back(state::Deregistered{instance.name, true});
  return changes;
}

}  // namespace state_row_detail

class StateRowHarness {
 public:
  StateRowHarness()
      : connection_(state::sqlite::open(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) {
    state::upgrade_schema(connection_.get(), 0);
    table_.emplace(connection_.get());
    insert_ = state::sqlite::prepare(
        connection_.get(),
        "INSERT INTO instances (sequence, name, class_key, origin, configuration, desired,"
        " deregistered) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7);");
  }

  /// What is wrong with how the row `input` is handled, if anything. Any
  /// exception escapes to the caller (the fuzzer aborts on it).
  std::optional<std::string> check(std::string_view input) {
    using namespace state_row_detail;
    auto columns = columns_of(input);
    state::StoredRow row{columns[0], columns[1], columns[2], columns[3],
                         columns[4], columns[5], columns[6]};
    if (auto problem = decoded_problem(state::decode_row(row))) return "decode_row: " + *problem;

    table_->clear();
    if (!insert(columns)) return std::nullopt;  // refused by the table's constraints
    auto loaded = table_->load();
    if (loaded.size() != 1) return fmt::format("load() returned {} rows for 1", loaded.size());
    if (auto problem = decoded_problem(loaded[0])) return "load(): " + *problem;
    if (!loaded[0].problem.empty()) return std::nullopt;
    return stored_again(loaded[0]);
  }

 private:
  bool insert(const std::vector<state::ColumnValue>& columns) {
    auto* statement = insert_.get();
    state::sqlite::ResetOnExit reset{statement};
    for (int i = 0; i < 7; ++i)
      state_row_detail::bind(statement, i + 1, columns[static_cast<std::size_t>(i)]);
    return sqlite3_step(statement) == SQLITE_DONE;
  }

  /// A clean row, stored again through the changes, reads back the same.
  std::optional<std::string> stored_again(const state::StoredInstance& instance) {
    table_->clear();
    for (const auto& change : state_row_detail::changes_storing(instance)) {
      if (auto refusal = state::InstanceTable::refusal(change))
        return "a clean row's change is refused: " + *refusal;
      if (auto misfit = table_->apply(change))
        return "a clean row's change does not fit: " + *misfit;
    }
    auto again = table_->load();
    if (again.size() != 1) return "storing a clean row again did not give one row";
    auto expected = instance;
    expected.sequence = again[0].sequence;
    if (expected.deregistered) {  // a tombstone keeps neither
      expected.configuration.reset();
      expected.desired.reset();
    }
    if (!(again[0] == expected)) return "a clean row stored again reads back differently";
    return std::nullopt;
  }

  state::sqlite::Connection connection_;
  std::optional<state::InstanceTable> table_;
  state::sqlite::Statement insert_;
};

}  // namespace processpype::fuzz
