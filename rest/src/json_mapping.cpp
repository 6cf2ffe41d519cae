#include "processpype/rest/json_mapping.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::rest {

using nlohmann::json;

std::string dump(const json& body) {
  return json_text(body);
}

std::string error_body(std::string_view detail) {
  // Every refusal has one; the same text as dump({{"detail", detail}}).
  std::string body = R"({"detail":)";
  append_json_string(body, detail);
  body += '}';
  return body;
}

json command_reply(std::string_view status, std::string_view service) {
  return {{"status", status}, {"service", service}};
}

std::string command_reply_text(std::string_view status, std::string_view service) {
  // An instance name needs no escaping (is_valid_instance_name), nor does a
  // status of ours; anything else takes the library's escaping.
  if (!is_valid_instance_name(service)) return dump(command_reply(status, service));
  return fmt::format(R"({{"service":"{}","status":"{}"}})", service, status);
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// One instance of a list, `{"error","is_configured","name","state"}`, in
/// the bytes the JSON library's dump of its object gives.
void append_list_entry(std::string& out, const InstanceRecord& record) {
  auto view = record.view();
  out += R"({"error":)";
  if (view->error.empty())
    out += "null";
  else
    append_json_string(out, view->error);
  out += view->configuration->is_configured ? R"(,"is_configured":true,"name":)"
                                            : R"(,"is_configured":false,"name":)";
  append_json_string(out, record.name());
  out += R"(,"state":")";
  out += to_string(view->state);
  out += R"("})";
}

// Instance names are ASCII (docs/rest-api.md): folding ASCII letters is
// enough for a search that ignores case.
char fold_case(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

std::string folded(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), fold_case);
  return text;
}

/// Whether `name` contains `part` (already folded), whatever the case of `name`.
bool contains_folded(std::string_view name, std::string_view part) {
  auto found =
      std::search(name.begin(), name.end(), part.begin(), part.end(),
                  [](char in_name, char in_part) { return fold_case(in_name) == in_part; });
  return found != name.end() || part.empty();
}

bool matches(const InstanceRecord& record, const ListQuery& query) {
  if (query.search && !contains_folded(record.name(), *query.search)) return false;
  if (query.type && record.service_class().key != *query.type) return false;
  if (query.state && record.state() != *query.state) return false;
  return true;
}

bool parse_flag(const std::string& name, const std::string& value) {
  if (value == "true") return true;
  if (value == "false") return false;
  throw Error(ErrorCode::bad_request,
              fmt::format("Query parameter '{}' must be true or false, not '{}'", name, value));
}

/// A broken escape in the query is the client's error, as in the path: a
/// value dropped instead would widen what the request asks for (an
/// unpaged list, an unfiltered search; docs/rest-api.md, "Errors").
Error malformed_query_escape(std::string_view where) {
  return Error(ErrorCode::bad_request, fmt::format("Malformed percent-encoding in {}", where));
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
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
    auto raw_name = pair.substr(0, equals);
    auto name = percent_decode(raw_name, true);
    if (!name) throw malformed_query_escape(fmt::format("query parameter name '{}'", raw_name));
    if (!name->empty()) {
      auto value = equals == std::string_view::npos ? std::optional<std::string>{""}
                                                    : percent_decode(pair.substr(equals + 1), true);
      if (!value) throw malformed_query_escape(fmt::format("query parameter '{}'", *name));
      parameters[*name] = std::move(*value);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return parameters;
}

ListQuery parse_list_query(std::string_view text) {
  auto parameters = parse_query(text);
  ListQuery query;
  if (auto found = parameters.find("state"); found != parameters.end()) {
    query.state = service_state_from_string(found->second);
    if (!query.state)
      throw Error(
          ErrorCode::bad_request,
          fmt::format("Query parameter 'state' must be a service state, not '{}'", found->second));
  }
  if (auto found = parameters.find("type"); found != parameters.end()) query.type = found->second;
  if (auto found = parameters.find("limit"); found != parameters.end()) {
    std::size_t limit = 0;
    const auto& text_limit = found->second;
    auto [end, error] =
        std::from_chars(text_limit.data(), text_limit.data() + text_limit.size(), limit);
    if (error != std::errc{} || end != text_limit.data() + text_limit.size() || limit < 1 ||
        limit > 10000)
      throw Error(ErrorCode::bad_request,
                  "Query parameter 'limit' must be an integer from 1 to 10000");
    query.limit = limit;
  }
  if (auto found = parameters.find("after"); found != parameters.end()) query.after = found->second;
  if (auto found = parameters.find("search"); found != parameters.end())
    query.search = folded(found->second);
  if (auto found = parameters.find("counts"); found != parameters.end())
    query.counts = parse_flag("counts", found->second);
  return query;
}

json instance_counts(const InstanceTable& table) {
  json counts = {{"total", table.size()}};
  // by_state is indexed by the state's value (instance_table.hpp).
  const auto& by_state = table.counts().by_state;
  for (std::size_t state = 0; state < by_state.size(); ++state)
    counts[std::string{to_string(static_cast<ServiceState>(state))}] =
        by_state[state].load(std::memory_order_relaxed);
  return counts;
}

std::string service_list(const InstanceTable& table, const InstanceListing& listing,
                         const ListQuery& query) {
  std::uint64_t after = 0;
  if (query.after) {
    // A page may end at an instance removed before the next page is asked
    // for: it still continues after it (docs/rest-api.md).
    auto order = table.order_of(*query.after);
    if (!order)
      throw Error(ErrorCode::bad_request,
                  fmt::format("Query parameter 'after' names no instance: {}", *query.after));
    after = *order;
  }
  // Written directly, as the JSON library's dump of the tree would write it
  // (keys in order; services_test checks): a list of 100,000 instances
  // built a tree of 100,000 objects.
  std::string services;
  std::size_t listed = 0;
  std::string last_listed;
  std::optional<std::string> next;
  std::size_t limit = query.limit.value_or(std::numeric_limits<std::size_t>::max());
  listing.for_each(
      [&](const InstanceRecord& record) {
        if (!matches(record, query)) return true;
        if (listed == limit) {
          next = std::move(last_listed);
          return false;
        }
        if (listed++ > 0) services += ',';
        append_list_entry(services, record);
        if (query.limit) last_listed = record.name();
        return true;
      },
      after);
  std::string body = "{";
  if (query.counts) {
    body += R"("counts":)";
    body += dump(instance_counts(table));
    body += ',';
  }
  if (query.limit) {
    body += R"("next":)";
    if (next)
      append_json_string(body, *next);
    else
      body += "null";
    body += ',';
  }
  body += R"("services":[)";
  body += services;
  body += "]}";
  return body;
}

std::string application_status(std::string_view version, ServiceState state,
                               const InstanceListing& listing,
                               std::chrono::steady_clock::time_point now) {
  // Written around each instance's rendered status body, in the bytes the
  // JSON library's dump of the whole tree gives (keys in order, services by
  // name; services_test compares the two): building that tree cost a map
  // per status on every GET /.
  std::vector<std::pair<std::string, std::shared_ptr<const std::string>>> statuses;
  listing.for_each([&](const InstanceRecord& record) {
    statuses.emplace_back(record.name(), record.status_body(now));
    return true;
  });
  std::stable_sort(statuses.begin(), statuses.end(),
                   [](const auto& left, const auto& right) { return left.first < right.first; });
  std::string body = R"({"services":{)";
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    // The tree keeps the last one registered of a name listed twice.
    if (i + 1 < statuses.size() && statuses[i + 1].first == statuses[i].first) continue;
    if (body.back() != '{') body += ',';
    append_json_string(body, statuses[i].first);
    body += ':';
    body += *statuses[i].second;
  }
  body += R"(},"state":")";
  body += to_string(state);
  body += R"(","version":)";
  append_json_string(body, version);
  body += '}';
  return body;
}

RegisterRequest parse_register_request(const json& body) {
  if (!body.is_object()) throw Error(ErrorCode::bad_request, "Body must be a JSON object");
  auto service_name = body.find("service_name");
  if (service_name == body.end() || !service_name->is_string())
    throw Error(ErrorCode::bad_request, "Field 'service_name' must be a string");
  RegisterRequest request;
  request.class_key = service_name->get<std::string>();
  auto instance_name = body.find("instance_name");
  if (instance_name != body.end() && !instance_name->is_null()) {
    if (!instance_name->is_string())
      throw Error(ErrorCode::bad_request, "Field 'instance_name' must be a string or null");
    request.instance_name = instance_name->get<std::string>();
    request.auto_name = false;
  }
  if (auto placement = body.find("placement"); placement != body.end() && !placement->is_null()) {
    if (!placement->is_string() || (*placement != "node" && *placement != "cluster"))
      throw Error(ErrorCode::bad_request, "Field 'placement' must be \"node\" or \"cluster\"");
    request.cluster = *placement == "cluster";
  }
  if (auto nodes = body.find("nodes"); nodes != body.end() && !nodes->is_null()) {
    if (!request.cluster)
      throw Error(ErrorCode::bad_request, "Field 'nodes' needs \"placement\": \"cluster\"");
    if (!nodes->is_array())
      throw Error(ErrorCode::bad_request, "Field 'nodes' must be a list of node ids");
    for (const auto& node : *nodes) {
      if (!node.is_string() || node.get_ref<const std::string&>().empty())
        throw Error(ErrorCode::bad_request, "Field 'nodes' must be a list of node ids");
      request.nodes.push_back(node.get<std::string>());
    }
  }
  return request;
}

std::optional<std::string> register_node(const json& body) {
  if (!body.is_object()) return std::nullopt;
  auto node = body.find("node");
  if (node == body.end() || node->is_null()) return std::nullopt;
  if (!node->is_string()) throw Error(ErrorCode::bad_request, "Field 'node' must be a string");
  return node->get<std::string>();
}

json node_list(const std::vector<NodeStatus>& nodes, const std::set<std::string>& cordoned) {
  auto list = json::array();
  for (const auto& node : nodes)
    list.push_back({{"id", node.id},
                    {"address", node.address},
                    {"state", node.up ? "up" : "down"},
                    {"services", node.services},
                    {"version", node.application.version},
                    {"title", node.application.title},
                    {"cordoned", cordoned.contains(node.id)}});
  return {{"nodes", std::move(list)}};
}

}  // namespace processpype::rest
