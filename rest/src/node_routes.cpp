// `/nodes` (docs/rest-api.md, "Cluster"; docs/membership.md).
#include "api_core.hpp"

namespace processpype::rest {

std::vector<Route> node_routes(ApiCore& core) {
  auto list = [&core](Call& call) {
    core.ask(
        call, core.runtime.node(),
        [&core, exchange = call.exchange](std::vector<NodeStatus>& nodes) {
          auto body = node_list(nodes);
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
