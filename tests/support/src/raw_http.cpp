#include "processpype/testing/raw_http.hpp"

#include "curl_helpers.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace processpype::testing {

namespace {

using internal::lowercase;
using internal::trim;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

/// Parses the status line and headers of `head` (without the blank line).
void parse_head(const std::string& head, RawResponse& response) {
  response.head = head;
  auto lines = lines_of(head);
  if (lines.empty()) return;
  const auto& status_line = lines.front();
  auto space = status_line.find(' ');
  if (status_line.rfind("HTTP/", 0) != 0 || space == std::string::npos) return;
  response.status = std::atoi(status_line.c_str() + space + 1);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    auto name = lowercase(trim(lines[i].substr(0, colon)));
    auto value = trim(lines[i].substr(colon + 1));
    auto& slot = response.headers[name];
    slot = slot.empty() ? value : slot + ", " + value;
  }
}

/// De-chunks `data`: the body and the bytes consumed once the last chunk
/// came, or nullopt while it is incomplete.
std::optional<std::pair<std::string, std::size_t>> dechunk(const std::string& data) {
  std::string body;
  std::size_t position = 0;
  while (true) {
    auto line_end = data.find("\r\n", position);
    if (line_end == std::string::npos) return std::nullopt;
    auto size = std::strtoull(data.substr(position, line_end - position).c_str(), nullptr, 16);
    position = line_end + 2;
    if (size == 0) {
      // Trailers (none expected) end with an empty line.
      auto end = data.find("\r\n", position);
      while (end != std::string::npos && end != position) {
        position = end + 2;
        end = data.find("\r\n", position);
      }
      if (end == std::string::npos) return std::nullopt;
      return std::make_pair(body, end + 2);
    }
    if (data.size() < position + size + 2) return std::nullopt;
    body.append(data, position, size);
    position += size + 2;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// RawResponse

std::string RawResponse::header(const std::string& name) const {
  auto found = headers.find(lowercase(name));
  return found == headers.end() ? "" : found->second;
}

std::string RawResponse::detail() const {
  if (!is_json() || !body_json.is_object() || !body_json.contains("detail") ||
      !body_json["detail"].is_string())
    return "";
  return body_json["detail"].get<std::string>();
}

std::string RawResponse::describe() const {
  if (status == 0) return "no response (head so far: " + head.substr(0, 200) + ")";
  std::string text = "HTTP " + std::to_string(status) + (complete ? "" : " (incomplete)") +
                     " body: " + body.substr(0, 400);
  if (body.size() > 400) text += "...(" + std::to_string(body.size()) + " bytes)";
  return text;
}

// ---------------------------------------------------------------------------
// RawConnection

RawConnection::RawConnection(int port, std::chrono::milliseconds timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto address = loopback_address(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (errno != EINPROGRESS) {
      int error = errno;
      close();
      throw std::runtime_error("connect to port " + std::to_string(port) + ": " +
                               std::strerror(error));
    }
    pollfd entry{fd_, POLLOUT, 0};
    int ready = ::poll(&entry, 1, static_cast<int>(timeout.count()));
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (ready <= 0 || error != 0) {
      close();
      throw std::runtime_error("connect to port " + std::to_string(port) + ": " +
                               (ready <= 0 ? "timed out" : std::strerror(error)));
    }
  }
}

RawConnection::~RawConnection() {
  close();
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), eof_(other.eof_), buffer_(std::move(other.buffer_)) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    eof_ = other.eof_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConnection::send(std::string_view bytes) {
  auto deadline = Clock::now() + 10s;
  while (!bytes.empty()) {
    if (fd_ < 0) return false;
    auto sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(sent));
      continue;
    }
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (Clock::now() >= deadline) return false;
      pollfd entry{fd_, POLLOUT, 0};
      ::poll(&entry, 1, remaining_ms(deadline));
      continue;
    }
    return false;
  }
  return true;
}

bool RawConnection::send_slowly(std::string_view bytes, std::size_t piece,
                                std::chrono::milliseconds pause) {
  piece = std::max<std::size_t>(1, piece);
  while (!bytes.empty()) {
    auto part = bytes.substr(0, piece);
    if (!send(part)) return false;
    bytes.remove_prefix(part.size());
    if (!bytes.empty()) std::this_thread::sleep_for(pause);
  }
  return true;
}

bool RawConnection::fill(Clock::time_point deadline) {
  if (fd_ < 0 || eof_) return false;
  while (true) {
    char chunk[16384];
    auto received = ::recv(fd_, chunk, sizeof chunk, 0);
    if (received > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(received));
      return true;
    }
    if (received == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      eof_ = true;  // closed or reset
      return false;
    }
    int left = remaining_ms(deadline);
    if (left <= 0) return false;
    pollfd entry{fd_, POLLIN, 0};
    ::poll(&entry, 1, left);
  }
}

RawResponse RawConnection::read_head(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  RawResponse response;
  while (true) {
    auto end = buffer_.find("\r\n\r\n");
    if (end != std::string::npos) {
      parse_head(buffer_.substr(0, end), response);
      buffer_.erase(0, end + 4);
      return response;
    }
    if (!fill(deadline)) {
      response.head = buffer_;
      return response;
    }
  }
}

RawResponse RawConnection::read_response(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto response = read_head(timeout);
  if (response.status == 0) return response;
  auto encoding = lowercase(response.header("Transfer-Encoding"));
  auto length = response.header("Content-Length");
  while (true) {
    if (encoding.find("chunked") != std::string::npos) {
      if (auto whole = dechunk(buffer_)) {
        response.body = std::move(whole->first);
        buffer_.erase(0, whole->second);
        response.complete = true;
        break;
      }
    } else if (!length.empty()) {
      auto size = static_cast<std::size_t>(std::strtoull(length.c_str(), nullptr, 10));
      if (buffer_.size() >= size) {
        response.body = buffer_.substr(0, size);
        buffer_.erase(0, size);
        response.complete = true;
        break;
      }
    } else if (eof_) {
      response.body = std::exchange(buffer_, {});
      response.complete = true;
      break;
    }
    if (!fill(deadline)) {
      if (eof_ && encoding.empty() && length.empty()) continue;  // the body ends at close
      response.body = buffer_;
      break;
    }
  }
  response.body_json = nlohmann::json::parse(response.body, nullptr, false);
  return response;
}

bool RawConnection::read_until(std::string_view text, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto found = buffer_.find(text);
    if (found != std::string::npos) {
      buffer_.erase(0, found + text.size());
      return true;
    }
    if (!fill(deadline)) return false;
  }
}

bool RawConnection::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!eof_) {
    if (!fill(deadline) && !eof_) return false;
  }
  return true;
}

bool RawConnection::closed() {
  return wait_closed(0ms);
}

// ---------------------------------------------------------------------------
// Requests

std::string raw_get(const std::string& target, const std::string& extra_headers, bool close) {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}

std::string raw_request(const std::string& method, const std::string& target,
                        const std::string& body, const std::string& extra_headers, bool close) {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + extra_headers + (close ? "Connection: close\r\n" : "") + "\r\n" + body;
}

std::string raw_chunked_request(const std::string& method, const std::string& target,
                                const std::string& body, std::size_t chunk,
                                const std::string& extra_headers, bool close) {
  static const char* hex = "0123456789abcdef";
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n" +
                        extra_headers + (close ? "Connection: close\r\n" : "") + "\r\n";
  chunk = std::max<std::size_t>(1, chunk);
  for (std::size_t offset = 0; offset < body.size(); offset += chunk) {
    auto part = body.substr(offset, chunk);
    std::string size;
    for (auto n = part.size(); n > 0; n /= 16) size.insert(size.begin(), hex[n % 16]);
    request += size + "\r\n" + part + "\r\n";
  }
  return request + "0\r\n\r\n";
}

std::optional<int> accept_queue_length(int port) {
  // Lines: "sl local_address rem_address st tx_queue:rx_queue ..."; for a
  // listening socket (st 0A) rx_queue is the accept queue's length.
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  char wanted[8];             // ":PORT" in hex, whichever IPv4 address it listens on
  std::snprintf(wanted, sizeof wanted, ":%04X", static_cast<unsigned>(port));
  while (std::getline(table, line)) {
    char local[64], remote[64], state[8];
    unsigned long transmit = 0, receive = 0;
    if (std::sscanf(line.c_str(), " %*s %63s %63s %7s %lx:%lx", local, remote, state, &transmit,
                    &receive) != 5)
      continue;
    auto address = std::string_view{local};
    if (address.ends_with(wanted) && std::string_view{state} == "0A")
      return static_cast<int>(receive);
  }
  return std::nullopt;
}

}  // namespace processpype::testing
