#include "processpype/rest/api.hpp"

#include <optional>

#include "processpype/actors/protocol.hpp"
#include "processpype/rest/json_mapping.hpp"

namespace processpype::rest {

namespace {

using nlohmann::json;

void respond_error(HttpExchange& exchange, const Error& error) {
  exchange.respond(http_status(error.code()), dump(error_body(error.detail())));
}

std::string dump_error(std::string_view detail) {
  return dump(error_body(detail));
}

void respond_json(HttpExchange& exchange, const json& body) {
  exchange.respond(200, dump(body));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Percent-decodes `text` (and '+' as space in queries); nullopt when an
/// escape is broken.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space = false) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      decoded.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      decoded.push_back(plus_is_space && text[i] == '+' ? ' ' : text[i]);
    }
  }
  return decoded;
}

std::unordered_map<std::string, std::string> parse_query(std::string_view query) {
  std::unordered_map<std::string, std::string> parameters;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto equals = pair.find('=');
    auto key = percent_decode(pair.substr(0, equals), true);
    auto value = equals == std::string_view::npos ? std::optional<std::string>{""}
                                                  : percent_decode(pair.substr(equals + 1), true);
    if (key && value && !key->empty()) parameters[*key] = *value;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return parameters;
}

}  // namespace

std::string normalize_prefix(std::string_view prefix) {
  while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return prefix.empty() ? std::string{} : "/" + std::string{prefix};
}

Api::Api(caf::actor_system& system, ApiTargets targets, ApiOptions options)
    : caller_(system), targets_(std::move(targets)), options_(std::move(options)) {
  options_.api_prefix = normalize_prefix(options_.api_prefix);
  // A node that goes down will not answer: fail what is in flight to it now.
  if (targets_.directory)
    targets_.directory->on_down([this](const caf::actor_addr& supervisor) {
      caller_.fail_requests_to(supervisor, make_error(ErrorCode::node_unavailable,
                                                      "The node went down before it answered"));
    });
  // The routing table of SPEC 5. Literal routes come before placeholders;
  // the "*" route takes what no other route's path matched.
  routes_ = {
      {"GET", PathPattern{""}, &Api::application_status},
      {"GET", PathPattern{"nodes"}, &Api::list_nodes},
      {"GET", PathPattern{"services"}, &Api::list_services},
      {"POST", PathPattern{"services/register"}, &Api::register_service},
      {"GET", PathPattern{"services/{name}"}, &Api::service_status},
      {"DELETE", PathPattern{"services/{name}"}, &Api::deregister_service},
      {"POST", PathPattern{"services/{name}/start"}, &Api::start_service},
      {"POST", PathPattern{"services/{name}/stop"}, &Api::stop_service},
      {"POST", PathPattern{"services/{name}/configure"}, &Api::configure_service},
      {"POST", PathPattern{"services/{name}/configure_and_start"},
       &Api::configure_and_start_service},
      {"*", PathPattern{"services/{name}/{path...}"}, &Api::custom_route},
  };
}

void Api::handle(const ExchangePtr& exchange) {
  std::string_view path = exchange->path();
  const auto& prefix = options_.api_prefix;
  if (!prefix.empty()) {
    if (!path.starts_with(prefix) || (path.size() > prefix.size() && path[prefix.size()] != '/')) {
      exchange->respond(404, dump_error("Not found: " + std::string{path}));
      return;
    }
    path.remove_prefix(prefix.size());
  }
  std::vector<std::string> segments;
  for (auto& raw : split_path(path)) {
    auto decoded = percent_decode(raw);
    if (!decoded) {
      exchange->respond(400, dump_error("Malformed percent-encoding in path"));
      return;
    }
    segments.push_back(std::move(*decoded));
  }
  Call call{exchange, {}, targets_.supervisor, {}, false};
  if (segments.size() >= 2 && segments[0] == "nodes") {
    if (!address_node(call, segments[1])) return;
    segments.erase(segments.begin(), segments.begin() + 2);
  }
  dispatch(call, segments);
}

bool Api::address_node(Call& call, const std::string& id) {
  auto node = targets_.directory ? targets_.directory->find(id) : std::nullopt;
  if (!node) {
    call.exchange->respond(404, dump_error("Node " + id + " not found"));
    return false;
  }
  if (!node->up) {
    call.exchange->respond(503, dump_error("Node " + id + " is down"));
    return false;
  }
  call.target = node->supervisor;
  call.node_id = id;
  call.remote = !node->local;
  return true;
}

void Api::dispatch(Call& call, const std::vector<std::string>& segments) {
  const auto method = call.exchange->method();
  std::string allow;
  for (const auto& route : routes_) {
    bool any_method = route.method == "*";
    if (any_method && !allow.empty()) break;  // a core path with another method: 405
    if (!route.pattern.match(segments, &call.parameters)) continue;
    if (any_method || route.method == method) {
      (this->*route.handler)(call);
      return;
    }
    allow += allow.empty() ? route.method : ", " + route.method;
  }
  auto path = std::string{call.exchange->path()};
  if (allow.empty())
    call.exchange->respond(404, dump_error("Not found: " + path));
  else
    call.exchange->respond(
        405, dump_error("Method " + std::string{method} + " not allowed on " + path), allow);
}

template <class Result, class OnReply, class... Ts>
void Api::ask(const Call& call, OnReply on_reply, Ts&&... message) {
  auto callback = [exchange = call.exchange,
                   on_reply = std::move(on_reply)](caf::message& reply) mutable {
    if (reply.match_elements<caf::error>()) {
      respond_error(*exchange, to_error(reply.get_as<caf::error>(0)));
    } else if constexpr (std::is_void_v<Result>) {
      on_reply(*exchange);
    } else if (reply.match_elements<Result>()) {
      on_reply(*exchange, reply.get_mutable_as<Result>(0));
    } else {
      respond_error(*exchange, Error(ErrorCode::service_failure, "Unexpected reply from the node"));
    }
  };
  if (call.remote)
    caller_.request_within(
        call.waits_for_transition ? options_.transition_timeout : options_.request_timeout,
        call.target, std::move(callback), std::forward<Ts>(message)...);
  else
    caller_.request(call.target, std::move(callback), std::forward<Ts>(message)...);
}

// -- handlers: one message each ------------------------------------------------

void Api::application_status(Call& call) {
  ask<std::vector<NamedStatus>>(
      call,
      [this](HttpExchange& exchange, std::vector<NamedStatus>& services) {
        respond_json(exchange, rest::application_status(options_.version, state_.load(), services));
      },
      list_atom::value);
}

void Api::list_nodes(Call& call) {
  call.target = targets_.node;
  call.remote = false;
  ask<std::vector<NodeStatus>>(
      call,
      [](HttpExchange& exchange, std::vector<NodeStatus>& nodes) {
        respond_json(exchange, node_list(nodes));
      },
      nodes_atom::value);
}

void Api::list_services(Call& call) {
  ask<std::vector<NamedStatus>>(
      call,
      [](HttpExchange& exchange, std::vector<NamedStatus>& services) {
        respond_json(exchange, service_list(services));
      },
      list_atom::value);
}

void Api::register_service(Call& call) {
  RegisterRequest request;
  std::optional<std::string> node;
  try {
    auto body = parse_body(call.exchange->body());
    request = parse_register_request(body);
    node = register_node(body);
  } catch (const Error& error) {
    return respond_error(*call.exchange, error);
  }
  if (node && !call.node_id.empty() && *node != call.node_id)
    return respond_error(*call.exchange,
                         Error(ErrorCode::bad_request, "Field 'node' (" + *node +
                                                           ") disagrees with the path's node (" +
                                                           call.node_id + ")"));
  if (node && call.node_id.empty() && !address_node(call, *node)) return;
  ask<Registration>(
      call,
      [](HttpExchange& exchange, Registration& registration) {
        respond_json(exchange, {{"status", "registered"},
                                {"service", registration.name},
                                {"type", registration.type}});
      },
      register_atom::value, std::move(request));
}

void Api::service_status(Call& call) {
  ask<ServiceStatus>(
      call,
      [](HttpExchange& exchange, ServiceStatus& status) {
        respond_json(exchange, to_json(status));
      },
      status_atom::value, call.name());
}

void Api::deregister_service(Call& call) {
  call.waits_for_transition = true;
  ask<Deregistration>(
      call,
      [](HttpExchange& exchange, Deregistration& result) {
        auto body = command_reply("deregistered", result.name);
        if (!result.stop_error.empty()) body["error"] = result.stop_error;
        respond_json(exchange, body);
      },
      deregister_atom::value, call.name());
}

template <class... Ts>
void Api::command(const Call& call, std::string_view done, Ts&&... message) {
  ask<void>(
      call,
      [name = call.name(), done](HttpExchange& exchange) {
        respond_json(exchange, command_reply(done, name));
      },
      std::forward<Ts>(message)...);
}

std::optional<nlohmann::json> Api::body_of(const Call& call) {
  try {
    return parse_body(call.exchange->body());
  } catch (const Error& error) {
    respond_error(*call.exchange, error);
    return std::nullopt;
  }
}

void Api::start_service(Call& call) {
  call.waits_for_transition = true;
  command(call, "started", start_atom::value, call.name());
}

void Api::stop_service(Call& call) {
  call.waits_for_transition = true;
  command(call, "stopped", stop_atom::value, call.name());
}

void Api::configure_service(Call& call) {
  if (auto configuration = body_of(call))
    command(call, "configured", configure_atom::value, call.name(), std::move(*configuration));
}

void Api::configure_and_start_service(Call& call) {
  auto configuration = body_of(call);
  if (!configuration) return;
  ask<void>(
      call,
      [this, call](HttpExchange&) mutable {
        call.waits_for_transition = true;
        command(call, "configured and started", start_atom::value, call.name());
      },
      configure_atom::value, call.name(), std::move(*configuration));
}

void Api::custom_route(Call& call) {
  auto body = body_of(call);
  if (!body) return;
  RouteRequest request;
  request.body = std::move(*body);
  request.method = std::string{call.exchange->method()};
  request.path = "/" + call.parameters.at("path");
  request.query_parameters = parse_query(call.exchange->query());
  ask<RouteResponse>(
      call,
      [](HttpExchange& exchange, RouteResponse& response) {
        exchange.respond(response.status, dump(response.body), response.allow);
      },
      route_atom::value, RouteCall{call.name(), std::move(request)});
}

}  // namespace processpype::rest
