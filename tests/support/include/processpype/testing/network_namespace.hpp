#pragma once

// A network namespace for partition tests (docs/cluster.md): a process run
// inside it (launcher()) reaches the rest of the machine only through a veth
// pair, whose link the test cuts and heals. Made and removed with the `ip`
// command (iproute2); needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).

#include <optional>
#include <string>
#include <vector>

namespace processpype::testing {

class NetworkNamespace {
 public:
  /// Why no namespace can be made here (not root, no `ip`, the kernel
  /// refuses one); nullopt when one can. Makes and removes a probe namespace.
  static std::optional<std::string> why_unavailable();

  /// Makes the namespace `pp<pid>-<index>` with its loopback up and a veth
  /// pair: inside_address() in it, outside_address() here, each end up.
  /// Throws std::runtime_error with `ip`'s error when a step fails.
  explicit NetworkNamespace(int index = 0);
  /// Removes the namespace (and with it the veth pair); what still runs
  /// inside keeps its sockets but has no link any more.
  ~NetworkNamespace();
  NetworkNamespace(const NetworkNamespace&) = delete;
  NetworkNamespace& operator=(const NetworkNamespace&) = delete;

  const std::string& name() const { return name_; }
  /// The dotted IPv4 address of the veth end inside the namespace.
  const std::string& inside_address() const { return inside_address_; }
  /// The address of the veth end outside (what the namespace reaches).
  const std::string& outside_address() const { return outside_address_; }
  /// {"ip", "netns", "exec", name()}: a command run through it runs inside.
  std::vector<std::string> launcher() const;

  /// Takes the outside end of the link down: nothing passes either way
  /// (a partition; open connections hang until it heals).
  void cut();
  /// Brings the outside end up again.
  void heal();

 private:
  std::string name_;
  std::string outside_interface_;
  std::string inside_interface_;
  std::string inside_address_;
  std::string outside_address_;
};

}  // namespace processpype::testing
