#pragma once

// The JSON of etcd's gateway, both ways: 64-bit integers as strings, keys and
// values base64, enums as their protobuf names. Internal to processpype_etcd.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/etcd/etcd_client.hpp"
#include "processpype/etcd/etcd_watch.hpp"

namespace processpype::etcd::internal {

using json = nlohmann::json;

/// An answer that does not have the gateway's shape: what is wrong with it.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// -- reading (throw DecodeError) ------------------------------------------------

/// `object[name]` as a signed 64-bit integer (a JSON string or number); 0
/// when absent, as protobuf's JSON leaves out zero values.
std::int64_t integer_field(const json& object, std::string_view name);
/// The same for unsigned 64-bit fields (member ids).
std::uint64_t unsigned_field(const json& object, std::string_view name);
/// `object[name]` as bytes from base64; "" when absent.
std::string bytes_field(const json& object, std::string_view name);
/// `object[name]` as a boolean; false when absent.
bool boolean_field(const json& object, std::string_view name);
/// `object[name]` as an object; an empty object when absent.
const json& object_field(const json& object, std::string_view name);
/// `answer["header"]["revision"]`.
std::int64_t header_revision(const json& answer);

KeyValue decode_key_value(const json& object);
/// `object["kvs"]`, none when absent.
std::vector<KeyValue> decode_key_values(const json& object);
WatchEvent decode_event(const json& object);
OperationResult decode_operation_result(const json& object);

// -- writing --------------------------------------------------------------------

/// A 64-bit integer as the gateway writes it: a string.
inline std::string integer_text(std::int64_t value) {
  return std::to_string(value);
}
json encode(const Compare& compare);
json encode(const Operation& operation);
/// {"key": ...} plus "range_end" when given.
json key_range(const std::string& key, const std::string& range_end = {});

}  // namespace processpype::etcd::internal
