// Notices that the client of an open event stream left, while nothing reads
// its connection; and lets a closed connection's client finish sending.
//
// The HTTP server reads a connection only between responses (one request in
// flight: reading ahead cost every request a failed read and a slower
// answer, docs/performance.md). An event stream's response never ends by
// itself, so its connection is not read while it lasts; without this watch,
// a client that closes its stream would be noticed only at the next writes,
// up to two heartbeats (30 s) later, and would hold its place among
// server.limits.max_event_streams until then.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace processpype::rest {

/// A descriptor of our own, closed with this object.
class OwnedDescriptor {
 public:
  OwnedDescriptor() = default;
  /// Takes `descriptor` (-1: none).
  explicit OwnedDescriptor(int descriptor) noexcept : descriptor_(descriptor) {}
  /// A close-on-exec duplicate of `descriptor`; empty when none can be made.
  /// Taken while the original is known to be open: a number read earlier may
  /// name another file by the time it is duplicated.
  static OwnedDescriptor duplicate(int descriptor) noexcept;
  ~OwnedDescriptor();
  OwnedDescriptor(OwnedDescriptor&& other) noexcept;
  OwnedDescriptor& operator=(OwnedDescriptor&& other) noexcept;

  int get() const noexcept { return descriptor_; }
  explicit operator bool() const noexcept { return descriptor_ >= 0; }

 private:
  int descriptor_ = -1;
};

/// One thread and one epoll set for the watched sockets of a listener. A
/// socket is watched through a duplicate of its descriptor, for its peer's
/// end of the connection (EPOLLRDHUP) or an error only: the bytes a client
/// may send meanwhile stay for the server to read.
class ClientDepartures {
 public:
  class Watch;

  ClientDepartures();
  /// stop(); watches still alive stay harmless.
  ~ClientDepartures();
  ClientDepartures(const ClientDepartures&) = delete;
  ClientDepartures& operator=(const ClientDepartures&) = delete;

  /// Calls `on_departure` once, on the watch thread, when the peer of the
  /// connected socket `duplicate` (a duplicate this watch then owns) closes
  /// its side or the connection fails. Null when the socket cannot be watched
  /// (the caller loses nothing but the early notice) or after stop().
  /// `on_departure` must not block.
  std::unique_ptr<Watch> watch(OwnedDescriptor duplicate, std::function<void()> on_departure);

  /// Keeps a closed connection's socket (`duplicate`) open for up to
  /// `at_most`, reading and dropping what its client still sends, until the
  /// client closes too: a lingering close, as nginx's. Closed with unread
  /// bytes, a socket resets the connection, and a client still sending a
  /// refused body (413) then fails with "broken pipe" before it reads the
  /// answer. At most `max_lingering` at once; beyond, `duplicate` just
  /// closes.
  /// A client that has closed its end already, leaving nothing unread (the
  /// usual end of a keep-alive connection), is not waited for.
  void linger(OwnedDescriptor duplicate, std::chrono::steady_clock::duration at_most);
  static constexpr std::size_t max_lingering = 256;
  /// How many closed connections linger now.
  std::size_t lingering() const;

  /// Ends the thread: no callback runs once it returns (unless called from
  /// a callback, which then is the last).
  void stop();

 private:
  struct Shared;
  /// Starts the thread if need be; false when nothing can be watched. With
  /// Shared's mutex held.
  bool running();

  std::shared_ptr<Shared> shared_;
};

/// Watching one socket; destroying it stops the watch and closes the
/// duplicate, so that the connection closes when its server closes it.
class ClientDepartures::Watch {
 public:
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

 private:
  friend class ClientDepartures;
  Watch(std::shared_ptr<Shared> shared, std::uint64_t key);

  std::shared_ptr<Shared> shared_;
  std::uint64_t key_;
};

}  // namespace processpype::rest
