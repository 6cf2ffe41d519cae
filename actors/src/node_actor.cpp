#include "node_actor.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <unordered_map>

#include <fmt/format.h>
#include <caf/all.hpp>

#include "node_census.hpp"
#include "node_dialler.hpp"
#include "node_membership.hpp"
#include "processpype/runtime/logging.hpp"

namespace processpype {

namespace {

using Clock = Member::Clock;

/// How long a leaving node waits for its members to acknowledge.
constexpr auto leave_timeout = std::chrono::seconds(1);
/// The longest wait between two dials of a member that does not answer.
constexpr Clock::duration max_backoff = std::chrono::seconds(30);
/// How many hellos of one join may be lost before the join fails.
constexpr int max_lost_hellos = 3;

using JoinPromise = caf::typed_response_promise<NodeInfo>;

/// This node as the directory lists it.
NodeDirectory::Node local_entry(const NodeInfo& me) {
  return {me.id,      me.address,     me.application, me.supervisor, me.events,
          me.gateway, me.status_feed, true,           true};
}

/// The Node actor (node_actor.hpp) keeps the membership
/// (docs/membership.md): joins and hellos, heartbeats and failure
/// detection, dials to members with backoff, and leaving. NodeDialler makes
/// each dial; take_census answers GET /nodes.
class NodeActorImpl final : public TickingNodeActor::base {
 public:
  NodeActorImpl(caf::actor_config& config, NodeInfo me, std::shared_ptr<NodeDirectory> directory,
                NodeSettings settings)
      : TickingNodeActor::base(config),
        me_(std::move(me)),
        directory_(std::move(directory)),
        settings_(settings),
        random_(std::random_device{}()),
        dialler_(this, me_, settings.tls, log_) {
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
    answer_every_join(make_error(ErrorCode::node_unavailable, "The node stops"));
    me_ = NodeInfo{};
    members_.clear();
  }

  behavior_type make_behavior() override {
    me_.node = caf::actor_cast<NodeActor>(this);
    publish_self();
    last_tick_ = Clock::now();
    delayed_send(this, settings_.heartbeat_interval, tick_atom::value);
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
          if (leaving_) return leaving_error();
          return join(fmt::format("{}:{}", host, port));
        },
        [this](leave_atom) -> caf::result<bool> { return leave(); },
        [this](hello_atom, NodeInfo& joiner) -> caf::result<Welcome> { return welcome(joiner); },
        [this](heartbeat_atom, Heartbeat& heartbeat) { on_heartbeat(heartbeat); },
        [this](member_atom, NodeAddress& member) { learn(member, true); },
        [this](leave_atom, const std::string& id) {
          on_leave(id);
          return true;
        },
        [this](nodes_atom) { return take_census(this, me_, members_); },
        [this](tick_atom) { tick(); },
    };
  }

 private:
  void publish_self() { directory_->put(local_entry(me_)); }

  caf::error leaving_error() const {
    return make_error(ErrorCode::node_unavailable,
                      fmt::format("Node {} is leaving the cluster", me_.id));
  }

  // -- joining -------------------------------------------------------------------

  /// A join not answered yet. It is answered by its own dial, or by any
  /// hello that brings the node at its address up: a node this one already
  /// learned of may dial first, and two dials that meet lose their hellos
  /// (docs/membership.md, "A simultaneous join").
  struct PendingJoin {
    std::string address;
    JoinPromise promise;
    Clock::time_point dial_at;  ///< when the tick dials, unless answered by then
    bool dialling = false;
    int lost_hellos = 0;
  };

  caf::result<NodeInfo> join(const std::string& address) {
    auto known = member_at(address);
    if (known != members_.end() && known->second.state == MemberState::up)
      return known->second.info;
    auto id = next_join_++;
    auto promise = make_response_promise<NodeInfo>();
    auto& pending = joins_[id];
    pending.address = address;
    pending.promise = promise;
    pending.dial_at = Clock::now();
    // Named by a member and not reached yet: if it dials first (dials_first),
    // its hello answers this join; the tick dials after the same wait.
    if (known != members_.end() && known->second.state == MemberState::unreached &&
        !dials_first(known->first))
      pending.dial_at += 2 * heartbeat();
    else if (!dialler_.dialling(address))
      dial_for_join(id);  // may answer at once (a malformed address), erasing `pending`
    return promise;
  }

  /// The member whose node port is at `address`, or members_.end().
  std::map<std::string, Member>::iterator member_at(const std::string& address) {
    return std::find_if(members_.begin(), members_.end(),
                        [&](const auto& entry) { return entry.second.address == address; });
  }

  void dial_for_join(std::uint64_t id) {
    auto& pending = joins_.at(id);
    pending.dialling = true;
    dial(pending.address, id);
  }

  /// Dials the joins whose time has come and whose address no dial is
  /// reaching already.
  void dial_waiting_joins(Clock::time_point now) {
    std::vector<std::uint64_t> due;
    for (const auto& [id, pending] : joins_)
      if (!pending.dialling && now >= pending.dial_at && !dialler_.dialling(pending.address))
        due.push_back(id);
    // A dial may answer at once, and so erase from joins_.
    for (auto id : due) dial_for_join(id);
  }

  void answer_join(std::uint64_t id, const NodeInfo& info) {
    auto found = joins_.find(id);
    if (found == joins_.end()) return;
    found->second.promise.deliver(info);
    joins_.erase(found);
  }

  void answer_joins_at(const std::string& address, const NodeInfo& info) {
    for (auto found = joins_.begin(); found != joins_.end();) {
      if (found->second.address != address) {
        ++found;
        continue;
      }
      found->second.promise.deliver(info);
      found = joins_.erase(found);
    }
  }

  void answer_every_join(const caf::error& error) {
    for (auto& [id, pending] : joins_) pending.promise.deliver(error);
    joins_.clear();
  }

  // -- dialling ------------------------------------------------------------------

  /// Dials the node port at `address` (NodeDialler); for a join, the
  /// outcome answers it, otherwise a failure only waits for the next dial
  /// of that member.
  void dial(const std::string& address, std::optional<std::uint64_t> join = std::nullopt) {
    dialler_.dial(address, [this, address, join](caf::expected<Welcome> welcome) {
      if (!welcome) return dial_failed(address, welcome.error(), join);
      if (leaving_) return dial_failed(address, leaving_error(), join);
      const auto& responder = welcome->responder;
      if (responder.id == me_.id || !responder.node)
        return dial_failed(address, make_error(ErrorCode::bad_request, "that is this node"), join);
      accept(responder);
      for (const auto& member : welcome->members) learn(member, false);
      if (join) answer_join(*join, responder);
    });
  }

  void dial_failed(const std::string& address, const caf::error& error,
                   std::optional<std::uint64_t> join) {
    auto failure = to_error(error);
    log_->debug("Cannot reach the node at {}: {}", address, failure.detail());
    auto found = join ? joins_.find(*join) : joins_.end();
    if (found == joins_.end()) return;  // a member's dial, or a join answered meanwhile
    auto& pending = found->second;
    pending.dialling = false;
    if (NodeDialler::hello_lost(error) && ++pending.lost_hellos < max_lost_hellos) {
      pending.dial_at = Clock::now() + jittered(heartbeat());
      log_->info("Joining the node at {}: {}; dialling again", address, failure.detail());
      return;
    }
    pending.promise.deliver(join_error(address, failure));
    joins_.erase(found);
  }

  static caf::error join_error(const std::string& address, const Error& failure) {
    if (failure.code() == ErrorCode::conflict) return make_error(failure);
    // unreachable stays unreachable: a join may try again later.
    auto code = failure.code() == ErrorCode::unreachable ? ErrorCode::unreachable
                                                         : ErrorCode::node_unavailable;
    return make_error(code, fmt::format("Cannot join node at {}: {}", address, failure.detail()));
  }

  /// Dials a member that is down or not reached yet, unless a dial to its
  /// address is under way, and sets the time of the next dial.
  void dial_member(Member& member, Clock::time_point now) {
    if (member.address.empty() || dialler_.dialling(member.address)) return;
    member.next_dial = now + jittered(member.backoff);
    member.backoff = std::min<Clock::duration>(member.backoff * 2, max_backoff);
    dial(member.address);
  }

  /// `interval` ± 20 %, at most max_backoff: members that lost the same
  /// peer do not all dial it at the same moment.
  Clock::duration jittered(Clock::duration interval) {
    std::uniform_real_distribution<double> factor{0.8, 1.2};
    auto value = std::chrono::duration_cast<Clock::duration>(interval * factor(random_));
    return std::min(value, max_backoff);
  }

  Clock::duration heartbeat() const { return settings_.heartbeat_interval; }

  // -- membership ------------------------------------------------------------------

  /// The members this node lists up, except `except`.
  std::vector<NodeAddress> up_members(const std::string& except = {}) const {
    std::vector<NodeAddress> result;
    for (const auto& [id, member] : members_)
      if (member.state == MemberState::up && id != except) result.push_back({id, member.address});
    return result;
  }

  caf::result<Welcome> welcome(const NodeInfo& joiner) {
    if (leaving_) return leaving_error();
    if (joiner.id.empty() || !joiner.node)
      return make_error(ErrorCode::bad_request, "A hello names its node and its Node actor");
    auto found = members_.find(joiner.id);
    if (joiner.id == me_.id || (found != members_.end() && found->second.state == MemberState::up &&
                                found->second.address != joiner.address))
      return make_error(ErrorCode::conflict, fmt::format("Node id {} is already taken", joiner.id));
    bool news = found == members_.end() || found->second.state != MemberState::up;
    Welcome reply{me_, up_members(joiner.id)};
    if (news)  // spread it: the others dial it at once rather than at their next heartbeat
      for (const auto& [id, member] : members_)
        if (member.state == MemberState::up && id != joiner.id)
          send(member.info.node, member_atom::value, NodeAddress{joiner.id, joiner.address});
    accept(joiner);
    return reply;
  }

  /// Lists `info` up: it answered a hello, said hello, or sent a heartbeat.
  void accept(const NodeInfo& info) {
    if (info.id.empty() || info.id == me_.id || !info.node) return;
    auto& member = members_[info.id];
    bool was_up = member.state == MemberState::up;
    if (member.monitored && member.info.node != info.node) {  // another process now
      demonitor(member.info.node.address());
      by_node_actor_.erase(member.info.node.address());
      member.monitored = false;
    }
    member.address = info.address;
    member.info = info;
    member.state = MemberState::up;
    member.last_heard = Clock::now();
    if (!member.monitored) {
      monitor(info.node);
      by_node_actor_[info.node.address()] = info.id;
      member.monitored = true;
    }
    directory_->put({info.id, info.address, info.application, info.supervisor, info.events,
                     info.gateway, info.status_feed, true, false});
    if (!was_up) log_->info("Node {} at {} is up", info.id, info.address);
    answer_joins_at(info.address, info);
  }

  /// A member named by another node (`news`: one that just said hello
  /// there). One this node lacks is dialled; see dials_first.
  void learn(const NodeAddress& entry, bool news) {
    if (leaving_ || entry.id.empty() || entry.id == me_.id) return;
    auto now = Clock::now();
    auto [found, inserted] = members_.try_emplace(entry.id);
    auto& member = found->second;
    if (member.state == MemberState::up) return;
    if (!entry.address.empty()) member.address = entry.address;
    auto soon = dials_first(entry.id) ? now : now + 2 * heartbeat();
    if (inserted) {
      member.since = now;
      member.backoff = heartbeat();
      member.next_dial = soon;
    } else if (news && member.state == MemberState::down) {
      // It is back: do not wait for the end of a long backoff.
      member.backoff = heartbeat();
      member.next_dial = std::min(member.next_dial, soon);
    }
    if (member.next_dial <= now) dial_member(member, now);
  }

  /// Of two nodes that learn of each other at the same moment, only the one
  /// with the smaller id dials: two CAF nodes that connect to each other at
  /// once can end with two connections that both drop what is sent over them
  /// (docs/membership.md). The other dials after two heartbeat intervals if
  /// no hello came by then.
  bool dials_first(const std::string& id) const { return me_.id < id; }

  void on_heartbeat(const Heartbeat& heartbeat) {
    if (leaving_) return;
    const auto& sender = heartbeat.sender;
    if (sender.id.empty() || sender.id == me_.id || !sender.node) return;
    auto found = members_.find(sender.id);
    if (found != members_.end() && found->second.state == MemberState::up) {
      auto& member = found->second;
      if (member.info.node == sender.node)
        member.last_heard = Clock::now();
      else if (member.address == sender.address)
        accept(sender);  // restarted at the same address
      else
        return;  // another node claims a taken id: its hellos are refused
    } else {
      accept(sender);  // it answers again (or dialled us and we missed the hello)
    }
    for (const auto& member : heartbeat.members) learn(member, false);
  }

  void on_peer_down(const caf::actor_addr& source) {
    auto found = by_node_actor_.find(source);
    if (found == by_node_actor_.end()) return;
    auto id = found->second;
    by_node_actor_.erase(found);
    auto member = members_.find(id);
    if (member == members_.end()) return;
    member->second.monitored = false;
    if (member->second.state == MemberState::up)
      mark_down(id, member->second, "its connection closed");
  }

  void on_leave(const std::string& id) {
    auto found = members_.find(id);
    if (found != members_.end() && found->second.state == MemberState::up)
      mark_down(id, found->second, "it left the cluster", true);
  }

  /// `left`: it said it leaves (NodeDirectory::Node::left).
  void mark_down(const std::string& id, Member& member, std::string_view why, bool left = false) {
    auto now = Clock::now();
    member.state = MemberState::down;
    member.since = now;
    member.backoff = heartbeat();
    member.next_dial = now + jittered(member.backoff);
    directory_->mark_down(id, std::string{why}, left);
    log_->info("Node {} is down: {}", id, why);
  }

  void forget(std::map<std::string, Member>::iterator found) {
    auto& [id, member] = *found;
    if (member.monitored) {
      demonitor(member.info.node.address());
      by_node_actor_.erase(member.info.node.address());
    }
    if (member.state == MemberState::down) {
      directory_->erase(id);
      log_->info("Node {} forgotten: down for longer than {} s", id,
                 std::chrono::duration_cast<std::chrono::seconds>(settings_.forget_after).count());
    }
    members_.erase(found);
  }

  // -- the heartbeat tick ------------------------------------------------------------

  void tick() {
    auto now = Clock::now();
    if (now - last_tick_ > settings_.down_after) {
      // This process did not run for longer than the down threshold
      // (SIGSTOP, a stalled machine): it was silent, not its members.
      for (auto& [id, member] : members_)
        if (member.state == MemberState::up) member.last_heard = now;
    }
    last_tick_ = now;
    if (!leaving_) {
      send_heartbeats();
      check_members(now);
      dial_waiting_joins(now);
    }
    delayed_send(this, heartbeat(), tick_atom::value);
  }

  void send_heartbeats() {
    Heartbeat beat{me_, up_members()};
    for (const auto& [id, member] : members_)
      if (member.state == MemberState::up) send(member.info.node, heartbeat_atom::value, beat);
  }

  /// Marks silent members down, dials the ones whose time has come and
  /// forgets those down (or never reached) for too long.
  void check_members(Clock::time_point now) {
    for (auto found = members_.begin(); found != members_.end();) {
      auto current = found++;
      auto& [id, member] = *current;
      if (member.state == MemberState::up) {
        auto silent = now - member.last_heard;
        if (silent > settings_.down_after)
          mark_down(id, member,
                    fmt::format("no heartbeat for {:.1f} s",
                                std::chrono::duration<double>(silent).count()));
      } else if (now - member.since > settings_.forget_after) {
        forget(current);
      } else if (now >= member.next_dial) {
        dial_member(member, now);
      }
    }
  }

  // -- leaving -----------------------------------------------------------------------

  /// Tells every member that this node leaves; answers once all of them
  /// acknowledged or leave_timeout passed.
  caf::result<bool> leave() {
    if (leaving_) return true;
    leaving_ = true;
    answer_every_join(leaving_error());
    auto waiting = std::make_shared<std::size_t>(0);
    for (const auto& [id, member] : members_)
      if (member.state == MemberState::up) ++*waiting;
    if (*waiting == 0) return true;
    log_->info("Leaving the cluster: telling {} member(s)", *waiting);
    auto promise = make_response_promise<bool>();
    auto acknowledged = [waiting, promise]() mutable {
      if (--*waiting == 0) promise.deliver(true);
    };
    for (const auto& [id, member] : members_)
      if (member.state == MemberState::up)
        request(member.info.node, leave_timeout, leave_atom::value, me_.id)
            .then([acknowledged](bool) mutable { acknowledged(); },
                  [acknowledged](caf::error&) mutable { acknowledged(); });
    return promise;
  }

  NodeInfo me_;
  std::shared_ptr<NodeDirectory> directory_;
  NodeSettings settings_;
  std::map<std::string, Member> members_;  ///< by id
  std::unordered_map<caf::actor_addr, std::string> by_node_actor_;
  Clock::time_point last_tick_;
  bool leaving_ = false;
  std::map<std::uint64_t, PendingJoin> joins_;  ///< by the order they came in
  std::uint64_t next_join_ = 0;
  std::minstd_rand random_;
  std::shared_ptr<spdlog::logger> log_ = make_logger("processpype.node");
  NodeDialler dialler_;
};

}  // namespace

NodeActor spawn_node_actor(caf::actor_system& system, NodeInfo me,
                           std::shared_ptr<NodeDirectory> directory, NodeSettings settings) {
  // Listed before the actor first runs: a request for this node's own
  // events may come as soon as the Runtime exists.
  directory->put(local_entry(me));
  return caf::actor_cast<NodeActor>(
      system.spawn<NodeActorImpl>(std::move(me), std::move(directory), settings));
}

}  // namespace processpype
