// `/`, `/services` and `/services/{name}...` (docs/rest-api.md, "Services").
#include "api_core.hpp"
#include "processpype/runtime/json_input.hpp"

namespace processpype::rest {

namespace {

using nlohmann::json;

class ServiceHandlers {
 public:
  explicit ServiceHandlers(ApiCore& core) : core_(core) {}

  // -- reads ----------------------------------------------------------------------------
  // Answered from the node's InstanceTable on the calling thread.

  void application_status(Call& call) {
    auto listing = core_.runtime.table().listing();
    core_.answer_list(call, [this, listing] {
      return rest::application_status(core_.runtime.application().version, core_.state.load(),
                                      listing);
    });
  }

  void list(Call& call) {
    ListQuery query;
    try {
      query = parse_list_query(call.exchange->query());
    } catch (const Error& error) {
      return core_.respond_error(call.exchange, error);
    }
    auto listing = core_.runtime.table().listing();
    core_.answer_list(call, [this, listing, query] {
      return service_list(core_.runtime.table(), listing, query);
    });
  }

  /// Another node's instance is read from this node's replica of its
  /// status when it holds it (docs/architecture.md, "Status replicas").
  void status(Call& call) {
    if (call.remote) {
      if (auto body = core_.replicas->find(call.node_id, call.name()))
        return core_.respond(call.exchange, json_response(200, std::string{*body}));
      return core_.forward(call, call.node_id, Wait::reply);
    }
    auto record = core_.runtime.table().find(call.name());
    if (!record)
      return core_.respond_error(
          call.exchange, Error(ErrorCode::not_found, "Service " + call.name() + " not found"));
    core_.respond(call.exchange, json_response(200, std::string{*record->status_body()}));
  }

  // -- commands ---------------------------------------------------------------------------
  // Sent to the node's Supervisor, answered when its reply comes.

  void register_instance(Call& call) {
    auto body = core_.body_of(call);
    if (!body) return;
    RegisterRequest request;
    std::optional<std::string> node;
    try {
      request = parse_register_request(*body);
      node = register_node(*body);
    } catch (const Error& error) {
      return core_.respond_error(call.exchange, error);
    }
    if (node && !call.node_id.empty() && *node != call.node_id)
      return core_.respond_error(
          call.exchange, Error(ErrorCode::bad_request,
                               fmt::format("Field 'node' ({}) disagrees with the path's node ({})",
                                           *node, call.node_id)));
    request.request_id = call.exchange->request_id();
    if (request.cluster) return register_cluster_instance(call, node, std::move(request));
    if (node && *node != core_.runtime.node_id()) return core_.forward(call, *node, Wait::reply);
    core_.ask(
        call, core_.runtime.supervisor(),
        [this, exchange = call.exchange](Registration& registration) {
          core_.respond_json(exchange, {{"status", "registered"},
                                        {"service", registration.name},
                                        {"type", registration.type}});
        },
        register_atom::value, std::move(request));
  }

  /// `placement: cluster` (docs/cluster.md): its record is created, and
  /// the reply comes once its owner registered it.
  void register_cluster_instance(Call& call, const std::optional<std::string>& node,
                                 RegisterRequest request) {
    auto* cluster = core_.runtime.cluster();
    if (!cluster)
      return core_.respond_error(
          call.exchange, Error(ErrorCode::bad_request, "cluster placement needs cluster.store"));
    if (node)
      return core_.respond_error(
          call.exchange,
          Error(ErrorCode::bad_request,
                "Field 'node' does not apply to a cluster instance: the cluster places it"));
    core_.ask(
        call, cluster->actor(),
        [this, exchange = call.exchange](Registration& registration) {
          core_.respond_json(exchange, {{"status", "registered"},
                                        {"service", registration.name},
                                        {"type", registration.type},
                                        {"placement", "cluster"}});
        },
        register_atom::value, std::move(request));
  }

  /// A cluster instance this node owns is deleted through the cluster: its
  /// record first (docs/cluster.md, "Records").
  void deregister(Call& call) {
    auto record = core_.runtime.table().find(call.name());
    const auto* cluster = core_.runtime.cluster();
    // Not here and in the cluster: it has no owner (else the call was
    // carried to it), and gets its tombstone without one.
    bool cluster_instance = record ? record->origin() == InstanceOrigin::cluster
                                   : cluster != nullptr && cluster->instance(call.name());
    if (cluster_instance && cluster)
      return core_.ask(
          call, core_.runtime.cluster()->actor(),
          [this, exchange = call.exchange](Deregistration& result) { answer(exchange, result); },
          deregister_atom::value, call.name(), call.trigger());
    core_.ask(
        call, core_.runtime.supervisor(),
        [this, exchange = call.exchange](Deregistration& result) { answer(exchange, result); },
        deregister_atom::value, call.name(), call.trigger());
  }

  void answer(const ExchangePtr& exchange, const Deregistration& result) {
    auto body = command_reply("deregistered", result.name);
    if (!result.stop_error.empty()) body["error"] = result.stop_error;
    if (!result.warning.empty()) body["warning"] = result.warning;
    core_.respond_json(exchange, body);
  }

  void start(Call& call) {
    core_.command(call, "started", start_atom::value, call.name(), call.trigger());
  }

  /// A stop acts even when the state file cannot record it: the reply then
  /// carries a warning (docs/state.md).
  void stop(Call& call) {
    core_.ask(
        call, core_.runtime.supervisor(),
        [this, exchange = call.exchange, name = call.name()](StopResult& result) {
          if (result.warning.empty())
            return core_.respond(exchange, json_response(200, command_reply_text("stopped", name)));
          auto body = command_reply("stopped", name);
          body["warning"] = result.warning;
          core_.respond_json(exchange, body);
        },
        stop_atom::value, call.name(), call.trigger());
  }

  void configure(Call& call) {
    if (auto configuration = core_.body_of(call))
      core_.command(call, "configured", configure_atom::value, call.name(),
                    std::move(*configuration), call.trigger());
  }

  void configure_and_start(Call& call) {
    auto configuration = core_.body_of(call);
    if (!configuration) return;
    core_.ask(
        call, core_.runtime.supervisor(),
        [this, call](ServiceState) mutable {
          core_.command(call, "configured and started", start_atom::value, call.name(),
                        call.trigger());
        },
        configure_atom::value, call.name(), std::move(*configuration), call.trigger());
  }

  /// Runs inside the instance's actor (docs/architecture.md, "A custom route").
  void custom_route(Call& call) {
    auto body = core_.body_of(call);
    if (!body) return;
    auto query = core_.query_of(call);
    if (!query) return;
    RouteRequest request;
    request.body = std::move(*body);
    request.method = std::string{call.exchange->method()};
    request.path = "/" + call.parameters.at("path");
    request.query_parameters = std::move(*query);
    request.headers = carried_headers(*call.exchange);
    core_.ask(
        call, core_.runtime.supervisor(),
        [this, exchange = call.exchange, node = !call.node_id.empty()](RouteResponse& response) {
          if (!response.route.empty())
            exchange->set_route((node ? "/nodes/{id}/" : "/") + std::string{custom_routes_mount} +
                                response.route);
          HttpResponse http = json_response(response.status, dump(response.body));
          if (!response.allow.empty()) http.headers.emplace_back("Allow", response.allow);
          core_.respond(exchange, std::move(http));
        },
        route_atom::value, RouteCall{call.name(), std::move(request)});
  }

 private:
  ApiCore& core_;
};

Handler handler_of(const std::shared_ptr<ServiceHandlers>& handlers,
                   void (ServiceHandlers::*handle)(Call&)) {
  return [handlers, handle](Call& call) { ((*handlers).*handle)(call); };
}

ResponseDoc command_done(std::string description) {
  return json_reply(200, std::move(description), schema_ref("CommandReply"));
}

RequestDoc configuration_body() {
  return {false, "The whole configuration of the instance's class (no merge)", nullptr, true};
}

}  // namespace

std::vector<Route> service_routes(ApiCore& core) {
  auto handlers = std::make_shared<ServiceHandlers>(core);
  auto not_found = error_reply(404, "No such instance");
  return {
      {.method = "GET",
       .pattern = "",
       .handle = handler_of(handlers, &ServiceHandlers::application_status),
       .doc = {.summary = "The application and every instance",
               .responses = {json_reply(200, "The application and every instance",
                                        {{"type", "object"}})}}},
      {.method = "GET",
       .pattern = "services",
       .handle = handler_of(handlers, &ServiceHandlers::list),
       .doc =
           {.summary = "Instances, filtered and paged",
            .query_parameters =
                {query_parameter("state", schema_ref("ServiceState"),
                                 "Only instances in this state"),
                 query_parameter("type", {{"type", "string"}}, "Only instances of this class key"),
                 query_parameter("search", {{"type", "string"}},
                                 "Only instances whose name contains this text, in any case"),
                 query_parameter("limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10000}},
                                 "At most this many; the reply's next names the next page"),
                 query_parameter("after", {{"type", "string"}}, "Start after this instance"),
                 query_parameter("counts", {{"type", "boolean"}, {"default", false}},
                                 "Add the node's counts: every instance, and per state")},
            .responses = {json_reply(200, "Instances in registration order",
                                     schema_ref("ServiceList")),
                          error_reply(400, "An invalid query parameter")}}},
      {.method = "POST",
       .pattern = "services/register",
       .handle = handler_of(handlers, &ServiceHandlers::register_instance),
       .doc = {.summary = "Register an instance",
               .request = RequestDoc{true, "", schema_ref("RegisterRequest")},
               .responses = {json_reply(200, "Registered", schema_ref("Registration")),
                             error_reply(400, "Malformed body or invalid name"),
                             error_reply(404, "Unknown class"),
                             error_reply(409,
                                         "The name is taken, or the instance limit is reached")}}},
      {.method = "GET",
       .pattern = "services/{name}",
       .handle = handler_of(handlers, &ServiceHandlers::status),
       .remote = Remote::handler,
       .doc = {.summary = "An instance's status",
               .responses = {json_reply(200, "The instance's status", schema_ref("ServiceStatus")),
                             not_found}}},
      {.method = "DELETE",
       .pattern = "services/{name}",
       .handle = handler_of(handlers, &ServiceHandlers::deregister),
       .wait = Wait::transition,
       .doc = {.summary = "Deregister an instance",
               .responses = {command_done("Deregistered (stopped first if it ran)"), not_found,
                             error_reply(409, "Other instances depend on it")}}},
      {.method = "POST",
       .pattern = "services/{name}/start",
       .handle = handler_of(handlers, &ServiceHandlers::start),
       .wait = Wait::transition,
       .doc = {.summary = "Start an instance",
               .responses = {command_done("The transition finished"), not_found,
                             error_reply(409, "The command does not fit the state"),
                             error_reply(500, "The manager failed or timed out")}}},
      {.method = "POST",
       .pattern = "services/{name}/stop",
       .handle = handler_of(handlers, &ServiceHandlers::stop),
       .wait = Wait::transition,
       .doc = {.summary = "Stop an instance (and what depends on it)",
               .responses = {command_done("The transition finished"), not_found,
                             error_reply(409, "The command does not fit the state"),
                             error_reply(500, "The manager failed or timed out")}}},
      {.method = "POST",
       .pattern = "services/{name}/configure",
       .handle = handler_of(handlers, &ServiceHandlers::configure),
       .doc = {.summary = "Configure an instance",
               .request = configuration_body(),
               .responses = {command_done("Configured"), not_found,
                             error_reply(400, "Malformed JSON"),
                             error_reply(409, "The instance is active"),
                             error_reply(422, "An invalid field (named in detail)")}}},
      {.method = "POST",
       .pattern = "services/{name}/configure_and_start",
       .handle = handler_of(handlers, &ServiceHandlers::configure_and_start),
       .wait = Wait::transition,
       .doc = {.summary = "Configure, then start an instance",
               .request = configuration_body(),
               .responses = {command_done("Configured, and the start finished"), not_found,
                             error_reply(400, "Malformed JSON"),
                             error_reply(409, "The instance is active"),
                             error_reply(422, "An invalid field (named in detail)"),
                             error_reply(500, "The start failed")}}},
  };
}

Route custom_route(ApiCore& core) {
  auto handlers = std::make_shared<ServiceHandlers>(core);
  return {.method = "*",
          .pattern = std::string{custom_routes_mount} + "/{path...}",
          .handle = handler_of(handlers, &ServiceHandlers::custom_route),
          .doc = {.summary = "A custom route of the instance's service"}};
}

}  // namespace processpype::rest
