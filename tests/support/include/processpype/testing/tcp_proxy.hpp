#pragma once

// A TCP proxy (on 127.0.0.1 unless told otherwise) in front of a server (etcd, a node), to cut one
// client off without touching the server or other clients: a network
// partition (connections hang: nothing goes through), a refusal (the
// connections are reset and new ones refused), and an answer lost on the
// way back (the request arrives, its answer does not).

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace processpype::testing {

class TcpProxy {
 public:
  enum class Mode {
    forward,    ///< both ways, as if it were not there
    blackhole,  ///< connections are accepted (or stay open) and nothing passes: a partition
    refuse,     ///< open connections are reset, new ones refused (the port is closed)
  };

  /// Listens on a free port of 127.0.0.1 and forwards to 127.0.0.1:`target_port`.
  explicit TcpProxy(int target_port);
  /// Listens on a free port of `listen_host` and forwards to
  /// `target_host`:`target_port` (dotted IPv4 addresses): a bridge between
  /// network namespaces (the host end of a veth pair and 127.0.0.1). A
  /// connection to an unreachable target blocks the proxy's thread until
  /// the kernel gives up on it.
  TcpProxy(int target_port, std::string listen_host, std::string target_host);
  /// Closes every connection and the port.
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  /// "http://<listen host>:<port>".
  std::string endpoint() const;
  /// Switches, and returns once the proxy's thread applied it. Back to
  /// forward after blackhole, what waited goes through (as TCP retransmits
  /// after a partition heals); after refuse, the port listens again.
  void set_mode(Mode mode);
  /// How much of a dropped answer gets through before its connection ends.
  enum class Cut {
    before_answer,  ///< nothing, and the connection is reset
    in_head,        ///< the status line and the start of a header, then a close
    in_body,        ///< the head and the body's first byte, then a close
  };
  /// The next answer the server sends to a client is dropped, cut as
  /// `cut` says: the request arrived, its answer never comes (whole).
  /// Later connections pass. With `request_start`, only the answer to a
  /// request whose bytes start with it (e.g. "POST /v3/kv/txn").
  void drop_next_answer(std::string request_start = "", Cut cut = Cut::before_answer);
  /// Connections accepted so far.
  std::uint64_t connections() const;

 private:
  struct Link {
    int client = -1;
    int server = -1;             ///< -1: not connected yet (accepted in blackhole)
    std::string last_request{};  ///< the start of the last request the client sent
  };

  void run();
  void apply(Mode mode);
  void listen_again();
  void accept_one();
  /// Relays what is readable on `from`; false when the link ends.
  bool relay(Link& link, bool from_client);
  void close_link(Link& link, bool reset);
  void wake();

  std::string listen_host_;
  std::string target_host_;
  int target_port_;
  int port_ = 0;
  int listener_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::vector<Link> links_;

  mutable std::mutex mutex_;
  std::condition_variable applied_;
  Mode requested_ = Mode::forward;
  Mode applied_mode_ = Mode::forward;
  std::uint64_t request_generation_ = 0;
  std::uint64_t applied_generation_ = 0;
  bool drop_next_answer_ = false;
  std::string drop_request_start_;
  Cut drop_cut_ = Cut::before_answer;
  bool stopping_ = false;
  std::uint64_t connections_ = 0;
  std::thread thread_;
};

}  // namespace processpype::testing
