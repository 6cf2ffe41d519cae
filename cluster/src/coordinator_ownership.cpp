// Who owns what (docs/cluster.md, "Placement", "Failover", "Drain",
// "Rebalance"): an instance without owner is acquired by its preferred
// node (create-if-absent of the owner key under the node's lease; the
// loser of a race sees the winner); an owner keeps what it has until it
// lets it go.

#include <algorithm>

#include "coordinator_impl.hpp"
#include "processpype/cluster/rendezvous.hpp"

namespace processpype::cluster {

namespace {

template <class Item>
std::vector<std::vector<Item>> chunks_of(const std::vector<Item>& items, std::size_t size) {
  std::vector<std::vector<Item>> chunks;
  for (std::size_t start = 0; start < items.size(); start += size)
    chunks.emplace_back(
        items.begin() + static_cast<std::ptrdiff_t>(start),
        items.begin() + static_cast<std::ptrdiff_t>(std::min(start + size, items.size())));
  return chunks;
}

bool lease_not_found(const etcd::StoreError& error) {
  return error.kind() == etcd::StoreError::Kind::rejected &&
         error.etcd_message().find("lease not found") != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------------------
// Placement

void Coordinator::Impl::request_reconcile() {
  if (!worker_ || reconcile_posted_.exchange(true)) return;
  worker_->post({[this] { reconcile(); }});
}

bool Coordinator::Impl::may_place() const {
  if (left_ || !lease_.registered || lease_.health != LeaseHealth::secure || !view_.loaded())
    return false;
  // Its own registration in the view: the view is recent enough to place.
  const auto* self = view_.node(options_.node.id);
  return self != nullptr && self->lease == lease_.id;
}

void Coordinator::Impl::reconcile() {
  reconcile_posted_.store(false);
  write_unwritten_registration();
  std::vector<Placement> plan;
  std::int64_t lease_id = 0;
  bool releases_waiting = false;
  change_and_tell([&](Deliveries& deliveries) {
    if (may_place()) {
      adopt(deliveries);
      if (placement_from_ && BootClock::now() >= *placement_from_) plan = placements();
      lease_id = lease_.id;
    }
    releases_waiting = !pending_releases_.empty();
  });
  if (releases_waiting) flush_releases();
  if (!plan.empty()) acquire(plan, lease_id);
}

void Coordinator::Impl::adopt(Deliveries& deliveries) {
  std::size_t adopted = 0;
  for (const auto& [name, instance] : view_.instances()) {
    if (!instance.owner || instance.owner->lease != lease_.id ||
        instance.owner->value.node != options_.node.id || owned_.contains(name) ||
        pending_releases_.contains(name))
      continue;
    if (!instance.record || instance.record->tombstone) {
      // Deleted while this node could not finish: reconcile() lets it go.
      pending_releases_[name];
      continue;
    }
    bool resumed = suspended_.erase(name) > 0;
    owned_[name] = OwnedInstance{instance.owner->token, instance.owner->revision,
                                 instance.owner->value, false};
    auto acquisition = acquisition_of(name, instance.owner->token, resumed);
    if (acquisition.cause == Cause::failover) ++failovers_;
    ++acquisitions_;
    ++adopted;
    log_->debug("cluster instance {} owned by this node ({})", name, to_string(acquisition.cause));
    tell(deliveries, callbacks_.on_acquired, acquisition);
  }
  if (adopted > 0)
    log_->info("cluster: {} instance(s) owned again under lease {:x}", adopted, lease_.id);
  // What was owned before the lease counted as lost and is not in the view
  // under this lease any more is gone for good.
  suspended_.clear();
}

std::vector<Coordinator::Impl::Placement> Coordinator::Impl::placements() const {
  std::vector<Placement> plan;
  if (registration_.cordoned) return plan;
  for (const auto& [name, instance] : view_.instances()) {
    if (instance.owner || !instance.record || instance.record->tombstone || owned_.contains(name) ||
        pending_releases_.contains(name))
      continue;
    // Declined here: a node instance has its name (docs/cluster.md,
    // "Placement"), even before the view shows this node's registration.
    if (registration_.declines(name)) continue;
    auto preferred = preferred_node(name, view_.candidates(name, *instance.record));
    if (preferred == options_.node.id) plan.push_back({name, instance.record_revision});
  }
  return plan;
}

Acquisition Coordinator::Impl::acquisition_of(const std::string& name, std::int64_t token,
                                              bool resumed) const {
  const auto* instance = view_.instance(name);
  Acquisition acquisition{name, *instance->record, instance->record_revision, token};
  if (resumed) {
    acquisition.cause = Cause::resumed;
  } else if (instance->vacancy) {
    acquisition.cause = instance->vacancy->cause;
    acquisition.from_node = instance->vacancy->from_node;
  } else if (instance->created_while_watching) {
    acquisition.request_id = instance->record->request_id;
  }
  return acquisition;
}

void Coordinator::Impl::acquire(const std::vector<Placement>& placements, std::int64_t lease_id) {
  for (const auto& batch : chunks_of(placements, options_.batch_size)) {
    if (acquire_batch(batch, lease_id)) continue;
    if (batch.size() == 1) continue;  // another node came first: the watch shows it
    for (const auto& placement : batch) acquire_batch({placement}, lease_id);
  }
}

bool Coordinator::Impl::acquire_batch(const std::vector<Placement>& batch, std::int64_t lease_id) {
  std::vector<etcd::Compare> compares;
  std::vector<etcd::Operation> puts;
  auto value = encode(OwnerValue{options_.node.id});
  for (const auto& placement : batch) {
    compares.push_back(etcd::Compare::absent(layout_.owner_key(placement.name)));
    compares.push_back(etcd::Compare::mod_revision(
        layout_.instance_key(placement.name), etcd::Compare::equal, placement.record_revision));
    puts.push_back(etcd::Operation::put(layout_.owner_key(placement.name), value, lease_id));
  }
  try {
    auto result = call_store([&] { return store_.txn(compares, puts); });
    if (result.succeeded) acquired(batch, lease_id, result.revision);
    return result.succeeded;
  } catch (const etcd::StoreError& error) {
    // An outcome left unknown shows in the view: adopt() takes it then.
    if (lease_not_found(error)) lease_keeper_->renew_now();
    log_->debug("cluster owner keys not acquired: {}", error.what());
    return true;  // nothing to learn from trying them one by one
  }
}

void Coordinator::Impl::acquired(const std::vector<Placement>& batch, std::int64_t lease_id,
                                 std::int64_t revision) {
  auto value = encode(OwnerValue{options_.node.id});
  change_and_tell([&](Deliveries& deliveries) {
    for (const auto& placement : batch) {
      // A lease that became at risk meanwhile: adopt() tells it once secure.
      const auto* instance = view_.instance(placement.name);
      bool take = lease_.id == lease_id && lease_.health == LeaseHealth::secure &&
                  !owned_.contains(placement.name) && instance != nullptr && instance->record;
      if (take)
        owned_[placement.name] =
            OwnedInstance{revision, revision, OwnerValue{options_.node.id}, false};
      auto changes =
          view_.put({layout_.owner_key(placement.name), value, revision, revision, 1, lease_id});
      handle_view_changes(changes, deliveries);
      if (!take) continue;
      auto acquisition = acquisition_of(placement.name, revision, false);
      if (acquisition.cause == Cause::failover) ++failovers_;
      ++acquisitions_;
      log_->debug("cluster instance {} acquired ({}{}{})", placement.name,
                  to_string(acquisition.cause), acquisition.from_node ? " from " : "",
                  acquisition.from_node.value_or(""));
      tell(deliveries, callbacks_.on_acquired, acquisition);
    }
  });
}

// ---------------------------------------------------------------------------
// Releasing

void Coordinator::Impl::queue_release(const std::string& name, WriteDone done) {
  bool owned = false;
  {
    std::lock_guard lock{mutex_};
    owned = owned_.contains(name) || pending_releases_.contains(name);
    if (owned) pending_releases_[name].push_back(std::move(done));
  }
  if (!owned) return finish(done, {WriteOutcome::ok, 0, "not owned by this node"});
  flush_releases();
}

void Coordinator::Impl::flush_releases() {
  std::vector<std::string> names;
  std::int64_t lease_id = 0;
  {
    std::lock_guard lock{mutex_};
    for (const auto& [name, dones] : pending_releases_) names.push_back(name);
    lease_id = lease_.id;
  }
  if (names.empty() || lease_id == 0) return;  // without a lease, on_expired answered them
  for (const auto& batch : chunks_of(names, options_.batch_size)) {
    if (release_batch(batch, lease_id) || batch.size() == 1) continue;
    for (const auto& name : batch) release_batch({name}, lease_id);
  }
}

bool Coordinator::Impl::release_batch(const std::vector<std::string>& batch,
                                      std::int64_t lease_id) {
  std::vector<etcd::Compare> compares;
  std::vector<etcd::Operation> erases;
  for (const auto& name : batch) {
    compares.push_back(
        etcd::Compare::lease(layout_.owner_key(name), etcd::Compare::equal, lease_id));
    erases.push_back(etcd::Operation::erase(layout_.owner_key(name)));
  }
  try {
    auto result = call_store([&] { return store_.txn(compares, erases); });
    // One name alone that fails: its key is not this lease's any more.
    if (result.succeeded || batch.size() == 1) released(batch, result.revision, result.succeeded);
    return result.succeeded;
  } catch (const etcd::StoreError& error) {
    WriteResult failure = store_failure(error);
    failure.detail += " (the release is retried)";
    change_and_tell([&](Deliveries& deliveries) {
      for (const auto& name : batch) {
        auto found = pending_releases_.find(name);
        if (found == pending_releases_.end()) continue;
        for (auto& done : found->second) tell(deliveries, done, failure);
        found->second.clear();
      }
    });
    return true;  // the same answer for each: no use trying them one by one
  }
}

void Coordinator::Impl::released(const std::vector<std::string>& batch, std::int64_t revision,
                                 bool by_us) {
  change_and_tell([&](Deliveries& deliveries) {
    for (const auto& name : batch) {
      bool was_owned = owned_.erase(name) > 0;
      if (by_us) {
        auto changes = view_.erase(layout_.owner_key(name), revision);
        handle_view_changes(changes, deliveries);
        if (was_owned) ++releases_;
      }
      auto found = pending_releases_.find(name);
      if (found == pending_releases_.end()) continue;
      for (auto& done : found->second)
        tell(deliveries, done, WriteResult{WriteOutcome::ok, revision});
      pending_releases_.erase(found);
    }
  });
  request_reconcile();
}

void Coordinator::Impl::release_all_for_leave(const WriteDone& done) {
  {
    std::lock_guard lock{mutex_};
    left_ = true;
    for (const auto& [name, owned] : owned_) pending_releases_[name];
  }
  flush_releases();
  finish(done, {WriteOutcome::ok});
}

void Coordinator::Impl::stop_placing() {
  std::lock_guard lock{mutex_};
  left_ = true;
}

// ---------------------------------------------------------------------------
// Declining (docs/cluster.md, "Placement")

bool Coordinator::Impl::set_declined(const std::string& name, bool declined) {
  std::lock_guard lock{mutex_};
  auto& names = registration_.declined;
  auto at = std::lower_bound(names.begin(), names.end(), name);
  bool present = at != names.end() && *at == name;
  if (present == declined) return false;
  if (declined)
    names.insert(at, name);
  else
    names.erase(at);
  return true;
}

void Coordinator::Impl::decline(const std::string& name, const WriteDone& done) {
  if (set_declined(name, true)) {
    // Written before the owner key goes: every node's watch sees this node
    // decline the name before it sees the instance without owner, so none
    // prefers this node for it.
    auto written = write_registration();
    if (!written.ok())
      log_->warn("cluster instance {} declined, but the registration is not written: {}", name,
                 written.detail);
    log_->warn("cluster instance {} declined: a node instance of this node has its name", name);
  }
  queue_release(name, done);
}

void Coordinator::Impl::withdraw_decline(const std::string& name, const WriteDone& done) {
  if (!set_declined(name, false)) return finish(done, {WriteOutcome::ok});
  // Declines and withdrawals run in their order on this worker, and each
  // write carries the whole current set: the store ends with the last one.
  auto written = write_registration();
  if (!written.ok()) {
    log_->warn("cluster instance {} no longer declined, but the registration is not written: {}",
               name, written.detail);
    return finish(done, written);
  }
  log_->info("cluster instance {} no longer declined: this node's node instance of it is gone",
             name);
  // Without owner, it may be placed here now; an owner keeps it.
  request_reconcile();
  finish(done, written);
}

// ---------------------------------------------------------------------------
// Drain, uncordon, rebalance

WriteResult Coordinator::Impl::write_cordoned(bool cordoned) {
  bool before = false;
  {
    std::lock_guard lock{mutex_};
    before = std::exchange(registration_.cordoned, cordoned);
  }
  auto written = write_registration();
  if (!written.ok()) {
    // A refused drain or uncordon changes nothing: the registration written
    // again at the next reconcile is the one from before.
    std::lock_guard lock{mutex_};
    registration_.cordoned = before;
  }
  return written;
}

void Coordinator::Impl::drain(const WriteDone& done) {
  if (fail_fast(done)) return;
  auto written = write_cordoned(true);
  if (!written.ok()) return finish(done, written);
  change_and_tell([&](Deliveries& deliveries) {
    for (auto& [name, owned] : owned_) {
      if (owned.releasing) continue;
      owned.releasing = true;
      tell(deliveries, callbacks_.on_must_release, name, Cause::handover);
    }
  });
  log_->info("cluster node {} drained: cordoned, handing over what it owns", options_.node.id);
  finish(done, written);
}

void Coordinator::Impl::uncordon(const WriteDone& done) {
  if (fail_fast(done)) return;
  auto written = write_cordoned(false);
  if (written.ok()) request_reconcile();
  finish(done, written);
}

void Coordinator::Impl::request_rebalance(const WriteDone& done) {
  if (fail_fast(done)) return;
  nlohmann::json request{{"by", options_.node.id}};
  try {
    auto revision = call_store([&] { return store_.put(layout_.rebalance_key(), request.dump()); });
    finish(done, {WriteOutcome::ok, revision});
  } catch (const etcd::StoreError& error) {
    finish(done, store_failure(error));
  }
}

void Coordinator::Impl::rebalance_owned() {
  std::vector<std::string> moving;
  std::int64_t lease_id = 0;
  {
    std::lock_guard lock{mutex_};
    if (!may_place()) return;
    lease_id = lease_.id;
    for (const auto& [name, owned] : owned_) {
      if (owned.releasing) continue;
      auto preferred = view_.preferred_owner(name);
      if (preferred && *preferred != options_.node.id) moving.push_back(name);
    }
  }
  if (!moving.empty()) log_->info("cluster rebalance: handing over {} instance(s)", moving.size());
  for (const auto& batch : chunks_of(moving, options_.batch_size)) {
    if (mark_batch(batch, lease_id) || batch.size() == 1) continue;
    for (const auto& name : batch) mark_batch({name}, lease_id);
  }
}

bool Coordinator::Impl::mark_batch(const std::vector<std::string>& batch, std::int64_t lease_id) {
  OwnerValue marked{options_.node.id, Cause::rebalance};
  auto value = encode(marked);
  std::vector<etcd::Compare> compares;
  std::vector<etcd::Operation> puts;
  for (const auto& name : batch) {
    auto key = layout_.owner_key(name);
    compares.push_back(etcd::Compare::lease(key, etcd::Compare::equal, lease_id));
    puts.push_back(etcd::Operation::put(key, value, lease_id));
  }
  etcd::TxnResult result;
  try {
    result = call_store([&] { return store_.txn(compares, puts); });
  } catch (const etcd::StoreError& error) {
    log_->warn("cluster rebalance: owner keys not marked: {}", error.what());
    return true;
  }
  if (!result.succeeded) return false;
  change_and_tell([&](Deliveries& deliveries) {
    for (const auto& name : batch) {
      auto found = owned_.find(name);
      if (found == owned_.end() || found->second.releasing) continue;
      auto key = layout_.owner_key(name);
      auto changes = view_.put({key, value, found->second.token, result.revision, 2, lease_id});
      handle_view_changes(changes, deliveries);
      found->second.value = marked;
      found->second.revision = result.revision;
      found->second.releasing = true;
      tell(deliveries, callbacks_.on_must_release, name, Cause::rebalance);
    }
  });
  return true;
}

}  // namespace processpype::cluster
