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

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "processpype/actors/cluster.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/service_client.hpp"
#include "processpype/actors/supervisor.hpp"
#include "processpype/communications/dispatcher.hpp"
#include "processpype/communications/settings.hpp"
#include "processpype/runtime/events.hpp"
#include "processpype/runtime/outgoing_message.hpp"
#include "processpype/runtime/service_registry.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype {

class StatusReplicas;

/// The PEM files of TLS between nodes (docs/security.md, `node.tls`): this
/// node's certificate and key, and the CA that signs every member's.
struct NodeTlsFiles {
  std::string certificate;
  std::string key;
  std::string ca;

  bool enabled() const noexcept { return !certificate.empty() || !key.empty(); }
};

/// A node's messages to people (docs/communications.md): what services
/// emit, and its own alerts.
struct CommunicationsOptions {
  /// `communications.backends`; the Runtime's constructor checks them
  /// (communications::InvalidSettings).
  std::vector<communications::BackendSettings> backends;
  /// Send the runtime's alerts, label `alerts`: an instance failure, a
  /// give-up, a failover, a member lost.
  bool alerts = false;
  /// At most one alert per source (instance or node) this often; a give-up
  /// always goes.
  std::chrono::milliseconds alerts_min_interval = std::chrono::seconds(60);
  /// How long the Runtime's end waits for queued messages to go out; a
  /// server that hangs does not hold it up longer.
  std::chrono::milliseconds flush_timeout = std::chrono::seconds(2);
  /// Queues, retries and the logger; `node` is set to the node's id.
  communications::DispatcherOptions dispatcher{};
};

struct RuntimeOptions {
  /// Bounds status, list and route calls (and every call to another node);
  /// register, configure, start, stop and deregister on this node wait
  /// until they acted, which the state file's writes and the service's own
  /// timeouts bound.
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  /// The node id; default `<hostname>:<node-port>` once published, else
  /// `<hostname>`.
  std::string node_id;
  /// Title and version of the application, for GET / and /nodes.
  ApplicationInfo application{"ProcessPype", ""};
  /// Registrations beyond this many instances are refused.
  std::size_t max_instances = 100000;
  /// How many of the node's latest events it keeps for GET /events and for
  /// streams that resume (1 to EventLog::max_capacity).
  std::size_t event_capacity = EventLog::max_capacity;
  /// Membership (docs/membership.md): how often this node sends each member
  /// a heartbeat, after how long without one a member is `down`, and after
  /// how long `down` it leaves the node list.
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(1);
  std::chrono::milliseconds down_after = std::chrono::seconds(5);
  std::chrono::milliseconds forget_after = std::chrono::hours(1);
  /// Node traffic over CAF's OpenSSL module, with mutual verification: the
  /// actor_system's configuration must have gone through
  /// Runtime::configure_node_tls. A node with TLS and one without cannot
  /// join each other.
  bool node_tls = false;
  /// The node's state file (docs/state.md): what the control API did is
  /// written there before it acts, and restore() brings it back at start.
  /// Unset: nothing is persisted and no file is written.
  std::optional<state::StateStoreOptions> state = std::nullopt;
  /// Empties the state file before anything is restored (`--reset-state`).
  bool reset_state = false;
  /// Messages to people and the node's alerts (docs/communications.md).
  /// Unset: emit() does nothing, and no thread or queue exists for it.
  std::optional<CommunicationsOptions> communications = std::nullopt;
};

/// An instance of the application file (docs/configuration.md); its
/// cluster instances go to Runtime::join_cluster instead.
struct FileInstance {
  std::string name;
  std::string class_key;
  /// Its mapping without `type` (`{}`: not configured at start).
  nlohmann::json configuration = nlohmann::json::object();
};

/// What a node starts with (docs/state.md, "At start").
struct StartPlan {
  /// The application file's instances, in file order.
  std::vector<FileInstance> file;
  /// Class keys to register (when no instance has that name) and start:
  /// ENABLED_SERVICES.
  std::vector<std::string> enabled_services;
};

/// What restore() did.
struct StartReport {
  /// Instances registered: the file's, then the state file's layer.
  std::size_t registered = 0;
  /// Instances started, in the order they started.
  std::vector<std::string> started;
  /// Instances left in error, or whose start failed, and why.
  std::vector<std::pair<std::string, std::string>> problems;
};

/// An event subscription of the embedding API; ends when destroyed or
/// assigned over. Ending waits for a callback that is running (so what the
/// callback uses may go right after); once it returns no callback runs. A
/// callback may end its own subscription.
class EventSubscription {
 public:
  EventSubscription() = default;
  EventSubscription(EventSubscription&&) noexcept = default;
  EventSubscription& operator=(EventSubscription&&) noexcept;
  ~EventSubscription();

  /// Shared by the subscription and its callback (runtime.cpp).
  struct Gate;

 private:
  friend class Runtime;
  EventSubscription(caf::actor subscriber, std::shared_ptr<Gate> gate);
  void end() noexcept;

  std::unique_ptr<caf::actor> subscriber_;
  std::shared_ptr<Gate> gate_;
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
  /// Opens the state file when RuntimeOptions::state is set: throws
  /// state::StateError (one line naming the path and the reason) when it
  /// cannot be used, before anything runs. Starts the communications
  /// backends when RuntimeOptions::communications is set: throws
  /// communications::InvalidSettings for a backend that cannot be used.
  ///
  /// Ends the Supervisor, the Node actor, the EventFeed and every service
  /// actor (managers are not stopped: call stop_all first for a graceful end),
  /// after the messages still queued had CommunicationsOptions::flush_timeout
  /// to go out.
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
  /// The node's state file; null when it has none.
  const std::shared_ptr<state::StateStore>& state_store() const noexcept { return state_; }
  /// The node's communications backends (their counters feed /metrics);
  /// null without RuntimeOptions::communications.
  const std::shared_ptr<communications::Dispatcher>& dispatcher() const noexcept {
    return dispatcher_;
  }

  /// Sends `message` to people (docs/communications.md): to every enabled
  /// backend whose labels contain its label; `source` defaults to this
  /// node's id. Thread-safe and never waits (the message is queued, not
  /// sent). Without RuntimeOptions::communications it does nothing.
  void emit(OutgoingMessage message);

  /// This node's part in a cluster with a store; null until join_cluster.
  Cluster* cluster() const noexcept { return cluster_.get(); }

  /// Registers the node's instances at start (docs/state.md, "At start"):
  /// the application file's, then the state file's layer on top (its
  /// configurations replace the file's, its deregistrations remove file
  /// instances, its request instances join them), then starts them in
  /// dependency order by desired state: the stored one; else, for a file
  /// instance, the file's `enabled`; else none (a stored `autostart` alone
  /// never starts anything). A problem of the stored layer (a class gone, an
  /// invalid field, an unknown dependency, a cycle) leaves that instance in
  /// `error` with the detail, and the start goes on. Call it once, after
  /// the service classes are registered; an embedding program without a
  /// file calls it with an empty plan to bring back what its requests did.
  StartReport restore(const StartPlan& plan = {});

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
  /// a CAF worker thread (it must not block), until the subscription ends
  /// (EventSubscription says when that is).
  EventSubscription subscribe(std::function<void(const EventBatch&)> on_events,
                              std::uint64_t after = 0);

  /// Lets other nodes reach this node's REST API (rest::Server sets it);
  /// call before joining, so that peers learn it when they meet this node.
  void set_gateway(HttpGatewayActor gateway);
  /// Starts keeping replicas of the instance status of every other node
  /// that is up (the REST API reads remote instances from them); returns
  /// them. Later calls return the same. docs/architecture.md, "Status
  /// replicas", says what a reader of a replica can observe.
  const std::shared_ptr<StatusReplicas>& replicate_peer_status();

  // -- distribution (docs/configuration.md, "Cluster"; docs/membership.md) -----------

  /// Loads CAF's OpenSSL module into `config` (after
  /// `config.load<caf::io::middleman>()`) with this node's certificate and
  /// key and the cluster CA (`files.ca`, required): peers must present a
  /// certificate signed by it, as this node presents its own. Call before
  /// the actor_system is created, and set RuntimeOptions::node_tls. Throws
  /// Error (bad_request) naming a file that cannot be used.
  static void configure_node_tls(caf::actor_system_config& config, const NodeTlsFiles& files);
  /// Throws Error (bad_request) naming the first of `files` that cannot be
  /// used for node TLS: unreadable, not PEM, a key that does not match the
  /// certificate, or no CA.
  static void check_node_tls_files(const NodeTlsFiles& files);

  /// Makes this node reachable on host:port (port 0: any free port) with
  /// CAF's middleman (its OpenSSL module with RuntimeOptions::node_tls),
  /// reusing the address so a restarted node can take its port again.
  /// Returns the port. Needs the middleman loaded.
  std::uint16_t publish(std::uint16_t port, const std::string& host = "127.0.0.1");
  /// Joins the node listening at host:port and, through it, every member.
  /// Throws unreachable when nothing listens there (yet: try again later),
  /// node_unavailable when the peer is not a node or refuses this one (with
  /// TLS on one side only, the handshake fails), conflict when this node's
  /// id is taken.
  NodeInfo join(const std::string& host, std::uint16_t port);
  /// Makes this node a member of the cluster whose store `options` names
  /// (docs/cluster.md): it registers under a lease, meets the other nodes
  /// registered there (no join() needed), runs the cluster instances it is
  /// placed, and creates the records of `file_instances` that the cluster
  /// does not have. Returns at once; the store may answer later. Call it
  /// once, after publish() (other nodes carry commands to this node's
  /// address) and after the service classes are registered. Throws Error
  /// (bad_request) for options the store cannot take.
  Cluster& join_cluster(ClusterOptions options, std::vector<FileClusterInstance> file_instances);

  /// Tells every member that this node leaves (they list it `down` at once)
  /// and stops taking part in the membership; returns once they
  /// acknowledged, or after about a second. For a graceful shutdown.
  void leave();
  /// Every known node, sorted by id, with state and instance count.
  std::vector<NodeStatus> nodes();
  /// The same blocking calls, acting on node `id`. Throws not_found for an
  /// unknown id and node_unavailable for a node that is down.
  ServiceClient at(const std::string& id);

 private:
  static std::string demangle(const char* mangled);
  /// At the end: the alerts of the events so far, then what is queued, get
  /// CommunicationsOptions::flush_timeout to go out.
  void flush_messages();

  RuntimeOptions options_;
  std::shared_ptr<state::StateStore> state_;
  std::string node_id_;
  std::shared_ptr<InstanceTable> table_;
  std::shared_ptr<EventLog> event_log_;
  std::shared_ptr<NodeDirectory> directory_;
  std::shared_ptr<communications::Dispatcher> dispatcher_;
  caf::actor alert_source_;  ///< null without alerts
  EventFeedActor events_;
  StatusFeedActor status_feed_;
  std::shared_ptr<StatusReplicas> status_replicas_;
  StatusFollowerActor status_follower_;
  NodeActor node_;
  /// host:port where other nodes reach this one; "" until published.
  std::string node_address_;
  std::shared_ptr<ReservedNames> reserved_names_ = std::make_shared<ReservedNames>();
  /// The Supervisor's and the cluster actor's: a hand-over waits for them.
  std::shared_ptr<BusyManagers> busy_managers_ = std::make_shared<BusyManagers>();
  std::unique_ptr<Cluster> cluster_;
};

}  // namespace processpype
