// `/cluster/services`, `/cluster/rebalance`, `/drain` and `/uncordon`
// (docs/rest-api.md, "Cluster instances"; docs/cluster.md).
#include "api_core.hpp"

namespace processpype::rest {

namespace {

using nlohmann::json;

class ClusterHandlers {
 public:
  explicit ClusterHandlers(ApiCore& core) : core_(core) {}

  /// From this node's view of the store, never waiting on a peer: the
  /// state comes from this node's table or its replica of the owner's.
  void services(Call& call) {
    auto* cluster = member(call);
    if (!cluster) return;
    if (!cluster->view_loaded()) return core_.respond_error(call.exchange, view_not_loaded());
    core_.background.post([this, cluster, exchange = call.exchange] {
      auto list = json::array();
      for (const auto& instance : cluster->instances())
        list.push_back({{"name", instance.name},
                        {"type", instance.record.class_key},
                        {"nodes", instance.record.nodes},
                        {"owner", instance.owner ? json(*instance.owner) : json(nullptr)},
                        {"state", state_of(instance)},
                        {"desired", cluster::to_string(instance.record.desired)},
                        {"declined", instance.declined_by}});
      core_.respond_json(exchange, {{"services", std::move(list)}});
    });
  }

  void rebalance(Call& call) {
    ask_placement(call, rebalance_atom::value, {{"status", "rebalancing"}});
  }

  void drain(Call& call) {
    ask_placement(call, drain_atom::value,
                  {{"status", "drained"}, {"node", core_.runtime.node_id()}});
  }

  void uncordon(Call& call) {
    ask_placement(call, uncordon_atom::value,
                  {{"status", "uncordoned"}, {"node", core_.runtime.node_id()}});
  }

 private:
  /// Asks this node's placement actor `atom`; its answer (true) answers
  /// the call with `reply`, a refusal with its status.
  template <class Atom>
  void ask_placement(Call& call, Atom atom, json reply) {
    if (auto* cluster = member(call))
      core_.ask(
          call, cluster->actor(),
          [this, exchange = call.exchange, reply = std::move(reply)](bool) {
            core_.respond_json(exchange, reply);
          },
          atom);
  }

  /// This node's cluster, or 400 when it has no store.
  Cluster* member(const Call& call) {
    auto* cluster = core_.runtime.cluster();
    if (!cluster)
      core_.respond_error(call.exchange, Error(ErrorCode::bad_request,
                                               "This node has no cluster store (cluster.store)"));
    return cluster;
  }

  json state_of(const cluster::ClusterInstance& instance) const {
    if (!instance.owner) return nullptr;
    if (*instance.owner == core_.runtime.node_id()) {
      auto record = core_.runtime.table().find(instance.name);
      return record ? json(to_string(record->state())) : json(nullptr);
    }
    auto body = core_.replicas->find(*instance.owner, instance.name);
    if (!body) return nullptr;
    auto status = json::parse(*body, nullptr, false);
    return status.is_object() ? status.value("state", json(nullptr)) : json(nullptr);
  }

  ApiCore& core_;
};

Handler handler_of(const std::shared_ptr<ClusterHandlers>& handlers,
                   void (ClusterHandlers::*handle)(Call&)) {
  return [handlers, handle](Call& call) { ((*handlers).*handle)(call); };
}

}  // namespace

std::vector<Route> cluster_routes(ApiCore& core) {
  auto handlers = std::make_shared<ClusterHandlers>(core);
  auto no_store = error_reply(400, "This node has no cluster store");
  auto unreachable = error_reply(503, "cluster store unreachable");
  return {
      {.method = "GET",
       .pattern = "cluster/services",
       .handle = handler_of(handlers, &ClusterHandlers::services),
       .doc = {.summary = "The cluster instances, from this node's view",
               .responses = {json_reply(200, "Every cluster instance, by name",
                                        schema_ref("ClusterServices")),
                             no_store,
                             error_reply(503,
                                         "cluster store unreachable: this node has not "
                                         "loaded the cluster view yet")}}},
      {.method = "POST",
       .pattern = "cluster/rebalance",
       .handle = handler_of(handlers, &ClusterHandlers::rebalance),
       .doc = {.summary = "Move cluster instances to their preferred owners",
               .responses = {json_reply(200, "Their owners hand them over", {{"type", "object"}}),
                             no_store, unreachable}}},
      {.method = "POST",
       .pattern = "drain",
       .handle = handler_of(handlers, &ClusterHandlers::drain),
       .wait = Wait::transition,
       .doc = {.summary = "Hand this node's cluster instances over and cordon it",
               .responses = {json_reply(200, "Every one handed over", {{"type", "object"}}),
                             no_store, unreachable,
                             error_reply(504, "Not all handed over in time")}}},
      {.method = "POST",
       .pattern = "uncordon",
       .handle = handler_of(handlers, &ClusterHandlers::uncordon),
       .doc = {.summary = "Let cluster instances be placed on this node again",
               .responses = {json_reply(200, "Uncordoned", {{"type", "object"}}), no_store,
                             unreachable}}},
  };
}

}  // namespace processpype::rest
