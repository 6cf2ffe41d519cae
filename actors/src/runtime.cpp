#include "processpype/actors/runtime.hpp"

#include <cxxabi.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "blocking_request.hpp"
#include "node_actor.hpp"
#include "processpype/actors/event_feed.hpp"
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

EventSubscription::EventSubscription(caf::actor subscriber)
    : subscriber_(std::make_unique<caf::actor>(std::move(subscriber))) {}

EventSubscription& EventSubscription::operator=(EventSubscription&& other) noexcept {
  if (this != &other) {
    if (subscriber_) caf::anon_send_exit(*subscriber_, caf::exit_reason::user_shutdown);
    subscriber_ = std::move(other.subscriber_);
  }
  return *this;
}

EventSubscription::~EventSubscription() {
  if (subscriber_) caf::anon_send_exit(*subscriber_, caf::exit_reason::user_shutdown);
}

void Runtime::add_types(caf::actor_system_config& config) {
  add_protocol_types(config);
}

Runtime::Runtime(caf::actor_system& system, RuntimeOptions options)
    : ServiceClient(system, SupervisorActor{}, options.timeout, std::nullopt),
      options_(std::move(options)),
      node_id_(options_.node_id.empty() ? host_name() : options_.node_id),
      table_(std::make_shared<InstanceTable>()),
      event_log_(std::make_shared<EventLog>(node_id_)),
      directory_(std::make_shared<NodeDirectory>()) {
  supervisor_ = spawn_supervisor(
      system, SupervisorSetup{table_, event_log_, options_.application, options_.max_instances});
  events_ = spawn_event_feed(system, event_log_);
  NodeInfo me;
  me.id = node_id_;
  me.application = options_.application;
  me.supervisor = supervisor_;
  me.events = events_;
  node_ = spawn_node_actor(system, std::move(me), directory_);
}

Runtime::~Runtime() {
  caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(events_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
}

std::string Runtime::demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free};
  return status == 0 && name ? std::string{name.get()} : std::string{mangled};
}

EventSubscription Runtime::subscribe(std::function<void(const EventBatch&)> on_events,
                                     std::uint64_t after) {
  auto subscriber = system_.spawn(
      [on_events = std::move(on_events), feed = events_, after](
          EventSubscriberActor::pointer self) -> EventSubscriberActor::behavior_type {
        self->request(feed, caf::infinite, subscribe_atom::value, after, std::string{},
                      EventSubscriberActor{self})
            .then([on_events](const EventBatch& replay) {
              if (!replay.events.empty() || replay.gap) on_events(replay);
            });
        return {[on_events](events_atom, const EventBatch& batch) { on_events(batch); }};
      });
  return EventSubscription{caf::actor_cast<caf::actor>(subscriber)};
}

void Runtime::set_gateway(HttpGatewayActor gateway) {
  blocking_request<bool>(system_, node_, timeout_, gateway_atom::value, std::move(gateway));
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
  event_log_->set_node(node_id_);
  blocking_request<bool>(system_, node_, timeout_, identity_atom::value, node_id_, address);
  return *published;
}

NodeInfo Runtime::join(const std::string& host, std::uint16_t port) {
  if (!system_.has_middleman())
    throw Error(ErrorCode::bad_request, "Joining a node needs the CAF middleman loaded");
  return blocking_request<NodeInfo>(system_, node_, caf::infinite, join_atom::value, host, port);
}

std::vector<NodeStatus> Runtime::nodes() {
  return blocking_request<std::vector<NodeStatus>>(system_, node_, caf::infinite,
                                                   nodes_atom::value);
}

ServiceClient Runtime::at(const std::string& id) {
  auto node = directory_->find(id);
  if (!node) throw Error(ErrorCode::not_found, "Node " + id + " not found");
  if (!node->up) throw Error(ErrorCode::node_unavailable, "Node " + id + " is down");
  if (node->local) return *this;
  return ServiceClient(system_, node->supervisor, options_.timeout, remote_lifecycle_timeout);
}

}  // namespace processpype
