#include "node_census.hpp"

#include <algorithm>

#include <caf/all.hpp>

namespace processpype {

namespace {

/// A GET /nodes in progress: one count request per node that is up.
struct NodeCensus {
  std::vector<NodeStatus> nodes;
  std::size_t waiting = 0;
  caf::typed_response_promise<std::vector<NodeStatus>> promise;
};

void ask_count(TickingNodeActor::pointer self, const std::shared_ptr<NodeCensus>& job,
               std::size_t index, const SupervisorActor& supervisor,
               std::map<std::string, Member>& members) {
  ++job->waiting;
  auto done = [job] {
    if (--job->waiting == 0) job->promise.deliver(std::move(job->nodes));
  };
  self->request(supervisor, peer_timeout, count_atom::value)
      .then(
          [job, index, done, &members](std::uint64_t count) {
            job->nodes[index].services = count;
            if (auto found = members.find(job->nodes[index].id); found != members.end())
              found->second.services = count;
            done();
          },
          [done](caf::error&) { done(); });
}

}  // namespace

caf::result<std::vector<NodeStatus>> take_census(TickingNodeActor::pointer self, const NodeInfo& me,
                                                 std::map<std::string, Member>& members) {
  auto job = std::make_shared<NodeCensus>();
  job->promise = self->make_response_promise<std::vector<NodeStatus>>();
  job->nodes.push_back({me.id, me.address, true, 0, me.application});
  for (const auto& [id, member] : members)
    if (member.state != MemberState::unreached)
      job->nodes.push_back({id, member.address, member.state == MemberState::up, member.services,
                            member.info.application});
  std::sort(job->nodes.begin(), job->nodes.end(),
            [](const NodeStatus& a, const NodeStatus& b) { return a.id < b.id; });
  for (std::size_t index = 0; index < job->nodes.size(); ++index) {
    const auto& id = job->nodes[index].id;
    if (id == me.id) {
      ask_count(self, job, index, me.supervisor, members);
    } else if (job->nodes[index].up) {
      ask_count(self, job, index, members.at(id).info.supervisor, members);
    }
  }
  if (job->waiting == 0) job->promise.deliver(std::move(job->nodes));
  return job->promise;
}

}  // namespace processpype
