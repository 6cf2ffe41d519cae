// The coordinator's events: the lease's signals, the node's registration,
// and the view fed by a read and a watch (docs/cluster.md).

#include <algorithm>

#include <fmt/format.h>

#include "coordinator_impl.hpp"

namespace processpype::cluster {

namespace {

/// How often a node whose id is registered under another lease looks again.
constexpr std::chrono::milliseconds registration_recheck{250};
/// What etcd may take beyond a lease's TTL to delete its keys (it checks
/// expiries every 500 ms).
constexpr std::chrono::milliseconds expiry_slack{1000};
/// Waits between two reads of the view while the store does not answer.
constexpr std::chrono::milliseconds view_retry{250};

std::int64_t milliseconds_left(BootClock::time_point until) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(until - BootClock::now()).count();
}

}  // namespace

// ---------------------------------------------------------------------------
// Reachability

void Coordinator::Impl::note_reachable(bool reachable) {
  int now = reachable ? 1 : 0;
  if (reachable_.load() == now) return;
  change_and_tell([&](Deliveries& deliveries) {
    if (reachable_.exchange(now) == now) return;
    if (reachable)
      log_->info("cluster store {} answers", store_.current_endpoint());
    else
      log_->warn("cluster store unreachable");
    tell(deliveries, callbacks_.on_store_reachable, reachable);
  });
  // What waited for the store (releases, placements) goes on.
  if (reachable) request_reconcile();
}

// ---------------------------------------------------------------------------
// The lease's signals

internal::NodeLease::Signals Coordinator::Impl::lease_signals() {
  return {
      [this](const internal::LeaseState& state) { on_granted(state); },
      [this](const internal::LeaseState& state, LeaseHealth previous) {
        on_renewed(state, previous);
      },
      [this](const internal::LeaseState& state) { on_at_risk(state); },
      [this](const internal::LeaseState& state) { on_lost(state); },
      [this](std::int64_t lease_id) { on_expired(lease_id); },
      [this](bool ok) { note_reachable(ok); },
  };
}

LeaseEvent Coordinator::Impl::lease_event(bool fresh) const {
  return {lease_.health, lease_.id, fresh, lease_.confirmed_at, lease_.lost_at};
}

void Coordinator::Impl::on_granted(const internal::LeaseState& state) {
  change_and_tell([&](Deliveries&) {
    lease_ = LeaseMirror{state.id, false, state.health, state.confirmed_at, state.lost_at};
    suspended_.clear();
    conflict_since_.reset();
  });
  worker_->post({[this, id = state.id] { register_node(id); }});
}

void Coordinator::Impl::on_renewed(const internal::LeaseState& state, LeaseHealth previous) {
  change_and_tell([&](Deliveries& deliveries) {
    if (lease_.id != state.id) return;
    lease_.confirmed_at = state.confirmed_at;
    lease_.lost_at = state.lost_at;
    lease_.health = LeaseHealth::secure;
    if (previous != LeaseHealth::secure && lease_.registered)
      tell(deliveries, callbacks_.on_lease, lease_event(false));
  });
  // Also the periodic look at placement: cheap when nothing is to do.
  request_reconcile();
}

void Coordinator::Impl::on_at_risk(const internal::LeaseState& state) {
  change_and_tell([&](Deliveries& deliveries) {
    if (lease_.id != state.id) return;
    lease_.health = LeaseHealth::at_risk;
    if (lease_.registered) tell(deliveries, callbacks_.on_lease, lease_event(false));
  });
}

void Coordinator::Impl::on_lost(const internal::LeaseState& state) {
  change_and_tell([&](Deliveries& deliveries) {
    if (lease_.id != state.id) return;
    lease_.health = LeaseHealth::lost;
    if (lease_.registered) tell(deliveries, callbacks_.on_lease, lease_event(false));
    lose_everything(deliveries, true);
  });
}

void Coordinator::Impl::on_expired(std::int64_t lease_id) {
  change_and_tell([&](Deliveries& deliveries) {
    if (lease_.id != lease_id) return;
    if (lease_.health != LeaseHealth::lost) {
      lease_.health = LeaseHealth::lost;
      if (lease_.registered) tell(deliveries, callbacks_.on_lease, lease_event(false));
    }
    lose_everything(deliveries, false);
    suspended_.clear();
    // The keys of a release went with the lease.
    for (auto& [name, dones] : pending_releases_)
      for (auto& done : dones) tell(deliveries, done, WriteResult{WriteOutcome::ok});
    pending_releases_.clear();
    lease_ = LeaseMirror{};
  });
}

void Coordinator::Impl::lose_everything(Deliveries& deliveries, bool resumable) {
  for (const auto& [name, owned] : owned_) {
    tell(deliveries, callbacks_.on_lost, name, Cause::lease_lost);
    if (resumable && !pending_releases_.contains(name)) suspended_.insert(name);
  }
  owned_.clear();
}

// ---------------------------------------------------------------------------
// Registration

void Coordinator::Impl::register_node(std::int64_t lease_id) {
  NodeRegistration content;
  {
    std::lock_guard lock{mutex_};
    if (lease_.id != lease_id || lease_.registered || id_conflict_ || left_) return;
    content = registration_;
  }
  auto key = layout_.node_key(content.id);
  try {
    auto result = call_store([&] {
      return store_.txn({etcd::Compare::absent(key)},
                        {etcd::Operation::put(key, encode(content), lease_id)},
                        {etcd::Operation::range(key)});
    });
    if (result.succeeded) return registered(lease_id, result.revision);
    const auto& existing = result.responses.at(0).kvs;
    if (!existing.empty() && existing.front().lease != lease_id)
      return wait_for_other_registration(lease_id, existing.front());
    // Under this lease already (an answer lost on the way): write it again.
    auto again = call_store([&] {
      return store_.txn({etcd::Compare::lease(key, etcd::Compare::equal, lease_id)},
                        {etcd::Operation::put(key, encode(content), lease_id)});
    });
    if (again.succeeded) return registered(lease_id, again.revision);
  } catch (const etcd::StoreError& error) {
    log_->debug("cluster registration of {} not written: {}", content.id, error.what());
  }
  worker_->post_at(BootClock::now() + timing_.retry_interval(),
                   {[this, lease_id] { register_node(lease_id); }});
}

void Coordinator::Impl::wait_for_other_registration(std::int64_t lease_id,
                                                    const etcd::KeyValue& other) {
  auto now = BootClock::now();
  bool first_look = false;
  BootClock::time_point since;
  {
    std::lock_guard lock{mutex_};
    first_look = !conflict_since_.has_value();
    if (first_look) conflict_since_ = now;
    since = *conflict_since_;
  }
  auto longest = std::chrono::duration_cast<BootClock::duration>(timing_.lease()) + expiry_slack;
  if (now - since > longest) {
    auto reason = fmt::format(
        "node id {} is registered by a live node (lease {:x} still "
        "renewed after {} s)",
        options_.node.id, other.lease, timing_.lease().count());
    log_->error("cluster registration refused: {}", reason);
    change_and_tell([&](Deliveries& deliveries) {
      id_conflict_ = true;
      tell(deliveries, callbacks_.on_id_conflict, reason);
    });
    return;
  }
  if (first_look)
    log_->warn(
        "cluster node id {} is still registered under another lease (an earlier run of this "
        "node?): waiting until that lease expires, at most {} s",
        options_.node.id, timing_.lease().count());
  worker_->post_at(now + registration_recheck, {[this, lease_id] { register_node(lease_id); }});
}

void Coordinator::Impl::registered(std::int64_t lease_id, std::int64_t revision) {
  auto key = layout_.node_key(options_.node.id);
  change_and_tell([&](Deliveries& deliveries) {
    if (lease_.id != lease_id) return;
    lease_.registered = true;
    conflict_since_.reset();
    if (!placement_from_) {
      placement_from_ = BootClock::now() + options_.placement_delay;
      worker_->post_at(*placement_from_, {[this] { request_reconcile(); }});
    }
    auto changes = view_.put({key, encode(registration_), revision, revision, 1, lease_id});
    handle_view_changes(changes, deliveries);
    log_->info("cluster node {} registered (lease {:x}, lost in {} ms without renewal)",
               options_.node.id, lease_id, milliseconds_left(lease_.lost_at));
    tell(deliveries, callbacks_.on_lease, lease_event(true));
  });
  request_reconcile();
}

WriteResult Coordinator::Impl::write_registration() {
  NodeRegistration content;
  std::int64_t lease_id = 0;
  {
    std::lock_guard lock{mutex_};
    content = registration_;
    // A registration to come writes the whole of it.
    registration_unwritten_.store(false);
    if (!lease_.registered) return {WriteOutcome::ok, 0, "applied when the node registers"};
    lease_id = lease_.id;
  }
  auto key = layout_.node_key(content.id);
  try {
    auto result = call_store([&] {
      return store_.txn({etcd::Compare::lease(key, etcd::Compare::equal, lease_id)},
                        {etcd::Operation::put(key, encode(content), lease_id)});
    });
    if (!result.succeeded) return {WriteOutcome::ok, 0, "applied when the node registers again"};
    apply_own_put(key, encode(content), lease_id, 0, result.revision);
    return {WriteOutcome::ok, result.revision};
  } catch (const etcd::StoreError& error) {
    registration_unwritten_.store(true);
    return store_failure(error);
  }
}

void Coordinator::Impl::write_unwritten_registration() {
  if (!registration_unwritten_.load()) return;
  if (write_registration().ok())
    log_->info("cluster node {}: the registration the store missed is written", options_.node.id);
}

// ---------------------------------------------------------------------------
// The view

void Coordinator::Impl::load_view() {
  etcd::RangeResult read;
  try {
    read = call_store([&] { return store_.range_prefix(layout_.prefix()); });
  } catch (const etcd::StoreError& error) {
    log_->debug("cluster view not read: {}", error.what());
    worker_->post_at(BootClock::now() + view_retry, {[this] { load_view(); }});
    return;
  }
  change_and_tell([&](Deliveries& deliveries) {
    auto changes = view_.replace(read.kvs, read.revision);
    handle_view_changes(changes, deliveries);
  });
  etcd::WatchOptions options;
  options.key = layout_.prefix();
  options.prefix = true;
  options.start_revision = read.revision + 1;
  options.max_backoff = std::chrono::milliseconds(1000);
  options.logger = log_;
  watch_ = std::make_unique<etcd::Watch>(store_.watch(options, watch_callbacks()));
  request_reconcile();
}

std::int64_t Coordinator::Impl::resynchronize() {
  auto read = call_store([&] { return store_.range_prefix(layout_.prefix()); });
  change_and_tell([&](Deliveries& deliveries) {
    auto changes = view_.replace(read.kvs, read.revision);
    handle_view_changes(changes, deliveries);
  });
  return read.revision;
}

etcd::WatchCallbacks Coordinator::Impl::watch_callbacks() {
  etcd::WatchCallbacks callbacks;
  callbacks.on_events = [this](const std::vector<etcd::WatchEvent>& events, std::int64_t revision) {
    change_and_tell([&](Deliveries& deliveries) {
      auto changes = view_.apply(events, revision);
      handle_view_changes(changes, deliveries);
    });
  };
  callbacks.on_resync = [this](std::int64_t) { return resynchronize(); };
  callbacks.on_state = [this](bool connected) {
    log_->debug("cluster watch {}", connected ? "connected" : "disconnected");
  };
  return callbacks;
}

void Coordinator::Impl::handle_view_changes(internal::ViewChanges& changes,
                                            Deliveries& deliveries) {
  for (const auto& event : changes.membership) tell(deliveries, callbacks_.on_membership, event);
  for (const auto& event : changes.records) tell(deliveries, callbacks_.on_record, event);
  for (const auto& event : changes.owners) {
    tell(deliveries, callbacks_.on_owner, event);
    // This node's key that it was not told of (a write whose answer was
    // lost): adopt() takes it.
    if (event.owner == options_.node.id && !owned_.contains(event.name)) changes.placement = true;
  }
  for (const auto& erased : changes.erased_owners) handle_erased_owner(erased, deliveries);
  for (const auto& [id, lease] : changes.erased_nodes)
    if (id == options_.node.id && lease == lease_.id) lease_keeper_->renew_now();
  if (changes.placement) request_reconcile();
  if (changes.rebalance) worker_->post({[this] { rebalance_owned(); }});
}

void Coordinator::Impl::handle_erased_owner(const internal::ErasedOwner& erased,
                                            Deliveries& deliveries) {
  auto found = owned_.find(erased.name);
  if (found == owned_.end() || erased.previous.lease != lease_.id ||
      erased.revision <= found->second.revision)
    return;
  owned_.erase(found);
  if (pending_releases_.contains(erased.name)) return;  // the release's own answer follows
  auto cause = erased.lease_ended ? Cause::lease_lost : Cause::owner_key_deleted;
  log_->warn("cluster instance {}: this node's owner key is gone ({})", erased.name,
             to_string(cause));
  tell(deliveries, callbacks_.on_lost, erased.name, cause);
  if (erased.lease_ended) lease_keeper_->renew_now();
}

}  // namespace processpype::cluster
