#pragma once

// One description per core route (docs/rest-api.md): the router, the
// OpenAPI document and the metrics' route labels all read it, so a route's
// facts live in one place.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/rest/http_exchange.hpp"
#include "processpype/runtime/events.hpp"
#include "processpype/runtime/path_pattern.hpp"

namespace processpype::rest {

/// One routed request: the exchange, the path's placeholders, and where it
/// came from.
struct Call {
  /// A client of this node, or another node that forwards what its client
  /// asked (and has authorized it).
  enum class Origin { client, peer };

  ExchangePtr exchange;
  /// The path relative to the API prefix, as received: what a forward
  /// carries to another node, which handles it as its own.
  std::string path;
  PathParameters parameters;
  /// Set under /nodes/{id} (this node's id included).
  std::string node_id;
  Origin origin = Origin::client;
  /// Under /nodes/{id} for another node than this one.
  bool remote = false;

  const std::string& name() const { return parameters.at("name"); }
  /// The trigger of a user's command: cause request, and this request's id.
  Trigger trigger() const { return Trigger{EventCause::request, exchange->request_id()}; }
};

using Handler = std::function<void(Call&)>;

/// Who may call a route.
enum class Access {
  token,  ///< a token when auth is on (the read token for GET)
  open,   ///< no token: the local health probes, the pages' static files
};

/// Where a route is served.
enum class Reach {
  any_node,    ///< here, and under /nodes/{id} for every node
  local_only,  ///< here only (the pages): never under /nodes/{id}
};

/// What a route does for another node (/nodes/{id}/... not this one).
enum class Remote {
  forward,  ///< the request goes to that node through CAF
  handler,  ///< the handler serves it (a replica read, a stream followed through CAF)
};

/// How long a request forwarded to another node may take.
enum class Wait {
  reply,       ///< the request timeout
  transition,  ///< the transition timeout: it answers when a start or stop ends
};

/// A response in the OpenAPI document: its status, what it means and its
/// content by media type (schemas).
struct ResponseDoc {
  int status = 200;
  std::string description = {};
  std::vector<std::pair<std::string, nlohmann::json>> content = {};
};

/// The request body in the OpenAPI document.
struct RequestDoc {
  bool required = false;
  std::string description = {};
  nlohmann::json schema = nullptr;
  /// The body is an instance's configuration: its schema is any of the
  /// registered classes' configurations (filled in by the document).
  bool configuration = false;
};

/// A route's operation in the OpenAPI document. Path parameters come from
/// the pattern.
struct OperationDoc {
  std::string summary = {};
  std::vector<nlohmann::json> query_parameters = {};
  std::optional<RequestDoc> request = std::nullopt;
  std::vector<ResponseDoc> responses = {};
};

/// One core route.
struct Route {
  std::string method = {};
  /// Relative to the API prefix, without the leading '/': `services/{name}/start`.
  std::string pattern = {};
  Handler handle = {};
  Access access = Access::token;
  Reach reach = Reach::any_node;
  Remote remote = Remote::forward;
  Wait wait = Wait::reply;
  OperationDoc doc = {};
};

/// Where the custom routes of an instance's service are mounted.
inline constexpr std::string_view custom_routes_mount = "services/{name}";

// -- OpenAPI building blocks for the routes' documentation --------------------------

/// `{"$ref": "#/components/schemas/<name>"}`.
nlohmann::json schema_ref(const std::string& name);
/// A JSON response.
ResponseDoc json_reply(int status, std::string description, nlohmann::json schema);
/// An error response: `{"detail"}`.
ResponseDoc error_reply(int status, std::string description);
/// A query parameter.
nlohmann::json query_parameter(const std::string& name, nlohmann::json schema,
                               const std::string& description);

}  // namespace processpype::rest
