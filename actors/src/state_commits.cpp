#include "state_commits.hpp"

namespace processpype {

void StateCommits::complete(std::uint64_t ticket, bool saved, std::string error) {
  auto found = pending_.find(ticket);
  if (found == pending_.end()) return;
  auto next = std::move(found->second);
  pending_.erase(found);
  next(state::CommitResult{saved, std::move(error)});
}

void StateCommits::abandon(const std::string& why) {
  for (auto& [ticket, next] : std::exchange(pending_, {})) next(state::CommitResult{false, why});
}

std::string state_not_saved(const std::string& reason) {
  return "State not saved: " + reason;
}

state::Origin stored_origin(InstanceOrigin origin) noexcept {
  return origin == InstanceOrigin::file ? state::Origin::file : state::Origin::request;
}

}  // namespace processpype
