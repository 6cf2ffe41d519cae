#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

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
    pending_.push_back({ticket, std::move(next)});
    return ticket;
  }

  /// The writer answered `ticket`: its continuation, which no longer waits;
  /// none for a stale ticket.
  std::optional<Continuation> take(std::uint64_t ticket) {
    // A flat list, not a map: a service actor has one write in flight, and
    // writers answer in the order of the writes, so the ticket is first.
    auto found = std::find_if(pending_.begin(), pending_.end(), [ticket](const Pending& pending) {
      return pending.ticket == ticket;
    });
    if (found == pending_.end()) return std::nullopt;
    auto next = std::move(found->next);
    pending_.erase(found);
    return next;
  }

  /// The writer answered `ticket`: runs its continuation (a stale ticket is
  /// ignored).
  void complete(std::uint64_t ticket, const caf::error& failure) {
    if (auto next = take(ticket)) (*next)(failure);
  }

  /// The actor ends: every waiting continuation runs with `why`, so that no
  /// caller waits for an answer that will not come.
  void abandon(const caf::error& why) {
    for (auto& pending : std::exchange(pending_, {})) pending.next(why);
  }

  std::size_t size() const noexcept { return pending_.size(); }

 private:
  struct Pending {
    std::uint64_t ticket = 0;
    Continuation next;
  };

  std::uint64_t last_ticket_ = 0;
  std::vector<Pending> pending_;
};

}  // namespace processpype
