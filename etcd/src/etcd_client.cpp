#include "processpype/etcd/etcd_client.hpp"

#include "gateway.hpp"
#include "gateway_json.hpp"
#include "processpype/etcd/base64.hpp"
#include "processpype/etcd/etcd_watch.hpp"

namespace processpype::etcd {

using internal::DecodeError;
using internal::integer_text;
using internal::json;
using internal::Resend;

namespace {

/// gRPC's NOT_FOUND, what etcd answers for an unknown lease.
constexpr int not_found_code = 5;

/// The answer of a lease call carries its own error text (LeaseGrantResponse.error).
void check_lease_error(const json& answer, const std::string& endpoint, std::string_view path) {
  auto error = answer.value("error", std::string());
  if (!error.empty())
    throw StoreError(StoreError::Kind::rejected,
                     "etcd " + endpoint + std::string(path) + ": rejected: " + error, error);
}

}  // namespace

// ---------------------------------------------------------------------------
// StoreError

StoreError::StoreError(Kind kind, const std::string& what, std::string etcd_message, int code,
                       bool outcome_unknown)
    : std::runtime_error(what),
      kind_(kind),
      etcd_message_(std::move(etcd_message)),
      code_(code),
      outcome_unknown_(outcome_unknown) {}

std::string_view to_string(StoreError::Kind kind) noexcept {
  switch (kind) {
    case StoreError::Kind::unreachable:
      return "unreachable";
    case StoreError::Kind::rejected:
      return "rejected";
    case StoreError::Kind::malformed:
      return "malformed";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Compare and Operation

Compare Compare::absent(std::string key) {
  return create_revision(std::move(key), equal, 0);
}

Compare Compare::present(std::string key) {
  return create_revision(std::move(key), greater, 0);
}

Compare Compare::version(std::string key, Result result, std::int64_t version) {
  return {std::move(key), Target::version, result, version, {}};
}

Compare Compare::create_revision(std::string key, Result result, std::int64_t revision) {
  return {std::move(key), Target::create_revision, result, revision, {}};
}

Compare Compare::mod_revision(std::string key, Result result, std::int64_t revision) {
  return {std::move(key), Target::mod_revision, result, revision, {}};
}

Compare Compare::value(std::string key, Result result, std::string value) {
  return {std::move(key), Target::value, result, 0, std::move(value)};
}

Compare Compare::lease(std::string key, Result result, std::int64_t lease) {
  return {std::move(key), Target::lease, result, lease, {}};
}

Operation Operation::put(std::string key, std::string value, std::int64_t lease) {
  return {Kind::put, std::move(key), {}, std::move(value), lease};
}

Operation Operation::erase(std::string key) {
  return {Kind::erase, std::move(key), {}, {}, 0};
}

Operation Operation::erase_prefix(std::string prefix) {
  auto end = prefix_end(prefix);
  return {Kind::erase, std::move(prefix), std::move(end), {}, 0};
}

Operation Operation::range(std::string key) {
  return {Kind::range, std::move(key), {}, {}, 0};
}

Operation Operation::range_prefix(std::string prefix) {
  auto end = prefix_end(prefix);
  return {Kind::range, std::move(prefix), std::move(end), {}, 0};
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = end.back();
    if (static_cast<unsigned char>(last) != 0xff) {
      last = static_cast<char>(static_cast<unsigned char>(last) + 1);
      return end;
    }
    end.pop_back();  // no key after "...\xff" of this length: shorten it
  }
  return std::string(1, '\0');  // every key
}

// ---------------------------------------------------------------------------
// Client

Client::Client(ClientOptions options)
    : gateway_(std::make_shared<internal::Gateway>(std::move(options))) {}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

std::int64_t Client::put(const std::string& key, const std::string& value, std::int64_t lease) {
  json body = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) body["lease"] = integer_text(lease);
  std::int64_t revision = 0;
  gateway_->call("/v3/kv/put", body, Resend::never, [&](const json& answer, const std::string&) {
    revision = internal::header_revision(answer);
  });
  return revision;
}

RangeResult Client::range(const std::string& key) {
  RangeResult result;
  gateway_->call("/v3/kv/range", internal::key_range(key), Resend::always,
                 [&](const json& answer, const std::string&) {
                   result.kvs = internal::decode_key_values(answer);
                   result.revision = internal::header_revision(answer);
                 });
  return result;
}

RangeResult Client::range_prefix(const std::string& prefix) {
  RangeResult result;
  gateway_->call("/v3/kv/range", internal::key_range(prefix, prefix_end(prefix)), Resend::always,
                 [&](const json& answer, const std::string&) {
                   result.kvs = internal::decode_key_values(answer);
                   result.revision = internal::header_revision(answer);
                 });
  return result;
}

Erased Client::erase(const std::string& key) {
  Erased result;
  gateway_->call("/v3/kv/deleterange", internal::key_range(key), Resend::never,
                 [&](const json& answer, const std::string&) {
                   result.deleted = internal::integer_field(answer, "deleted");
                   result.revision = internal::header_revision(answer);
                 });
  return result;
}

Erased Client::erase_prefix(const std::string& prefix) {
  Erased result;
  gateway_->call("/v3/kv/deleterange", internal::key_range(prefix, prefix_end(prefix)),
                 Resend::never, [&](const json& answer, const std::string&) {
                   result.deleted = internal::integer_field(answer, "deleted");
                   result.revision = internal::header_revision(answer);
                 });
  return result;
}

TxnResult Client::txn(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                      const std::vector<Operation>& failure) {
  json body = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& compare : compares) body["compare"].push_back(internal::encode(compare));
  for (const auto& operation : success) body["success"].push_back(internal::encode(operation));
  for (const auto& operation : failure) body["failure"].push_back(internal::encode(operation));
  TxnResult result;
  gateway_->call("/v3/kv/txn", body, Resend::never, [&](const json& answer, const std::string&) {
    result.succeeded = internal::boolean_field(answer, "succeeded");
    result.revision = internal::header_revision(answer);
    if (!answer.contains("responses")) return;
    const auto& responses = answer["responses"];
    if (!responses.is_array()) throw DecodeError("responses is not an array");
    for (const auto& response : responses)
      result.responses.push_back(internal::decode_operation_result(response));
  });
  return result;
}

std::int64_t Client::compact(std::int64_t revision) {
  std::int64_t current = 0;
  gateway_->call(
      "/v3/kv/compaction", {{"revision", integer_text(revision)}}, Resend::never,
      [&](const json& answer, const std::string&) { current = internal::header_revision(answer); });
  return current;
}

Lease Client::grant(std::int64_t ttl_seconds) {
  Lease lease;
  gateway_->call("/v3/lease/grant", {{"TTL", integer_text(ttl_seconds)}}, Resend::always,
                 [&](const json& answer, const std::string& endpoint) {
                   check_lease_error(answer, endpoint, "/v3/lease/grant");
                   lease.id = internal::integer_field(answer, "ID");
                   lease.ttl = internal::integer_field(answer, "TTL");
                   if (lease.id == 0) throw DecodeError("a granted lease without ID");
                 });
  return lease;
}

std::optional<std::int64_t> Client::keep_alive(std::int64_t lease_id) {
  std::optional<std::int64_t> ttl;
  gateway_->call("/v3/lease/keepalive", {{"ID", integer_text(lease_id)}}, Resend::always,
                 [&](const json& answer, const std::string&) {
                   // A stream of one answer: {"result": {...}}. An unknown or
                   // expired lease answers without TTL (zero is left out).
                   auto remaining =
                       internal::integer_field(internal::object_field(answer, "result"), "TTL");
                   if (remaining > 0) ttl = remaining;
                 });
  return ttl;
}

std::optional<std::int64_t> Client::time_to_live(std::int64_t lease_id) {
  std::optional<std::int64_t> ttl;
  gateway_->call("/v3/lease/timetolive", {{"ID", integer_text(lease_id)}}, Resend::always,
                 [&](const json& answer, const std::string&) {
                   // An unknown lease has TTL -1.
                   auto remaining = internal::integer_field(answer, "TTL");
                   if (remaining >= 0) ttl = remaining;
                 });
  return ttl;
}

bool Client::revoke(std::int64_t lease_id) {
  try {
    gateway_->call("/v3/lease/revoke", {{"ID", integer_text(lease_id)}}, Resend::always,
                   [](const json&, const std::string&) {});
    return true;
  } catch (const StoreError& error) {
    if (error.kind() == StoreError::Kind::rejected && error.code() == not_found_code) return false;
    throw;
  }
}

MemberStatus Client::status() {
  MemberStatus status;
  gateway_->call("/v3/maintenance/status", json::object(), Resend::always,
                 [&](const json& answer, const std::string& endpoint) {
                   const auto& header = internal::object_field(answer, "header");
                   status.endpoint = endpoint;
                   status.member_id = internal::unsigned_field(header, "member_id");
                   status.revision = internal::integer_field(header, "revision");
                   status.leader = internal::unsigned_field(answer, "leader");
                   status.version = answer.value("version", std::string());
                 });
  return status;
}

Watch Client::watch(WatchOptions options, WatchCallbacks callbacks) {
  return Watch(gateway_, std::move(options), std::move(callbacks));
}

std::uint64_t Client::requests_sent() const noexcept {
  return gateway_->requests_sent();
}

std::string Client::current_endpoint() const {
  return gateway_->endpoint(gateway_->preferred());
}

}  // namespace processpype::etcd
