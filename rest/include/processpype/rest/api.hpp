#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "processpype/actors/protocol.hpp"
#include "processpype/rest/http_exchange.hpp"
#include "processpype/rest/tokens.hpp"
#include "processpype/runtime/route_table.hpp"
#include "processpype/runtime/service_state.hpp"

namespace processpype {
class Runtime;
}

namespace processpype::rest {

struct ApiOptions {
  /// Normalized with normalize_prefix: "" or "/x" (no trailing slash).
  std::string api_prefix;
  /// How long a request to another node may take before it answers 504.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(5);
  /// The same for start, stop and deregistration on another node, which
  /// answer when the transition ends (the service bounds it with its own
  /// timeouts; a peer that dies is noticed, and answered 503, long before).
  std::chrono::milliseconds transition_timeout = std::chrono::minutes(10);
  /// Server-Sent Events streams open at once; 503 beyond
  /// (`server.limits.max_event_streams`).
  std::size_t max_event_streams = 64;
  Tokens tokens;
  /// One log line per request (method, route, status, duration, peer).
  bool access_log = false;
  /// Count requests for /metrics (off only to measure what counting costs).
  bool collect_metrics = true;
};

/// `api/` → `/api`, `/` → ``: one leading slash, no trailing one.
std::string normalize_prefix(std::string_view prefix);

/// The REST API of one node (docs/rest-api.md) on top of the actor
/// protocol: one routing table, one mapping from errors to HTTP. Reads are
/// answered from the node's InstanceTable on the calling thread; commands
/// go to the node's Supervisor and are answered when its reply comes;
/// `/nodes/{id}/...` is forwarded to that node's API through CAF. No
/// thread waits.
class Api {
 public:
  Api(Runtime& runtime, ApiOptions options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  /// Routes `exchange` and eventually responds to it exactly once.
  void handle(const ExchangePtr& exchange);

  /// Answers `exchange`, which the HTTP listener refused before routing
  /// (413, 414, 431, or 400 for malformed HTTP), with `response`: with its
  /// request id, counted and logged as every answer, under the route
  /// `unmatched` (docs/operations.md).
  void answer_refusal(const ExchangePtr& exchange, HttpResponse response);

  /// The application's state in GET / and the readiness probe: `starting`
  /// until startup finished, `running` while it serves, `stopping` from
  /// SIGTERM on.
  void set_application_state(ServiceState state) noexcept;

  /// Replaces the tokens (SIGHUP re-reads the token files).
  void set_tokens(Tokens tokens);

  /// The actor other nodes forward requests to.
  const HttpGatewayActor& gateway() const noexcept;

  /// Server-Sent Events streams open now.
  std::size_t open_event_streams() const noexcept;

  /// The core routes, in the order the router tries them (the custom routes
  /// of services come after them): what docs/rest-api.md lists.
  std::vector<RouteInfo> routes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace processpype::rest
