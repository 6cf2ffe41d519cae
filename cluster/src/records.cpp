#include "processpype/cluster/records.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace processpype::cluster {

using nlohmann::json;

namespace {

constexpr std::array cause_names{
    std::pair{Cause::initial, std::string_view("initial")},
    std::pair{Cause::failover, std::string_view("failover")},
    std::pair{Cause::handover, std::string_view("handover")},
    std::pair{Cause::rebalance, std::string_view("rebalance")},
    std::pair{Cause::lease_lost, std::string_view("lease_lost")},
    std::pair{Cause::resumed, std::string_view("resumed")},
    std::pair{Cause::owner_key_deleted, std::string_view("owner_key_deleted")},
};

json parse_object(std::string_view text, std::string_view what) {
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded()) throw RecordError(std::string(what) + " is not JSON");
  if (!value.is_object()) throw RecordError(std::string(what) + " is not a JSON object");
  return value;
}

std::string string_field(const json& object, const char* field, std::string_view what,
                         bool required = true) {
  auto found = object.find(field);
  if (found == object.end()) {
    if (!required) return {};
    throw RecordError(std::string(what) + " has no \"" + field + "\"");
  }
  if (!found->is_string())
    throw RecordError(std::string(what) + ": \"" + field + "\" is not a string");
  return found->get<std::string>();
}

bool boolean_field(const json& object, const char* field, std::string_view what) {
  auto found = object.find(field);
  if (found == object.end()) return false;
  if (!found->is_boolean())
    throw RecordError(std::string(what) + ": \"" + field + "\" is not true or false");
  return found->get<bool>();
}

std::vector<std::string> string_list_field(const json& object, const char* field,
                                           std::string_view what) {
  std::vector<std::string> list;
  auto found = object.find(field);
  if (found == object.end()) return list;
  auto refuse = [&] {
    throw RecordError(std::string(what) + ": \"" + field + "\" is not a list of strings");
  };
  if (!found->is_array()) refuse();
  for (const auto& item : *found) {
    if (!item.is_string()) refuse();
    list.push_back(item.get<std::string>());
  }
  return sorted_set(std::move(list));
}

}  // namespace

std::vector<std::string> sorted_set(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string_view to_string(DesiredState state) noexcept {
  return state == DesiredState::running ? "running" : "stopped";
}

std::optional<DesiredState> desired_state_from_string(std::string_view text) noexcept {
  if (text == "running") return DesiredState::running;
  if (text == "stopped") return DesiredState::stopped;
  return std::nullopt;
}

std::string_view to_string(Cause cause) noexcept {
  for (auto [value, name] : cause_names)
    if (value == cause) return name;
  return "unknown";
}

std::optional<Cause> cause_from_string(std::string_view text) noexcept {
  for (auto [value, name] : cause_names)
    if (name == text) return value;
  return std::nullopt;
}

bool NodeRegistration::has_class(std::string_view class_key) const {
  return std::binary_search(classes.begin(), classes.end(), class_key);
}

bool NodeRegistration::declines(std::string_view name) const {
  return std::binary_search(declined.begin(), declined.end(), name);
}

bool InstanceRecord::eligible(const NodeRegistration& node) const {
  if (!nodes.empty() && !std::binary_search(nodes.begin(), nodes.end(), node.id)) return false;
  return node.has_class(class_key);
}

std::string encode(const NodeRegistration& registration) {
  json value{{"id", registration.id},
             {"rest_url", registration.rest_url},
             {"node_address", registration.node_address},
             {"classes", sorted_set(registration.classes)},
             {"cordoned", registration.cordoned}};
  // Only when there is one: the usual registration stays as it was.
  if (!registration.declined.empty()) value["declined"] = sorted_set(registration.declined);
  return value.dump();
}

std::string encode(const InstanceRecord& record) {
  json value{{"class", record.class_key},
             {"nodes", sorted_set(record.nodes)},
             {"configuration", record.configuration},
             {"desired", to_string(record.desired)},
             {"tombstone", record.tombstone}};
  // Only for a request's record: a file's stays as it was.
  if (record.request_id) value["request_id"] = *record.request_id;
  return value.dump();
}

std::string encode(const OwnerValue& owner) {
  json value{{"node", owner.node}};
  if (owner.releasing) value["releasing"] = to_string(*owner.releasing);
  return value.dump();
}

NodeRegistration decode_registration(std::string_view text) {
  constexpr std::string_view what = "a node registration";
  auto value = parse_object(text, what);
  NodeRegistration registration;
  registration.id = string_field(value, "id", what);
  if (registration.id.empty()) throw RecordError("a node registration with an empty id");
  registration.rest_url = string_field(value, "rest_url", what, false);
  registration.node_address = string_field(value, "node_address", what, false);
  registration.classes = string_list_field(value, "classes", what);
  registration.cordoned = boolean_field(value, "cordoned", what);
  registration.declined = string_list_field(value, "declined", what);
  return registration;
}

InstanceRecord decode_record(std::string_view text) {
  constexpr std::string_view what = "an instance record";
  auto value = parse_object(text, what);
  InstanceRecord record;
  record.class_key = string_field(value, "class", what);
  if (record.class_key.empty()) throw RecordError("an instance record with an empty class");
  record.nodes = string_list_field(value, "nodes", what);
  auto configuration = value.find("configuration");
  if (configuration != value.end()) {
    if (!configuration->is_object())
      throw RecordError("an instance record: \"configuration\" is not a JSON object");
    record.configuration = *configuration;
  }
  auto desired = desired_state_from_string(string_field(value, "desired", what));
  if (!desired)
    throw RecordError("an instance record: \"desired\" is neither \"running\" nor \"stopped\"");
  record.desired = *desired;
  record.tombstone = boolean_field(value, "tombstone", what);
  if (value.contains("request_id")) record.request_id = string_field(value, "request_id", what);
  return record;
}

OwnerValue decode_owner(std::string_view text) {
  constexpr std::string_view what = "an owner key";
  auto value = parse_object(text, what);
  OwnerValue owner;
  owner.node = string_field(value, "node", what);
  if (owner.node.empty()) throw RecordError("an owner key with an empty node");
  auto releasing = string_field(value, "releasing", what, false);
  if (!releasing.empty()) {
    owner.releasing = cause_from_string(releasing);
    if (!owner.releasing) throw RecordError("an owner key: unknown \"releasing\" " + releasing);
  }
  return owner;
}

}  // namespace processpype::cluster
