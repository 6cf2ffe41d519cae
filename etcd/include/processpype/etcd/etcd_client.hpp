#pragma once

// A blocking client of etcd v3 through its JSON gateway (HTTP/1.1 POSTs of
// JSON to /v3/kv/*, /v3/lease/*, /v3/maintenance/status; keys and values
// base64 on the wire), over libcurl. The store of cluster instances
// (docs/cluster.md).
//
// Every call blocks for at most ClientOptions::request_timeout (plus a few
// milliseconds), so calls belong on threads of their own: never on a CAF
// worker or a RESTinio thread. A Client is thread-safe: each call borrows a
// libcurl handle from a small pool, whose connections stay open between
// calls.
//
// Failover: a call tries the endpoint that answered last, then the others
// in order, within one request_timeout in all. A write (put, txn, erase,
// compact) moves to another endpoint only when the first one certainly did
// not receive it (the connection could not be made); once sent and
// unanswered, its outcome is unknown (StoreError::outcome_unknown()), and
// only a read tells what happened. Reads and lease calls move on in every
// case. An endpoint that failed a call comes last for the calls after it,
// until another fails. Each attempt gets what is left of the timeout: an
// endpoint that accepts connections and never answers (a frozen member)
// costs the call that meets it its whole timeout.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace processpype::etcd {

using namespace std::chrono_literals;

/// TLS of `https://` endpoints (paths of PEM files).
struct TlsOptions {
  std::string ca{};           ///< the CA that signed the servers' certificates ("": the system's)
  std::string certificate{};  ///< a client certificate, for stores that require one ("": none)
  std::string key{};          ///< its private key (given with `certificate`)
};

struct ClientOptions {
  /// "http://host:port" or "https://host:port", tried in this order at first.
  std::vector<std::string> endpoints{};
  TlsOptions tls{};
  /// The most one call lasts, all endpoints and attempts included.
  std::chrono::milliseconds request_timeout = 2s;
  /// The most one attempt waits for a connection (TCP and TLS) to an endpoint.
  std::chrono::milliseconds connect_timeout = 1s;
  /// Called after every call with its duration and whether it succeeded
  /// (false: it threw StoreError), e.g. for a histogram of store latency.
  /// Runs on the calling thread; what it throws is ignored.
  std::function<void(std::chrono::nanoseconds duration, bool ok)> on_request{};
};

/// A call that failed. what() is one line naming the endpoint(s) and the
/// reason.
class StoreError : public std::runtime_error {
 public:
  enum class Kind {
    unreachable,  ///< no endpoint answered in time (refused, timeout, TLS failure)
    rejected,     ///< etcd answered with an error (etcd_message(), code())
    malformed,    ///< an answer that is not what etcd's gateway sends
  };

  StoreError(Kind kind, const std::string& what, std::string etcd_message = {}, int code = 0,
             bool outcome_unknown = false);

  Kind kind() const noexcept { return kind_; }
  /// rejected: etcd's message, e.g. "etcdserver: requested lease not found".
  const std::string& etcd_message() const noexcept { return etcd_message_; }
  /// rejected: the gRPC status code of etcd's answer (3 invalid argument,
  /// 5 not found, 11 out of range: compacted, 14 unavailable), else 0.
  int code() const noexcept { return code_; }
  /// unreachable: a write was sent and no answer came; it may have been
  /// applied. Read the keys again to know.
  bool outcome_unknown() const noexcept { return outcome_unknown_; }

 private:
  Kind kind_;
  std::string etcd_message_;
  int code_;
  bool outcome_unknown_;
};

/// "unreachable", "rejected" or "malformed".
std::string_view to_string(StoreError::Kind kind) noexcept;

/// A key as stored. A deleted key (in a watch event) has only `key` and
/// `mod_revision`.
struct KeyValue {
  std::string key{};
  std::string value{};
  std::int64_t create_revision = 0;  ///< the revision that created it
  std::int64_t mod_revision = 0;     ///< the revision of its last change
  std::int64_t version = 0;          ///< changes since it was created (1 after creation)
  std::int64_t lease = 0;            ///< the lease it is attached to, 0 for none

  bool operator==(const KeyValue&) const = default;
};

struct RangeResult {
  std::vector<KeyValue> kvs{};  ///< in key order
  std::int64_t revision = 0;    ///< the store's revision the read reflects
};

struct Lease {
  std::int64_t id = 0;
  std::int64_t ttl = 0;  ///< seconds; etcd raises a TTL below its minimum (2 s on loopback)
};

struct Erased {
  std::int64_t deleted = 0;   ///< keys deleted
  std::int64_t revision = 0;  ///< the store's revision after the call
};

/// One condition of a transaction: a key's field compared with a value.
/// A missing key has version, create_revision, mod_revision and lease 0.
struct Compare {
  enum class Target { version, create_revision, mod_revision, value, lease };
  enum Result { equal, not_equal, greater, less };

  std::string key{};
  Target target = Target::version;
  Result result = equal;
  std::int64_t number = 0;  ///< version, revisions and lease
  std::string text{};       ///< value

  /// The key does not exist (create_revision == 0).
  static Compare absent(std::string key);
  /// The key exists (create_revision > 0).
  static Compare present(std::string key);
  static Compare version(std::string key, Result result, std::int64_t version);
  static Compare create_revision(std::string key, Result result, std::int64_t revision);
  static Compare mod_revision(std::string key, Result result, std::int64_t revision);
  static Compare value(std::string key, Result result, std::string value);
  static Compare lease(std::string key, Result result, std::int64_t lease);
};

/// One operation of a transaction's branch.
struct Operation {
  enum class Kind { put, erase, range };

  Kind kind = Kind::range;
  std::string key{};
  std::string range_end{};  ///< "": the key alone; else the keys in [key, range_end)
  std::string value{};      ///< put
  std::int64_t lease = 0;   ///< put: the lease to attach the key to, 0 for none

  static Operation put(std::string key, std::string value, std::int64_t lease = 0);
  static Operation erase(std::string key);
  static Operation erase_prefix(std::string prefix);
  static Operation range(std::string key);
  static Operation range_prefix(std::string prefix);
};

/// What one operation of the branch that ran gave back.
struct OperationResult {
  Operation::Kind kind = Operation::Kind::range;
  std::vector<KeyValue> kvs{};  ///< range: the keys read
  std::int64_t deleted = 0;     ///< erase: keys deleted
};

struct TxnResult {
  bool succeeded = false;                    ///< every compare held: the success branch ran
  std::int64_t revision = 0;                 ///< the store's revision after the transaction
  std::vector<OperationResult> responses{};  ///< one per operation of the branch that ran
};

/// What one endpoint says of itself (/v3/maintenance/status).
struct MemberStatus {
  std::string endpoint{};
  std::uint64_t member_id = 0;
  std::uint64_t leader = 0;  ///< the member id of the cluster's leader, 0 for none
  std::int64_t revision = 0;
  std::string version{};  ///< etcd's version, e.g. "3.4.23"
};

/// The smallest key after every key that starts with `prefix`: the
/// range_end of a prefix ("\0" for the empty prefix: every key).
std::string prefix_end(std::string_view prefix);

class Watch;
struct WatchOptions;
struct WatchCallbacks;

namespace internal {
class Gateway;
}

class Client {
 public:
  /// Throws std::invalid_argument when the options cannot work (no
  /// endpoint, an unknown scheme, a TLS file that cannot be read, a
  /// certificate without its key, a timeout not above zero). Connects
  /// lazily: an unreachable store fails the first call, not this.
  explicit Client(ClientOptions options);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // -- keys -------------------------------------------------------------------
  /// Writes `key`; the revision of the write.
  std::int64_t put(const std::string& key, const std::string& value, std::int64_t lease = 0);
  RangeResult range(const std::string& key);
  RangeResult range_prefix(const std::string& prefix);
  Erased erase(const std::string& key);
  Erased erase_prefix(const std::string& prefix);
  /// Runs `success` if every compare holds, else `failure`, atomically.
  TxnResult txn(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                const std::vector<Operation>& failure = {});
  /// Discards the history before `revision` (a watch from an older revision
  /// is told to resynchronize). The store's revision.
  std::int64_t compact(std::int64_t revision);

  // -- leases -----------------------------------------------------------------
  Lease grant(std::int64_t ttl_seconds);
  /// Renews the lease once: its TTL again, in seconds; nullopt when the
  /// lease no longer exists (expired or revoked).
  std::optional<std::int64_t> keep_alive(std::int64_t lease_id);
  /// The seconds left before the lease expires without renewal; nullopt
  /// when it no longer exists.
  std::optional<std::int64_t> time_to_live(std::int64_t lease_id);
  /// Revokes the lease (its keys are deleted with it); false when it did
  /// not exist (any more).
  bool revoke(std::int64_t lease_id);

  // -- the store --------------------------------------------------------------
  /// The status of the endpoint that answers.
  MemberStatus status();
  /// Starts a watch on its own thread (see processpype/etcd/etcd_watch.hpp);
  /// it shares this client's endpoints, TLS and request counter, and may
  /// outlive the client.
  Watch watch(WatchOptions options, WatchCallbacks callbacks);

  /// HTTP requests sent so far by this client and its watches (each attempt
  /// on each endpoint counts).
  std::uint64_t requests_sent() const noexcept;
  /// The endpoint that answered last (the first endpoint before any answer).
  std::string current_endpoint() const;

 private:
  std::shared_ptr<internal::Gateway> gateway_;
};

}  // namespace processpype::etcd
