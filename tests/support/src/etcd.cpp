#include "processpype/testing/etcd.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>

#include "processpype/testing/http.hpp"

namespace processpype::testing {

namespace {

/// A fresh directory for the members' data: on /dev/shm (tmpfs: etcd's
/// fsyncs cost nothing), else under the temporary directory.
std::filesystem::path make_data_root() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string temporary = (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
  for (const std::string& base : {std::string("/dev/shm"), temporary}) {
    std::string pattern = base + "/processpype-etcd.XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) return pattern;
  }
  throw std::runtime_error(std::string("cannot create a directory for etcd's data: ") +
                           std::strerror(errno));
}

std::string random_token() {
  std::random_device device;
  return "processpype-test-" + std::to_string(device()) + "-" + std::to_string(device());
}

std::string tail(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  return "..." + text.substr(text.size() - max_bytes);
}

bool port_was_taken(const std::string& log) {
  return log.find("address already in use") != std::string::npos;
}

}  // namespace

std::string etcd_binary() {
  auto etcd = find_program("etcd");
  if (!etcd)
    throw std::runtime_error(
        "the etcd binary is not on the PATH: install the Debian package etcd-server "
        "(scripts/install-dependencies.sh)");
  return *etcd;
}

// ---------------------------------------------------------------------------
// EtcdMember

EtcdMember::EtcdMember(std::string name, std::filesystem::path data_directory, bool tls)
    : name_(std::move(name)), data_directory_(std::move(data_directory)), tls_(tls) {
  choose_ports();
}

EtcdMember::~EtcdMember() {
  kill();
}

void EtcdMember::choose_ports() {
  client_port_ = free_port();
  peer_port_ = free_port();
}

std::string EtcdMember::endpoint() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(client_port_);
}

std::string EtcdMember::peer_url() const {
  return "http://127.0.0.1:" + std::to_string(peer_port_);
}

void EtcdMember::start() {
  if (running()) return;
  if (process_) past_logs_ += process_->stderr_text();
  process_ = std::make_unique<ChildProcess>(etcd_binary(), args_);
}

bool EtcdMember::running() {
  return process_ && process_->alive();
}

pid_t EtcdMember::pid() const {
  return process_ ? process_->pid() : -1;
}

bool EtcdMember::stop(std::chrono::milliseconds timeout) {
  if (!running()) return true;
  process_->signal(SIGCONT);  // a frozen member cannot act on SIGTERM
  process_->signal(SIGTERM);
  if (!process_->wait(timeout).timed_out()) return true;
  process_->kill();
  return false;
}

void EtcdMember::kill() {
  if (process_) process_->kill();
}

void EtcdMember::freeze() {
  if (running()) process_->signal(SIGSTOP);
}

void EtcdMember::thaw() {
  if (running()) process_->signal(SIGCONT);
}

std::string EtcdMember::log() const {
  return past_logs_ + (process_ ? process_->stderr_text() : std::string());
}

// ---------------------------------------------------------------------------
// EtcdCluster

EtcdCluster::EtcdCluster(EtcdClusterOptions options)
    : options_(std::move(options)), root_(make_data_root()), token_(random_token()) {
  if (options_.members < 1) throw std::invalid_argument("an etcd cluster needs a member");
  try {
    if (options_.tls) make_certificates();
    for (int index = 0; index < options_.members; ++index) {
      auto name = "e" + std::to_string(index);
      members_.push_back(std::make_unique<EtcdMember>(name, root_ / name, options_.tls));
    }
    constexpr int attempts = 3;
    for (int attempt = 1;; ++attempt) {
      configure_members();
      // All at once: the members of a new cluster wait for each other.
      for (auto& member : members_) member->start();
      auto reason = wait_for_members(options_.ready_timeout, true);
      if (reason.empty()) return;
      bool taken = false;
      for (const auto& member : members_) taken = taken || port_was_taken(member->log());
      if (!taken || attempt == attempts)
        throw std::runtime_error("etcd did not become ready: " + reason + "\n" + logs());
      // free_port races other processes: start over on new ports.
      for (auto& member : members_) {
        member->kill();
        std::filesystem::remove_all(member->data_directory());
        member->choose_ports();
      }
    }
  } catch (...) {
    members_.clear();
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
    throw;
  }
}

EtcdCluster::~EtcdCluster() {
  if (std::uncaught_exceptions() > 0)
    std::fprintf(stderr, "--- etcd logs (the test failed) ---\n%s\n", logs().c_str());
  members_.clear();  // kills every member before its data goes
  std::error_code ignored;
  std::filesystem::remove_all(root_, ignored);
}

void EtcdCluster::make_certificates() {
  pki_ = std::make_unique<TestPki>();
  pki_->make_ca("etcd-ca");
  // etcd's JSON gateway connects to its own gRPC server with the server's
  // certificate: under --client-cert-auth it must be a client certificate too.
  if (options_.client_certificate_auth)
    pki_->make_server_and_client("etcd-server", "etcd-ca", 1);
  else
    pki_->make_server("etcd-server", "etcd-ca", 1);
  pki_->make_client("etcd-client", "etcd-ca", 2);
  pki_->make_ca("other-ca");
  tls_files_ = EtcdTlsFiles{pki_->certificate("etcd-ca"), pki_->certificate("etcd-client"),
                            pki_->key("etcd-client"), pki_->certificate("other-ca")};
}

void EtcdCluster::configure_members() {
  std::string initial_cluster;
  for (const auto& member : members_)
    initial_cluster +=
        (initial_cluster.empty() ? "" : ",") + member->name() + "=" + member->peer_url();
  for (auto& member : members_) {
    std::vector<std::string> args = {"--name",
                                     member->name(),
                                     "--data-dir",
                                     member->data_directory().string(),
                                     "--listen-client-urls",
                                     member->endpoint(),
                                     "--advertise-client-urls",
                                     member->endpoint(),
                                     "--listen-peer-urls",
                                     member->peer_url(),
                                     "--initial-advertise-peer-urls",
                                     member->peer_url(),
                                     "--initial-cluster",
                                     initial_cluster,
                                     "--initial-cluster-token",
                                     token_,
                                     "--initial-cluster-state",
                                     "new",
                                     "--logger",
                                     "zap",
                                     "--log-outputs",
                                     "stderr"};
    if (options_.tls) {
      args.insert(args.end(), {"--cert-file", pki_->certificate("etcd-server"), "--key-file",
                               pki_->key("etcd-server")});
      if (options_.client_certificate_auth)
        args.insert(args.end(),
                    {"--client-cert-auth", "--trusted-ca-file", pki_->certificate("etcd-ca")});
    }
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    member->args_ = std::move(args);
  }
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> urls;
  for (const auto& member : members_) urls.push_back(member->endpoint());
  return urls;
}

bool EtcdCluster::healthy(std::size_t index) {
  auto& member = *members_.at(index);
  HttpResponse response;
  if (tls_files_) {
    TlsClientOptions tls{tls_files_->ca, tls_files_->client_certificate, tls_files_->client_key};
    HttpsClient client(member.client_port(), tls, 1s);
    response = client.get("/health");
  } else {
    HttpClient client(member.client_port(), "", 1s);
    response = client.get("/health");
  }
  return response.status == 200 && response.field("health") == "true";
}

std::string EtcdCluster::wait_until_healthy(std::chrono::milliseconds timeout) {
  return wait_for_members(timeout, false);
}

std::string EtcdCluster::wait_for_members(std::chrono::milliseconds timeout, bool every_member) {
  std::string reason;
  bool ready = wait_until(
      [&] {
        bool any_running = false;
        for (std::size_t index = 0; index < members_.size(); ++index) {
          auto& member = *members_[index];
          if (!member.running()) {
            if (!every_member) continue;
            reason = "member " + member.name() + " exited";
            return true;  // waiting longer changes nothing
          }
          any_running = true;
          if (!healthy(index)) {
            reason = "member " + member.name() + " does not answer GET /health with true";
            return false;
          }
        }
        if (!any_running) {
          reason = "no member is running";
          return true;
        }
        reason.clear();
        return true;
      },
      timeout, 50ms);
  if (!ready && !reason.empty()) reason += " after " + std::to_string(timeout.count()) + " ms";
  return reason;
}

void EtcdCluster::restart(std::size_t index) {
  auto& member = *members_.at(index);
  member.stop();
  member.start();
  auto reason = wait_for_members(options_.ready_timeout, false);
  if (!reason.empty())
    throw std::runtime_error("etcd member " + member.name() + " did not come back: " + reason +
                             "\n" + logs());
}

std::string EtcdCluster::logs(std::size_t max_bytes_each) const {
  std::string text;
  for (const auto& member : members_)
    text += "--- etcd " + member->name() + " (" + member->endpoint() + ") ---\n" +
            tail(member->log(), max_bytes_each) + "\n";
  return text;
}

}  // namespace processpype::testing
