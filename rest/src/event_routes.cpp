// `/events` (docs/supervision.md, "Events"): the node's events as JSON, or
// as a Server-Sent Events stream (event_streams.hpp).
#include <charconv>

#include "api_core.hpp"

namespace processpype::rest {

namespace {

using nlohmann::json;

class EventHandlers {
 public:
  explicit EventHandlers(ApiCore& core) : core_(core) {}

  /// A stream of another node is followed through CAF; its JSON list is
  /// asked of that node.
  void events(Call& call) {
    const auto& exchange = call.exchange;
    if (call.remote && !wants_event_stream(*exchange))
      return core_.forward(call, call.node_id, Wait::reply);
    auto parameters = core_.query_of(call);
    if (!parameters) return;
    std::uint64_t since = 0;
    if (auto found = parameters->find("since"); found != parameters->end()) {
      const auto& text = found->second;
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), since);
      if (error != std::errc{} || end != text.data() + text.size())
        return core_.respond_error(
            exchange,
            Error(ErrorCode::bad_request, "Query parameter 'since' must be a sequence number"));
    }
    bool cluster = false;
    if (auto found = parameters->find("scope"); found != parameters->end()) {
      if (found->second != "node" && found->second != "cluster")
        return core_.respond_error(
            exchange,
            Error(ErrorCode::bad_request, "Query parameter 'scope' must be node or cluster"));
      cluster = found->second == "cluster";
    }
    if (!wants_event_stream(*exchange)) return list(call, since);
    stream(call, since, cluster);
  }

 private:
  void list(const Call& call, std::uint64_t since) {
    auto slice = core_.runtime.event_log().since(since);
    std::string body = "{\"events\":[";
    body.reserve(slice.events.size() * 200 + 16);
    for (const auto& event : slice.events) {
      if (body.back() != '[') body += ',';
      body += event_text(event);
    }
    body += "]}";
    core_.respond(call.exchange, json_response(200, std::move(body)));
  }

  void stream(const Call& call, std::uint64_t since, bool cluster) {
    const auto& exchange = call.exchange;
    std::string boot;
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
      auto node = call.node_id.empty() ? core_.runtime.node_id() : call.node_id;
      auto found = core_.runtime.directory()->find(node);
      if (!found || !found->events)
        return core_.respond_error(exchange,
                                   Error(ErrorCode::not_found, "Node " + node + " not found"));
      source = StreamSource{found->id, found->events};
    }
    if (!core_.streams.open(exchange, source, since, boot))
      core_.respond_error(exchange, Error(ErrorCode::node_unavailable,
                                          fmt::format("Too many event streams (at most {})",
                                                      core_.options.max_event_streams)));
  }

  ApiCore& core_;
};

}  // namespace

std::vector<Route> event_routes(ApiCore& core) {
  auto handlers = std::make_shared<EventHandlers>(core);
  ResponseDoc events_reply{
      200,
      "JSON, or Server-Sent Events with Accept: text/event-stream",
      {{"application/json",
        {{"type", "object"},
         {"properties", {{"events", {{"type", "array"}, {"items", schema_ref("Event")}}}}}}},
       {"text/event-stream", {{"type", "string"}}}}};
  return {
      {.method = "GET",
       .pattern = "events",
       .handle = [handlers](Call& call) { handlers->events(call); },
       .remote = Remote::handler,
       .doc = {.summary = "Events, as JSON or a Server-Sent Events stream",
               .query_parameters =
                   {query_parameter("since", {{"type", "integer"}, {"minimum", 0}},
                                    "Only later events"),
                    query_parameter("scope", {{"type", "string"}, {"enum", {"node", "cluster"}}},
                                    "cluster: the live events of every node, as one stream")},
               .responses = {events_reply, error_reply(400, "An invalid query parameter"),
                             error_reply(503, "Too many event streams")}}},
  };
}

}  // namespace processpype::rest
