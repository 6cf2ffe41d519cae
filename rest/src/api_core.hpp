#pragma once

// What every route handler of the Api works with (api.cpp): the node, one
// way to answer, and the calls to actors and to other nodes. The handlers
// themselves are grouped by resource: service_routes.cpp, node_routes.cpp,
// event_routes.cpp, operation_routes.cpp.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "event_streams.hpp"
#include "metrics.hpp"
#include "processpype/actors/async_caller.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/actors/status_replicas.hpp"
#include "processpype/rest/api.hpp"
#include "processpype/rest/json_mapping.hpp"
#include "route.hpp"

namespace processpype::rest {

/// Runs slow work (long lists) off the HTTP threads, one job at a time.
class BackgroundWorker {
 public:
  BackgroundWorker();
  ~BackgroundWorker();
  BackgroundWorker(const BackgroundWorker&) = delete;
  BackgroundWorker& operator=(const BackgroundWorker&) = delete;

  void post(std::function<void()> job);

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

/// A JSON response.
HttpResponse json_response(int status, std::string body);

/// The header a request's id comes in, and goes back out in.
inline constexpr const char* request_id_header = "X-Request-Id";

/// The id of `exchange`'s request (docs/operations.md, "Request ids"): its
/// `X-Request-Id` when that is 1-128 printable characters, else a new one.
std::string request_id_of(const HttpExchange& exchange);

/// The 503 of a request that needs the cluster's view before this node has
/// read it once (docs/cluster.md, "Store outages"): an instance missing from
/// that view may well exist.
Error view_not_loaded();

/// Whether the client asked for Server-Sent Events.
bool wants_event_stream(const HttpExchange& exchange);

/// The headers of `exchange` that a custom route sees and that a request
/// carried to another node takes along: all but `Authorization` and
/// `Proxy-Authorization`, this node's credentials (docs/rest-api.md).
std::vector<std::pair<std::string, std::string>> carried_headers(const HttpExchange& exchange);

class ApiCore {
 public:
  ApiCore(Runtime& runtime, ApiOptions options);
  ~ApiCore();

  // -- answering ----------------------------------------------------------------------

  /// Counts and logs the response, then sends it: every answer of the Api
  /// goes through here.
  void respond(const ExchangePtr& exchange, HttpResponse response);
  /// What respond() does before it sends: counts and logs `response` and
  /// adds the request id. An event stream's head goes through here alone.
  void account(const ExchangePtr& exchange, HttpResponse& response);
  /// The one mapping from errors to HTTP: status, `{"detail"}`, and
  /// `WWW-Authenticate` for a 401.
  void respond_error(const ExchangePtr& exchange, const Error& error);
  void respond_json(const ExchangePtr& exchange, const nlohmann::json& body);

  /// The body as JSON; answers 400 (and returns nullopt) if it is not.
  std::optional<nlohmann::json> body_of(const Call& call);
  /// The query's parameters (parse_query); answers 400 (and returns
  /// nullopt) if an escape is broken.
  std::optional<std::unordered_map<std::string, std::string>> query_of(const Call& call);

  /// Runs `work`, which walks the instance table: now, or on the background
  /// worker when the table is long (a walk never delays other requests of
  /// the node beyond copying a pointer).
  void walk_table(std::function<void()> work);

  /// Answers with the JSON body `render` writes, walking the table.
  void answer_list(const Call& call, std::function<std::string()> render);

  // -- actors and other nodes ----------------------------------------------------------

  /// Sends `message` to `target` and answers with `on_reply(Reply&)` once
  /// the reply comes, or with the error. The reply's type comes from the
  /// target's interface (a mismatch does not compile).
  template <class Handle, class OnReply, class... Ts>
  void ask(const Call& call, const Handle& target, OnReply on_reply, Ts&&... message);

  /// ask the Supervisor, answering `{"status": done, "service": name}`.
  template <class... Ts>
  void command(const Call& call, std::string_view done, Ts&&... message);

  /// Carries the call to node `node_id` through CAF, as received (the
  /// receiving node handles the path as its own), and answers with what
  /// that node answers.
  void forward(const Call& call, const std::string& node_id, Wait wait);

  /// A cluster instance this node does not hold (docs/cluster.md,
  /// "Routes"): the call is carried to its owner, or a status read (`route`
  /// serves remote reads) answered from this node's replica of the owner's
  /// status; 503 while it has no owner. False when `call` names no such
  /// instance: this node answers it as its own.
  bool carry_to_owner(const Call& call, const Route& route);

  /// The node `id` when it is known and up; else answers 404 or 503 and
  /// returns nullopt.
  std::optional<NodeDirectory::Node> reachable_node(const Call& call, const std::string& id);

  Runtime& runtime;
  ApiOptions options;
  std::atomic<ServiceState> state{ServiceState::running};
  HttpMetrics http_metrics;
  std::shared_ptr<spdlog::logger> access_log;
  EventStreams streams;
  BackgroundWorker background;
  std::shared_ptr<StatusReplicas> replicas;
  AsyncCaller caller;  // after the members its callbacks use
};

template <class Handle, class OnReply, class... Ts>
void ApiCore::ask(const Call& call, const Handle& target, OnReply on_reply, Ts&&... message) {
  using Reply = typename caf::detail::tl_head<AsyncCaller::Reply<Handle, Ts...>>::type;
  caller.request(
      target, std::nullopt,
      [this, exchange = call.exchange,
       on_reply = std::move(on_reply)](caf::message& reply) mutable {
        if (reply.match_elements<caf::error>())
          return respond_error(exchange, to_error(reply.get_as<caf::error>(0)));
        if (!reply.match_elements<Reply>())
          return respond_error(exchange,
                               Error(ErrorCode::service_failure, "Unexpected reply from the node"));
        on_reply(reply.get_mutable_as<Reply>(0));
      },
      std::forward<Ts>(message)...);
}

template <class... Ts>
void ApiCore::command(const Call& call, std::string_view done, Ts&&... message) {
  ask(
      call, runtime.supervisor(),
      [this, exchange = call.exchange, name = call.name(), done](ServiceState) {
        respond(exchange, json_response(200, command_reply_text(done, name)));
      },
      std::forward<Ts>(message)...);
}

// -- the routes, by resource ------------------------------------------------------------

/// `/`, `/services` and `/services/{name}...` (docs/rest-api.md, "Services").
std::vector<Route> service_routes(ApiCore& core);
/// `/nodes` (docs/rest-api.md, "Cluster").
std::vector<Route> node_routes(ApiCore& core);
/// `/cluster/...`, `/drain` and `/uncordon` (docs/cluster.md).
std::vector<Route> cluster_routes(ApiCore& core);
/// `/events` (docs/supervision.md, "Events").
std::vector<Route> event_routes(ApiCore& core);
/// Probes, metrics, the OpenAPI document and the pages (docs/operations.md).
/// `all_routes` is the whole table, for the OpenAPI document.
std::vector<Route> operation_routes(ApiCore& core, const std::vector<Route>& all_routes);

/// A custom route of an instance's service (`<mount>/{path...}`), tried
/// when no core route matches.
Route custom_route(ApiCore& core);

}  // namespace processpype::rest
