#include "instance_table.hpp"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/service_registry.hpp"
#include "row_decoding.hpp"

namespace processpype::state {

namespace {

/// Threads that decode a large load: the cores, up to 8.
const unsigned decoding_threads = std::clamp(std::thread::hardware_concurrency(), 1U, 8U);

std::string no_row(const std::string& name) {
  return fmt::format("no stored instance named {} (its Registered change must come first)", name);
}

std::optional<std::string> refusal_of(const Registered& change) {
  if (change.class_key.empty()) return fmt::format("{}: the class key is empty", change.name);
  return std::nullopt;
}

std::optional<std::string> refusal_of(const Configured& change) {
  if (!change.configuration.is_object())
    return fmt::format("{}: a configuration must be a JSON object", change.name);
  if (!json_depth_within(change.configuration))
    return fmt::format("{}: the configuration nests deeper than {} levels", change.name,
                       max_json_depth);
  return std::nullopt;
}

std::optional<std::string> refusal_of(const Unconfigured&) {
  return std::nullopt;
}
std::optional<std::string> refusal_of(const DesiredChanged&) {
  return std::nullopt;
}
std::optional<std::string> refusal_of(const Deregistered&) {
  return std::nullopt;
}

}  // namespace

InstanceTable::InstanceTable(sqlite3* connection)
    : connection_(connection),
      delete_tombstone_(sqlite::prepare(
          connection, "DELETE FROM instances WHERE name = ?1 AND deregistered <> 0;")),
      upsert_registration_(
          sqlite::prepare(connection,
                          "INSERT INTO instances (name, class_key, origin) VALUES (?1, ?2, ?3)"
                          " ON CONFLICT (name) DO UPDATE SET class_key = excluded.class_key,"
                          " origin = excluded.origin;")),
      update_configuration_(sqlite::prepare(
          connection,
          "UPDATE instances SET configuration = ?2 WHERE name = ?1 AND deregistered = 0;")),
      clear_configuration_(sqlite::prepare(
          connection,
          "UPDATE instances SET configuration = NULL WHERE name = ?1 AND deregistered = 0;")),
      update_desired_(sqlite::prepare(
          connection, "UPDATE instances SET desired = ?2 WHERE name = ?1 AND deregistered = 0;")),
      delete_instance_(sqlite::prepare(connection, "DELETE FROM instances WHERE name = ?1;")),
      make_tombstone_(sqlite::prepare(connection,
                                      "UPDATE instances SET deregistered = 1, configuration = "
                                      "NULL, desired = NULL WHERE name = ?1;")),
      select_all_(sqlite::prepare(connection, load_sql)),
      delete_all_(sqlite::prepare(connection, "DELETE FROM instances;")) {}

std::optional<std::string> InstanceTable::refusal(const Change& change) {
  // Only names the runtime accepts: the table would not read others back.
  // Deleting a row is fine whatever its name: it purges a row that loaded
  // with a problem.
  const auto* deregistration = std::get_if<Deregistered>(&change);
  bool deletion = deregistration != nullptr && !deregistration->tombstone;
  if (!deletion && !is_valid_instance_name(instance_name(change)))
    return fmt::format("{} is not a valid instance name", json_text(instance_name(change)));
  return std::visit([](const auto& alternative) { return refusal_of(alternative); }, change);
}

std::optional<std::string> InstanceTable::apply(const Change& change) {
  return std::visit([this](const auto& alternative) { return apply_one(alternative); }, change);
}

std::optional<std::string> InstanceTable::apply_one(const Registered& change) {
  // A registration by request is a new instance: whatever row the name had
  // (a tombstone, or the kept row of a file instance the application file
  // no longer lists) gives way to a fresh row, a new sequence with nothing
  // of the earlier instance (docs/state.md, "What is stored"). A file
  // instance's registration, submitted with each of its changes, keeps its
  // live row; only a tombstone gives way.
  auto* earlier =
      change.origin == Origin::request ? delete_instance_.get() : delete_tombstone_.get();
  sqlite::bind_text(earlier, 1, change.name);
  sqlite::run(earlier);
  auto* statement = upsert_registration_.get();
  sqlite::bind_text(statement, 1, change.name);
  sqlite::bind_text(statement, 2, change.class_key);
  sqlite::bind_text(statement, 3, to_string(change.origin));
  sqlite::run(statement);
  return std::nullopt;
}

std::optional<std::string> InstanceTable::apply_one(const Configured& change) {
  auto* statement = update_configuration_.get();
  sqlite::bind_text(statement, 1, change.name);
  sqlite::bind_text(statement, 2, json_text(change.configuration));
  if (sqlite::run(statement) == 0) return no_row(change.name);
  return std::nullopt;
}

std::optional<std::string> InstanceTable::apply_one(const Unconfigured& change) {
  auto* statement = clear_configuration_.get();
  sqlite::bind_text(statement, 1, change.name);
  if (sqlite::run(statement) == 0) return no_row(change.name);
  return std::nullopt;
}

std::optional<std::string> InstanceTable::apply_one(const DesiredChanged& change) {
  // The commonest change (every user's start and stop): bound without copies.
  auto* statement = update_desired_.get();
  sqlite::bind_lasting_text(statement, 1, change.name);
  sqlite::bind_lasting_text(statement, 2, to_string(change.desired));
  if (sqlite::run(statement) == 0) return no_row(change.name);
  return std::nullopt;
}

std::optional<std::string> InstanceTable::apply_one(const Deregistered& change) {
  auto* statement = change.tombstone ? make_tombstone_.get() : delete_instance_.get();
  sqlite::bind_text(statement, 1, change.name);
  // Deleting a row that is not there leaves the table as asked.
  if (sqlite::run(statement) == 0 && change.tombstone) return no_row(change.name);
  return std::nullopt;
}

std::vector<StoredInstance> InstanceTable::load() {
  auto* statement = select_all_.get();
  sqlite::ResetOnExit reset{statement};
  std::vector<CopiedRow> rows;
  int result = SQLITE_ROW;
  while ((result = sqlite3_step(statement)) == SQLITE_ROW)
    rows.push_back(CopiedRow::read(statement));
  sqlite::check(connection_, result);
  return decode_rows(rows, decoding_threads);
}

void InstanceTable::clear() {
  sqlite::run(delete_all_.get());
}

}  // namespace processpype::state
