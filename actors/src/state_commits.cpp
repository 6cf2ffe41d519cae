#include "state_commits.hpp"

namespace processpype {

void StateCommits::abandon(const std::string& why) {
  pending_.abandon(make_error(ErrorCode::node_unavailable, state_not_saved(why)));
}

caf::error StateCommits::unsaved(const state::CommitResult& result) {
  if (result.saved) return caf::none;
  return make_error(ErrorCode::node_unavailable, state_not_saved(result.error));
}

std::string state_not_saved(const std::string& reason) {
  return "State not saved: " + reason;
}

state::Origin stored_origin(InstanceOrigin origin) noexcept {
  return origin == InstanceOrigin::file ? state::Origin::file : state::Origin::request;
}

}  // namespace processpype
