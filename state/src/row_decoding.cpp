#include "row_decoding.hpp"

#include <algorithm>
#include <exception>
#include <string>
#include <thread>

#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::state {

namespace {

using Type = ColumnValue::Type;

/// The problems of one row, joined into one line.
class Problems {
 public:
  void add(std::string_view problem) {
    text_ += text_.empty() ? "Stored state is unreadable: " : "; ";
    text_ += problem;
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

std::string_view text_of(const ColumnValue& column) {
  return column.type == Type::text ? column.bytes : std::string_view{};
}

void decode_name(const ColumnValue& column, StoredInstance& instance, Problems& problems) {
  instance.name = std::string{text_of(column)};
  if (column.type != Type::text)
    problems.add("the name is not text");
  else if (!is_valid_instance_name(instance.name))
    problems.add("the name is not 1-64 characters of [A-Za-z0-9_.-]");
}

void decode_class_key(const ColumnValue& column, StoredInstance& instance, Problems& problems) {
  instance.class_key = std::string{text_of(column)};
  if (column.type != Type::text || instance.class_key.empty()) problems.add("the class is missing");
}

void decode_origin(const ColumnValue& column, StoredInstance& instance, Problems& problems) {
  if (auto origin = origin_from_string(text_of(column)))
    instance.origin = *origin;
  else
    problems.add("the origin is neither 'file' nor 'request'");
}

void decode_configuration(const ColumnValue& column, StoredInstance& instance, Problems& problems) {
  if (column.type == Type::null) return;
  auto text = text_of(column);
  if (column.type != Type::text || text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    problems.add("the configuration is not JSON text");
    return;
  }
  // The rules of a configure body (depth, number range), so that stored
  // data is never trusted more than a request.
  try {
    auto configuration = parse_json(text);
    if (!configuration.is_object()) {
      problems.add("the configuration is not a JSON object");
      return;
    }
    instance.configuration = std::move(configuration);
  } catch (const Error& error) {
    problems.add("the configuration is not valid JSON (" + error.detail() + ")");
  }
}

void decode_desired(const ColumnValue& column, StoredInstance& instance, Problems& problems) {
  if (column.type == Type::null) return;
  if (auto desired = desired_state_from_string(text_of(column)))
    instance.desired = *desired;
  else
    problems.add("the desired state is neither 'running' nor 'stopped'");
}

void decode_deregistered(const ColumnValue& column, StoredInstance& instance, Problems& problems) {
  if (column.type == Type::integer && (column.integer == 0 || column.integer == 1))
    instance.deregistered = column.integer == 1;
  else
    problems.add("the deregistered flag is neither 0 nor 1");
}

void decode_sequence(const ColumnValue& column, StoredInstance& instance, Problems& problems) {
  if (column.type == Type::integer && column.integer > 0)
    instance.sequence = static_cast<std::uint64_t>(column.integer);
  else
    problems.add("the sequence is not a positive integer");
}

}  // namespace

ColumnValue ColumnValue::read(sqlite3_stmt* statement, int index) {
  ColumnValue column;
  switch (sqlite3_column_type(statement, index)) {
    case SQLITE_INTEGER:
      column.type = Type::integer;
      column.integer = sqlite3_column_int64(statement, index);
      break;
    case SQLITE_FLOAT:
      column.type = Type::real;
      column.real = sqlite3_column_double(statement, index);
      break;
    case SQLITE_TEXT: {
      column.type = Type::text;
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, index));
      auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, index));
      if (text != nullptr) column.bytes = {text, size};
      break;
    }
    case SQLITE_BLOB: {
      column.type = Type::blob;
      const auto* blob = static_cast<const char*>(sqlite3_column_blob(statement, index));
      auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, index));
      if (blob != nullptr) column.bytes = {blob, size};
      break;
    }
    default:
      break;
  }
  return column;
}

CopiedRow CopiedRow::read(sqlite3_stmt* statement) {
  CopiedRow row;
  for (std::size_t i = 0; i < row.columns_.size(); ++i) {
    auto column = ColumnValue::read(statement, static_cast<int>(i));
    row.columns_[i] = {column.type, column.integer, column.real, std::string{column.bytes}};
  }
  return row;
}

StoredRow CopiedRow::view() const {
  return {columns_[0].view(), columns_[1].view(), columns_[2].view(), columns_[3].view(),
          columns_[4].view(), columns_[5].view(), columns_[6].view()};
}

std::vector<StoredInstance> decode_rows(const std::vector<CopiedRow>& rows, unsigned threads) {
  // Below this many rows per thread, starting threads costs more than it saves.
  constexpr std::size_t rows_per_thread = 2048;
  std::vector<StoredInstance> instances(rows.size());
  auto decode_range = [&](std::size_t first, std::size_t last) {
    for (auto i = first; i < last; ++i) instances[i] = decode_row(rows[i].view());
  };
  auto workers = std::clamp<std::size_t>(rows.size() / rows_per_thread, 1, std::max(threads, 1U));
  auto chunk = (rows.size() + workers - 1) / workers;
  std::vector<std::exception_ptr> failures(workers);
  std::vector<std::thread> helpers;
  for (std::size_t worker = 1; worker < workers; ++worker)
    helpers.emplace_back([&, worker] {
      try {
        decode_range(worker * chunk, std::min(rows.size(), (worker + 1) * chunk));
      } catch (...) {
        failures[worker] = std::current_exception();
      }
    });
  try {
    decode_range(0, std::min(rows.size(), chunk));
  } catch (...) {
    failures[0] = std::current_exception();
  }
  for (auto& helper : helpers) helper.join();
  for (const auto& failure : failures)
    if (failure) std::rethrow_exception(failure);
  return instances;
}

StoredInstance decode_row(const StoredRow& row) {
  StoredInstance instance;
  Problems problems;
  decode_sequence(row.sequence, instance, problems);
  decode_name(row.name, instance, problems);
  decode_class_key(row.class_key, instance, problems);
  decode_origin(row.origin, instance, problems);
  decode_configuration(row.configuration, instance, problems);
  decode_desired(row.desired, instance, problems);
  decode_deregistered(row.deregistered, instance, problems);
  instance.problem = problems.take();
  return instance;
}

}  // namespace processpype::state
