#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "processpype/actors/async_caller.hpp"
#include "processpype/actors/node_directory.hpp"
#include "processpype/rest/http_exchange.hpp"
#include "processpype/runtime/path_pattern.hpp"
#include "processpype/runtime/service_state.hpp"

namespace processpype::rest {

struct ApiOptions {
  /// Normalized with normalize_prefix: "" or "/x" (no trailing slash).
  std::string api_prefix;
  /// The `version` of GET /.
  std::string version;
  /// How long a request to another node may take before it answers 504.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(5);
  /// The same for start, stop and deregistration on another node, which
  /// answer when the transition ends (the service bounds it with its own
  /// timeouts; a peer that dies is noticed, and answered 503, long before).
  std::chrono::milliseconds transition_timeout = std::chrono::minutes(10);
};

/// What the Api acts on: this node's Supervisor and Node actor, and the
/// directory of all nodes (for `/nodes/{id}/...`).
struct ApiTargets {
  caf::actor supervisor;
  caf::actor node;
  std::shared_ptr<NodeDirectory> directory;
};

/// `api/` → `/api`, `/` → ``: one leading slash, no trailing one.
std::string normalize_prefix(std::string_view prefix);

/// The REST API of SPEC 5 and 7 on top of the actor protocol: one routing
/// table, one mapping from errors to HTTP. Each handler sends one message to
/// a Supervisor (this node's, or another's for `/nodes/{id}/...`) and
/// answers when the reply comes; no thread waits.
class Api {
 public:
  Api(caf::actor_system& system, ApiTargets targets, ApiOptions options);

  /// Routes `exchange` and eventually responds to it exactly once.
  void handle(const ExchangePtr& exchange);

  /// The `state` of the application in GET / (default: running).
  void set_application_state(ServiceState state) noexcept { state_.store(state); }

 private:
  /// One routed request: who asked, the path parameters, whom to ask.
  struct Call {
    ExchangePtr exchange;
    std::unordered_map<std::string, std::string> parameters;
    caf::actor target;
    std::string node_id;                ///< set under /nodes/{id}
    bool remote = false;                ///< the target is another node: bounded wait
    bool waits_for_transition = false;  ///< start/stop/deregister: answered when done

    const std::string& name() const { return parameters.at("name"); }
  };
  using Handler = void (Api::*)(Call&);
  struct Route {
    std::string method;  ///< "*" for any method
    PathPattern pattern;
    Handler handler;
  };

  void dispatch(Call& call, const std::vector<std::string>& segments);
  /// Points `call` at node `id`; answers 404/503 and returns false if it cannot.
  bool address_node(Call& call, const std::string& id);

  void list_nodes(Call& call);
  void application_status(Call& call);
  void list_services(Call& call);
  void register_service(Call& call);
  void service_status(Call& call);
  void deregister_service(Call& call);
  void start_service(Call& call);
  void stop_service(Call& call);
  void configure_service(Call& call);
  void configure_and_start_service(Call& call);
  void custom_route(Call& call);

  /// Sends `message` to the call's target; on success runs
  /// `on_reply(exchange, Result&)` (or `on_reply(exchange)` for void), on
  /// failure answers with the error's status and detail.
  template <class Result, class OnReply, class... Ts>
  void ask(const Call& call, OnReply on_reply, Ts&&... message);

  /// ask<void>, answering `{"status": done, "service": name}`.
  template <class... Ts>
  void command(const Call& call, std::string_view done, Ts&&... message);

  /// The request body as JSON; answers 400 (and returns nullopt) if malformed.
  static std::optional<nlohmann::json> body_of(const Call& call);

  AsyncCaller caller_;
  ApiTargets targets_;
  ApiOptions options_;
  std::atomic<ServiceState> state_{ServiceState::running};
  std::vector<Route> routes_;
};

}  // namespace processpype::rest
