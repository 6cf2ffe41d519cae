#pragma once

/// The message protocol of ProcessPype's actors, in one place
/// (docs/architecture.md draws the flows).
///
/// Every node runs one Supervisor, one Node actor and one EventFeed; their
/// interfaces below are `caf::typed_actor`s, so a message nobody handles or
/// a reply of the wrong type does not compile. Failures are `caf::error`s
/// of the `processpype` category (make_error / to_error) that carry an
/// ErrorCode and the detail text clients see. CAF 0.17 atoms hold at most
/// 10 characters; each alias is named after its string (`start_atom` is
/// `"start"`).
///
/// SupervisorActor: the node's services (local callers, REST, other nodes).
///
/// | request                                         | response                 |
/// | ----------------------------------------------- | ------------------------ |
/// | (register_atom, RegisterRequest)                | Registration             |
/// | (deregister_atom, name, Trigger)                | Deregistration           |
/// | (configure_atom, name, nlohmann::json, Trigger) | ServiceState (configured)|
/// | (start_atom, name, Trigger)                     | ServiceState once running|
/// | (stop_atom, name, Trigger)                      | StopResult once stopped  |
/// | (route_atom, RouteCall)                         | RouteResponse            |
/// | (status_atom, name)                             | ServiceStatus            |
/// | (list_atom)                                     | std::vector<NamedStatus> |
/// | (count_atom)                                    | std::uint64_t instances  |
/// | (info_atom)                                     | ApplicationInfo          |
/// | (lookup_atom, name)                             | caf::actor (its actor)   |
/// | (stop_all_atom, caf::timespan timeout)          | std::vector<std::string> |
/// | (restore_atom, std::vector<RestoredInstance>)   | std::uint64_t (local use)|
/// | (stop_atom, names, Trigger, within)             | std::vector<std::string> |
/// |                                                 | still active (local use) |
///
/// A Trigger is the command's cause (what its events carry) and the id of
/// the HTTP request that asked for it, if any. Commands are carried out by
/// the instance's service actor, which answers the caller directly (the
/// Supervisor delegates). Status and list are
/// answered from the node's InstanceTable, which the service actor updates
/// before it replies, so a read that follows a reply sees the change.
/// stop_all stops every running (or starting) service, dependents before
/// their dependencies, otherwise in reverse order of reaching `running`,
/// all within `timeout`; it answers the names that did not stop cleanly.
/// With a state file (docs/state.md), register, configure, start, stop and
/// DELETE write their change ahead: a change that cannot be written refuses
/// register, configure and start with node_unavailable ("State not saved:
/// <reason>"); stop and DELETE act anyway and answer with a `warning`.
/// restore_atom registers a node's instances in bulk at start
/// (Runtime::restore), and the cluster instances this node takes over.
/// (stop_atom, names, ...) stops the named instances at once, each
/// manager's stop timeout capped at `within` (a cluster node whose lease is
/// at risk, docs/cluster.md), and answers those still active.
/// The messages service actors send the Supervisor (InternalSupervisorActor)
/// and the service actor's interface (ServiceActor) are in
/// actors/src/internal_protocol.hpp.
///
/// NodeActor: membership (docs/membership.md).
///
/// | request                                         | response                 |
/// | ----------------------------------------------- | ------------------------ |
/// | (identity_atom, id, address)                    | bool (local use)         |
/// | (gateway_atom, HttpGatewayActor)                | bool (local use)         |
/// | (join_atom, host, port)                         | NodeInfo of the peer     |
/// | (leave_atom)                                    | bool once peers were told|
/// |                                                 | (local use)              |
/// | (hello_atom, NodeInfo joiner)                   | Welcome                  |
/// | (heartbeat_atom, Heartbeat)                     | (none) the sender is up; |
/// |                                                 | connect to members it    |
/// |                                                 | lists that are missing   |
/// | (member_atom, NodeAddress)                      | (none) a new member:     |
/// |                                                 | connect to it if missing |
/// | (leave_atom, id)                                | bool: node `id` leaves,  |
/// |                                                 | it is down at once       |
/// | (nodes_atom)                                    | std::vector<NodeStatus>  |
///
/// Every node sends a Heartbeat to each member it lists up every heartbeat
/// interval; a member silent for the down threshold (or whose connection
/// closes) is down, and is dialled again with backoff until it answers or
/// is forgotten.
///
/// ClusterActor: the node's part in the placement of cluster instances
/// (docs/cluster.md), when it has a cluster store. Local use.
///
/// | request                                         | response                 |
/// | ----------------------------------------------- | ------------------------ |
/// | (register_atom, RegisterRequest) cluster        | Registration, once its   |
/// |                                                 | owner registered it      |
/// | (deregister_atom, name, Trigger)                | Deregistration: as owner,|
/// |                                                 | tombstone, stop, release |
/// | (drain_atom)                                    | bool once handed over    |
/// | (uncordon_atom)                                 | bool                     |
/// | (rebalance_atom)                                | bool once asked          |
///
/// Configure, start and stop of a cluster instance go to the Supervisor of
/// its owner like any command; its service actor writes the record first.
///
/// EventFeedActor: the node's events (docs/supervision.md, "Events").
///
/// | request                                         | response                 |
/// | ----------------------------------------------- | ------------------------ |
/// | (subscribe_atom, after seq, boot, subscriber)   | EventBatch: the replay   |
/// | (cancel_atom, subscriber)                       | (none)                   |
/// | (publish_atom)                                  | (none) new events logged |
///
/// (`after` = live_events_only: no replay), after which the feed pushes
/// (events_atom, EventBatch) to the subscriber
/// (an EventSubscriberActor) as events happen, until it cancels or ends.
///
/// HttpGatewayActor: a node's REST API for requests other nodes forward.
///
/// | request                                         | response                 |
/// | ----------------------------------------------- | ------------------------ |
/// | (http_atom, ForwardedRequest)                   | ForwardedResponse        |
///
/// The response carries the TableVersion of the node when it answered.
///
/// StatusFeedActor: the status of a node's instances, for the replicas other
/// nodes keep (docs/architecture.md, "Status replicas").
///
/// | request                                         | response                 |
/// | ----------------------------------------------- | ------------------------ |
/// | (subscribe_atom, StatusSubscriberActor)         | StatusBatch: every       |
/// |                                                 | instance (full)          |
/// | (cancel_atom, StatusSubscriberActor)            | (none)                   |
/// | (publish_atom)                                  | (none) instances changed |
///
/// after which the feed pushes (status_atom, StatusBatch) to the subscriber
/// with the instances that changed, in the order of their versions.
///
/// StatusFollowerActor (local): a StatusSubscriberActor that keeps this
/// node's StatusReplicas; told (subscribe_atom, node id, StatusFeedActor)
/// when a node is up, it subscribes to that node's feed.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <nlohmann/json.hpp>

#include "processpype/actors/instance_table.hpp"
#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/events.hpp"
#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/lifecycle.hpp"
#include "processpype/runtime/routes.hpp"
#include "processpype/runtime/service_registry.hpp"
#include "processpype/runtime/service_status.hpp"

namespace caf {
class actor_system_config;
}

namespace processpype {

// -- atoms ---------------------------------------------------------------------

using register_atom = caf::atom_constant<caf::atom("register")>;
using deregister_atom = caf::atom_constant<caf::atom("deregister")>;
using configure_atom = caf::atom_constant<caf::atom("configure")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using route_atom = caf::atom_constant<caf::atom("route")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using stop_all_atom = caf::atom_constant<caf::atom("stop_all")>;
using count_atom = caf::atom_constant<caf::atom("count")>;
using info_atom = caf::atom_constant<caf::atom("info")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using member_atom = caf::atom_constant<caf::atom("member")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
using identity_atom = caf::atom_constant<caf::atom("identity")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using events_atom = caf::atom_constant<caf::atom("events")>;
using http_atom = caf::atom_constant<caf::atom("http")>;
using gateway_atom = caf::atom_constant<caf::atom("gateway")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using uncordon_atom = caf::atom_constant<caf::atom("uncordon")>;
using rebalance_atom = caf::atom_constant<caf::atom("rebalance")>;

/// The `after` of a subscription that wants no replay, only new events.
inline constexpr std::uint64_t live_events_only = ~std::uint64_t{0};

/// The error category of ProcessPype errors inside caf::error.
constexpr caf::atom_value error_category = caf::atom("processpyp");

// -- messages ----------------------------------------------------------------

/// Register an instance of the class `class_key`. With `auto_name` the
/// Supervisor picks the name (docs/rest-api.md) and `instance_name` is
/// ignored. A cluster instance (`cluster`, docs/cluster.md) is registered
/// through the node's ClusterActor, never the Supervisor.
struct RegisterRequest {
  std::string class_key;
  std::string instance_name;
  bool auto_name = true;
  /// The HTTP request's id, for the `registered` event ("": none).
  std::string request_id = {};
  /// An instance of that name restored at start with the same class is
  /// answered as registered (the embedding API's idempotent registration,
  /// docs/state.md) instead of 409.
  bool accept_restored = false;
  /// `placement: cluster`: one node of the cluster runs it at a time.
  bool cluster = false;
  /// A cluster instance's eligible nodes; empty: every node with the class.
  std::vector<std::string> nodes = {};
};

struct Registration {
  std::string name;
  std::string type;  ///< C++ class name without namespace
};

struct Deregistration {
  std::string name;
  std::string stop_error;  ///< the error of the final stop, "" if none
  /// "State not saved: <reason>" when the state file could not record it
  /// (it was deregistered anyway); "" if none.
  std::string warning;
};

/// The reply to a stop: the state it left the instance in, and a warning
/// when the state file could not record the user's stop (it stopped anyway).
struct StopResult {
  ServiceState state = ServiceState::stopped;
  std::string warning;
};

class ChangeWriter;

/// An instance registered with its service object prepared off the actors:
/// one of a node's start (docs/state.md, "At start"), configured from the
/// state file's configuration, else the application file's, or in `error`
/// with the problem of the stored layer; or a cluster instance this node
/// takes over (docs/cluster.md), configured from its record.
struct RestoredInstance {
  std::string name;
  std::shared_ptr<const ServiceClass> service_class;
  std::shared_ptr<ServiceLifecycle> lifecycle;
  InstanceOrigin origin = InstanceOrigin::file;
  /// The application file's configuration of it with defaults filled in
  /// (for `overrides`); null for a request instance.
  std::shared_ptr<const nlohmann::json> file_metadata;
  /// What its `registered` event says caused it (startup, failover...).
  Trigger trigger = Trigger{EventCause::startup};
  /// A cluster instance's placement; null for a node instance.
  std::shared_ptr<const ClusterPlacement> cluster;
  /// Where its users' changes are written: a cluster instance's record, or
  /// the node's state file for an instance restored with a configuration
  /// stored there; null: the node's state file, if any.
  std::shared_ptr<ChangeWriter> writer;
};

struct NamedStatus {
  std::string name;
  ServiceStatus status;
};

/// A request to a custom route of service `service`.
struct RouteCall {
  std::string service;
  RouteRequest request;
};

/// Who a node's application is (GET /, /nodes).
struct ApplicationInfo {
  std::string title;
  std::string version;
};

/// A batch of one node's events: what a subscription replays, then what the
/// feed pushes as events happen. `gap`: events were lost before these (see
/// EventSlice).
struct EventBatch {
  std::string node;
  std::string boot;
  bool gap = false;
  std::uint64_t oldest_seq = 0;
  std::vector<Event> events;
};

/// An HTTP request forwarded to another node's REST API (`/nodes/{id}/...`):
/// the path is relative to the API prefix; the receiving node authorized
/// it. Its headers travel with it, but `Authorization`.
struct ForwardedRequest {
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ForwardedResponse {
  int status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  TableVersion version;  ///< of the answering node's table, once it answered
};

/// One instance in a StatusBatch.
struct StatusEntry {
  enum Kind : std::uint8_t {
    status,     ///< `body` is its GET /services/{name} body
    ask_owner,  ///< its status depends on the time: ask the node
    removed,    ///< deregistered
  };
  std::string name;
  std::uint8_t kind = status;
  std::string body;
};

/// Status of a node's instances: all of them (`full`: what a new
/// subscriber starts from) or those changed since the last batch. Every
/// change up to `version` is in it or in an earlier batch.
struct StatusBatch {
  std::string node;
  TableVersion version;
  bool full = false;
  std::vector<StatusEntry> entries;
};

// -- actor interfaces -----------------------------------------------------------

using SupervisorActor = caf::typed_actor<
    caf::replies_to<register_atom, RegisterRequest>::with<Registration>,
    caf::replies_to<deregister_atom, std::string, Trigger>::with<Deregistration>,
    caf::replies_to<configure_atom, std::string, nlohmann::json, Trigger>::with<ServiceState>,
    caf::replies_to<start_atom, std::string, Trigger>::with<ServiceState>,
    caf::replies_to<stop_atom, std::string, Trigger>::with<StopResult>,
    caf::replies_to<route_atom, RouteCall>::with<RouteResponse>,
    caf::replies_to<status_atom, std::string>::with<ServiceStatus>,
    caf::replies_to<list_atom>::with<std::vector<NamedStatus>>,
    caf::replies_to<count_atom>::with<std::uint64_t>,
    caf::replies_to<info_atom>::with<ApplicationInfo>,
    caf::replies_to<lookup_atom, std::string>::with<caf::actor>,
    caf::replies_to<stop_all_atom, caf::timespan>::with<std::vector<std::string>>,
    caf::replies_to<restore_atom, std::vector<RestoredInstance>>::with<std::uint64_t>,
    caf::replies_to<stop_atom, std::vector<std::string>, Trigger,
                    caf::timespan>::with<std::vector<std::string>>>;

using EventSubscriberActor = caf::typed_actor<caf::reacts_to<events_atom, EventBatch>>;

using EventFeedActor = caf::typed_actor<caf::replies_to<subscribe_atom, std::uint64_t, std::string,
                                                        EventSubscriberActor>::with<EventBatch>,
                                        caf::reacts_to<cancel_atom, EventSubscriberActor>,
                                        caf::reacts_to<publish_atom>>;

using StatusSubscriberActor = caf::typed_actor<caf::reacts_to<status_atom, StatusBatch>>;

using StatusFeedActor =
    caf::typed_actor<caf::replies_to<subscribe_atom, StatusSubscriberActor>::with<StatusBatch>,
                     caf::reacts_to<cancel_atom, StatusSubscriberActor>,
                     caf::reacts_to<publish_atom>>;

using StatusFollowerActor =
    caf::typed_actor<caf::reacts_to<status_atom, StatusBatch>,
                     caf::reacts_to<subscribe_atom, std::string, StatusFeedActor>>;

/// A node's part in the placement of cluster instances (docs/cluster.md),
/// for its REST API; a node has one when it has a cluster store.
using ClusterActor =
    caf::typed_actor<caf::replies_to<register_atom, RegisterRequest>::with<Registration>,
                     caf::replies_to<deregister_atom, std::string, Trigger>::with<Deregistration>,
                     caf::replies_to<drain_atom>::with<bool>,
                     caf::replies_to<uncordon_atom>::with<bool>,
                     caf::replies_to<rebalance_atom>::with<bool>>;

/// A node's REST API, for requests that other nodes forward to it.
using HttpGatewayActor =
    caf::typed_actor<caf::replies_to<http_atom, ForwardedRequest>::with<ForwardedResponse>>;

struct NodeInfo;
struct NodeAddress;
struct Welcome;
struct Heartbeat;
struct NodeStatus;

using NodeActor = caf::typed_actor<
    caf::replies_to<identity_atom, std::string, std::string>::with<bool>,
    caf::replies_to<gateway_atom, HttpGatewayActor>::with<bool>,
    caf::replies_to<join_atom, std::string, std::uint16_t>::with<NodeInfo>,
    caf::replies_to<leave_atom>::with<bool>, caf::replies_to<hello_atom, NodeInfo>::with<Welcome>,
    caf::reacts_to<heartbeat_atom, Heartbeat>, caf::reacts_to<member_atom, NodeAddress>,
    caf::replies_to<leave_atom, std::string>::with<bool>,
    caf::replies_to<nodes_atom>::with<std::vector<NodeStatus>>>;

/// A node as its peers know it.
struct NodeInfo {
  std::string id;
  std::string address;  ///< host:port of its node port ("" if not published)
  ApplicationInfo application;
  NodeActor node;
  SupervisorActor supervisor;
  EventFeedActor events;
  HttpGatewayActor gateway;  ///< null when the node serves no REST API
  StatusFeedActor status_feed;
};

/// A member as other members name it: enough to connect to it.
struct NodeAddress {
  std::string id;
  std::string address;  ///< host:port of its node port
};

/// The reply to a hello: who answered and every member it lists up.
struct Welcome {
  NodeInfo responder;
  std::vector<NodeAddress> members;
};

/// What a node sends each member it lists up, every heartbeat interval:
/// itself (so a receiver that lists it down can list it up again) and the
/// members it lists up (so a receiver connects to any it lacks).
struct Heartbeat {
  NodeInfo sender;
  std::vector<NodeAddress> members;
};

/// One entry of GET /nodes.
struct NodeStatus {
  std::string id;
  std::string address;
  bool up = true;
  std::uint64_t services = 0;
  ApplicationInfo application;
};

// -- errors ------------------------------------------------------------------

/// A caf::error carrying `code` and the client-facing `detail`.
caf::error make_error(ErrorCode code, std::string detail);
caf::error make_error(const Error& error);

/// Any caf::error as a processpype::Error: ours keep code and detail; CAF's
/// request timeout becomes `timeout`, a dead receiver `node_unavailable`.
Error to_error(const caf::error& error);

// -- setup -------------------------------------------------------------------

/// Registers every protocol type and the error category with `config`. Call
/// it before the actor_system is created (Runtime::add_types does).
void add_protocol_types(caf::actor_system_config& config);

// -- inspection (lets the types cross nodes) ----------------------------------

// Enums (ServiceState, EventCause) are inspected by CAF itself.

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, HealthReport& x) {
  return f(caf::meta::type_name("HealthReport"), x.ok, x.detail, x.checked_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ServiceStatus& x) {
  // CAF 0.17 has no std::optional: each crosses as a flag and a value.
  bool has_next_restart = x.next_restart_in_seconds.has_value();
  double next_restart = x.next_restart_in_seconds.value_or(0.0);
  bool has_health = x.health.has_value();
  HealthReport health = x.health.value_or(HealthReport{});
  bool has_cluster = x.cluster.has_value();
  ClusterPlacement cluster = x.cluster.value_or(ClusterPlacement{});
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.next_restart_in_seconds =
        has_next_restart ? std::optional<double>{next_restart} : std::nullopt;
    x.health = has_health ? std::optional<HealthReport>{std::move(health)} : std::nullopt;
    x.cluster = has_cluster ? std::optional<ClusterPlacement>{std::move(cluster)} : std::nullopt;
    return caf::none;
  });
  return f(caf::meta::type_name("ServiceStatus"), x.state, x.error, x.metadata, x.is_configured,
           x.restarts, has_next_restart, next_restart, has_health, health, x.origin, x.overrides,
           has_cluster, cluster, load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ClusterPlacement& x) {
  return f(caf::meta::type_name("ClusterPlacement"), x.nodes, x.owner, x.fencing_token);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RegisterRequest& x) {
  return f(caf::meta::type_name("RegisterRequest"), x.class_key, x.instance_name, x.auto_name,
           x.request_id, x.accept_restored, x.cluster, x.nodes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Registration& x) {
  return f(caf::meta::type_name("Registration"), x.name, x.type);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Deregistration& x) {
  return f(caf::meta::type_name("Deregistration"), x.name, x.stop_error, x.warning);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StopResult& x) {
  return f(caf::meta::type_name("StopResult"), x.state, x.warning);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NamedStatus& x) {
  return f(caf::meta::type_name("NamedStatus"), x.name, x.status);
}

/// The path parameters are filled where the route is matched: they do not cross.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RouteRequest& x) {
  return f(caf::meta::type_name("RouteRequest"), x.method, x.path, x.body, x.query_parameters,
           x.headers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RouteCall& x) {
  return f(caf::meta::type_name("RouteCall"), x.service, x.request);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RouteResponse& x) {
  return f(caf::meta::type_name("RouteResponse"), x.status, x.body, x.allow, x.route);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ApplicationInfo& x) {
  return f(caf::meta::type_name("ApplicationInfo"), x.title, x.version);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Trigger& x) {
  return f(caf::meta::type_name("Trigger"), x.cause, x.request_id, x.from_node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Event& x) {
  return f(caf::meta::type_name("Event"), x.seq, x.boot, x.time, x.node, x.service, x.state,
           x.error, x.cause, x.request_id, x.from_node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, EventBatch& x) {
  return f(caf::meta::type_name("EventBatch"), x.node, x.boot, x.gap, x.oldest_seq, x.events);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ForwardedRequest& x) {
  return f(caf::meta::type_name("ForwardedRequest"), x.method, x.path, x.query, x.body, x.headers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ForwardedResponse& x) {
  return f(caf::meta::type_name("ForwardedResponse"), x.status, x.content_type, x.headers, x.body,
           x.version);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TableVersion& x) {
  return f(caf::meta::type_name("TableVersion"), x.boot, x.sequence);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StatusEntry& x) {
  return f(caf::meta::type_name("StatusEntry"), x.name, x.kind, x.body);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StatusBatch& x) {
  return f(caf::meta::type_name("StatusBatch"), x.node, x.version, x.full, x.entries);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NodeInfo& x) {
  return f(caf::meta::type_name("NodeInfo"), x.id, x.address, x.application, x.node, x.supervisor,
           x.events, x.gateway, x.status_feed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NodeAddress& x) {
  return f(caf::meta::type_name("NodeAddress"), x.id, x.address);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Welcome& x) {
  return f(caf::meta::type_name("Welcome"), x.responder, x.members);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Heartbeat& x) {
  return f(caf::meta::type_name("Heartbeat"), x.sender, x.members);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NodeStatus& x) {
  return f(caf::meta::type_name("NodeStatus"), x.id, x.address, x.up, x.services, x.application);
}

}  // namespace processpype

namespace nlohmann {

/// JSON crosses nodes as its text, parsed back with the same limits as any
/// input (a peer cannot send a tree deeper than max_json_depth).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, json& x) {
  std::string text;
  // Invalid UTF-8 (a key taken from a percent-encoded path) becomes U+FFFD.
  if constexpr (Inspector::reads_state)
    text = x.dump(-1, ' ', false, json::error_handler_t::replace);
  auto load = caf::meta::load_callback([&]() -> caf::error {
    try {
      x = processpype::parse_json(text);
    } catch (const processpype::Error&) {
      return caf::make_error(caf::sec::invalid_argument, "malformed JSON from another node");
    }
    return caf::none;
  });
  return f(caf::meta::type_name("json"), text, load);
}

}  // namespace nlohmann

// Local only: a node's start hands its prepared service objects to its own
// Supervisor; they never cross nodes.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<processpype::RestoredInstance>)
