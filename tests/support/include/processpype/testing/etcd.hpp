#pragma once

// Real etcd servers for the tests (the store of docs/cluster.md): `etcd`
// (Debian etcd-server) as child processes on 127.0.0.1, one member or
// several forming a cluster, data on /dev/shm (else the temporary
// directory), each member's log kept for failure messages. Members stop
// (SIGTERM), die (SIGKILL), freeze (SIGSTOP) and start again on the same
// data and ports. Optionally https client URLs with a throwaway PKI
// (processpype/testing/tls.hpp).

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "processpype/testing/process.hpp"
#include "processpype/testing/tls.hpp"

namespace processpype::testing {

struct EtcdClusterOptions {
  /// Members e0, e1, ... of one cluster (--initial-cluster names them all).
  int members = 1;
  /// https client URLs; the peers still talk http.
  bool tls = false;
  /// With tls: clients must present a certificate signed by the CA.
  bool client_certificate_auth = false;
  /// Appended to every member's arguments, e.g.
  /// {"--experimental-watch-progress-notify-interval", "1s"}.
  std::vector<std::string> extra_args{};
  /// How long every member gets to answer GET /health with "true".
  std::chrono::milliseconds ready_timeout = 20s;
};

/// The PEM files of a cluster with TLS.
struct EtcdTlsFiles {
  std::string ca{};                  ///< the CA that signed the servers' certificates
  std::string client_certificate{};  ///< signed by that CA (clientAuth)
  std::string client_key{};
  std::string other_ca{};  ///< a CA that signed nothing of this cluster
};

/// One etcd process of an EtcdCluster.
class EtcdMember {
 public:
  EtcdMember(std::string name, std::filesystem::path data_directory, bool tls);
  ~EtcdMember();
  EtcdMember(const EtcdMember&) = delete;
  EtcdMember& operator=(const EtcdMember&) = delete;

  const std::string& name() const { return name_; }
  int client_port() const { return client_port_; }
  int peer_port() const { return peer_port_; }
  /// "http://127.0.0.1:<client port>" (https with TLS).
  std::string endpoint() const;
  std::string peer_url() const;
  const std::filesystem::path& data_directory() const { return data_directory_; }

  /// Starts etcd with `args` (the cluster's flags; the same on each start)
  /// and returns at once. No-op while it runs.
  void start();
  bool running();
  pid_t pid() const;
  /// SIGTERM, then waits up to `timeout` (SIGKILL after it); false when it
  /// had to be killed.
  bool stop(std::chrono::milliseconds timeout = 10s);
  /// SIGKILL: dies at once, as in a crash.
  void kill();
  /// SIGSTOP / SIGCONT: frozen, its sockets still accept connections.
  void freeze();
  void thaw();
  /// Everything every run of it wrote (its log goes to stderr).
  std::string log() const;

 private:
  friend class EtcdCluster;
  void choose_ports();

  std::string name_;
  std::filesystem::path data_directory_;
  bool tls_;
  int client_port_ = 0;
  int peer_port_ = 0;
  std::vector<std::string> args_;
  std::unique_ptr<ChildProcess> process_;
  std::string past_logs_;
};

/// A cluster of etcd members on 127.0.0.1, started by the constructor and
/// ready (every member answers GET /health with "true"), killed and its
/// data removed by the destructor. A port that another process took
/// meanwhile makes it start again on new ports (at most 3 times). Throws
/// std::runtime_error with the members' logs when it does not become
/// ready; prints them to stderr when destroyed while an exception (a
/// failed REQUIRE) is in flight.
class EtcdCluster {
 public:
  explicit EtcdCluster(EtcdClusterOptions options = {});
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  std::size_t size() const { return members_.size(); }
  EtcdMember& member(std::size_t index) { return *members_.at(index); }
  /// Every member's client URL, in member order.
  std::vector<std::string> endpoints() const;
  /// The files of the cluster's TLS; nullopt without TLS.
  const std::optional<EtcdTlsFiles>& tls() const { return tls_files_; }

  /// Whether member `index` answers GET /health with "true" (it is part of
  /// a cluster with a leader), probed once.
  bool healthy(std::size_t index);
  /// Waits until every running member is healthy (at least one runs); ""
  /// then, else why not.
  std::string wait_until_healthy(std::chrono::milliseconds timeout);
  /// Stops member `index` (SIGTERM), starts it again on its data and ports,
  /// and waits until it is healthy (throws std::runtime_error otherwise).
  void restart(std::size_t index);

  /// Every member's log (the end of it), for failure messages.
  std::string logs(std::size_t max_bytes_each = 6000) const;

 private:
  void configure_members();
  /// Waits until every running member (every member: `every_member`) is
  /// healthy; "" then, else why not.
  std::string wait_for_members(std::chrono::milliseconds timeout, bool every_member);
  void make_certificates();

  EtcdClusterOptions options_;
  std::filesystem::path root_;
  std::unique_ptr<TestPki> pki_;
  std::optional<EtcdTlsFiles> tls_files_;
  std::string token_;
  std::vector<std::unique_ptr<EtcdMember>> members_;
};

/// The path of the `etcd` binary; throws std::runtime_error naming the
/// package when it is not installed.
std::string etcd_binary();

}  // namespace processpype::testing
