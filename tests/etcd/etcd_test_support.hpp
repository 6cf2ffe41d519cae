#pragma once

// What both etcd test files share: clients of a test cluster, a recorder of
// a watch's callbacks, and fake endpoints (a socket that never answers, a
// server that answers what etcd never would).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "processpype/etcd/etcd_client.hpp"
#include "processpype/etcd/etcd_watch.hpp"
#include "processpype/testing/etcd.hpp"
#include "processpype/testing/silent_listener.hpp"

namespace processpype::etcd::test {

using namespace std::chrono_literals;
using testing::EtcdCluster;
using testing::SilentListener;
using testing::wait_until;

/// Client options for every endpoint of `cluster` (with its CA under TLS).
inline ClientOptions options_for(const EtcdCluster& cluster) {
  ClientOptions options;
  options.endpoints = cluster.endpoints();
  if (cluster.tls()) options.tls.ca = cluster.tls()->ca;
  return options;
}

/// Records what a watch hands its owner, for checks from the test's thread.
class WatchRecorder {
 public:
  struct Delivery {
    std::int64_t revision = 0;
    std::vector<WatchEvent> events;
  };

  /// Callbacks that record into this recorder (which must outlive the watch).
  WatchCallbacks callbacks() {
    WatchCallbacks callbacks;
    callbacks.on_events = [this](const std::vector<WatchEvent>& events, std::int64_t revision) {
      std::lock_guard lock{mutex_};
      deliveries_.push_back({revision, events});
    };
    callbacks.on_state = [this](bool connected) {
      std::lock_guard lock{mutex_};
      states_.push_back(connected);
    };
    return callbacks;
  }

  std::vector<Delivery> deliveries() const {
    std::lock_guard lock{mutex_};
    return deliveries_;
  }
  /// The revision of each delivery, in delivery order.
  std::vector<std::int64_t> revisions() const {
    std::lock_guard lock{mutex_};
    std::vector<std::int64_t> revisions;
    for (const auto& delivery : deliveries_) revisions.push_back(delivery.revision);
    return revisions;
  }
  std::size_t event_count() const {
    std::lock_guard lock{mutex_};
    std::size_t count = 0;
    for (const auto& delivery : deliveries_) count += delivery.events.size();
    return count;
  }
  std::vector<bool> states() const {
    std::lock_guard lock{mutex_};
    return states_;
  }
  /// The last state reported, or nullopt before any.
  std::optional<bool> last_state() const {
    std::lock_guard lock{mutex_};
    if (states_.empty()) return std::nullopt;
    return states_.back();
  }
  bool wait_for_events(std::size_t count, std::chrono::milliseconds timeout) const {
    return wait_until([&] { return event_count() >= count; }, timeout, 5ms);
  }
  bool wait_for_state(bool connected, std::chrono::milliseconds timeout) const {
    return wait_until([&] { return last_state() == connected; }, timeout, 5ms);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Delivery> deliveries_;
  std::vector<bool> states_;
};

/// Answers every connection with `response` (raw HTTP, as given) once the
/// request's head arrived, then closes it: an endpoint that is not etcd.
class CannedHttpServer : public SilentListener {
 public:
  explicit CannedHttpServer(std::string response)
      : response_(std::move(response)), thread_([this] { serve(); }) {}
  ~CannedHttpServer() {
    stopping_.store(true);
    thread_.join();
  }

 private:
  void serve() {
    while (!stopping_.load()) {
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, 20) <= 0) continue;
      int connection = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      answer(connection);
      ::close(connection);
    }
  }

  void answer(int connection) {
    std::string request;
    char buffer[4096];
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (request.find("\r\n\r\n") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd ready{connection, POLLIN, 0};
      if (::poll(&ready, 1, 20) <= 0) continue;
      auto received = ::recv(connection, buffer, sizeof buffer, 0);
      if (received <= 0) return;
      request.append(buffer, static_cast<std::size_t>(received));
    }
    std::string_view rest = response_;
    while (!rest.empty()) {
      auto sent = ::send(connection, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (sent <= 0) return;
      rest.remove_prefix(static_cast<std::size_t>(sent));
    }
  }

  std::string response_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

/// An HTTP/1.1 200 answer with `body` as JSON.
inline std::string json_answer(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace processpype::etcd::test
