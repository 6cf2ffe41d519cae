#include "processpype/actors/status_replicas.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/stray_messages.hpp"

namespace processpype {

// -- the replicas -----------------------------------------------------------------------

std::shared_ptr<StatusReplicas::Replica> StatusReplicas::find_replica(std::string_view node) const {
  std::lock_guard lock{mutex_};
  auto found = replicas_.find(std::string{node});
  return found == replicas_.end() ? nullptr : found->second;
}

std::shared_ptr<StatusReplicas::Replica> StatusReplicas::replica(const std::string& node) {
  std::lock_guard lock{mutex_};
  auto& replica = replicas_[node];
  if (!replica) replica = std::make_shared<Replica>();
  return replica;
}

std::shared_ptr<const std::string> StatusReplicas::find(std::string_view node,
                                                        std::string_view name) const {
  auto replica = find_replica(node);
  if (!replica) return nullptr;
  std::lock_guard lock{replica->mutex};
  const auto& applied = replica->applied;
  const auto& required = replica->required;
  if (applied.boot == 0) return nullptr;
  if (required.boot != 0 && (required.boot != applied.boot || required.sequence > applied.sequence))
    return nullptr;  // behind a reply this node has seen: ask the node
  auto found = replica->bodies.find(std::string{name});
  return found == replica->bodies.end() ? nullptr : found->second;
}

void StatusReplicas::note_reply(const std::string& node, TableVersion version) {
  if (version.boot == 0) return;
  auto target = replica(node);
  std::lock_guard lock{target->mutex};
  auto& required = target->required;
  if (required.boot != version.boot)
    required = version;
  else
    required.sequence = std::max(required.sequence, version.sequence);
}

void StatusReplicas::apply(StatusBatch batch) {
  auto target = batch.full ? replica(batch.node) : find_replica(batch.node);
  if (!target) return;
  std::unordered_map<std::string, std::shared_ptr<const std::string>> fresh;
  if (batch.full) fresh.reserve(batch.entries.size());
  auto& bodies = batch.full ? fresh : target->bodies;
  auto put = [&bodies](StatusEntry& entry) {
    if (entry.kind == StatusEntry::status)
      bodies.insert_or_assign(std::move(entry.name),
                              std::make_shared<const std::string>(std::move(entry.body)));
    else
      bodies.erase(entry.name);
  };
  if (batch.full) {
    for (auto& entry : batch.entries) put(entry);  // outside the lock: it may be long
    std::lock_guard lock{target->mutex};
    target->bodies = std::move(fresh);
    target->applied = batch.version;
    if (target->required.boot != batch.version.boot) target->required = {};
    return;
  }
  std::lock_guard lock{target->mutex};
  if (target->applied.boot != batch.version.boot) return;  // another run's feed
  for (auto& entry : batch.entries) put(entry);
  target->applied.sequence = std::max(target->applied.sequence, batch.version.sequence);
}

void StatusReplicas::forget(const std::string& node) {
  std::lock_guard lock{mutex_};
  replicas_.erase(node);
}

namespace {

/// Entries per message: a node of 100,000 instances sends its full status
/// in pieces instead of one message of megabytes.
constexpr std::size_t batch_entries = 4096;

StatusEntry entry_of(const InstanceTable& table, std::string name) {
  StatusEntry entry;
  auto record = table.find(name);
  entry.name = std::move(name);
  if (!record) {
    entry.kind = StatusEntry::removed;
  } else if (auto body = record->timeless_status_body()) {
    entry.body = *body;
  } else {
    entry.kind = StatusEntry::ask_owner;
  }
  return entry;
}

// -- the feed (on the node that owns the instances) -------------------------------------

class StatusFeed final : public StatusFeedActor::base {
 public:
  StatusFeed(caf::actor_config& config, std::string node_id, std::shared_ptr<InstanceTable> table)
      : StatusFeedActor::base(config), node_id_(std::move(node_id)), table_(std::move(table)) {
    drop_stray_messages(*this);
    set_down_handler([this](caf::down_msg& message) { forget(message.source); });
  }

  const char* name() const override { return "processpype.status_feed"; }

  behavior_type make_behavior() override {
    return {
        [this](subscribe_atom, const StatusSubscriberActor& subscriber) {
          return subscribe(subscriber);
        },
        [this](cancel_atom, const StatusSubscriberActor& subscriber) {
          demonitor(subscriber.address());
          forget(subscriber.address());
        },
        [this](publish_atom) { push(); },
    };
  }

  void on_exit() override { subscribers_.clear(); }

 private:
  caf::result<StatusBatch> subscribe(const StatusSubscriberActor& subscriber) {
    auto self = caf::actor_cast<caf::weak_actor_ptr>(ctrl());
    auto version = table_->changes().follow([self] {
      if (auto feed = caf::actor_cast<StatusFeedActor>(self.lock()))
        caf::anon_send(feed, publish_atom::value);
    });
    // Read after follow(): every view up to `version` is visible, and what
    // changes from now on comes in later batches.
    std::vector<StatusEntry> entries;
    table_->listing().for_each([&](const InstanceRecord& record) {
      entries.push_back(entry_of(*table_, record.name()));
      return true;
    });
    auto batches = split(std::move(entries), version, true);
    auto promise = make_response_promise<StatusBatch>();
    promise.deliver(std::move(batches.front()));  // before the rest, which are pushes
    for (std::size_t i = 1; i < batches.size(); ++i)
      send(subscriber, status_atom::value, std::move(batches[i]));
    if (std::find(subscribers_.begin(), subscribers_.end(), subscriber) == subscribers_.end()) {
      monitor(subscriber);
      subscribers_.push_back(subscriber);
    }
    return promise;
  }

  void push() {
    auto changes = table_->changes().take();
    if (subscribers_.empty() || changes.names.empty()) return;
    std::vector<StatusEntry> entries;
    entries.reserve(changes.names.size());
    for (auto& name : changes.names) entries.push_back(entry_of(*table_, std::move(name)));
    for (auto& batch : split(std::move(entries), changes.version, false)) {
      // Copies for all but the last follower; usually there is one.
      for (std::size_t i = 0; i + 1 < subscribers_.size(); ++i)
        send(subscribers_[i], status_atom::value, batch);
      send(subscribers_.back(), status_atom::value, std::move(batch));
    }
  }

  /// `entries` in batches of at most batch_entries (at least one batch).
  std::vector<StatusBatch> split(std::vector<StatusEntry> entries, TableVersion version,
                                 bool full) const {
    std::vector<StatusBatch> batches;
    std::size_t next = 0;
    do {
      StatusBatch batch{node_id_, version, full && batches.empty(), {}};
      auto end = std::min(entries.size(), next + batch_entries);
      batch.entries.assign(std::make_move_iterator(entries.begin() + next),
                           std::make_move_iterator(entries.begin() + end));
      next = end;
      batches.push_back(std::move(batch));
    } while (next < entries.size());
    return batches;
  }

  void forget(const caf::actor_addr& address) {
    std::erase_if(subscribers_, [&](const auto& subscriber) { return subscriber == address; });
  }

  std::string node_id_;
  std::shared_ptr<InstanceTable> table_;
  std::vector<StatusSubscriberActor> subscribers_;
};

// -- the follower (on a node that keeps replicas) ---------------------------------------

StatusFollowerActor::behavior_type follow_status(StatusFollowerActor::pointer self,
                                                 std::shared_ptr<StatusReplicas> replicas) {
  drop_stray_messages(*self);
  return {
      [replicas](status_atom, StatusBatch& batch) { replicas->apply(std::move(batch)); },
      [self, replicas](subscribe_atom, const std::string&, const StatusFeedActor& feed) {
        self->request(feed, caf::infinite, subscribe_atom::value, StatusSubscriberActor{self})
            .then([replicas](StatusBatch& batch) { replicas->apply(std::move(batch)); },
                  [](const caf::error&) {});  // the node went down: it is forgotten
      },
  };
}

}  // namespace

StatusFeedActor spawn_status_feed(caf::actor_system& system, std::string node_id,
                                  std::shared_ptr<InstanceTable> table) {
  return system.spawn<StatusFeed>(std::move(node_id), std::move(table));
}

StatusFollowerActor spawn_status_follower(caf::actor_system& system,
                                          std::shared_ptr<StatusReplicas> replicas,
                                          NodeDirectory& directory) {
  auto follower = system.spawn(follow_status, replicas);
  auto follow = [replicas, weak = caf::actor_cast<caf::weak_actor_ptr>(follower)](
                    const NodeDirectory::Node& node) {
    replicas->forget(node.id);  // another process may hold the id now
    if (!node.status_feed) return;
    if (auto strong = caf::actor_cast<StatusFollowerActor>(weak.lock()))
      caf::anon_send(strong, subscribe_atom::value, node.id, node.status_feed);
  };
  directory.on_up(follow);
  directory.on_down([replicas](const NodeDirectory::Node& node) { replicas->forget(node.id); });
  for (const auto& node : directory.nodes())
    if (node.up && !node.local) follow(node);
  return follower;
}

}  // namespace processpype
