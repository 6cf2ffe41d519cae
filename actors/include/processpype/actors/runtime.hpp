#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <caf/fwd.hpp>

#include "processpype/actors/instance_table.hpp"
#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/service_client.hpp"
#include "processpype/runtime/events.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype {

struct RuntimeOptions {
  /// Bounds configure, status, list and route calls (and every call to
  /// another node); start/stop on this node wait for the transition, which
  /// the service bounds with its own timeouts.
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  /// The node id; default `<hostname>:<node-port>` once published, else
  /// `<hostname>`.
  std::string node_id;
  /// Title and version of the application, for GET / and /nodes.
  ApplicationInfo application{"ProcessPype", ""};
  /// Registrations beyond this many instances are refused.
  std::size_t max_instances = 100000;
};

/// An event subscription of the embedding API; ends when destroyed.
class EventSubscription {
 public:
  EventSubscription() = default;
  explicit EventSubscription(caf::actor subscriber);
  EventSubscription(EventSubscription&&) noexcept = default;
  EventSubscription& operator=(EventSubscription&&) noexcept;
  ~EventSubscription();

 private:
  std::unique_ptr<caf::actor> subscriber_;
};

/// ProcessPype embedded in a program that owns its caf::actor_system
/// (docs/embedding.md). It spawns the node's Supervisor, Node actor and
/// EventFeed on that system; the blocking calls of ServiceClient act on this
/// node, `at(id)` on another.
///
///     caf::actor_system_config config;
///     processpype::Runtime::add_types(config);
///     caf::actor_system system{config};
///     processpype::Runtime runtime{system};
///     auto echo = runtime.register_service<EchoService>();
///     runtime.start(echo.name);
///
/// Callers that are actors themselves send the messages of protocol.hpp to
/// supervisor() (and node(), events()) instead; the blocking calls wrap
/// exactly those.
class Runtime : public ServiceClient {
 public:
  /// Registers ProcessPype's message types and error category. Call it on
  /// the configuration before the actor_system is created. For distribution
  /// also `config.load<caf::io::middleman>()`.
  static void add_types(caf::actor_system_config& config);

  explicit Runtime(caf::actor_system& system, RuntimeOptions options = {});
  /// Ends the Supervisor, the Node actor, the EventFeed and every service
  /// actor (managers are not stopped: call stop_all first for a graceful end).
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  caf::actor_system& system() const noexcept { return system_; }
  const NodeActor& node() const noexcept { return node_; }
  const EventFeedActor& events() const noexcept { return events_; }
  const std::string& node_id() const noexcept { return node_id_; }
  const ApplicationInfo& application() const noexcept { return options_.application; }
  const std::shared_ptr<NodeDirectory>& directory() const noexcept { return directory_; }
  /// The instances of this node, readable from any thread.
  const InstanceTable& table() const noexcept { return *table_; }
  /// The events of this node.
  EventLog& event_log() const noexcept { return *event_log_; }

  using ServiceClient::register_service;
  /// Registers `ServiceType` in the class registry if needed, then an instance of it.
  template <class ServiceType>
  Registration register_service(std::optional<std::string> instance_name = std::nullopt) {
    auto class_name = demangle(typeid(ServiceType).name());
    auto key = service_class_key(class_name);
    if (!ServiceClassRegistry::global().find(key))
      ServiceClassRegistry::global().add<ServiceType>(class_name);
    return register_service(key, std::move(instance_name));
  }

  /// Calls `on_events` with this node's events after seq `after` (0: all
  /// that are kept), then with every new batch as it happens, in order, on
  /// a CAF worker thread (it must not block), until the subscription ends.
  EventSubscription subscribe(std::function<void(const EventBatch&)> on_events,
                              std::uint64_t after = 0);

  /// Lets other nodes reach this node's REST API (rest::Server sets it);
  /// call before joining, so that peers learn it when they meet this node.
  void set_gateway(HttpGatewayActor gateway);

  // -- distribution (docs/configuration.md, "Cluster") -------------------------------

  /// Makes this node reachable on host:port (port 0: any free port) with
  /// CAF's middleman, reusing the address so a restarted node can take its
  /// port again. Returns the port. Needs the middleman loaded.
  std::uint16_t publish(std::uint16_t port, const std::string& host = "127.0.0.1");
  /// Joins the node listening at host:port and, through it, every member.
  NodeInfo join(const std::string& host, std::uint16_t port);
  /// Every known node, sorted by id, with state and instance count.
  std::vector<NodeStatus> nodes();
  /// The same blocking calls, acting on node `id`. Throws not_found for an
  /// unknown id and node_unavailable for a node that is down.
  ServiceClient at(const std::string& id);

 private:
  static std::string demangle(const char* mangled);

  RuntimeOptions options_;
  std::string node_id_;
  std::shared_ptr<InstanceTable> table_;
  std::shared_ptr<EventLog> event_log_;
  std::shared_ptr<NodeDirectory> directory_;
  EventFeedActor events_;
  NodeActor node_;
};

}  // namespace processpype
