#pragma once

#include <map>
#include <string>
#include <vector>

#include "node_membership.hpp"

namespace processpype {

/// GET /nodes: this node and every member it lists (a member never reached
/// is not listed yet), by id, each node that is up asked for its instance
/// count within peer_timeout. A member that does not answer keeps the last
/// count it gave; the counts that come are kept in `members`.
caf::result<std::vector<NodeStatus>> take_census(TickingNodeActor::pointer self, const NodeInfo& me,
                                                 std::map<std::string, Member>& members);

}  // namespace processpype
