// `/nodes` (docs/rest-api.md, "Cluster"; docs/membership.md).
#include "api_core.hpp"

namespace processpype::rest {

namespace {

/// The nodes cordoned in this node's view of the store (docs/cluster.md,
/// "Drain, uncordon, rebalance"): the cordon lives in each node's
/// registration, so every node of the cluster knows every node's. None
/// without a store, where nothing can be drained.
std::set<std::string> cordoned_nodes(Runtime& runtime) {
  std::set<std::string> cordoned;
  if (auto* cluster = runtime.cluster())
    for (const auto& node : cluster->nodes())
      if (node.registration.cordoned) cordoned.insert(node.registration.id);
  return cordoned;
}

}  // namespace

std::vector<Route> node_routes(ApiCore& core) {
  auto list = [&core](Call& call) {
    core.ask(
        call, core.runtime.node(),
        [&core, exchange = call.exchange](std::vector<NodeStatus>& nodes) {
          auto body = node_list(nodes, cordoned_nodes(core.runtime));
          // The nodes of a store cluster meet through the view: until this
          // node has read it, the list lacks them (docs/cluster.md, "Store
          // outages").
          if (const auto* cluster = core.runtime.cluster())
            body["cluster_view"] = cluster->view_loaded() ? "loaded" : "not_loaded";
          core.respond_json(exchange, body);
        },
        nodes_atom::value);
  };
  return {
      {.method = "GET",
       .pattern = "nodes",
       .handle = list,
       .doc = {.summary = "The nodes of the cluster",
               .responses = {json_reply(200, "Every known node, sorted by id",
                                        schema_ref("NodeList"))}}},
  };
}

}  // namespace processpype::rest
