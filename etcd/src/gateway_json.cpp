#include "gateway_json.hpp"

#include <charconv>
#include <limits>

#include "processpype/etcd/base64.hpp"

namespace processpype::etcd::internal {

namespace {

const json& empty_object() {
  static const json empty = json::object();
  return empty;
}

/// `object[name]`, or nullptr when `object` is not an object or lacks it.
const json* find(const json& object, std::string_view name) {
  if (!object.is_object()) throw DecodeError("expected a JSON object, got " + object.dump());
  auto found = object.find(name);
  return found == object.end() ? nullptr : &*found;
}

template <class Integer>
Integer integer_of(const json& value, std::string_view name) {
  if (value.is_number_integer()) {
    if constexpr (std::is_unsigned_v<Integer>) {
      if (value.is_number_unsigned()) return value.get<Integer>();
    } else {
      if (value.is_number_unsigned() &&
          value.get<std::uint64_t>() >
              static_cast<std::uint64_t>(std::numeric_limits<Integer>::max()))
        throw DecodeError(std::string(name) + " is out of range: " + value.dump());
      return value.get<Integer>();
    }
  }
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    Integer result{};
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), result);
    if (error == std::errc() && end == text.data() + text.size() && !text.empty()) return result;
  }
  throw DecodeError(std::string(name) + " is not a 64-bit integer: " + value.dump());
}

std::string_view target_name(Compare::Target target) {
  switch (target) {
    case Compare::Target::version:
      return "VERSION";
    case Compare::Target::create_revision:
      return "CREATE";
    case Compare::Target::mod_revision:
      return "MOD";
    case Compare::Target::value:
      return "VALUE";
    case Compare::Target::lease:
      return "LEASE";
  }
  return "VERSION";
}

std::string_view result_name(Compare::Result result) {
  switch (result) {
    case Compare::equal:
      return "EQUAL";
    case Compare::not_equal:
      return "NOT_EQUAL";
    case Compare::greater:
      return "GREATER";
    case Compare::less:
      return "LESS";
  }
  return "EQUAL";
}

/// The field of a Compare that holds its operand, by target.
std::string_view operand_field(Compare::Target target) {
  switch (target) {
    case Compare::Target::version:
      return "version";
    case Compare::Target::create_revision:
      return "create_revision";
    case Compare::Target::mod_revision:
      return "mod_revision";
    case Compare::Target::value:
      return "value";
    case Compare::Target::lease:
      return "lease";
  }
  return "version";
}

}  // namespace

std::int64_t integer_field(const json& object, std::string_view name) {
  const json* value = find(object, name);
  return value == nullptr ? 0 : integer_of<std::int64_t>(*value, name);
}

std::uint64_t unsigned_field(const json& object, std::string_view name) {
  const json* value = find(object, name);
  return value == nullptr ? 0 : integer_of<std::uint64_t>(*value, name);
}

std::string bytes_field(const json& object, std::string_view name) {
  const json* value = find(object, name);
  if (value == nullptr) return {};
  if (!value->is_string())
    throw DecodeError(std::string(name) + " is not a base64 string: " + value->dump());
  auto bytes = base64_decode(value->get_ref<const std::string&>());
  if (!bytes) throw DecodeError(std::string(name) + " is not base64: " + value->dump());
  return *bytes;
}

bool boolean_field(const json& object, std::string_view name) {
  const json* value = find(object, name);
  if (value == nullptr) return false;
  if (!value->is_boolean())
    throw DecodeError(std::string(name) + " is not a boolean: " + value->dump());
  return value->get<bool>();
}

const json& object_field(const json& object, std::string_view name) {
  const json* value = find(object, name);
  if (value == nullptr) return empty_object();
  if (!value->is_object())
    throw DecodeError(std::string(name) + " is not an object: " + value->dump());
  return *value;
}

std::int64_t header_revision(const json& answer) {
  return integer_field(object_field(answer, "header"), "revision");
}

KeyValue decode_key_value(const json& object) {
  KeyValue kv;
  kv.key = bytes_field(object, "key");
  kv.value = bytes_field(object, "value");
  kv.create_revision = integer_field(object, "create_revision");
  kv.mod_revision = integer_field(object, "mod_revision");
  kv.version = integer_field(object, "version");
  kv.lease = integer_field(object, "lease");
  return kv;
}

std::vector<KeyValue> decode_key_values(const json& object) {
  const json* kvs = find(object, "kvs");
  std::vector<KeyValue> result;
  if (kvs == nullptr) return result;
  if (!kvs->is_array()) throw DecodeError("kvs is not an array: " + kvs->dump());
  result.reserve(kvs->size());
  for (const auto& kv : *kvs) result.push_back(decode_key_value(kv));
  return result;
}

WatchEvent decode_event(const json& object) {
  WatchEvent event;
  // PUT is the enum's zero value: the gateway leaves it out.
  const json* type = find(object, "type");
  if (type == nullptr || *type == "PUT")
    event.type = WatchEvent::Type::put;
  else if (*type == "DELETE")
    event.type = WatchEvent::Type::erase;
  else
    throw DecodeError("unknown event type " + type->dump());
  event.kv = decode_key_value(object_field(object, "kv"));
  return event;
}

OperationResult decode_operation_result(const json& object) {
  OperationResult result;
  if (find(object, "response_put") != nullptr) {
    result.kind = Operation::Kind::put;
  } else if (const json* range = find(object, "response_range"); range != nullptr) {
    result.kind = Operation::Kind::range;
    result.kvs = decode_key_values(*range);
  } else if (const json* erased = find(object, "response_delete_range"); erased != nullptr) {
    result.kind = Operation::Kind::erase;
    result.deleted = integer_field(*erased, "deleted");
  } else {
    throw DecodeError("a transaction response of an unknown kind: " + object.dump());
  }
  return result;
}

json encode(const Compare& compare) {
  json encoded = {{"key", base64_encode(compare.key)},
                  {"target", target_name(compare.target)},
                  {"result", result_name(compare.result)}};
  auto field = std::string(operand_field(compare.target));
  if (compare.target == Compare::Target::value)
    encoded[field] = base64_encode(compare.text);
  else
    encoded[field] = integer_text(compare.number);
  return encoded;
}

json encode(const Operation& operation) {
  switch (operation.kind) {
    case Operation::Kind::put: {
      json put = {{"key", base64_encode(operation.key)}, {"value", base64_encode(operation.value)}};
      if (operation.lease != 0) put["lease"] = integer_text(operation.lease);
      return {{"request_put", put}};
    }
    case Operation::Kind::erase:
      return {{"request_delete_range", key_range(operation.key, operation.range_end)}};
    case Operation::Kind::range:
      return {{"request_range", key_range(operation.key, operation.range_end)}};
  }
  return {};
}

json key_range(const std::string& key, const std::string& range_end) {
  // etcd refuses an empty key; every key is ["\0", "\0") (as clientv3's
  // WithPrefix of "").
  bool every_key = key.empty() && range_end == std::string(1, '\0');
  json range = {{"key", base64_encode(every_key ? range_end : key)}};
  if (!range_end.empty()) range["range_end"] = base64_encode(range_end);
  return range;
}

}  // namespace processpype::etcd::internal
