#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/send.hpp>

#include "internal_protocol.hpp"
#include "pending_writes.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype {

/// The Supervisor's writes to the node's state file, ahead of the
/// registrations and deregistrations that make them (docs/state.md,
/// "Write-ahead"). submit() hands the changes to the store's writer thread,
/// which groups them with other actors' into one transaction and answers
/// (committed_atom, ticket, failure); the actor hands that message to
/// complete(), which runs the continuation, in the actor. No state file:
/// enabled() is false and nothing is written.
class StateCommits {
 public:
  explicit StateCommits(std::shared_ptr<state::StateStore> store) : store_(std::move(store)) {}

  bool enabled() const noexcept { return store_ != nullptr; }

  /// Writes `changes`, then runs `next` in the actor `notify` (which
  /// handles committed_atom by calling complete()). A failed write is
  /// node_unavailable, "State not saved: <reason>".
  template <class Handle>
  void submit(const Handle& notify, std::vector<state::Change> changes,
              PendingWrites::Continuation next) {
    auto ticket = pending_.add(std::move(next));
    store_->submit(std::move(changes), [notify, ticket](const state::CommitResult& result) {
      caf::anon_send(notify, committed_atom::value, ticket, unsaved(result));
    });
  }

  void complete(std::uint64_t ticket, const caf::error& failure) {
    pending_.complete(ticket, failure);
  }
  void abandon(const std::string& why);

  /// none when saved; else the refusal.
  static caf::error unsaved(const state::CommitResult& result);

 private:
  std::shared_ptr<state::StateStore> store_;
  PendingWrites pending_;
};

/// "State not saved: <reason>": the detail of a refused command and the
/// warning of a stop or DELETE that acted anyway.
std::string state_not_saved(const std::string& reason);

/// The state file's name for where an instance comes from.
state::Origin stored_origin(InstanceOrigin origin) noexcept;

}  // namespace processpype
