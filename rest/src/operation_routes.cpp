// The routes of operations (docs/operations.md): health probes, Prometheus
// metrics, the OpenAPI document and the pages (/ui, /docs).
#include "api_core.hpp"
#include "openapi.hpp"
#include "pages.hpp"
#include "processpype/actors/calling_thread_execution.hpp"

namespace processpype::rest {

namespace {

using nlohmann::json;

/// How long GET /health/live waits for the Supervisor.
constexpr auto liveness_timeout = std::chrono::seconds(2);

/// `"cluster_store"` of /health/ready: "connecting" until the store first
/// answers (or fails to), so that a node just started does not report an
/// outage it has not seen (docs/cluster.md).
const char* store_state(const Cluster& cluster) {
  auto reachable = cluster.store_reachable();
  if (!reachable) return "connecting";
  return *reachable ? "reachable" : "unreachable";
}

class OperationHandlers {
 public:
  OperationHandlers(ApiCore& core, const std::vector<Route>& all_routes)
      : core_(core), all_routes_(all_routes) {}

  /// Alive while the Supervisor answers from a CAF worker: run on this
  /// thread instead, it would answer with every worker stuck.
  void liveness(Call& call) {
    CallingThreadExecution::WorkersOnly through_the_workers;
    core_.caller.request(
        core_.runtime.supervisor(), caf::timespan{liveness_timeout},
        [this, exchange = call.exchange](caf::message& reply) {
          bool alive = reply.match_elements<std::uint64_t>();
          core_.respond(exchange, json_response(alive ? 200 : 503,
                                                dump({{"status", alive ? "ok" : "unresponsive"}})));
        },
        count_atom::value);
  }

  /// Ready while the application runs and no enabled instance is starting,
  /// stopping or in error (the counts need no walk; the walk names them).
  void readiness(Call& call) {
    auto current = core_.state.load();
    if (current == ServiceState::stopping)
      return core_.respond(call.exchange, json_response(503, dump({{"status", "shutting down"}})));
    const auto& table = core_.runtime.table();
    if (current == ServiceState::running &&
        table.counts().enabled_not_ready.load(std::memory_order_relaxed) == 0) {
      json body = {{"status", "ready"}};
      // An outage of the store must not take every node out of its load
      // balancer at once: it is said, not failed (docs/cluster.md).
      if (const auto* cluster = core_.runtime.cluster())
        body["cluster_store"] = store_state(*cluster);
      return core_.respond(call.exchange, json_response(200, dump(body)));
    }
    auto services = json::object();
    table.listing().for_each([&](const InstanceRecord& record) {
      auto view = record.view();
      auto state = view->state;
      if (view->configuration->enabled &&
          (state == ServiceState::starting || state == ServiceState::stopping ||
           state == ServiceState::error))
        services[record.name()] = to_string(state);
      return true;
    });
    core_.respond(
        call.exchange,
        json_response(503, dump({{"status", "not ready"}, {"services", std::move(services)}})));
  }

  void metrics(Call& call) {
    core_.walk_table([this, exchange = call.exchange] {
      MetricSources sources{core_.runtime.table(), *core_.runtime.directory()};
      if (core_.options.collect_metrics) sources.http = &core_.http_metrics;
      sources.state = core_.runtime.state_store().get();
      sources.cluster = core_.runtime.cluster();
      sources.messages = core_.runtime.dispatcher().get();
      core_.respond(
          exchange,
          HttpResponse{
              200, "text/plain; version=0.0.4; charset=utf-8", {}, render_metrics(sources)});
    });
  }

  void openapi(Call& call) {
    core_.respond_json(call.exchange, openapi_document(core_.runtime.application(),
                                                       core_.options.api_prefix, all_routes_));
  }

  /// A file of a page, compiled in (rest/pages).
  void file(Call& call, const std::string& name) {
    const auto* asset = find_asset(name);
    if (!asset)
      return core_.respond_error(
          call.exchange,
          Error(ErrorCode::not_found, "Not found: " + std::string{call.exchange->path()}));
    core_.respond(call.exchange, HttpResponse{200,
                                              std::string{asset->content_type},
                                              {{"Cache-Control", "no-cache"}},
                                              std::string{asset->body}});
  }

 private:
  ApiCore& core_;
  const std::vector<Route>& all_routes_;
};

/// The routes of a page served at `/<page>`, with its files at
/// `/<page>/{file}` (rest/pages/<page>/).
std::vector<Route> page_routes(const std::shared_ptr<OperationHandlers>& handlers,
                               const std::string& page, const std::string& summary) {
  json text = {{"type", "string"}};
  return {
      {.method = "GET",
       .pattern = page,
       .handle = [handlers, page](Call& call) { handlers->file(call, page + "/index.html"); },
       .access = Access::open,
       .reach = Reach::local_only,
       .doc = {.summary = summary, .responses = {{200, "An HTML page", {{"text/html", text}}}}}},
      {.method = "GET",
       .pattern = page + "/{file}",
       .handle = [handlers, page](
                     Call& call) { handlers->file(call, page + "/" + call.parameters.at("file")); },
       .access = Access::open,
       .reach = Reach::local_only,
       .doc = {.summary = "A file of the " + page + " page",
               .responses = {{200,
                              "A file of the page",
                              {{"text/javascript", text},
                               {"text/css", text},
                               {"text/html", text},
                               {"image/svg+xml", text}}},
                             error_reply(404, "No such file")}}},
  };
}

}  // namespace

std::vector<Route> operation_routes(ApiCore& core, const std::vector<Route>& all_routes) {
  auto handlers = std::make_shared<OperationHandlers>(core, all_routes);
  auto probe = [](std::string summary, std::string alive) {
    return OperationDoc{.summary = std::move(summary),
                        .responses = {json_reply(200, std::move(alive), {{"type", "object"}}),
                                      json_reply(503, "Not " + alive, {{"type", "object"}})}};
  };
  std::vector<Route> routes = {
      {.method = "GET",
       .pattern = "health/live",
       .handle = [handlers](Call& call) { handlers->liveness(call); },
       .access = Access::open,
       .doc = probe("Liveness probe", "alive")},
      {.method = "GET",
       .pattern = "health/ready",
       .handle = [handlers](Call& call) { handlers->readiness(call); },
       .access = Access::open,
       .doc = probe("Readiness probe", "ready")},
      {.method = "GET",
       .pattern = "metrics",
       .handle = [handlers](Call& call) { handlers->metrics(call); },
       .doc = {.summary = "Prometheus metrics",
               .responses = {{200,
                              "Prometheus text exposition format 0.0.4",
                              {{"text/plain", {{"type", "string"}}}}}}}},
      {.method = "GET",
       .pattern = "openapi.json",
       .handle = [handlers](Call& call) { handlers->openapi(call); },
       .doc = {.summary = "This document",
               .responses = {json_reply(200, "The OpenAPI 3.1 document", {{"type", "object"}})}}},
  };
  for (auto&& page : {page_routes(handlers, "ui", "The dashboard"),
                      page_routes(handlers, "docs", "This API, with a form per operation")})
    routes.insert(routes.end(), page.begin(), page.end());
  return routes;
}

}  // namespace processpype::rest
