#include "processpype/actors/runtime.hpp"

#include <cxxabi.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>

#include "alert_source.hpp"
#include "blocking_request.hpp"
#include "node_actor.hpp"
#include "placement_actor.hpp"
#include "processpype/actors/event_feed.hpp"
#include "processpype/actors/status_replicas.hpp"
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

// -- node TLS files ------------------------------------------------------------------

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

/// `what` and `path` open for reading; Error naming both otherwise.
File open_pem(const std::string& path, const std::string& what) {
  File file{std::fopen(path.c_str(), "r"), &std::fclose};
  if (!file)
    throw Error(
        ErrorCode::bad_request,
        "node TLS " + what + " " + path + ": cannot read the file (" + std::strerror(errno) + ")");
  return file;
}

/// The first certificate of a PEM file; Error naming it when there is none.
std::unique_ptr<X509, void (*)(X509*)> read_certificate(const std::string& path,
                                                        const std::string& what) {
  auto file = open_pem(path, what);
  std::unique_ptr<X509, void (*)(X509*)> certificate{
      PEM_read_X509(file.get(), nullptr, nullptr, nullptr), &X509_free};
  ERR_clear_error();
  if (!certificate)
    throw Error(ErrorCode::bad_request,
                "node TLS " + what + " " + path + ": no PEM certificate in it");
  return certificate;
}

}  // namespace

/// The subscriber's exit is asynchronous: without the gate a batch could
/// still reach the callback after the subscription ended, and the callback
/// could still be running when its owner freed what it uses. Recursive, so
/// that a callback can end its own subscription.
struct EventSubscription::Gate {
  std::recursive_mutex mutex;
  bool open = true;

  void deliver(const std::function<void(const EventBatch&)>& on_events, const EventBatch& batch) {
    std::lock_guard lock{mutex};
    if (open) on_events(batch);
  }
  void close() {
    std::lock_guard lock{mutex};
    open = false;
  }
};

EventSubscription::EventSubscription(caf::actor subscriber, std::shared_ptr<Gate> gate)
    : subscriber_(std::make_unique<caf::actor>(std::move(subscriber))), gate_(std::move(gate)) {}

EventSubscription& EventSubscription::operator=(EventSubscription&& other) noexcept {
  if (this != &other) {
    end();
    subscriber_ = std::move(other.subscriber_);
    gate_ = std::move(other.gate_);
  }
  return *this;
}

EventSubscription::~EventSubscription() {
  end();
}

void EventSubscription::end() noexcept {
  if (gate_) gate_->close();
  if (subscriber_) caf::anon_send_exit(*subscriber_, caf::exit_reason::user_shutdown);
}

void Runtime::add_types(caf::actor_system_config& config) {
  add_protocol_types(config);
}

namespace {

std::shared_ptr<state::StateStore> open_state(const RuntimeOptions& options) {
  if (!options.state) return nullptr;
  std::shared_ptr<state::StateStore> store = state::StateStore::open(*options.state);
  if (options.reset_state) store->reset();
  return store;
}

std::shared_ptr<communications::Dispatcher> start_communications(const RuntimeOptions& options,
                                                                 const std::string& node) {
  if (!options.communications) return nullptr;
  auto dispatcher_options = options.communications->dispatcher;
  dispatcher_options.node = node;
  return std::make_shared<communications::Dispatcher>(options.communications->backends,
                                                      std::move(dispatcher_options));
}

}  // namespace

Runtime::Runtime(caf::actor_system& system, RuntimeOptions options)
    : ServiceClient(system, SupervisorActor{}, options.timeout, std::nullopt),
      options_(std::move(options)),
      state_(open_state(options_)),
      node_id_(options_.node_id.empty() ? host_name() : options_.node_id),
      table_(std::make_shared<InstanceTable>()),
      event_log_(std::make_shared<EventLog>(node_id_, std::string{}, options_.event_capacity)),
      directory_(std::make_shared<NodeDirectory>()),
      dispatcher_(start_communications(options_, node_id_)) {
  supervisor_ = spawn_supervisor(
      system, SupervisorSetup{table_, event_log_, options_.application, options_.max_instances,
                              state_, reserved_names_, dispatcher_, busy_managers_});
  events_ = spawn_event_feed(system, event_log_);
  status_feed_ = spawn_status_feed(system, node_id_, table_);
  NodeInfo me;
  me.id = node_id_;
  me.application = options_.application;
  me.supervisor = supervisor_;
  me.events = events_;
  me.status_feed = status_feed_;
  node_ = spawn_node_actor(system, std::move(me), directory_,
                           NodeSettings{options_.heartbeat_interval, options_.down_after,
                                        options_.forget_after, options_.node_tls});
  if (dispatcher_ && options_.communications->alerts)
    alert_source_ = caf::actor_cast<caf::actor>(
        spawn_alert_source(system, AlertSourceSetup{event_log_, directory_, dispatcher_,
                                                    options_.communications->alerts_min_interval,
                                                    event_log_->last_seq(), options_.down_after}));
}

Runtime::~Runtime() {
  cluster_.reset();
  flush_messages();
  if (alert_source_) caf::anon_send_exit(alert_source_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(events_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(status_feed_, caf::exit_reason::user_shutdown);
  if (status_follower_) caf::anon_send_exit(status_follower_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
}

void Runtime::flush_messages() {
  if (!dispatcher_) return;
  auto timeout = options_.communications->flush_timeout;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (alert_source_) {
    try {
      blocking_request<bool>(system_, alert_source_, caf::duration{timeout}, flush_atom::value);
    } catch (const std::exception&) {  // its alerts are late: what is queued still goes
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() > 0) dispatcher_->flush(left);
}

void Runtime::emit(OutgoingMessage message) {
  if (!dispatcher_) return;
  if (message.source.empty()) message.source = event_log_->node();
  dispatcher_->emit(std::move(message));
}

std::string Runtime::demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free};
  return status == 0 && name ? std::string{name.get()} : std::string{mangled};
}

EventSubscription Runtime::subscribe(std::function<void(const EventBatch&)> on_events,
                                     std::uint64_t after) {
  auto gate = std::make_shared<EventSubscription::Gate>();
  auto subscriber =
      system_.spawn([on_events = std::move(on_events), gate, feed = events_, after](
                        EventSubscriberActor::pointer self) -> EventSubscriberActor::behavior_type {
        self->request(feed, caf::infinite, subscribe_atom::value, after, std::string{},
                      EventSubscriberActor{self})
            .then([on_events, gate](const EventBatch& replay) {
              if (!replay.events.empty() || replay.gap) gate->deliver(on_events, replay);
            });
        return {[on_events, gate](events_atom, const EventBatch& batch) {
          gate->deliver(on_events, batch);
        }};
      });
  return EventSubscription{caf::actor_cast<caf::actor>(subscriber), std::move(gate)};
}

const std::shared_ptr<StatusReplicas>& Runtime::replicate_peer_status() {
  if (!status_follower_) {
    status_replicas_ = std::make_shared<StatusReplicas>();
    status_follower_ = spawn_status_follower(system_, status_replicas_, *directory_);
  }
  return status_replicas_;
}

void Runtime::set_gateway(HttpGatewayActor gateway) {
  blocking_request<bool>(system_, node_, timeout_, gateway_atom::value, std::move(gateway));
}

void Runtime::check_node_tls_files(const NodeTlsFiles& files) {
  if (files.certificate.empty() || files.key.empty() || files.ca.empty())
    throw Error(ErrorCode::bad_request,
                "node TLS needs a certificate, its key and the cluster CA (node.tls: "
                "certificate, key, ca)");
  auto certificate = read_certificate(files.certificate, "certificate");
  {
    auto file = open_pem(files.key, "key");
    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key{
        PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free};
    ERR_clear_error();
    if (!key)
      throw Error(ErrorCode::bad_request,
                  "node TLS key " + files.key + ": no PEM private key in it");
    if (X509_check_private_key(certificate.get(), key.get()) != 1) {
      ERR_clear_error();
      throw Error(
          ErrorCode::bad_request,
          "node TLS key " + files.key + ": does not match the certificate " + files.certificate);
    }
  }
  read_certificate(files.ca, "CA");
}

void Runtime::configure_node_tls(caf::actor_system_config& config, const NodeTlsFiles& files) {
  check_node_tls_files(files);
  config.load<caf::openssl::manager>();
  config.openssl_certificate = files.certificate;
  config.openssl_key = files.key;
  config.openssl_cafile = files.ca;
}

std::uint16_t Runtime::publish(std::uint16_t port, const std::string& host) {
  if (!system_.has_middleman())
    throw Error(ErrorCode::bad_request, "Publishing a node needs the CAF middleman loaded");
  if (options_.node_tls && !system_.has_openssl_manager())
    throw Error(ErrorCode::bad_request,
                "Node TLS needs CAF's OpenSSL module: see Runtime::configure_node_tls");
  auto published = options_.node_tls ? caf::openssl::publish(node_, port, host.c_str(), true)
                                     : system_.middleman().publish(node_, port, host.c_str(), true);
  if (!published)
    throw Error(ErrorCode::bad_request, "Cannot publish the node on " + host + ":" +
                                            std::to_string(port) + ": " +
                                            system_.render(published.error()));
  auto address = host + ":" + std::to_string(*published);
  // Peers cannot dial a wildcard address: they get the host's name.
  node_address_ =
      (host == "0.0.0.0" || host == "::" ? host_name() : host) + ":" + std::to_string(*published);
  if (options_.node_id.empty()) node_id_ = host_name() + ":" + std::to_string(*published);
  event_log_->set_node(node_id_);
  if (dispatcher_) dispatcher_->set_node(node_id_);
  blocking_request<bool>(system_, node_, timeout_, identity_atom::value, node_id_, address);
  return *published;
}

NodeInfo Runtime::join(const std::string& host, std::uint16_t port) {
  if (!system_.has_middleman())
    throw Error(ErrorCode::bad_request, "Joining a node needs the CAF middleman loaded");
  if (options_.node_tls && !system_.has_openssl_manager())
    throw Error(ErrorCode::bad_request,
                "Node TLS needs CAF's OpenSSL module: see Runtime::configure_node_tls");
  return blocking_request<NodeInfo>(system_, node_, caf::infinite, join_atom::value, host, port);
}

void Runtime::leave() {
  blocking_request<bool>(system_, node_, timeout_, leave_atom::value);
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

Cluster& Runtime::join_cluster(ClusterOptions options,
                               std::vector<FileClusterInstance> file_instances) {
  if (cluster_) throw Error(ErrorCode::conflict, "This node is a cluster member already");
  auto& registration = options.coordinator.node;
  registration.id = node_id_;
  registration.rest_url = options.rest_url;
  registration.node_address = node_address_;
  registration.classes.clear();
  for (const auto& service_class : ServiceClassRegistry::global().classes())
    registration.classes.push_back(service_class->key);
  auto latency = std::make_shared<StoreLatency>();
  options.coordinator.store.on_request = [latency](std::chrono::nanoseconds duration, bool) {
    latency->observe(duration);
  };
  auto actor = std::make_shared<PlacementActor>();
  std::shared_ptr<cluster::Coordinator> coordinator;
  try {
    coordinator = std::make_shared<cluster::Coordinator>(std::move(options.coordinator),
                                                         placement_callbacks(actor));
  } catch (const std::invalid_argument& error) {
    throw Error(ErrorCode::bad_request, error.what());
  }
  PlacementSetup setup{coordinator,
                       supervisor_,
                       node_,
                       table_,
                       event_log_,
                       replicate_peer_status(),
                       directory_,
                       busy_managers_,
                       node_id_,
                       options_.timeout + std::chrono::duration_cast<std::chrono::milliseconds>(
                                              options.coordinator.lease_seconds),
                       std::move(file_instances)};
  *actor = spawn_placement_actor(system_, std::move(setup));
  // Node instances may not take a cluster instance's name (409).
  reserved_names_->set(
      [view = std::weak_ptr<cluster::Coordinator>(coordinator)](std::string_view name) {
        auto coordinator = view.lock();
        return coordinator && coordinator->instance(name).has_value();
      });
  cluster_ = std::make_unique<Cluster>(system_, coordinator, *actor, std::move(latency));
  coordinator->start();
  return *cluster_;
}

}  // namespace processpype
