// Writing records (docs/cluster.md, "Records"): created once, then
// written only by the owner, in a transaction that compares the record's
// mod revision and this node's owner key, so that a stale owner or a
// second writer cannot overwrite what another wrote.

#include "coordinator_impl.hpp"

namespace processpype::cluster {

namespace {

const etcd::KeyValue* first_of(const etcd::TxnResult& result, std::size_t response) {
  if (result.responses.size() <= response || result.responses[response].kvs.empty()) return nullptr;
  return &result.responses[response].kvs.front();
}

std::optional<InstanceRecord> decoded(const etcd::KeyValue* kv) {
  if (kv == nullptr) return std::nullopt;
  try {
    return decode_record(kv->value);
  } catch (const RecordError&) {
    return std::nullopt;
  }
}

/// A write the store may have applied: sent and unanswered, or answered
/// with something that is not etcd's answer (cut short on the way).
bool outcome_unknown(const etcd::StoreError& error) {
  return error.outcome_unknown() || error.kind() == etcd::StoreError::Kind::malformed;
}

}  // namespace

bool Coordinator::Impl::fail_fast(const WriteDone& done) {
  if (reachable_.load() != 0) return false;
  finish(done, {WriteOutcome::unreachable, 0, "cluster store unreachable"});
  return true;
}

WriteResult Coordinator::Impl::store_failure(const etcd::StoreError& error) const {
  if (error.kind() == etcd::StoreError::Kind::unreachable)
    return {WriteOutcome::unreachable, 0,
            "cluster store unreachable: " + std::string(error.what())};
  return {WriteOutcome::rejected, 0, error.what()};
}

void Coordinator::Impl::apply_own_put(const std::string& key, const std::string& value,
                                      std::int64_t lease, std::int64_t create_revision,
                                      std::int64_t revision) {
  change_and_tell([&](Deliveries& deliveries) {
    auto changes = view_.put({key, value, create_revision, revision, 0, lease});
    handle_view_changes(changes, deliveries);
  });
}

void Coordinator::Impl::apply_own_erase(const std::string& key, std::int64_t revision) {
  change_and_tell([&](Deliveries& deliveries) {
    auto changes = view_.erase(key, revision);
    handle_view_changes(changes, deliveries);
  });
}

// ---------------------------------------------------------------------------
// Creating

void Coordinator::Impl::create_record(const std::string& name, const InstanceRecord& record,
                                      CreateMode mode, const WriteDone& done) {
  if (fail_fast(done)) return;
  auto key = layout_.instance_key(name);
  auto value = encode(record);
  try {
    auto result = call_store([&] {
      return store_.txn(
          {etcd::Compare::absent(key)}, {etcd::Operation::put(key, value)},
          {etcd::Operation::range(key), etcd::Operation::range(layout_.owner_key(name))});
    });
    if (result.succeeded) {
      apply_own_put(key, value, 0, result.revision, result.revision);
      return finish(done, {WriteOutcome::ok, result.revision});
    }
    const auto* existing = first_of(result, 0);
    if (existing == nullptr) return finish(done, {WriteOutcome::conflict, 0, "written meanwhile"});
    apply_own_put(key, existing->value, 0, existing->create_revision, existing->mod_revision);
    // The same record: this write sent twice, or another's with the same
    // content (two nodes of one file): what was asked for is stored.
    if (existing->value == value)
      return finish(done, {WriteOutcome::ok, existing->mod_revision, "stored already"});
    auto stored = decoded(existing);
    bool tombstone = stored && stored->tombstone;
    if (mode == CreateMode::request && tombstone) {
      if (first_of(result, 1) != nullptr)
        return finish(done, {WriteOutcome::being_deleted, existing->mod_revision,
                             "cluster instance " + name +
                                 " is being deleted (its owner is "
                                 "stopping it)"});
      return finish(done, replace_tombstone(name, record, *existing));
    }
    finish(done, {WriteOutcome::exists, existing->mod_revision,
                  tombstone ? "cluster instance " + name + " was deleted (a tombstone)"
                            : "cluster instance " + name + " exists"});
  } catch (const etcd::StoreError& error) {
    if (!outcome_unknown(error)) return finish(done, store_failure(error));
    auto read = read_back(name, value, 0);
    if (read.outcome == WriteOutcome::conflict) read.outcome = WriteOutcome::exists;
    finish(done, read);
  }
}

WriteResult Coordinator::Impl::replace_tombstone(const std::string& name,
                                                 const InstanceRecord& record,
                                                 const etcd::KeyValue& tombstone) {
  auto key = layout_.instance_key(name);
  auto value = encode(record);
  try {
    auto result = call_store([&] {
      return store_.txn(
          {etcd::Compare::mod_revision(key, etcd::Compare::equal, tombstone.mod_revision),
           etcd::Compare::absent(layout_.owner_key(name))},
          {etcd::Operation::put(key, value)});
    });
    if (!result.succeeded)
      return {WriteOutcome::conflict, 0, "cluster instance " + name + " changed meanwhile"};
    apply_own_put(key, value, 0, tombstone.create_revision, result.revision);
    return {WriteOutcome::ok, result.revision, "replaced a tombstone"};
  } catch (const etcd::StoreError& error) {
    if (!outcome_unknown(error)) return store_failure(error);
    return read_back(name, value, tombstone.mod_revision);
  }
}

// ---------------------------------------------------------------------------
// Writing as the owner

void Coordinator::Impl::rewrite_record(const std::string& name, std::int64_t expected_revision,
                                       const std::function<void(InstanceRecord&)>& change,
                                       const WriteDone& done) {
  if (fail_fast(done)) return;
  InstanceRecord record;
  std::optional<std::string> owner_value;
  std::int64_t lease_id = 0;
  {
    std::lock_guard lock{mutex_};
    const auto* instance = view_.instance(name);
    if (instance == nullptr || !instance->record || instance->record->tombstone)
      return finish(done, {WriteOutcome::not_found, 0, "no cluster instance " + name});
    if (expected_revision == 0) expected_revision = instance->record_revision;
    if (expected_revision != instance->record_revision)
      return finish(done, {WriteOutcome::conflict, instance->record_revision,
                           "cluster instance " + name + " was written meanwhile"});
    record = *instance->record;
    auto owned = owned_.find(name);
    if (owned != owned_.end()) owner_value = encode(owned->second.value);
    lease_id = lease_.id;
  }
  if (lease_id == 0) return finish(done, {WriteOutcome::not_owner, 0, "this node holds no lease"});
  change(record);
  auto key = layout_.instance_key(name);
  auto owner_key = layout_.owner_key(name);
  auto value = encode(record);
  std::vector<etcd::Compare> compares{
      etcd::Compare::mod_revision(key, etcd::Compare::equal, expected_revision),
      etcd::Compare::lease(owner_key, etcd::Compare::equal, lease_id)};
  if (owner_value)
    compares.push_back(etcd::Compare::value(owner_key, etcd::Compare::equal, *owner_value));
  try {
    auto result = call_store([&] {
      return store_.txn(compares, {etcd::Operation::put(key, value)},
                        {etcd::Operation::range(key), etcd::Operation::range(owner_key)});
    });
    if (result.succeeded) {
      apply_own_put(key, value, 0, 0, result.revision);
      return finish(done, {WriteOutcome::ok, result.revision});
    }
    const auto* stored_kv = first_of(result, 0);
    const auto* owner = first_of(result, 1);
    if (stored_kv != nullptr && stored_kv->value == value && owner != nullptr &&
        owner->lease == lease_id) {
      // This very write, sent twice (libcurl resends a request whose reused
      // connection died before any byte of the answer): the first applied.
      apply_own_put(key, value, 0, stored_kv->create_revision, stored_kv->mod_revision);
      return finish(done, {WriteOutcome::ok, stored_kv->mod_revision, "applied (sent twice)"});
    }
    auto stored = decoded(stored_kv);
    if (!stored || stored->tombstone)
      return finish(done, {WriteOutcome::not_found, 0, "no cluster instance " + name});
    if (owner == nullptr || owner->lease != lease_id)
      return finish(done, {WriteOutcome::not_owner, first_of(result, 0)->mod_revision,
                           "this node does not own cluster instance " + name});
    finish(done, {WriteOutcome::conflict, first_of(result, 0)->mod_revision,
                  "cluster instance " + name + " was written meanwhile"});
  } catch (const etcd::StoreError& error) {
    if (!outcome_unknown(error)) return finish(done, store_failure(error));
    finish(done, read_back(name, value, expected_revision));
  }
}

WriteResult Coordinator::Impl::read_back(const std::string& name, const std::string& written,
                                         std::int64_t expected_revision) {
  auto key = layout_.instance_key(name);
  log_->info("cluster instance {}: the store did not answer a write; reading it back", name);
  try {
    auto read = call_store([&] { return store_.range(key); });
    if (!read.kvs.empty() && read.kvs.front().value == written) {
      const auto& kv = read.kvs.front();
      apply_own_put(key, kv.value, 0, kv.create_revision, kv.mod_revision);
      return {WriteOutcome::ok, kv.mod_revision, "applied (read back)"};
    }
    auto stored_revision = read.kvs.empty() ? 0 : read.kvs.front().mod_revision;
    if (stored_revision == expected_revision)
      return {WriteOutcome::unreachable, 0,
              "cluster store unreachable: the write was not applied (read back)"};
    return {WriteOutcome::conflict, stored_revision,
            "cluster instance " + name + " was written by another (read back)"};
  } catch (const etcd::StoreError& error) {
    return {WriteOutcome::unreachable, 0,
            "cluster store unreachable: the outcome of the write is unknown: " +
                std::string(error.what())};
  }
}

// ---------------------------------------------------------------------------
// Deleting without owner

void Coordinator::Impl::remove_unowned_record(const std::string& name, const WriteDone& done) {
  if (fail_fast(done)) return;
  InstanceRecord record;
  std::int64_t expected_revision = 0;
  {
    std::lock_guard lock{mutex_};
    const auto* instance = view_.instance(name);
    if (instance == nullptr || !instance->record || instance->record->tombstone)
      return finish(done, {WriteOutcome::not_found, 0, "no cluster instance " + name});
    if (instance->owner)
      return finish(done, {WriteOutcome::not_owner, instance->record_revision,
                           "cluster instance " + name + " has an owner: it deletes it"});
    record = *instance->record;
    expected_revision = instance->record_revision;
  }
  record.tombstone = true;
  record.desired = DesiredState::stopped;
  auto key = layout_.instance_key(name);
  auto owner_key = layout_.owner_key(name);
  auto value = encode(record);
  try {
    // Only while nobody owns it: an owner that came meanwhile deletes it.
    auto result = call_store([&] {
      return store_.txn({etcd::Compare::mod_revision(key, etcd::Compare::equal, expected_revision),
                         etcd::Compare::absent(owner_key)},
                        {etcd::Operation::put(key, value)},
                        {etcd::Operation::range(key), etcd::Operation::range(owner_key)});
    });
    if (result.succeeded) {
      apply_own_put(key, value, 0, 0, result.revision);
      return finish(done, {WriteOutcome::ok, result.revision});
    }
    const auto* stored_kv = first_of(result, 0);
    if (stored_kv != nullptr && stored_kv->value == value && first_of(result, 1) == nullptr) {
      apply_own_put(key, value, 0, stored_kv->create_revision, stored_kv->mod_revision);
      return finish(done, {WriteOutcome::ok, stored_kv->mod_revision, "applied (sent twice)"});
    }
    auto stored = decoded(stored_kv);
    if (!stored || stored->tombstone)
      return finish(done, {WriteOutcome::not_found, 0, "no cluster instance " + name});
    if (first_of(result, 1) != nullptr)
      return finish(done, {WriteOutcome::not_owner, stored_kv->mod_revision,
                           "cluster instance " + name + " was acquired meanwhile"});
    finish(done, {WriteOutcome::conflict, stored_kv->mod_revision,
                  "cluster instance " + name + " was written meanwhile"});
  } catch (const etcd::StoreError& error) {
    if (!outcome_unknown(error)) return finish(done, store_failure(error));
    finish(done, read_back(name, value, expected_revision));
  }
}

// ---------------------------------------------------------------------------
// Purging

void Coordinator::Impl::purge_record(const std::string& name, const WriteDone& done) {
  if (fail_fast(done)) return;
  std::int64_t revision = 0;
  {
    std::lock_guard lock{mutex_};
    const auto* instance = view_.instance(name);
    if (instance == nullptr || !instance->record || !instance->record->tombstone)
      return finish(done, {WriteOutcome::not_found, 0, "no tombstone of " + name});
    revision = instance->record_revision;
  }
  auto key = layout_.instance_key(name);
  try {
    auto result = call_store([&] {
      return store_.txn({etcd::Compare::mod_revision(key, etcd::Compare::equal, revision),
                         etcd::Compare::absent(layout_.owner_key(name))},
                        {etcd::Operation::erase(key)});
    });
    if (!result.succeeded)
      return finish(done, {WriteOutcome::conflict, 0,
                           "cluster instance " + name + " changed or is still being stopped"});
    apply_own_erase(key, result.revision);
    finish(done, {WriteOutcome::ok, result.revision});
  } catch (const etcd::StoreError& error) {
    finish(done, store_failure(error));
  }
}

}  // namespace processpype::cluster
