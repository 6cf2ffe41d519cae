#include "commands.hpp"

#include <algorithm>
#include <map>
#include <ostream>

#include <fmt/format.h>

#include "event_lines.hpp"
#include "json_fields.hpp"
#include "processpype/ctl/configuration_edit.hpp"
#include "processpype/ctl/errors.hpp"
#include "processpype/ctl/table.hpp"

namespace processpype::ctl {

namespace {

using json = nlohmann::json;

/// The page size of `list`: a few round trips for a large node, each reply
/// small enough to stay quick.
constexpr int list_page_size = 1000;

/// Fields an instance's listing or status may carry besides the ones every
/// node sends (docs/rest-api.md); shown as columns when any row has them.
constexpr const char* optional_columns[] = {"type", "placement", "owner"};

Request get(std::string path) {
  Request request;
  request.path = std::move(path);
  return request;
}

/// A request that waits for a transition: the command's time limit.
Request command(const Context& context, std::string method, std::string path,
                std::optional<std::string> body = std::nullopt) {
  Request request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.body = std::move(body);
  request.timeout = context.command_timeout;
  return request;
}

std::string instance_path(const std::string& name) {
  return "/services/" + percent_encode(name);
}

/// The server's body, unchanged, as one line (--json).
void print_body(Context& context, const Response& response) {
  context.out << response.body;
  if (response.body.empty() || response.body.back() != '\n') context.out << '\n';
}

/// Refusal for a reply whose shape is not what docs/rest-api.md documents
/// (a proxy's page, another program on the port).
[[noreturn]] void unexpected_reply(const Context& context, const Request& request) {
  throw Refusal(0, fmt::format("unexpected reply from {}: not what a ProcessPype node answers",
                               context.client.url_of(request)));
}

/// Whether `reply` has the fields of an instance's status
/// (docs/rest-api.md): the node's own status has a `state` too, but no
/// `is_configured`.
bool is_instance_status(const json& reply) {
  return member(reply, "state").is_string() && member(reply, "is_configured").is_boolean();
}

Cell state_cell(const json& state) {
  auto text = display_text(state);
  return {text, state_colour(text)};
}

/// A node's state, with ",cordoned" after a drain (docs/cluster.md): one
/// word, so that the columns still split on spaces.
Cell node_state_cell(const json& node) {
  auto cell = state_cell(member(node, "state"));
  if (member(node, "cordoned") == true) cell.text += ",cordoned";
  return cell;
}

Cell error_cell(const json& error) {
  return error.is_null() ? Cell{"-"} : Cell{display_text(error), Colour::red};
}

Cell health_cell(const json& health) {
  if (!health.is_object()) return {"-"};
  return member(health, "ok") == true ? Cell{"ok", Colour::green} : Cell{"failing", Colour::red};
}

/// The optional columns that some row of `rows` has.
std::vector<std::string> present_columns(const std::vector<json>& rows) {
  std::vector<std::string> present;
  for (const char* column : optional_columns)
    if (std::any_of(rows.begin(), rows.end(),
                    [&](const json& row) { return !member(row, column).is_null(); }))
      present.emplace_back(column);
  return present;
}

std::string uppercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

/// "4 running, 1 error": how many instances are in each state.
std::string state_counts(const std::map<std::string, int>& counts, bool colour) {
  std::string text;
  for (const auto& [state, count] : counts) {
    if (!text.empty()) text += ", ";
    text += fmt::format("{} {}", count, paint(state, state_colour(state), colour));
  }
  return text;
}

}  // namespace

// -- status ---------------------------------------------------------------------

void show_node_status(Context& context) {
  auto request = get("/");
  auto response = context.client.send_expecting_success(request);
  if (context.json) return print_body(context, response);
  auto status = response.json();
  const auto& services = member(status, "services");
  if (!services.is_object()) unexpected_reply(context, request);

  std::vector<json> rows;
  std::map<std::string, int> counts;
  for (const auto& [name, instance] : services.items()) {
    json row = instance;
    if (row.is_object()) row["name"] = name;
    counts[display_text(member(instance, "state"))]++;
    rows.push_back(std::move(row));
  }
  auto state = display_text(member(status, "state"));
  context.out << fmt::format("ProcessPype {}, application {}, {} instance{}{}{}\n",
                             printable(display_text(member(status, "version"))),
                             paint(printable(state), state_colour(state), context.colour),
                             rows.size(), rows.size() == 1 ? "" : "s", rows.empty() ? "" : ": ",
                             state_counts(counts, context.colour));
  if (rows.empty()) return;
  auto extra = present_columns(rows);
  std::vector<std::string> headings{"NAME"};
  for (const auto& column : extra) headings.push_back(uppercase(column));
  headings.insert(headings.end(), {"STATE", "RESTARTS", "HEALTH", "ERROR"});
  Table table(headings);
  for (const auto& row : rows) {
    std::vector<Cell> cells{{display_text(member(row, "name"))}};
    for (const auto& column : extra) cells.push_back({display_text(member(row, column))});
    cells.push_back(state_cell(member(row, "state")));
    cells.push_back({display_text(member(row, "restarts"))});
    cells.push_back(health_cell(member(row, "health")));
    cells.push_back(error_cell(member(row, "error")));
    table.add_row(std::move(cells));
  }
  context.out << '\n' << table.render(context.colour);
}

void show_instance_status(Context& context, const std::string& name) {
  auto request = get(instance_path(name));
  auto response = context.client.send_expecting_success(request);
  if (context.json) return print_body(context, response);
  auto status = response.json();
  if (!is_instance_status(status)) unexpected_reply(context, request);

  Table fields(2);
  fields.add_row({{"name"}, {name}});
  fields.add_row({{"state"}, state_cell(status["state"])});
  fields.add_row({{"error"}, error_cell(member(status, "error"))});
  fields.add_row({{"configured"}, {member(status, "is_configured") == true ? "yes" : "no"}});
  fields.add_row({{"restarts"}, {display_text(member(status, "restarts"))}});
  const auto& next_restart = member(status, "next_restart_in_seconds");
  fields.add_row({{"next restart"},
                  {next_restart.is_number() ? fmt::format("in {:.1f} s", next_restart.get<double>())
                                            : std::string("-")}});
  const auto& health = member(status, "health");
  auto health_text = health_cell(health);
  if (health.is_object())
    health_text.text += fmt::format(" ({}, checked {})", display_text(member(health, "detail")),
                                    display_text(member(health, "checked_at")));
  fields.add_row({{"health"}, health_text});
  // What later servers add (placement, owner, nodes...), as they send it.
  static const char* shown[] = {
      "state",  "error",   "is_configured", "restarts", "next_restart_in_seconds",
      "health", "metadata"};
  for (const auto& [key, value] : status.items())
    if (std::find(std::begin(shown), std::end(shown), key) == std::end(shown))
      fields.add_row({{key}, {display_text(value)}});
  context.out << fields.render(context.colour);

  const auto& metadata = member(status, "metadata");
  if (!metadata.is_object() || metadata.empty()) {
    context.out << "configuration: none yet\n";
    return;
  }
  Table configuration(2);
  for (const auto& [key, value] : metadata.items())
    configuration.add_row({{"  " + key}, {value.dump()}});
  context.out << "configuration:\n" << configuration.render(context.colour);
}

// -- list ---------------------------------------------------------------------------

void list_instances(Context& context, const ListOptions& options) {
  std::string filters;
  if (options.state) filters += "&state=" + percent_encode(*options.state);
  if (options.type) filters += "&type=" + percent_encode(*options.type);
  if (context.json) {
    // One request: the server's reply, unchanged.
    auto query = filters.empty() ? std::string() : "?" + filters.substr(1);
    return print_body(context, context.client.send_expecting_success(get("/services" + query)));
  }
  std::vector<json> rows;
  std::optional<std::string> after;
  do {
    auto request = get(fmt::format("/services?limit={}{}", list_page_size, filters));
    if (after) request.path += "&after=" + percent_encode(*after);
    auto page = context.client.send_expecting_success(request).json();
    const auto& services = member(page, "services");
    const auto& next = member(page, "next");
    if (!services.is_array() || !(next.is_null() || next.is_string()))
      unexpected_reply(context, request);
    rows.insert(rows.end(), services.begin(), services.end());
    // A next that does not move on would loop for ever.
    if (next.is_string() && (services.empty() || next == after)) unexpected_reply(context, request);
    after = next.is_string() ? std::optional(next.get<std::string>()) : std::nullopt;
  } while (after);

  if (options.names_only) {
    for (const auto& row : rows)
      context.out << printable(display_text(member(row, "name"))) << '\n';
    return;
  }
  if (rows.empty()) {
    context.out << "No instances.\n";
    return;
  }
  auto extra = present_columns(rows);
  std::vector<std::string> headings{"NAME"};
  for (const auto& column : extra) headings.push_back(uppercase(column));
  headings.insert(headings.end(), {"STATE", "CONFIGURED", "ERROR"});
  Table table(headings);
  for (const auto& row : rows) {
    std::vector<Cell> cells{{display_text(member(row, "name"))}};
    for (const auto& column : extra) cells.push_back({display_text(member(row, column))});
    cells.push_back(state_cell(member(row, "state")));
    cells.push_back({member(row, "is_configured") == true ? "yes" : "no"});
    cells.push_back(error_cell(member(row, "error")));
    table.add_row(std::move(cells));
  }
  context.out << table.render(context.colour);
}

// -- register, start, stop, deregister -------------------------------------------------

namespace {

/// A server without cluster instances (docs/rest-api.md before they came)
/// takes "placement" for an unknown field and registers a node instance:
/// the status tells, and that instance is removed again rather than left
/// as what the operator did not ask for.
void require_cluster_placement(Context& context, const std::string& name,
                               const std::optional<std::string>& node) {
  auto request = get(instance_path(name));
  if (node) request.node = *node;
  auto status = context.client.send_expecting_success(request).json();
  if (member(status, "placement") == "cluster") return;
  auto removal = command(context, "DELETE", instance_path(name));
  if (node) removal.node = *node;
  auto removed = context.client.send(removal);
  throw Refusal(
      0, fmt::format("the server registered {} as a node instance: it does not support "
                     "\"placement\": \"cluster\"; {}",
                     name,
                     removed.success() ? "that instance was deregistered again"
                                       : "deregistering it failed too: " + removed.detail()));
}

/// Prints "<status> <service>" ("started echo") or the body (--json). A
/// stop or deregistration the state file could not record still acted and
/// answers 200 with a "warning" (docs/state.md): it goes to stderr, also
/// with --json, since the operator must know it will not last a restart.
void print_command_reply(Context& context, const Response& response) {
  auto reply = response.json();
  if (const auto& warning = member(reply, "warning"); warning.is_string())
    context.err << "processpype ctl: warning: " << printable(display_text(warning)) << '\n';
  if (context.json) return print_body(context, response);
  context.out << printable(display_text(member(reply, "status"))) << ' '
              << printable(display_text(member(reply, "service"))) << '\n';
}

}  // namespace

void register_instance(Context& context, const RegisterOptions& options) {
  json body = {{"service_name", options.class_key}};
  if (options.name) body["instance_name"] = *options.name;
  if (options.node) body["node"] = *options.node;
  if (options.cluster) body["placement"] = "cluster";
  auto request = command(context, "POST", "/services/register", body.dump());
  auto response = context.client.send_expecting_success(request);
  auto reply = response.json();
  const auto& service = member(reply, "service");
  if (!service.is_string()) unexpected_reply(context, request);
  if (options.cluster) require_cluster_placement(context, service.get<std::string>(), options.node);
  if (context.json) return print_body(context, response);
  context.out << fmt::format("registered {} ({}){}\n", printable(service.get<std::string>()),
                             printable(display_text(member(reply, "type"))),
                             options.node ? " on node " + printable(*options.node) : "");
}

void start_instance(Context& context, const std::string& name) {
  print_command_reply(context, context.client.send_expecting_success(
                                   command(context, "POST", instance_path(name) + "/start")));
}

void stop_instance(Context& context, const std::string& name) {
  print_command_reply(context, context.client.send_expecting_success(
                                   command(context, "POST", instance_path(name) + "/stop")));
}

void deregister_instance(Context& context, const std::string& name) {
  auto response =
      context.client.send_expecting_success(command(context, "DELETE", instance_path(name)));
  print_command_reply(context, response);
  // Deregistered all the same, but its stop failed: worth knowing.
  auto reply = response.json();
  if (const auto& error = member(reply, "error"); !error.is_null())
    context.err << "processpype ctl: " << name
                << ": its stop failed: " << printable(display_text(error)) << '\n';
}

// -- configure ---------------------------------------------------------------------------

void configure_instance(Context& context, const ConfigureOptions& options) {
  if (options.assignments.empty() && !options.file && !options.replace)
    throw UsageError(
        "configure " + options.name +
        ": give KEY=VALUE assignments, --file F.json (- for standard input) or --replace");
  std::vector<Assignment> assignments;
  for (const auto& text : options.assignments) assignments.push_back(parse_assignment(text));

  json configuration = json::object();
  if (options.file) {
    configuration = read_configuration_file(*options.file, context.in);
  } else if (!options.replace) {
    // Merge: what the instance has now (every field), then the assignments.
    auto request = get(instance_path(options.name));
    auto status = context.client.send_expecting_success(request).json();
    const auto& metadata = member(status, "metadata");
    if (!is_instance_status(status) || !metadata.is_object()) unexpected_reply(context, request);
    configuration = metadata;
  }
  configuration = apply_assignments(std::move(configuration), assignments);
  print_command_reply(context, context.client.send_expecting_success(command(
                                   context, "POST", instance_path(options.name) + "/configure",
                                   configuration.dump())));
}

// -- nodes, events, drain ----------------------------------------------------------------

void list_nodes(Context& context, bool ids_only) {
  auto request = get("/nodes");
  auto response = context.client.send_expecting_success(request);
  if (context.json && !ids_only) return print_body(context, response);
  auto reply = response.json();
  const auto& nodes = member(reply, "nodes");
  if (!nodes.is_array()) unexpected_reply(context, request);
  if (ids_only) {
    for (const auto& node : nodes)
      context.out << printable(display_text(member(node, "id"))) << '\n';
    return;
  }
  Table table({"ID", "ADDRESS", "STATE", "SERVICES", "VERSION", "TITLE"});
  for (const auto& node : nodes) {
    auto address = display_text(member(node, "address"));  // "" without a node port
    table.add_row({{display_text(member(node, "id"))},
                   {address.empty() ? "-" : address},
                   node_state_cell(node),
                   {display_text(member(node, "services"))},
                   {display_text(member(node, "version"))},
                   {display_text(member(node, "title"))}});
  }
  context.out << table.render(context.colour);
}

namespace {

/// Every event of every node that is up, oldest first (ISO 8601 times sort
/// as text); a node that does not answer is named on stderr.
std::vector<json> cluster_events(Context& context) {
  auto nodes_request = get("/nodes");
  nodes_request.node = "";  // the same list from any node
  auto reply = context.client.send_expecting_success(nodes_request).json();
  const auto& nodes = member(reply, "nodes");
  if (!nodes.is_array()) unexpected_reply(context, nodes_request);
  std::vector<json> events;
  for (const auto& node : nodes) {
    if (member(node, "state") != "up" || !member(node, "id").is_string()) continue;
    auto request = get("/events");
    request.node = member(node, "id").get<std::string>();
    auto response = context.client.send(request);
    auto events_reply = response.success() ? response.json() : json();
    const auto& list = member(events_reply, "events");
    if (!list.is_array()) {
      context.err << "processpype ctl: the events of node " << printable(*request.node)
                  << " are missing: " << printable(response.detail()) << '\n';
      continue;
    }
    events.insert(events.end(), list.begin(), list.end());
  }
  std::stable_sort(events.begin(), events.end(), [](const json& a, const json& b) {
    return display_text(member(a, "time")) < display_text(member(b, "time"));
  });
  return events;
}

}  // namespace

void list_events(Context& context, bool cluster) {
  std::vector<json> events;
  if (cluster) {
    events = cluster_events(context);
    if (context.json) {
      context.out << json{{"events", events}}.dump() << '\n';
      return;
    }
  } else {
    auto request = get("/events");
    auto response = context.client.send_expecting_success(request);
    if (context.json) return print_body(context, response);
    auto reply = response.json();
    const auto& list = member(reply, "events");
    if (!list.is_array()) unexpected_reply(context, request);
    events.assign(list.begin(), list.end());
  }
  if (events.empty()) {
    context.out << "No events.\n";
    return;
  }
  auto table = events_table();
  for (const auto& event : events) add_event_row(table, event);
  context.out << table.render(context.colour);
}

void drain_node(Context& context, const std::string& node) {
  auto request = command(context, "POST", "/drain");
  request.node = node;
  auto response = context.client.send_expecting_success(request);
  if (context.json) return print_body(context, response);
  context.out << "drained node " << printable(node) << '\n';
}

}  // namespace processpype::ctl
