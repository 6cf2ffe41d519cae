#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>

#include <caf/error.hpp>

namespace processpype {

/// The writes an actor started and waits to hear of (docs/state.md,
/// "Write-ahead"; docs/cluster.md, "Records"). Each has a ticket; the
/// writer's answer comes back to the actor as (committed_atom, ticket,
/// caf::error), and complete() runs the continuation there, in the actor.
class PendingWrites {
 public:
  /// `failure`: none when the change was written; else the refusal a
  /// command answers with.
  using Continuation = std::function<void(const caf::error& failure)>;

  std::uint64_t add(Continuation next) {
    auto ticket = ++last_ticket_;
    pending_.emplace(ticket, std::move(next));
    return ticket;
  }

  /// The writer answered `ticket`: runs its continuation (a stale ticket is
  /// ignored).
  void complete(std::uint64_t ticket, const caf::error& failure) {
    auto found = pending_.find(ticket);
    if (found == pending_.end()) return;
    auto next = std::move(found->second);
    pending_.erase(found);
    next(failure);
  }

  /// The actor ends: every waiting continuation runs with `why`, so that no
  /// caller waits for an answer that will not come.
  void abandon(const caf::error& why) {
    for (auto& [ticket, next] : std::exchange(pending_, {})) next(why);
  }

  std::size_t size() const noexcept { return pending_.size(); }

 private:
  std::uint64_t last_ticket_ = 0;
  std::unordered_map<std::uint64_t, Continuation> pending_;
};

}  // namespace processpype
