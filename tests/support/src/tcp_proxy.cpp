#include "processpype/testing/tcp_proxy.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "processpype/testing/process.hpp"

namespace processpype::testing {

namespace {

constexpr int poll_interval_ms = 100;

std::runtime_error system_failure(const std::string& call) {
  return std::runtime_error("TcpProxy: " + call + ": " + std::strerror(errno));
}

/// `host`:`port` (dotted IPv4) as a socket address.
sockaddr_in address_of(const std::string& host, int port) {
  auto address = loopback_address(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1)
    throw std::runtime_error("TcpProxy: not an IPv4 address: " + host);
  return address;
}

int listen_on(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw system_failure("socket");
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  auto address = address_of(host, port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 64) != 0) {
    ::close(fd);
    throw system_failure("bind/listen on port " + std::to_string(port));
  }
  return fd;
}

int bound_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw system_failure("getsockname");
  return ntohs(address.sin_port);
}

/// A blocking connection to `host`:`port`; -1 when refused.
int connect_to(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  auto address = address_of(host, port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Closes `fd`; `reset`: with an RST instead of a FIN (SO_LINGER 0).
void close_socket(int fd, bool reset) {
  if (fd < 0) return;
  if (reset) {
    linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  }
  ::close(fd);
}

bool send_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    auto sent = ::send(fd, data, size, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

/// The bytes of an answer's first chunk that pass before the cut.
std::size_t passing(std::string_view answer, TcpProxy::Cut cut) {
  constexpr std::size_t status_line_and_more = 24;  // "HTTP/1.1 200 OK\r\n" and 7 bytes
  switch (cut) {
    case TcpProxy::Cut::before_answer:
      return 0;
    case TcpProxy::Cut::in_head:
      return std::min(status_line_and_more, answer.size());
    case TcpProxy::Cut::in_body: {
      auto head_end = answer.find("\r\n\r\n");
      return head_end == std::string_view::npos ? answer.size()
                                                : std::min(head_end + 5, answer.size());
    }
  }
  return 0;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : TcpProxy(target_port, "127.0.0.1", "127.0.0.1") {}

TcpProxy::TcpProxy(int target_port, std::string listen_host, std::string target_host)
    : listen_host_(std::move(listen_host)),
      target_host_(std::move(target_host)),
      target_port_(target_port) {
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) throw system_failure("pipe2");
  listener_ = listen_on(listen_host_, 0);
  port_ = bound_port(listener_);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake();
  thread_.join();
  for (auto& link : links_) close_link(link, true);
  close_socket(listener_, false);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

std::string TcpProxy::endpoint() const {
  return "http://" + listen_host_ + ":" + std::to_string(port_);
}

void TcpProxy::set_mode(Mode mode) {
  std::unique_lock lock{mutex_};
  requested_ = mode;
  auto generation = ++request_generation_;
  wake();
  applied_.wait(lock, [&] { return applied_generation_ >= generation; });
}

void TcpProxy::drop_next_answer(std::string request_start, Cut cut) {
  std::lock_guard lock{mutex_};
  drop_next_answer_ = true;
  drop_request_start_ = std::move(request_start);
  drop_cut_ = cut;
}

std::uint64_t TcpProxy::connections() const {
  std::lock_guard lock{mutex_};
  return connections_;
}

void TcpProxy::wake() {
  char byte = 1;
  [[maybe_unused]] auto ignored = ::write(wake_pipe_[1], &byte, 1);
}

void TcpProxy::run() {
  Mode mode = Mode::forward;
  for (;;) {
    {
      std::unique_lock lock{mutex_};
      if (stopping_) return;
      if (applied_generation_ != request_generation_) {
        mode = requested_;
        lock.unlock();
        apply(mode);
        lock.lock();
        applied_mode_ = mode;
        applied_generation_ = request_generation_;
        applied_.notify_all();
      }
    }
    std::vector<pollfd> waits{{wake_pipe_[0], POLLIN, 0}};
    if (listener_ >= 0) waits.push_back({listener_, POLLIN, 0});
    std::size_t first_link = waits.size();
    if (mode == Mode::forward)
      for (const auto& link : links_) {
        waits.push_back({link.client, POLLIN, 0});
        waits.push_back({link.server, POLLIN, 0});
      }
    if (::poll(waits.data(), waits.size(), poll_interval_ms) <= 0) continue;
    char drained[64];
    while (::read(wake_pipe_[0], drained, sizeof drained) > 0) {
    }
    if (listener_ >= 0 && waits[1].revents != 0) accept_one();
    if (mode != Mode::forward) continue;
    // The links polled are the first ones of links_ (accept_one appends).
    for (std::size_t index = 0; (first_link + 2 * index + 1) < waits.size(); ++index) {
      auto& link = links_[index];
      bool alive = true;
      if (waits[first_link + 2 * index].revents != 0) alive = relay(link, true);
      if (alive && waits[first_link + 2 * index + 1].revents != 0) alive = relay(link, false);
      if (!alive) close_link(link, false);
    }
    links_.erase(std::remove_if(links_.begin(), links_.end(),
                                [](const Link& link) { return link.client < 0; }),
                 links_.end());
  }
}

void TcpProxy::apply(Mode mode) {
  if (mode == Mode::refuse) {
    for (auto& link : links_) close_link(link, true);
    links_.clear();
    close_socket(listener_, false);
    listener_ = -1;
    return;
  }
  if (listener_ < 0) listener_ = listen_on(listen_host_, port_);
  if (mode != Mode::forward) return;
  for (auto& link : links_)
    if (link.server < 0) {
      link.server = connect_to(target_host_, target_port_);
      if (link.server < 0) close_link(link, true);
    }
  links_.erase(std::remove_if(links_.begin(), links_.end(),
                              [](const Link& link) { return link.client < 0; }),
               links_.end());
}

void TcpProxy::accept_one() {
  int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
  if (client < 0) return;
  Mode mode;
  {
    std::lock_guard lock{mutex_};
    ++connections_;
    mode = applied_mode_;
  }
  Link link{client, -1};
  if (mode == Mode::forward) {
    link.server = connect_to(target_host_, target_port_);
    if (link.server < 0) {
      close_socket(client, true);  // the server refuses: so does the proxy
      return;
    }
  }
  links_.push_back(link);
}

bool TcpProxy::relay(Link& link, bool from_client) {
  char buffer[64 * 1024];
  int from = from_client ? link.client : link.server;
  int to = from_client ? link.server : link.client;
  auto received = ::recv(from, buffer, sizeof buffer, 0);
  if (received <= 0) return false;
  std::string_view data(buffer, static_cast<std::size_t>(received));
  if (from_client && data.substr(0, 5) == "POST ") link.last_request = data.substr(0, 200);
  if (!from_client) {
    std::lock_guard lock{mutex_};
    if (drop_next_answer_ && link.last_request.starts_with(drop_request_start_)) {
      drop_next_answer_ = false;
      auto passed = passing(data, drop_cut_);
      send_all(to, buffer, passed);
      close_link(link, passed == 0);  // a reset would discard what passed
      return false;
    }
  }
  return send_all(to, buffer, static_cast<std::size_t>(received));
}

void TcpProxy::close_link(Link& link, bool reset) {
  close_socket(link.client, reset);
  close_socket(link.server, reset);
  link.client = -1;
  link.server = -1;
}

}  // namespace processpype::testing
