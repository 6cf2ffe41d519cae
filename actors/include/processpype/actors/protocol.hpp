#pragma once

/// The message protocol of ProcessPype's actors, in one place.
///
/// Every node runs one Supervisor; it is the node's public endpoint (local
/// callers, the REST layer and other nodes all talk to it with the same
/// messages). A command for a service is routed by the Supervisor to the
/// service's actor, which answers the caller directly. Failures are
/// `caf::error`s of the `processpype` category (make_error / to_error) that
/// carry an ErrorCode and the detail text clients see.
///
/// Supervisor interface (request → response):
///
/// | request                                        | response                     |
/// | ---------------------------------------------- | ---------------------------- |
/// | (register_atom, RegisterRequest)               | Registration                 |
/// | (deregister_atom, name)                        | Deregistration               |
/// | (configure_atom, name, nlohmann::json)         | () once configured           |
/// | (start_atom, name)                             | () once running              |
/// | (stop_atom, name)                              | () once stopped              |
/// | (status_atom, name)                            | ServiceStatus                |
/// | (list_atom)                                    | std::vector<NamedStatus>     |
/// | (route_atom, RouteCall)                        | RouteResponse                |
/// | (lookup_atom, name)                            | caf::actor (the service)     |
/// | (stop_all_atom, caf::timespan timeout)         | std::vector<std::string>     |
///
/// stop_all stops every running (or starting) service one after the other,
/// in reverse order of reaching `running`, all within `timeout`; it answers
/// the names that did not stop cleanly in time (empty: all stopped).
///
/// configure/start/stop/route are forwarded (delegated) to the service actor,
/// which implements SPEC 2.1 with a ServiceLifecycle. Status and list are
/// answered from the Supervisor's snapshot, which every service actor keeps
/// current before it replies to a command (a read that follows a reply sees
/// the new state): (status_changed_atom, ServiceStatus) after a configure,
/// (state_changed_atom, ServiceState, error text) after any other change.
/// The Supervisor knows the instance by the sender.
///
/// Service actor interface: the same configure/start/stop/route messages
/// without the name, plus (shutdown_atom) → std::string: stop if needed,
/// answer the stop error ("" if none); used by deregistration.
///
/// Node interface (one Node actor per process; the one other nodes talk to):
///
/// | request                                        | response                         |
/// | ---------------------------------------------- | -------------------------------- |
/// | (join_atom, host, port)                        | NodeInfo of the peer (local use) |
/// | (hello_atom, NodeInfo joiner)                  | Welcome: responder + members     |
/// | (member_atom, std::string address)             | (none) a member to connect to    |
/// | (nodes_atom)                                   | std::vector<NodeStatus>          |
///
/// A node that joins one member connects to every member it learns of (the
/// membership is a full mesh of direct CAF connections); each node monitors
/// the others' Node actors, so a dead peer is `down` as soon as CAF notices
/// the connection is gone. The Supervisor answers (count_atom) → std::uint64_t
/// with its number of instances, for /nodes.
///
/// Manager calls: the service actor hands Service::start/stop to the node's
/// ManagerThreads (never CAF's scheduler), which answers it with
/// (hook_done_atom, call id, failure text or "") or, first, if the start/stop
/// timeout passes, (hook_timeout_atom, call id).

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/routes.hpp"
#include "processpype/runtime/service_status.hpp"

namespace processpype {

class ServiceLifecycle;

// -- atoms (CAF 0.17: at most 10 characters) ---------------------------------

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
using join_atom = caf::atom_constant<caf::atom("join")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using member_atom = caf::atom_constant<caf::atom("member")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
using identity_atom = caf::atom_constant<caf::atom("identity")>;
using status_changed_atom = caf::atom_constant<caf::atom("changed")>;
using state_changed_atom = caf::atom_constant<caf::atom("state")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using hook_done_atom = caf::atom_constant<caf::atom("hook_done")>;
using hook_timeout_atom = caf::atom_constant<caf::atom("hook_late")>;
using add_timer_atom = caf::atom_constant<caf::atom("add_timer")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

/// The error category of ProcessPype errors inside caf::error.
constexpr caf::atom_value error_category = caf::atom("processpyp");

// -- messages ----------------------------------------------------------------

/// Register an instance of the class `class_key`. With `auto_name` the
/// Supervisor picks the name (SPEC 2.2) and `instance_name` is ignored.
struct RegisterRequest {
  std::string class_key;
  std::string instance_name;
  bool auto_name = true;
};

struct Registration {
  std::string name;
  std::string type;  ///< C++ class name without namespace
};

struct Deregistration {
  std::string name;
  std::string stop_error;  ///< the error of the final stop, "" if none
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

/// A node as its peers know it.
struct NodeInfo {
  std::string id;
  std::string address;  ///< host:port of its node port ("" if not published)
  caf::actor node;
  caf::actor supervisor;
};

/// The reply to a hello: who answered and the addresses of all members it knows.
struct Welcome {
  NodeInfo responder;
  std::vector<std::string> member_addresses;
};

/// One entry of GET /nodes.
struct NodeStatus {
  std::string id;
  std::string address;
  bool up = true;
  std::uint64_t services = 0;
};

/// A blocking lifecycle hook to run for a service actor. Local only.
struct ManagerCall {
  std::shared_ptr<ServiceLifecycle> lifecycle;
  bool start = true;
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
/// it before the actor_system is created (Runtime::configure does).
void add_protocol_types(caf::actor_system_config& config);

// -- inspection (lets the types cross nodes) ----------------------------------

// ServiceState, an enum, is inspected by CAF itself.

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ServiceStatus& x) {
  return f(caf::meta::type_name("ServiceStatus"), x.state, x.error, x.metadata, x.is_configured);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RegisterRequest& x) {
  return f(caf::meta::type_name("RegisterRequest"), x.class_key, x.instance_name, x.auto_name);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Registration& x) {
  return f(caf::meta::type_name("Registration"), x.name, x.type);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Deregistration& x) {
  return f(caf::meta::type_name("Deregistration"), x.name, x.stop_error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NamedStatus& x) {
  return f(caf::meta::type_name("NamedStatus"), x.name, x.status);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RouteRequest& x) {
  return f(caf::meta::type_name("RouteRequest"), x.method, x.path, x.body, x.path_parameters,
           x.query_parameters);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RouteCall& x) {
  return f(caf::meta::type_name("RouteCall"), x.service, x.request);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RouteResponse& x) {
  return f(caf::meta::type_name("RouteResponse"), x.status, x.body, x.allow);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NodeInfo& x) {
  return f(caf::meta::type_name("NodeInfo"), x.id, x.address, x.node, x.supervisor);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Welcome& x) {
  return f(caf::meta::type_name("Welcome"), x.responder, x.member_addresses);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NodeStatus& x) {
  return f(caf::meta::type_name("NodeStatus"), x.id, x.address, x.up, x.services);
}

}  // namespace processpype

namespace nlohmann {

/// JSON crosses nodes as its text.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, json& x) {
  std::string text;
  if constexpr (Inspector::reads_state) text = x.dump();
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x = json::parse(text, nullptr, false);
    return caf::none;
  });
  return f(caf::meta::type_name("json"), text, load);
}

}  // namespace nlohmann

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(processpype::ManagerCall)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::function<void()>)
