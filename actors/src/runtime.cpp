#include "processpype/actors/runtime.hpp"

#include <cxxabi.h>
#include <unistd.h>

#include <caf/io/middleman.hpp>

#include "node_actor.hpp"
#include "processpype/actors/supervisor.hpp"

namespace processpype {

namespace {

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0) return "localhost";
  return buffer;
}

/// Calls to other nodes wait at most this long for a transition.
constexpr auto remote_lifecycle_timeout = std::chrono::minutes(10);

}  // namespace

void Runtime::add_types(caf::actor_system_config& config) {
  add_protocol_types(config);
}

Runtime::Runtime(caf::actor_system& system, RuntimeOptions options)
    : ServiceClient(system, spawn_supervisor(system), options.timeout, std::nullopt),
      options_(std::move(options)),
      node_id_(options_.node_id.empty() ? host_name() : options_.node_id),
      directory_(std::make_shared<NodeDirectory>()),
      node_(spawn_node_actor(system, node_id_, supervisor_, directory_)) {}

Runtime::~Runtime() {
  caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
}

std::string Runtime::demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free};
  return status == 0 && name ? std::string{name.get()} : std::string{mangled};
}

std::uint16_t Runtime::publish(std::uint16_t port, const std::string& host) {
  if (!system_.has_middleman())
    throw Error(ErrorCode::bad_request, "Publishing a node needs the CAF middleman loaded");
  auto published = system_.middleman().publish(node_, port, host.c_str(), true);
  if (!published)
    throw Error(ErrorCode::bad_request, "Cannot publish the node on " + host + ":" +
                                            std::to_string(port) + ": " +
                                            system_.render(published.error()));
  auto address = host + ":" + std::to_string(*published);
  if (options_.node_id.empty()) node_id_ = host_name() + ":" + std::to_string(*published);
  ask<void>(node_, timeout_, identity_atom::value, node_id_, address);
  return *published;
}

NodeInfo Runtime::join(const std::string& host, std::uint16_t port) {
  if (!system_.has_middleman())
    throw Error(ErrorCode::bad_request, "Joining a node needs the CAF middleman loaded");
  return ask<NodeInfo>(node_, caf::infinite, join_atom::value, host, port);
}

std::vector<NodeStatus> Runtime::nodes() {
  return ask<std::vector<NodeStatus>>(node_, caf::infinite, nodes_atom::value);
}

ServiceClient Runtime::at(const std::string& id) {
  auto node = directory_->find(id);
  if (!node) throw Error(ErrorCode::not_found, "Node " + id + " not found");
  if (!node->up) throw Error(ErrorCode::node_unavailable, "Node " + id + " is down");
  if (node->local) return *this;
  return ServiceClient(system_, node->supervisor, options_.timeout, remote_lifecycle_timeout);
}

}  // namespace processpype
