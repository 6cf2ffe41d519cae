#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/send.hpp>

#include "internal_protocol.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype {

/// An actor's writes to the node's state file, ahead of the commands that
/// make them (docs/state.md, "Write-ahead"). submit() hands the changes to
/// the store's writer thread, which groups them with other actors' into one
/// transaction and answers (committed_atom, ticket, saved, error); the actor
/// hands that message to complete(), which runs the continuation, in the
/// actor. No state file: enabled() is false and nothing is written.
class StateCommits {
 public:
  using Continuation = std::function<void(const state::CommitResult&)>;

  explicit StateCommits(std::shared_ptr<state::StateStore> store) : store_(std::move(store)) {}

  bool enabled() const noexcept { return store_ != nullptr; }
  /// Commits submitted and not completed yet.
  std::size_t in_flight() const noexcept { return pending_.size(); }

  /// Writes `changes`, then runs `next` in the actor `notify` (which
  /// handles committed_atom by calling complete()).
  template <class Handle>
  void submit(const Handle& notify, std::vector<state::Change> changes, Continuation next) {
    auto ticket = ++last_ticket_;
    pending_.emplace(ticket, std::move(next));
    store_->submit(std::move(changes), [notify, ticket](const state::CommitResult& result) {
      caf::anon_send(notify, committed_atom::value, ticket, result.saved, result.error);
    });
  }

  /// The store answered the commit `ticket`: runs its continuation.
  void complete(std::uint64_t ticket, bool saved, std::string error);

  /// The actor ends: runs every waiting continuation as a failed commit
  /// (`why`), so that no caller waits for an answer that will not come.
  void abandon(const std::string& why);

 private:
  std::shared_ptr<state::StateStore> store_;
  std::uint64_t last_ticket_ = 0;
  std::unordered_map<std::uint64_t, Continuation> pending_;
};

/// "State not saved: <reason>": the detail of a refused command and the
/// warning of a stop or DELETE that acted anyway.
std::string state_not_saved(const std::string& reason);

/// The state file's name for where an instance comes from.
state::Origin stored_origin(InstanceOrigin origin) noexcept;

}  // namespace processpype
