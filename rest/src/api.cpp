// The Api: one routing table (the routes of service_routes.cpp,
// node_routes.cpp, event_routes.cpp and operation_routes.cpp), one mapping
// from errors to HTTP, and the gateway other nodes forward requests to.
#include "processpype/rest/api.hpp"

#include <algorithm>
#include <cctype>
#include <random>

#include <fmt/format.h>

#include "api_core.hpp"
#include "authorizer.hpp"
#include "processpype/actors/calling_thread_execution.hpp"
#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/logging.hpp"
#include "processpype/runtime/route_table.hpp"

namespace processpype::rest {

namespace {

using flush_atom = caf::atom_constant<caf::atom("flush")>;

/// The refusal log's timer: an actor per burst of refusals (at most one a
/// second), so that a burst's count is logged when no request follows it.
RefusalLog::Timer refusal_timer(caf::actor_system& system) {
  return [&system](std::chrono::steady_clock::duration delay, std::function<void()> then) {
    system.spawn<caf::hidden>(
        [delay, then = std::move(then)](caf::event_based_actor* self) -> caf::behavior {
          self->delayed_send(self, delay, flush_atom::value);
          return {[self, then](flush_atom) {
            then();
            self->quit();
          }};
        });
  };
}

using nlohmann::json;

/// A route as the table holds it: its description and its compiled pattern.
using CoreRoutes = RouteTable<const Route*>;

/// `path` without its first two segments, `/nodes/<id>` (segments as
/// split_path counts them: empty ones do not count).
std::string without_node_prefix(std::string_view path) {
  for (int segment = 0; segment < 2; ++segment) {
    auto start = path.find_first_not_of('/');
    if (start == std::string_view::npos) return "/";
    auto end = path.find('/', start);
    if (end == std::string_view::npos) return "/";
    path.remove_prefix(end);
  }
  return std::string{path};
}

}  // namespace

// -- BackgroundWorker ---------------------------------------------------------------------

BackgroundWorker::BackgroundWorker() : thread_([this] { work(); }) {}

BackgroundWorker::~BackgroundWorker() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wakeup_.notify_one();
  thread_.join();
}

void BackgroundWorker::post(std::function<void()> job) {
  {
    std::lock_guard lock{mutex_};
    jobs_.push_back(std::move(job));
  }
  wakeup_.notify_one();
}

void BackgroundWorker::work() {
  std::unique_lock lock{mutex_};
  while (true) {
    wakeup_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}

// -- ApiCore --------------------------------------------------------------------------------

HttpResponse json_response(int status, std::string body) {
  return HttpResponse{status, "application/json", {}, std::move(body)};
}

std::string request_id_of(const HttpExchange& exchange) {
  constexpr std::size_t longest = 128;
  if (auto given = exchange.header(request_id_header)) {
    bool printable =
        !given->empty() && given->size() <= longest &&
        std::all_of(given->begin(), given->end(), [](char c) { return c > ' ' && c < 127; });
    if (printable) return std::string{*given};
  }
  // 128 random bits, as hex: unique enough to find one request in any log.
  thread_local std::mt19937_64 bits{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", bits(), bits());
}

Error view_not_loaded() {
  return Error(ErrorCode::node_unavailable,
               "cluster store unreachable: this node has not loaded the cluster view yet");
}

bool wants_event_stream(const HttpExchange& exchange) {
  auto accept = exchange.header("Accept");
  return accept && accept->find("text/event-stream") != std::string_view::npos;
}

std::vector<std::pair<std::string, std::string>> carried_headers(const HttpExchange& exchange) {
  auto headers = exchange.headers();
  std::erase_if(headers, [](const auto& header) {
    return same_header_name(header.first, "Authorization") ||
           same_header_name(header.first, "Proxy-Authorization");
  });
  return headers;
}

std::string normalize_prefix(std::string_view prefix) {
  while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return prefix.empty() ? std::string{} : "/" + std::string{prefix};
}

ApiCore::ApiCore(Runtime& runtime_, ApiOptions options_)
    : runtime(runtime_),
      options(std::move(options_)),
      access_log(options.access_log ? make_logger("processpype.access") : nullptr),
      streams(runtime.system(), runtime.directory(), options.max_event_streams,
              [this](const ExchangePtr& exchange, HttpResponse& head) { account(exchange, head); }),
      replicas(runtime.replicate_peer_status()),
      caller(runtime.system()) {
  options.api_prefix = normalize_prefix(options.api_prefix);
}

ApiCore::~ApiCore() {
  streams.close_all();
}

void ApiCore::respond(const ExchangePtr& exchange, HttpResponse response) {
  account(exchange, response);
  exchange->respond(std::move(response));
}

void ApiCore::account(const ExchangePtr& exchange, HttpResponse& response) {
  auto elapsed = HttpExchange::Clock::now() - exchange->received_at();
  if (options.collect_metrics)
    http_metrics.observe(exchange->method(), exchange->route(), response.status, elapsed);
  if (access_log)
    access_log->info("{} {} {} {:.3f} ms {} {}", exchange->method(), exchange->route(),
                     response.status, std::chrono::duration<double, std::milli>(elapsed).count(),
                     exchange->peer(), exchange->request_id());
  if (!exchange->request_id().empty()) {
    // A response carried back from another node has that node's copy of
    // the (same) id already: the client gets the header once.
    std::erase_if(response.headers, [](const auto& header) {
      return std::ranges::equal(header.first, std::string_view{request_id_header},
                                [](char left, char right) {
                                  return std::tolower(static_cast<unsigned char>(left)) ==
                                         std::tolower(static_cast<unsigned char>(right));
                                });
    });
    response.headers.emplace_back(request_id_header, exchange->request_id());
  }
}

void ApiCore::respond_error(const ExchangePtr& exchange, const Error& error) {
  auto response = json_response(http_status(error.code()), error_body(error.detail()));
  if (error.code() == ErrorCode::unauthorized)
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
  respond(exchange, std::move(response));
}

void ApiCore::respond_json(const ExchangePtr& exchange, const json& body) {
  respond(exchange, json_response(200, dump(body)));
}

std::optional<json> ApiCore::body_of(const Call& call) {
  try {
    return parse_json(call.exchange->body());
  } catch (const Error& error) {
    respond_error(call.exchange, error);
    return std::nullopt;
  }
}

std::optional<std::unordered_map<std::string, std::string>> ApiCore::query_of(const Call& call) {
  try {
    return parse_query(call.exchange->query());
  } catch (const Error& error) {
    respond_error(call.exchange, error);
    return std::nullopt;
  }
}

void ApiCore::walk_table(std::function<void()> work) {
  /// Tables longer than this are walked on the background worker.
  constexpr std::size_t inline_walk_limit = 2000;
  if (runtime.table().size() > inline_walk_limit)
    background.post(std::move(work));
  else
    work();
}

void ApiCore::answer_list(const Call& call, std::function<std::string()> render) {
  walk_table([this, exchange = call.exchange, render = std::move(render)] {
    try {
      respond(exchange, json_response(200, render()));
    } catch (const Error& error) {
      respond_error(exchange, error);
    }
  });
}

std::optional<NodeDirectory::Node> ApiCore::reachable_node(const Call& call,
                                                           const std::string& id) {
  auto node = runtime.directory()->find(id);
  if (!node)
    respond_error(call.exchange, Error(ErrorCode::not_found, "Node " + id + " not found"));
  else if (!node->up)
    respond_error(call.exchange, Error(ErrorCode::node_unavailable, "Node " + id + " is down"));
  else
    return node;
  return std::nullopt;
}

void ApiCore::forward(const Call& call, const std::string& node_id, Wait wait) {
  auto node = reachable_node(call, node_id);
  if (!node) return;
  if (!node->gateway)
    return respond_error(call.exchange, Error(ErrorCode::node_unavailable,
                                              "Node " + node->id + " serves no REST API"));
  ForwardedRequest request{std::string{call.exchange->method()}, call.path,
                           std::string{call.exchange->query()}, std::string{call.exchange->body()},
                           carried_headers(*call.exchange)};
  auto timeout = wait == Wait::transition ? options.transition_timeout : options.request_timeout;
  caller.request(
      node->gateway, caf::timespan{timeout},
      [this, exchange = call.exchange, node_id](caf::message& reply) {
        if (reply.match_elements<caf::error>())
          return respond_error(exchange, to_error(reply.get_as<caf::error>(0)));
        if (!reply.match_elements<ForwardedResponse>())
          return respond_error(exchange,
                               Error(ErrorCode::service_failure, "Unexpected reply from the node"));
        auto& forwarded = reply.get_mutable_as<ForwardedResponse>(0);
        replicas->note_reply(node_id, forwarded.version);  // before the client hears of it
        respond(exchange, HttpResponse{forwarded.status, std::move(forwarded.content_type),
                                       std::move(forwarded.headers), std::move(forwarded.body)});
      },
      http_atom::value, std::move(request));
}

bool ApiCore::carry_to_owner(const Call& call, const Route& route) {
  const auto* cluster = runtime.cluster();
  if (cluster == nullptr || call.remote || !call.parameters.find("name")) return false;
  const auto& name = call.name();
  // Carried here by a node that saw this node own the cluster instance: a
  // peer's call without /nodes/{id} (those under /nodes/{id} are forwards).
  bool carried = call.origin == Call::Origin::peer && call.node_id.empty();
  if (auto local = runtime.table().find(name)) {
    // Only the cluster instance may answer a cluster command: a node
    // instance of the same name is another instance (docs/cluster.md).
    if (carried && local->origin() != InstanceOrigin::cluster) {
      respond_error(call.exchange,
                    Error(ErrorCode::conflict,
                          "Service " + name + " on node " + runtime.node_id() +
                              " is a node instance, not the cluster instance of that name: "
                              "this node does not run the cluster instance"));
      return true;
    }
    return false;
  }
  if (!cluster->view_loaded()) {
    respond_error(call.exchange, view_not_loaded());
    return true;
  }
  auto instance = cluster->instance(name);
  if (!instance) return false;
  // While the store does not answer, that is the reason, whatever the view
  // still says of the owner (docs/cluster.md, "Store outage").
  auto unavailable = [&](std::string detail) {
    if (cluster->store_reachable() == false) detail = "cluster store unreachable";
    respond_error(call.exchange, Error(ErrorCode::node_unavailable, std::move(detail)));
    return true;
  };
  // A DELETE needs no owner: its tombstone is written without one (no
  // eligible node may ever come up; docs/cluster.md, "Records").
  if (!instance->owner && route.method == "DELETE" && route.pattern == "services/{name}" &&
      !carried)
    return false;
  if (!instance->owner)
    return unavailable("Service " + name + " has no owner: no node that may run it is up");
  const auto& owner = *instance->owner;
  // Views move on: a call already carried here is not carried again.
  if (owner == runtime.node_id() || carried)
    return unavailable("Service " + name + " is changing owner: try again");
  if (route.remote == Remote::handler)
    if (auto body = replicas->find(owner, name)) {
      respond(call.exchange, json_response(200, std::string{*body}));
      return true;
    }
  if (call.node_id.empty()) {
    forward(call, owner, route.wait);
    return true;
  }
  // Under /nodes/{this node}: the owner gets the path without that prefix,
  // else it would see a call for this node and send it back.
  Call relative = call;
  relative.path = without_node_prefix(call.path);
  forward(relative, owner, route.wait);
  return true;
}

// -- the Api -------------------------------------------------------------------------------

struct Api::Impl {
  Impl(Runtime& runtime, ApiOptions options);
  ~Impl();

  void handle(const ExchangePtr& exchange, Call::Origin origin);
  void dispatch(Call& call, const std::vector<std::string>& segments);
  /// The route for `segments`: a core route, else the custom route of an
  /// instance's service; 405 and 404 are answered (after the token check).
  const Route* route_of(Call& call, const std::vector<std::string>& segments);

  ApiCore core;
  Authorizer authorizer;
  std::vector<Route> routes;
  CoreRoutes table;
  Route custom;
  PathPattern custom_pattern{"services/{name}/{path...}"};
  HttpGatewayActor gateway;
  /// The directory's listener that fails requests to a node that went down.
  NodeDirectory::ListenerId down_listener = 0;
};

Api::Impl::Impl(Runtime& runtime, ApiOptions options)
    : core(runtime, std::move(options)),
      authorizer(core.options.tokens, refusal_timer(runtime.system())),
      custom(custom_route(core)) {
  // Literal routes before placeholders, within each resource.
  for (auto&& resource :
       {node_routes(core), cluster_routes(core), event_routes(core), service_routes(core)})
    routes.insert(routes.end(), resource.begin(), resource.end());
  auto operations = operation_routes(core, routes);
  routes.insert(routes.begin(), operations.begin(), operations.end());
  for (const auto& route : routes)
    table.add(route.method, route.pattern, &route, route.doc.summary);
  custom_pattern = PathPattern{custom.pattern};
  // A node that goes down will not answer: fail what is in flight to it now.
  // Removed by ~Impl: the Runtime and its directory may outlive this Api.
  down_listener = runtime.directory()->on_down([this](const NodeDirectory::Node& node) {
    auto gone = make_error(ErrorCode::node_unavailable,
                           "Node " + node.id + " went down before it answered");
    core.caller.fail_requests_to(node.gateway.address(), gone);
    core.caller.fail_requests_to(node.supervisor.address(), gone);
  });
  gateway = runtime.system().spawn(
      [this](HttpGatewayActor::pointer self) -> HttpGatewayActor::behavior_type {
        return {
            [this, self](http_atom, ForwardedRequest& request) -> caf::result<ForwardedResponse> {
              auto promise = self->make_response_promise<ForwardedResponse>();
              RecordedExchange::Request recorded{request.method, request.path, request.query,
                                                 request.body,   {},           "another node"};
              recorded.headers = std::move(request.headers);
              auto exchange = std::make_shared<RecordedExchange>(
                  std::move(recorded), [this, promise](const HttpResponse& response) mutable {
                    // Read now: the command's effect is published, so the version
                    // covers it (the caller's replica waits for it).
                    promise.deliver(ForwardedResponse{response.status, response.content_type,
                                                      response.headers, response.body,
                                                      core.runtime.table().changes().version()});
                  });
              handle(exchange, Call::Origin::peer);
              return promise;
            }};
      });
}

Api::Impl::~Impl() {
  core.runtime.directory()->remove_listener(down_listener);
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
}

void Api::Impl::handle(const ExchangePtr& exchange, Call::Origin origin) {
  exchange->set_request_id(request_id_of(*exchange));
  std::string_view path = exchange->path();
  const auto& prefix = core.options.api_prefix;
  if (origin == Call::Origin::client && !prefix.empty()) {
    if (!path.starts_with(prefix) || (path.size() > prefix.size() && path[prefix.size()] != '/'))
      return core.respond_error(exchange,
                                Error(ErrorCode::not_found, "Not found: " + std::string{path}));
    path.remove_prefix(prefix.size());
  }
  auto segments = split_path(path);
  for (auto& segment : segments) {
    if (segment.find('%') == std::string::npos) continue;
    auto decoded = percent_decode(segment);
    if (!decoded)
      return core.respond_error(
          exchange, Error(ErrorCode::bad_request, "Malformed percent-encoding in path"));
    segment = std::move(*decoded);
  }
  Call call{exchange, std::string{path}, {}, {}, origin};
  if (segments.size() >= 2 && segments[0] == "nodes") {
    call.node_id = segments[1];
    call.remote = call.node_id != core.runtime.node_id();
    segments.erase(segments.begin(), segments.begin() + 2);
  }
  dispatch(call, segments);
}

const Route* Api::Impl::route_of(Call& call, const std::vector<std::string>& segments) {
  const auto& exchange = call.exchange;
  auto method = exchange->method();
  auto match = table.resolve(method, segments);
  const Route* route = match.found() ? match.route->handler : nullptr;
  if (!route && !match.method_not_allowed() && custom_pattern.match(segments, &match.parameters))
    route = &custom;
  bool under_node = !call.node_id.empty();
  if (route && under_node && route->reach == Reach::local_only) route = nullptr;
  if (route) exchange->set_route((under_node ? "/nodes/{id}/" : "/") + route->pattern);
  bool open = route && route->access == Access::open && !under_node;
  if (call.origin == Call::Origin::client && !open)
    if (auto refusal = authorizer.check(*exchange)) {
      core.respond_error(exchange, *refusal);
      return nullptr;
    }
  if (!route) {
    auto full_path = std::string{exchange->path()};
    if (!match.method_not_allowed()) {
      core.respond_error(exchange, Error(ErrorCode::not_found, "Not found: " + full_path));
      return nullptr;
    }
    auto response = json_response(
        405, error_body(fmt::format("Method {} not allowed on {}", method, full_path)));
    response.headers.emplace_back("Allow", match.allow);
    core.respond(exchange, std::move(response));
    return nullptr;
  }
  call.parameters = std::move(match.parameters);
  return route;
}

void Api::Impl::dispatch(Call& call, const std::vector<std::string>& segments) {
  const auto* route = route_of(call, segments);
  if (route == nullptr) return;
  // The receiving node sees /nodes/<its id>/..., so it checks what depends
  // on the path's node (e.g. register's "node") itself.
  if (call.remote && route->remote == Remote::forward)
    return core.forward(call, call.node_id, route->wait);
  if (call.remote && !core.reachable_node(call, call.node_id)) return;
  if (core.carry_to_owner(call, *route)) return;
  route->handle(call);
}

// -- Api ------------------------------------------------------------------------------------

Api::Api(Runtime& runtime, ApiOptions options)
    : impl_(std::make_unique<Impl>(runtime, std::move(options))) {}

Api::~Api() = default;

void Api::handle(const ExchangePtr& exchange) {
  // The actors a client's request wakes run on this (the HTTP) thread.
  CallingThreadExecution::Scope actors_run_here{impl_->core.runtime.system()};
  impl_->handle(exchange, Call::Origin::client);
}

void Api::answer_refusal(const ExchangePtr& exchange, HttpResponse response) {
  exchange->set_request_id(request_id_of(*exchange));
  impl_->core.respond(exchange, std::move(response));
}

void Api::set_application_state(ServiceState state) noexcept {
  impl_->core.state.store(state);
}

void Api::set_tokens(Tokens tokens) {
  auto current = std::make_shared<const Tokens>(tokens);
  impl_->authorizer.set_tokens(std::move(tokens));
  // A revoked token loses its open event streams too (docs/security.md).
  impl_->core.streams.restrict_access(
      [current](const std::optional<TokenDigest>& token) { return allows_get(*current, token); });
}

const HttpGatewayActor& Api::gateway() const noexcept {
  return impl_->gateway;
}

std::size_t Api::open_event_streams() const noexcept {
  return impl_->core.streams.open_streams();
}

std::vector<RouteInfo> Api::routes() const {
  std::vector<RouteInfo> infos;
  for (const auto& route : impl_->routes)
    infos.push_back({route.method, "/" + route.pattern, route.doc.summary});
  return infos;
}

}  // namespace processpype::rest
