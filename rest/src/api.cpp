#include "processpype/rest/api.hpp"

#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <caf/all.hpp>

#include "authorizer.hpp"
#include "event_streams.hpp"
#include "metrics.hpp"
#include "openapi.hpp"
#include "pages.hpp"
#include "processpype/actors/async_caller.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/actors/status_replicas.hpp"
#include "processpype/rest/json_mapping.hpp"
#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/logging.hpp"

namespace processpype::rest {

namespace {

using nlohmann::json;

/// Lists longer than this are written on a thread of their own, so that
/// copying them never delays other requests of the node.
constexpr std::size_t inline_list_limit = 2000;
/// How long GET /health/live waits for the Supervisor.
constexpr auto liveness_timeout = std::chrono::seconds(2);

HttpResponse json_response(int status, std::string body) {
  return HttpResponse{status, "application/json", {}, std::move(body)};
}

HttpResponse error_response(const Error& error) {
  auto response = json_response(http_status(error.code()), error_body(error.detail()));
  if (error.code() == ErrorCode::unauthorized)
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

bool wants_event_stream(const HttpExchange& exchange) {
  auto accept = exchange.header("Accept");
  return accept && accept->find("text/event-stream") != std::string_view::npos;
}

/// Runs slow work (long lists) off the HTTP threads, one job at a time.
class BackgroundWorker {
 public:
  BackgroundWorker() : thread_([this] { work(); }) {}
  ~BackgroundWorker() {
    {
      std::lock_guard lock{mutex_};
      stopping_ = true;
    }
    wakeup_.notify_one();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard lock{mutex_};
      jobs_.push_back(std::move(job));
    }
    wakeup_.notify_one();
  }

 private:
  void work() {
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

  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

std::string normalize_prefix(std::string_view prefix) {
  while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return prefix.empty() ? std::string{} : "/" + std::string{prefix};
}

// -- the implementation ---------------------------------------------------------------

struct Api::Impl {
  /// One routed request.
  /// Where a request comes from: a client of this node, or another node
  /// that forwards what its client asked (and has authorized it).
  enum class Origin { client, peer };

  struct Call {
    ExchangePtr exchange;
    PathParameters parameters;
    std::string node_id;  ///< set under /nodes/{id} (this node's id included)
    Origin origin = Origin::client;

    const std::string& name() const { return parameters.at("name"); }
  };

  struct Endpoint {
    void (Impl::*handle)(Call&);
    /// Needs no token (the local health probes, the pages' static files).
    bool open = false;
    /// Served for this node only, never under /nodes/{id}.
    bool local_only = false;
    /// Answers when a transition ends: the longer remote timeout.
    bool waits = false;
  };

  Impl(Runtime& runtime, ApiOptions options);
  ~Impl();

  // -- routing ---------------------------------------------------------------------

  void handle(const ExchangePtr& exchange, Origin origin);
  /// `path`: relative to the API prefix, as it came (forwarded as is).
  void dispatch(Call& call, const std::vector<std::string>& segments, std::string_view path);
  /// The route template of a custom route (`/services/{name}/{path...}`).
  const RouteTable<Endpoint>::Route& custom_route() const { return custom_routes_.routes()[0]; }

  void respond(const ExchangePtr& exchange, HttpResponse response);
  void respond_error(const ExchangePtr& exchange, const Error& error) {
    respond(exchange, error_response(error));
  }
  void respond_json(const ExchangePtr& exchange, const json& body) {
    respond(exchange, json_response(200, dump(body)));
  }

  /// Sends `message` to `target` and answers with `on_reply(Reply&)` once
  /// the reply comes, or with the error. The reply's type comes from the
  /// target's interface (a mismatch does not compile).
  template <class Handle, class OnReply, class... Ts>
  void ask(const Call& call, const Handle& target, OnReply on_reply, Ts&&... message);
  /// ask, answering `{"status": done, "service": name}`.
  template <class... Ts>
  void command(const Call& call, std::string_view done, Ts&&... message);

  /// The body as JSON; answers 400 (and returns nullopt) if it is not.
  std::optional<json> body_of(const Call& call);

  // -- another node -----------------------------------------------------------------

  void forward(const Call& call, const NodeDirectory::Node& node, std::string path, bool waits);

  // -- handlers ---------------------------------------------------------------------

  void application_status(Call& call);
  void list_nodes(Call& call);
  void list_services(Call& call);
  void register_service(Call& call);
  void service_status(Call& call);
  void deregister_service(Call& call);
  void start_service(Call& call);
  void stop_service(Call& call);
  void configure_service(Call& call);
  void configure_and_start_service(Call& call);
  void custom_route_call(Call& call);
  void liveness(Call& call);
  void readiness(Call& call);
  void metrics(Call& call);
  void openapi(Call& call);
  void events(Call& call);
  void page(Call& call);
  void asset(Call& call);

  /// Runs `render` now, or on the background worker when the table is long.
  void answer_list(const Call& call, std::function<std::string()> render);

  Runtime& runtime;
  ApiOptions options;
  std::atomic<ServiceState> state{ServiceState::running};
  Authorizer authorizer;
  HttpMetrics http_metrics;
  std::shared_ptr<spdlog::logger> access_log;
  RouteTable<Endpoint> routes_;
  RouteTable<Endpoint> custom_routes_;
  EventStreams streams;
  BackgroundWorker background;
  std::shared_ptr<StatusReplicas> replicas;
  AsyncCaller caller;  // last: its callbacks use the members above
  HttpGatewayActor gateway;
};

Api::Impl::Impl(Runtime& runtime_, ApiOptions options_)
    : runtime(runtime_),
      options(std::move(options_)),
      authorizer(options.tokens),
      access_log(options.access_log ? make_logger("processpype.access") : nullptr),
      streams(runtime.system(), runtime.directory(), options.max_event_streams),
      replicas(runtime.replicate_peer_status()),
      caller(runtime.system()) {
  options.api_prefix = normalize_prefix(options.api_prefix);
  // The routing table (docs/rest-api.md). Literal routes come before
  // placeholders.
  routes_.add("GET", "", {&Impl::application_status}, "The application and every instance")
      .add("GET", "health/live", {&Impl::liveness, true}, "Liveness probe")
      .add("GET", "health/ready", {&Impl::readiness, true}, "Readiness probe")
      .add("GET", "metrics", {&Impl::metrics}, "Prometheus metrics")
      .add("GET", "openapi.json", {&Impl::openapi}, "This document")
      .add("GET", "events", {&Impl::events}, "Events, as JSON or a Server-Sent Events stream")
      .add("GET", "ui", {&Impl::page, true, true}, "The dashboard")
      .add("GET", "ui/{file}", {&Impl::asset, true, true}, "A file of the dashboard")
      .add("GET", "docs", {&Impl::page, true, true}, "This API, with a form per operation")
      .add("GET", "docs/{file}", {&Impl::asset, true, true}, "A file of the docs page")
      .add("GET", "nodes", {&Impl::list_nodes}, "The nodes of the cluster")
      .add("GET", "services", {&Impl::list_services}, "Instances, filtered and paged")
      .add("POST", "services/register", {&Impl::register_service}, "Register an instance")
      .add("GET", "services/{name}", {&Impl::service_status}, "An instance's status")
      .add("DELETE", "services/{name}", {&Impl::deregister_service, false, false, true},
           "Deregister an instance")
      .add("POST", "services/{name}/start", {&Impl::start_service, false, false, true},
           "Start an instance")
      .add("POST", "services/{name}/stop", {&Impl::stop_service, false, false, true},
           "Stop an instance (and what depends on it)")
      .add("POST", "services/{name}/configure", {&Impl::configure_service}, "Configure an instance")
      .add("POST", "services/{name}/configure_and_start",
           {&Impl::configure_and_start_service, false, false, true},
           "Configure, then start an instance");
  custom_routes_.add("*", "services/{name}/{path...}", {&Impl::custom_route_call},
                     "A custom route of the instance's service");
  // A node that goes down will not answer: fail what is in flight to it now.
  runtime.directory()->on_down([this](const NodeDirectory::Node& node) {
    auto gone = make_error(ErrorCode::node_unavailable,
                           "Node " + node.id + " went down before it answered");
    caller.fail_requests_to(node.gateway.address(), gone);
    caller.fail_requests_to(node.supervisor.address(), gone);
  });
  gateway = runtime.system().spawn(
      [this](HttpGatewayActor::pointer self) -> HttpGatewayActor::behavior_type {
        return {
            [this, self](http_atom, ForwardedRequest& request) -> caf::result<ForwardedResponse> {
              auto promise = self->make_response_promise<ForwardedResponse>();
              RecordedExchange::Request recorded{request.method, request.path, request.query,
                                                 request.body,   {},           "another node"};
              auto exchange = std::make_shared<RecordedExchange>(
                  std::move(recorded), [this, promise](const HttpResponse& response) mutable {
                    // Read now: the command's effect is published, so the version
                    // covers it (the caller's replica waits for it).
                    promise.deliver(ForwardedResponse{response.status, response.content_type,
                                                      response.headers, response.body,
                                                      this->runtime.table().changes().version()});
                  });
              handle(exchange, Origin::peer);
              return promise;
            }};
      });
}

Api::Impl::~Impl() {
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  streams.close_all();
}

void Api::Impl::respond(const ExchangePtr& exchange, HttpResponse response) {
  auto elapsed = HttpExchange::Clock::now() - exchange->received_at();
  if (options.collect_metrics)
    http_metrics.observe(exchange->method(), exchange->route(), response.status, elapsed);
  if (access_log)
    access_log->info("{} {} {} {:.3f} ms {}", exchange->method(), exchange->route(),
                     response.status, std::chrono::duration<double, std::milli>(elapsed).count(),
                     exchange->peer());
  exchange->respond(std::move(response));
}

void Api::Impl::handle(const ExchangePtr& exchange, Origin origin) {
  std::string_view path = exchange->path();
  const auto& prefix = options.api_prefix;
  if (origin == Origin::client && !prefix.empty()) {
    if (!path.starts_with(prefix) || (path.size() > prefix.size() && path[prefix.size()] != '/'))
      return respond_error(exchange,
                           Error(ErrorCode::not_found, "Not found: " + std::string{path}));
    path.remove_prefix(prefix.size());
  }
  std::vector<std::string> segments;
  for (auto& raw : split_path(path)) {
    auto decoded = percent_decode(raw);
    if (!decoded)
      return respond_error(exchange,
                           Error(ErrorCode::bad_request, "Malformed percent-encoding in path"));
    segments.push_back(std::move(*decoded));
  }
  Call call{exchange, {}, {}, origin};
  if (segments.size() >= 2 && segments[0] == "nodes") {
    call.node_id = segments[1];
    segments.erase(segments.begin(), segments.begin() + 2);
  }
  dispatch(call, segments, path);
}

void Api::Impl::dispatch(Call& call, const std::vector<std::string>& segments,
                         std::string_view path) {
  const auto& exchange = call.exchange;
  auto method = exchange->method();
  auto match = routes_.resolve(method, segments);
  const Endpoint* endpoint = match.found() ? &match.route->handler : nullptr;
  const RouteTable<Endpoint>::Route* route = match.route;
  if (!endpoint && !match.method_not_allowed() && custom_route().pattern.match(segments)) {
    route = &custom_route();
    endpoint = &route->handler;
    route->pattern.match(segments, &match.parameters);
  }
  bool under_node = !call.node_id.empty();
  if (endpoint && under_node && endpoint->local_only) endpoint = nullptr, route = nullptr;
  if (route) exchange->set_route((under_node ? "/nodes/{id}" : "") + route->info.pattern);

  bool open = endpoint && endpoint->open && !under_node;
  if (call.origin == Origin::client && !open)
    if (auto refusal =
            authorizer.check(method, exchange->header("Authorization"), exchange->peer()))
      return respond_error(exchange, *refusal);

  if (!endpoint) {
    auto full_path = std::string{exchange->path()};
    if (match.method_not_allowed()) {
      auto response =
          error_response(Error(ErrorCode::method_not_allowed,
                               fmt::format("Method {} not allowed on {}", method, full_path)));
      response.headers.emplace_back("Allow", match.allow);
      return respond(exchange, std::move(response));
    }
    return respond_error(exchange, Error(ErrorCode::not_found, "Not found: " + full_path));
  }
  call.parameters = std::move(match.parameters);

  if (under_node && call.node_id != runtime.node_id()) {
    auto node = runtime.directory()->find(call.node_id);
    if (!node)
      return respond_error(exchange,
                           Error(ErrorCode::not_found, "Node " + call.node_id + " not found"));
    if (!node->up)
      return respond_error(exchange,
                           Error(ErrorCode::node_unavailable, "Node " + call.node_id + " is down"));
    if (endpoint->handle == &Impl::events && wants_event_stream(*exchange))
      return events(call);  // followed through CAF
    if (endpoint->handle == &Impl::service_status)
      if (auto body = replicas->find(call.node_id, call.name()))
        return respond(exchange, json_response(200, std::string{*body}));
    // The receiving node sees /nodes/<its id>/..., so it checks what
    // depends on the path's node (e.g. register's "node") itself.
    return forward(call, *node, std::string{path}, endpoint->waits);
  }
  (this->*endpoint->handle)(call);
}

template <class Handle, class OnReply, class... Ts>
void Api::Impl::ask(const Call& call, const Handle& target, OnReply on_reply, Ts&&... message) {
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
void Api::Impl::command(const Call& call, std::string_view done, Ts&&... message) {
  ask(
      call, runtime.supervisor(),
      [this, exchange = call.exchange, name = call.name(), done](ServiceState) {
        respond_json(exchange, command_reply(done, name));
      },
      std::forward<Ts>(message)...);
}

std::optional<json> Api::Impl::body_of(const Call& call) {
  try {
    return parse_json(call.exchange->body());
  } catch (const Error& error) {
    respond_error(call.exchange, error);
    return std::nullopt;
  }
}

void Api::Impl::forward(const Call& call, const NodeDirectory::Node& node, std::string path,
                        bool waits) {
  if (!node.gateway)
    return respond_error(call.exchange, Error(ErrorCode::node_unavailable,
                                              "Node " + node.id + " serves no REST API"));
  ForwardedRequest request{std::string{call.exchange->method()}, std::move(path),
                           std::string{call.exchange->query()}, std::string{call.exchange->body()}};
  auto timeout = waits ? options.transition_timeout : options.request_timeout;
  caller.request(
      node.gateway, caf::timespan{timeout},
      [this, exchange = call.exchange, node_id = node.id](caf::message& reply) {
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

// -- reads -------------------------------------------------------------------------------

void Api::Impl::answer_list(const Call& call, std::function<std::string()> render) {
  auto run = [this, exchange = call.exchange, render = std::move(render)] {
    try {
      respond(exchange, json_response(200, render()));
    } catch (const Error& error) {
      respond_error(exchange, error);
    }
  };
  if (runtime.table().size() > inline_list_limit)
    background.post(std::move(run));
  else
    run();
}

void Api::Impl::application_status(Call& call) {
  auto listing = runtime.table().listing();
  answer_list(call, [this, listing] {
    return rest::application_status(runtime.application().version, state.load(), listing);
  });
}

void Api::Impl::list_services(Call& call) {
  ListQuery query;
  try {
    query = parse_list_query(call.exchange->query());
  } catch (const Error& error) {
    return respond_error(call.exchange, error);
  }
  auto listing = runtime.table().listing();
  answer_list(call,
              [this, listing, query] { return service_list(runtime.table(), listing, query); });
}

void Api::Impl::service_status(Call& call) {
  auto record = runtime.table().find(call.name());
  if (!record)
    return respond_error(call.exchange,
                         Error(ErrorCode::not_found, "Service " + call.name() + " not found"));
  respond(call.exchange, json_response(200, std::string{*record->status_body()}));
}

void Api::Impl::list_nodes(Call& call) {
  ask(
      call, runtime.node(),
      [this, exchange = call.exchange](std::vector<NodeStatus>& nodes) {
        respond_json(exchange, node_list(nodes));
      },
      nodes_atom::value);
}

// -- commands ----------------------------------------------------------------------------

void Api::Impl::register_service(Call& call) {
  auto body = body_of(call);
  if (!body) return;
  RegisterRequest request;
  std::optional<std::string> node;
  try {
    request = parse_register_request(*body);
    node = register_node(*body);
  } catch (const Error& error) {
    return respond_error(call.exchange, error);
  }
  if (node && !call.node_id.empty() && *node != call.node_id)
    return respond_error(call.exchange,
                         Error(ErrorCode::bad_request,
                               fmt::format("Field 'node' ({}) disagrees with the path's node ({})",
                                           *node, call.node_id)));
  if (node && *node != runtime.node_id()) {
    auto target = runtime.directory()->find(*node);
    if (!target)
      return respond_error(call.exchange,
                           Error(ErrorCode::not_found, "Node " + *node + " not found"));
    if (!target->up)
      return respond_error(call.exchange,
                           Error(ErrorCode::node_unavailable, "Node " + *node + " is down"));
    return forward(call, *target, "/services/register", false);
  }
  ask(
      call, runtime.supervisor(),
      [this, exchange = call.exchange](Registration& registration) {
        respond_json(exchange, {{"status", "registered"},
                                {"service", registration.name},
                                {"type", registration.type}});
      },
      register_atom::value, std::move(request));
}

void Api::Impl::deregister_service(Call& call) {
  ask(
      call, runtime.supervisor(),
      [this, exchange = call.exchange](Deregistration& result) {
        auto body = command_reply("deregistered", result.name);
        if (!result.stop_error.empty()) body["error"] = result.stop_error;
        respond_json(exchange, body);
      },
      deregister_atom::value, call.name());
}

void Api::Impl::start_service(Call& call) {
  command(call, "started", start_atom::value, call.name(), EventCause::request);
}

void Api::Impl::stop_service(Call& call) {
  command(call, "stopped", stop_atom::value, call.name(), EventCause::request);
}

void Api::Impl::configure_service(Call& call) {
  if (auto configuration = body_of(call))
    command(call, "configured", configure_atom::value, call.name(), std::move(*configuration),
            EventCause::request);
}

void Api::Impl::configure_and_start_service(Call& call) {
  auto configuration = body_of(call);
  if (!configuration) return;
  ask(
      call, runtime.supervisor(),
      [this, call](ServiceState) mutable {
        command(call, "configured and started", start_atom::value, call.name(),
                EventCause::request);
      },
      configure_atom::value, call.name(), std::move(*configuration), EventCause::request);
}

void Api::Impl::custom_route_call(Call& call) {
  auto body = body_of(call);
  if (!body) return;
  RouteRequest request;
  request.body = std::move(*body);
  request.method = std::string{call.exchange->method()};
  request.path = "/" + call.parameters.at("path");
  request.query_parameters = parse_query(call.exchange->query());
  ask(
      call, runtime.supervisor(),
      [this, exchange = call.exchange, node = !call.node_id.empty()](RouteResponse& response) {
        if (!response.route.empty())
          exchange->set_route((node ? "/nodes/{id}" : "") + std::string{"/services/{name}"} +
                              response.route);
        HttpResponse http = json_response(response.status, dump(response.body));
        if (!response.allow.empty()) http.headers.emplace_back("Allow", response.allow);
        respond(exchange, std::move(http));
      },
      route_atom::value, RouteCall{call.name(), std::move(request)});
}

// -- operations (docs/operations.md) ---------------------------------------------------

void Api::Impl::liveness(Call& call) {
  caller.request(
      runtime.supervisor(), caf::timespan{liveness_timeout},
      [this, exchange = call.exchange](caf::message& reply) {
        bool alive = reply.match_elements<std::uint64_t>();
        respond(exchange, json_response(alive ? 200 : 503,
                                        dump({{"status", alive ? "ok" : "unresponsive"}})));
      },
      count_atom::value);
}

void Api::Impl::readiness(Call& call) {
  auto current = state.load();
  if (current == ServiceState::stopping)
    return respond(call.exchange, json_response(503, dump({{"status", "shutting down"}})));
  if (current == ServiceState::running &&
      runtime.table().counts().enabled_not_ready.load(std::memory_order_relaxed) == 0)
    return respond(call.exchange, json_response(200, dump({{"status", "ready"}})));
  auto services = json::object();
  runtime.table().listing().for_each([&](const InstanceRecord& record) {
    auto view = record.view();
    auto state_now = view->state;
    if (view->configuration->enabled &&
        (state_now == ServiceState::starting || state_now == ServiceState::stopping ||
         state_now == ServiceState::error))
      services[record.name()] = to_string(state_now);
    return true;
  });
  respond(call.exchange,
          json_response(503, dump({{"status", "not ready"}, {"services", std::move(services)}})));
}

void Api::Impl::metrics(Call& call) {
  auto render = [this, exchange = call.exchange] {
    respond(exchange,
            HttpResponse{200,
                         "text/plain; version=0.0.4; charset=utf-8",
                         {},
                         render_metrics(runtime.table(), *runtime.directory(),
                                        options.collect_metrics ? &http_metrics : nullptr)});
  };
  if (runtime.table().size() > inline_list_limit)
    background.post(std::move(render));
  else
    render();
}

void Api::Impl::openapi(Call& call) {
  std::vector<RouteInfo> core;
  for (const auto& route : routes_.routes()) core.push_back(route.info);
  respond_json(call.exchange, openapi_document(runtime.application(), options.api_prefix, core));
}

void Api::Impl::events(Call& call) {
  const auto& exchange = call.exchange;
  auto parameters = parse_query(exchange->query());
  std::uint64_t since = 0;
  std::string boot;
  if (auto found = parameters.find("since"); found != parameters.end()) {
    const auto& text = found->second;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), since);
    if (error != std::errc{} || end != text.data() + text.size())
      return respond_error(exchange, Error(ErrorCode::bad_request,
                                           "Query parameter 'since' must be a sequence number"));
  }
  bool cluster = false;
  if (auto found = parameters.find("scope"); found != parameters.end()) {
    if (found->second != "node" && found->second != "cluster")
      return respond_error(exchange, Error(ErrorCode::bad_request,
                                           "Query parameter 'scope' must be node or cluster"));
    cluster = found->second == "cluster";
  }
  if (!wants_event_stream(*exchange)) {
    auto slice = runtime.event_log().since(since);
    auto list = json::array();
    for (const auto& event : slice.events) list.push_back(to_json(event));
    return respond_json(exchange, {{"events", std::move(list)}});
  }
  if (auto last_event_id = exchange->header("Last-Event-ID")) {
    // `<boot>:<seq>`, as the stream wrote it.
    auto colon = last_event_id->rfind(':');
    if (colon != std::string_view::npos) {
      boot = std::string{last_event_id->substr(0, colon)};
      auto digits = last_event_id->substr(colon + 1);
      std::from_chars(digits.data(), digits.data() + digits.size(), since);
    }
  }
  std::optional<StreamSource> source;
  if (!cluster) {
    auto node = call.node_id.empty() ? runtime.node_id() : call.node_id;
    auto found = runtime.directory()->find(node);
    if (!found || !found->events)
      return respond_error(exchange, Error(ErrorCode::not_found, "Node " + node + " not found"));
    source = StreamSource{found->id, found->events};
  }
  if (!streams.open(exchange, source, since, boot))
    respond_error(exchange, Error(ErrorCode::node_unavailable,
                                  fmt::format("Too many event streams (at most {})",
                                              options.max_event_streams)));
}

void Api::Impl::page(Call& call) {
  auto path = call.exchange->route();
  auto name = path.ends_with("/ui") ? "ui/index.html" : "docs/index.html";
  const auto* asset = find_asset(name);
  if (!asset) return respond_error(call.exchange, Error(ErrorCode::not_found, "No page"));
  respond(call.exchange, HttpResponse{200,
                                      std::string{asset->content_type},
                                      {{"Cache-Control", "no-cache"}},
                                      std::string{asset->body}});
}

void Api::Impl::asset(Call& call) {
  auto folder = call.exchange->route().starts_with("/ui") ? "ui/" : "docs/";
  const auto* asset = find_asset(folder + call.parameters.at("file"));
  if (!asset)
    return respond_error(call.exchange, Error(ErrorCode::not_found,
                                              "Not found: " + std::string{call.exchange->path()}));
  respond(call.exchange, HttpResponse{200,
                                      std::string{asset->content_type},
                                      {{"Cache-Control", "no-cache"}},
                                      std::string{asset->body}});
}

// -- Api ------------------------------------------------------------------------------------

Api::Api(Runtime& runtime, ApiOptions options)
    : impl_(std::make_unique<Impl>(runtime, std::move(options))) {}

Api::~Api() = default;

void Api::handle(const ExchangePtr& exchange) {
  impl_->handle(exchange, Impl::Origin::client);
}

void Api::set_application_state(ServiceState state) noexcept {
  impl_->state.store(state);
}

void Api::set_tokens(Tokens tokens) {
  impl_->authorizer.set_tokens(std::move(tokens));
}

const HttpGatewayActor& Api::gateway() const noexcept {
  return impl_->gateway;
}

std::size_t Api::open_event_streams() const noexcept {
  return impl_->streams.open_streams();
}

}  // namespace processpype::rest
