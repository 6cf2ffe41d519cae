#include "node_actor.hpp"

#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <fmt/format.h>

#include "processpype/actors/protocol.hpp"

namespace processpype {

namespace {

constexpr auto peer_timeout = std::chrono::seconds(5);

/// A GET /nodes in progress: one count request per node that is up.
struct NodeCensus {
  std::vector<NodeStatus> nodes;
  std::size_t waiting = 0;
  caf::typed_response_promise<std::vector<NodeStatus>> promise;
};

class NodeActorImpl final : public NodeActor::base {
 public:
  NodeActorImpl(caf::actor_config& config, NodeInfo me, std::shared_ptr<NodeDirectory> directory)
      : NodeActor::base(config), me_(std::move(me)), directory_(std::move(directory)) {
    set_down_handler([this](caf::down_msg& message) { on_peer_down(message.source); });
    set_default_handler(caf::drop);  // a stray (or remote) message must not end the node
    // CAF ends an actor on an error message nobody asked for (e.g. bounced
    // from a peer); ours drop it.
    set_error_handler([](caf::error&) {});
  }

  const char* name() const override { return "processpype.node"; }

  /// me_ holds a handle to this actor (for hellos); drop it so the actor,
  /// and the Supervisor it references, can be freed.
  void on_exit() override {
    me_ = NodeInfo{};
    members_.clear();
  }

  behavior_type make_behavior() override {
    me_.node = caf::actor_cast<NodeActor>(this);
    publish_self();
    return {
        [this](identity_atom, std::string& id, std::string& address) {
          directory_->erase(me_.id);
          me_.id = std::move(id);
          me_.address = std::move(address);
          publish_self();
          return true;
        },
        [this](gateway_atom, HttpGatewayActor& gateway) {
          me_.gateway = std::move(gateway);
          publish_self();
          return true;
        },
        [this](join_atom, std::string& host, std::uint16_t port) -> caf::result<NodeInfo> {
          auto promise = make_response_promise<NodeInfo>();
          connect(host, port, promise);
          return promise;
        },
        [this](hello_atom, NodeInfo& joiner) -> caf::result<Welcome> { return welcome(joiner); },
        [this](member_atom, const std::string& address) { connect_to_member(address); },
        [this](nodes_atom) -> caf::result<std::vector<NodeStatus>> { return census(); },
    };
  }

 private:
  void publish_self() {
    directory_->put({me_.id, me_.address, me_.application, me_.supervisor, me_.events,
                     me_.gateway, true, true});
  }

  // -- joining ---------------------------------------------------------------

  /// Connects to the node port at host:port, says hello and connects to
  /// every member the peer knows.
  using JoinPromise = caf::typed_response_promise<NodeInfo>;

  void connect(const std::string& host, std::uint16_t port,
               std::optional<JoinPromise> promise = std::nullopt) {
    auto address = fmt::format("{}:{}", host, port);
    auto fail = [promise, address](const caf::error& error) mutable {
      if (promise)
        promise->deliver(
            make_error(ErrorCode::node_unavailable,
                       fmt::format("Cannot join node at {}: {}", address, to_error(error).what())));
    };
    connecting_.insert(address);
    request(system().middleman().actor_handle(), peer_timeout, caf::connect_atom::value, host, port)
        .then(
            [this, promise, address, fail](const caf::node_id&, caf::strong_actor_ptr& peer,
                                           const std::set<std::string>&) mutable {
              if (!peer) {
                connecting_.erase(address);
                return fail(make_error(ErrorCode::node_unavailable, "no actor published there"));
              }
              say_hello(caf::actor_cast<NodeActor>(peer), address, promise);
            },
            [this, address, fail](caf::error& error) mutable {
              connecting_.erase(address);
              fail(error);
            });
  }

  void say_hello(const NodeActor& peer, const std::string& address,
                 std::optional<JoinPromise> promise) {
    request(peer, peer_timeout, hello_atom::value, me_)
        .then(
            [this, promise, address](Welcome& welcome) mutable {
              connecting_.erase(address);
              add_member(welcome.responder);
              for (const auto& member : welcome.member_addresses) connect_to_member(member);
              if (promise) promise->deliver(welcome.responder);
            },
            [this, promise, address](caf::error& error) mutable {
              connecting_.erase(address);
              if (promise) promise->deliver(error);
            });
  }

  void connect_to_member(const std::string& address) {
    if (address.empty() || address == me_.address || connecting_.count(address) != 0) return;
    for (const auto& [id, member] : members_)
      if (member.info.address == address && member.up) return;
    if (auto parsed = parse_node_address(address)) connect(parsed->first, parsed->second);
  }

  caf::result<Welcome> welcome(const NodeInfo& joiner) {
    if (joiner.id == me_.id)
      return make_error(ErrorCode::conflict, fmt::format("Node id {} is already taken", joiner.id));
    if (auto found = members_.find(joiner.id);
        found != members_.end() && found->second.up && found->second.info.address != joiner.address)
      return make_error(ErrorCode::conflict, fmt::format("Node id {} is already taken", joiner.id));
    Welcome reply{me_, {}};
    for (const auto& [id, member] : members_)
      if (member.up && id != joiner.id) {
        reply.member_addresses.push_back(member.info.address);
        send(member.info.node, member_atom::value, joiner.address);  // spread the news
      }
    add_member(joiner);
    return reply;
  }

  // -- membership --------------------------------------------------------------

  struct Member {
    NodeInfo info;
    bool up = true;
    std::uint64_t services = 0;  ///< last known instance count
  };

  void add_member(const NodeInfo& info) {
    if (info.id == me_.id) return;
    auto& member = members_[info.id];
    if (member.info.node && member.info.node != info.node) {
      demonitor(member.info.node.address());
      by_node_actor_.erase(member.info.node.address());
    }
    member.info = info;
    member.up = true;
    monitor(info.node);
    by_node_actor_[info.node.address()] = info.id;
    directory_->put({info.id, info.address, info.application, info.supervisor, info.events,
                     info.gateway, true, false});
  }

  void on_peer_down(const caf::actor_addr& source) {
    auto found = by_node_actor_.find(source);
    if (found == by_node_actor_.end()) return;
    auto id = found->second;
    by_node_actor_.erase(found);
    members_[id].up = false;
    directory_->mark_down(id);
  }

  // -- GET /nodes -----------------------------------------------------------------

  caf::result<std::vector<NodeStatus>> census() {
    auto job = std::make_shared<NodeCensus>();
    job->promise = make_response_promise<std::vector<NodeStatus>>();
    job->nodes.push_back({me_.id, me_.address, true, 0, me_.application});
    ask_count(job, 0, me_.supervisor);
    for (auto& [id, member] : members_) {
      job->nodes.push_back(
          {id, member.info.address, member.up, member.services, member.info.application});
      if (member.up) ask_count(job, job->nodes.size() - 1, member.info.supervisor);
    }
    if (job->waiting == 0) job->promise.deliver(std::move(job->nodes));
    return job->promise;
  }

  void ask_count(const std::shared_ptr<NodeCensus>& job, std::size_t index,
                 const SupervisorActor& supervisor) {
    ++job->waiting;
    auto done = [job] {
      if (--job->waiting == 0) job->promise.deliver(std::move(job->nodes));
    };
    request(supervisor, peer_timeout, count_atom::value)
        .then(
            [this, job, index, done](std::uint64_t count) {
              job->nodes[index].services = count;
              if (auto found = members_.find(job->nodes[index].id); found != members_.end())
                found->second.services = count;
              done();
            },
            [done](caf::error&) { done(); });
  }

  NodeInfo me_;
  std::shared_ptr<NodeDirectory> directory_;
  std::unordered_map<std::string, Member> members_;
  std::unordered_map<caf::actor_addr, std::string> by_node_actor_;
  std::unordered_set<std::string> connecting_;
};

}  // namespace

NodeActor spawn_node_actor(caf::actor_system& system, NodeInfo me,
                           std::shared_ptr<NodeDirectory> directory) {
  return system.spawn<NodeActorImpl>(std::move(me), std::move(directory));
}

}  // namespace processpype
