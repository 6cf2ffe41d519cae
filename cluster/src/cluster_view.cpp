#include "cluster_view.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "processpype/cluster/rendezvous.hpp"

namespace processpype::cluster::internal {

void ViewChanges::append(ViewChanges&& other) {
  auto move_all = [](auto& into, auto& from) {
    into.insert(into.end(), std::make_move_iterator(from.begin()),
                std::make_move_iterator(from.end()));
  };
  move_all(membership, other.membership);
  move_all(records, other.records);
  move_all(owners, other.owners);
  move_all(erased_owners, other.erased_owners);
  move_all(erased_nodes, other.erased_nodes);
  placement = placement || other.placement;
  rebalance = rebalance || other.rebalance;
}

ClusterView::ClusterView(KeyLayout layout, std::shared_ptr<spdlog::logger> log)
    : layout_(std::move(layout)), log_(std::move(log)) {}

bool ClusterView::fresh(const std::string& key, std::int64_t revision) {
  auto& seen = seen_[key];
  if (revision <= seen) return false;
  seen = revision;
  return true;
}

std::set<std::int64_t> ClusterView::leases_of(const std::vector<std::string>& erased) const {
  std::set<std::int64_t> leases;
  for (const auto& id : erased) {
    auto found = nodes_.find(id);
    if (found != nodes_.end()) leases.insert(found->second.lease);
  }
  return leases;
}

ViewChanges ClusterView::apply(const std::vector<etcd::WatchEvent>& events, std::int64_t revision) {
  // A lease that ends takes its node key and its owner keys in one
  // revision: that is how an owner key's end tells a failover from a release.
  std::vector<std::string> erased_node_ids;
  for (const auto& event : events) {
    auto parsed = layout_.parse(event.kv.key);
    if (event.type == etcd::WatchEvent::Type::erase && parsed.kind == KeyKind::node)
      erased_node_ids.push_back(parsed.name);
  }
  auto ended_leases = leases_of(erased_node_ids);
  ViewChanges changes;
  for (const auto& event : events) {
    if (event.type == etcd::WatchEvent::Type::put)
      apply_put(event.kv, changes);
    else
      apply_erase(event.kv.key, revision, ended_leases, changes);
  }
  revision_ = std::max(revision_, revision);
  return changes;
}

ViewChanges ClusterView::replace(const std::vector<etcd::KeyValue>& kvs, std::int64_t revision) {
  std::set<std::string> present;
  for (const auto& kv : kvs) present.insert(kv.key);
  std::vector<std::string> gone;
  std::vector<std::string> erased_node_ids;
  for (const auto& [id, node] : nodes_) {
    auto key = layout_.node_key(id);
    if (!present.contains(key)) {
      gone.push_back(key);
      erased_node_ids.push_back(id);
    }
  }
  for (const auto& [name, instance] : instances_) {
    if (instance.record && !present.contains(layout_.instance_key(name)))
      gone.push_back(layout_.instance_key(name));
    if (instance.owner && !present.contains(layout_.owner_key(name)))
      gone.push_back(layout_.owner_key(name));
  }
  auto ended_leases = leases_of(erased_node_ids);
  ViewChanges changes;
  for (const auto& key : gone) apply_erase(key, revision, ended_leases, changes);
  for (const auto& kv : kvs) {
    if (layout_.parse(kv.key).kind == KeyKind::rebalance) {
      fresh(kv.key, kv.mod_revision);  // an old request asks nothing of a node that reads it now
      continue;
    }
    apply_put(kv, changes);
  }
  revision_ = std::max(revision_, revision);
  loaded_ = true;
  return changes;
}

ViewChanges ClusterView::put(const etcd::KeyValue& kv) {
  ViewChanges changes;
  apply_put(kv, changes);
  return changes;
}

ViewChanges ClusterView::erase(const std::string& key, std::int64_t revision) {
  ViewChanges changes;
  apply_erase(key, revision, {}, changes);
  return changes;
}

void ClusterView::apply_put(const etcd::KeyValue& kv, ViewChanges& changes) {
  auto parsed = layout_.parse(kv.key);
  if (parsed.kind == KeyKind::other || !fresh(kv.key, kv.mod_revision)) return;
  try {
    switch (parsed.kind) {
      case KeyKind::node:
        put_node(parsed.name, kv, changes);
        break;
      case KeyKind::instance:
        put_record(parsed.name, kv, changes);
        break;
      case KeyKind::owner:
        put_owner(parsed.name, kv, changes);
        break;
      case KeyKind::rebalance:
        changes.rebalance = true;
        break;
      case KeyKind::other:
        break;
    }
  } catch (const RecordError& error) {
    warn_undecodable(kv.key, error.what());
  }
}

void ClusterView::apply_erase(const std::string& key, std::int64_t revision,
                              const std::set<std::int64_t>& ended_leases, ViewChanges& changes) {
  auto parsed = layout_.parse(key);
  if (parsed.kind == KeyKind::other || !fresh(key, revision)) return;
  switch (parsed.kind) {
    case KeyKind::node:
      erase_node(parsed.name, changes);
      break;
    case KeyKind::instance:
      erase_record(parsed.name, revision, changes);
      break;
    case KeyKind::owner:
      erase_owner(parsed.name, revision, ended_leases, changes);
      break;
    case KeyKind::rebalance:
    case KeyKind::other:
      break;
  }
}

void ClusterView::put_node(const std::string& id, const etcd::KeyValue& kv, ViewChanges& changes) {
  auto registration = decode_registration(kv.value);
  if (registration.id != id)
    throw RecordError("a node registration of \"" + registration.id + "\" under another id");
  auto found = nodes_.find(id);
  if (found == nodes_.end()) {
    auto& node = nodes_[id] = ViewNode{std::move(registration), kv.lease, kv.mod_revision};
    changes.membership.push_back({MembershipChange::joined, {node.registration, node.lease}});
    changes.placement = true;
    return;
  }
  auto& node = found->second;
  bool differs = node.registration != registration || node.lease != kv.lease;
  changes.placement = changes.placement || node.registration.cordoned != registration.cordoned ||
                      node.registration.classes != registration.classes || node.lease != kv.lease;
  node = ViewNode{std::move(registration), kv.lease, kv.mod_revision};
  if (differs)
    changes.membership.push_back({MembershipChange::changed, {node.registration, node.lease}});
}

void ClusterView::put_record(const std::string& name, const etcd::KeyValue& kv,
                             ViewChanges& changes) {
  auto record = decode_record(kv.value);
  auto& instance = instances_[name];
  bool placement_matters = !instance.record || instance.record->tombstone != record.tombstone;
  if (!record.tombstone && (!instance.record || instance.record->tombstone)) {
    // A new instance of the name: how the last one's owner left says
    // nothing of it.
    instance.vacancy.reset();
    instance.created_while_watching = loaded_;
  }
  instance.record = record;
  instance.record_revision = kv.mod_revision;
  changes.records.push_back({name, std::move(record), kv.mod_revision});
  changes.placement = changes.placement || placement_matters;
}

void ClusterView::put_owner(const std::string& name, const etcd::KeyValue& kv,
                            ViewChanges& changes) {
  auto value = decode_owner(kv.value);
  auto& instance = instances_[name];
  bool new_owner = !instance.owner || instance.owner->token != kv.create_revision;
  instance.owner = ViewOwner{std::move(value), kv.lease, kv.create_revision, kv.mod_revision};
  if (new_owner)
    changes.owners.push_back(
        {name, instance.owner->value.node, instance.owner->token, std::nullopt, std::nullopt});
}

void ClusterView::erase_node(const std::string& id, ViewChanges& changes) {
  auto found = nodes_.find(id);
  if (found == nodes_.end()) return;
  changes.membership.push_back(
      {MembershipChange::left, {found->second.registration, found->second.lease}});
  changes.erased_nodes.emplace_back(id, found->second.lease);
  changes.placement = true;
  nodes_.erase(found);
}

void ClusterView::erase_record(const std::string& name, std::int64_t revision,
                               ViewChanges& changes) {
  auto found = instances_.find(name);
  if (found == instances_.end() || !found->second.record) return;
  found->second.record.reset();
  found->second.record_revision = 0;
  changes.records.push_back({name, std::nullopt, revision});
  forget_if_empty(name);
}

void ClusterView::erase_owner(const std::string& name, std::int64_t revision,
                              const std::set<std::int64_t>& ended_leases, ViewChanges& changes) {
  auto found = instances_.find(name);
  if (found == instances_.end() || !found->second.owner) return;
  auto& instance = found->second;
  auto previous = *instance.owner;
  bool lease_ended = ended_leases.contains(previous.lease);
  instance.owner.reset();
  instance.vacancy = vacancy_of(previous, lease_ended);
  changes.owners.push_back(
      {name, std::nullopt, 0, instance.vacancy->cause, instance.vacancy->from_node});
  changes.erased_owners.push_back({name, previous, lease_ended, revision});
  changes.placement = true;
  forget_if_empty(name);
}

Vacancy ClusterView::vacancy_of(const ViewOwner& previous, bool lease_ended) const {
  const auto& from = previous.value.node;
  if (lease_ended) return {from, Cause::failover};
  if (previous.value.releasing) return {from, *previous.value.releasing};
  // Its node gone already (or registered again under another lease): the
  // key went with the old lease; a resynchronizing read sees only that.
  auto node = nodes_.find(from);
  if (node == nodes_.end() || node->second.lease != previous.lease) return {from, Cause::failover};
  return {from, Cause::handover};
}

void ClusterView::forget_if_empty(const std::string& name) {
  auto found = instances_.find(name);
  if (found != instances_.end() && !found->second.record && !found->second.owner)
    instances_.erase(found);
}

void ClusterView::warn_undecodable(const std::string& key, const std::string& reason) {
  log_->warn("cluster store key {} ignored: {}", key, reason);
}

const ViewInstance* ClusterView::instance(const std::string& name) const {
  auto found = instances_.find(name);
  return found == instances_.end() ? nullptr : &found->second;
}

const ViewNode* ClusterView::node(const std::string& id) const {
  auto found = nodes_.find(id);
  return found == nodes_.end() ? nullptr : &found->second;
}

std::vector<std::string> ClusterView::candidates(const std::string& name,
                                                 const InstanceRecord& record) const {
  std::vector<std::string> ids;
  for (const auto& [id, node] : nodes_)
    if (!node.registration.cordoned && record.eligible(node.registration) &&
        !node.registration.declines(name))
      ids.push_back(id);
  return ids;
}

std::optional<std::string> ClusterView::preferred_owner(const std::string& name) const {
  auto found = instances_.find(name);
  if (found == instances_.end() || !found->second.record || found->second.record->tombstone)
    return std::nullopt;
  return preferred_node(name, candidates(name, *found->second.record));
}

ClusterInstance ClusterView::describe(const std::string& name, const ViewInstance& instance) const {
  ClusterInstance described{name, instance.record.value_or(InstanceRecord{}),
                            instance.record_revision};
  if (instance.owner) {
    described.owner = instance.owner->value.node;
    described.fencing_token = instance.owner->token;
    described.releasing = instance.owner->value.releasing;
  }
  for (const auto& [id, node] : nodes_)
    if (node.registration.declines(name)) described.declined_by.push_back(id);
  return described;
}

}  // namespace processpype::cluster::internal
