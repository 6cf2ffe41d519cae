#include "processpype/testing/network_namespace.hpp"

#include <stdexcept>

#include <unistd.h>

#include "processpype/testing/process.hpp"

namespace processpype::testing {

namespace {

/// Runs `ip` with `args`; "" when it succeeded, else its error.
std::string try_ip(const std::vector<std::string>& args) {
  auto ip = find_program("ip");
  if (!ip) return "the `ip` command (iproute2) is not installed";
  ChildProcess child(*ip, args);
  auto status = child.wait(10s);
  if (status.timed_out()) child.kill();
  if (status.exited && status.code == 0) return "";
  std::string command = "ip";
  for (const auto& arg : args) command += " " + arg;
  return command + ": " + status.describe() + ": " + child.stderr_text();
}

void ip(const std::vector<std::string>& args) {
  auto why = try_ip(args);
  if (!why.empty()) throw std::runtime_error("NetworkNamespace: " + why);
}

}  // namespace

std::optional<std::string> NetworkNamespace::why_unavailable() {
  if (::geteuid() != 0)
    return "network namespaces need root (running as uid " + std::to_string(::geteuid()) + ")";
  if (!find_program("ip")) return "the `ip` command (iproute2) is not installed";
  try {
    NetworkNamespace probe(99);
  } catch (const std::runtime_error& error) {
    return std::string(error.what());
  }
  return std::nullopt;
}

NetworkNamespace::NetworkNamespace(int index) {
  auto pid = std::to_string(::getpid());
  auto suffix = pid + "-" + std::to_string(index);
  name_ = "pp" + suffix;
  // Interface names are at most 15 bytes: "pp" + pid (7 digits at most) + index + end.
  outside_interface_ = "pp" + pid + std::to_string(index % 10) + "o";
  inside_interface_ = "pp" + pid + std::to_string(index % 10) + "i";
  // One /30 per (process, index), so that namespaces of concurrent runs
  // and indexes do not share a subnet.
  auto subnet =
      "10." + std::to_string(200 + index % 50) + "." + std::to_string(::getpid() % 250) + ".";
  outside_address_ = subnet + "1";
  inside_address_ = subnet + "2";

  try_ip({"netns", "del", name_});  // a leftover of a killed run of this pid
  ip({"netns", "add", name_});
  try {
    ip({"link", "add", outside_interface_, "type", "veth", "peer", "name", inside_interface_});
    ip({"link", "set", inside_interface_, "netns", name_});
    ip({"addr", "add", outside_address_ + "/30", "dev", outside_interface_});
    ip({"link", "set", outside_interface_, "up"});
    ip({"netns", "exec", name_, "ip", "addr", "add", inside_address_ + "/30", "dev",
        inside_interface_});
    ip({"netns", "exec", name_, "ip", "link", "set", inside_interface_, "up"});
    ip({"netns", "exec", name_, "ip", "link", "set", "lo", "up"});
  } catch (...) {
    try_ip({"link", "del", outside_interface_});
    try_ip({"netns", "del", name_});
    throw;
  }
}

NetworkNamespace::~NetworkNamespace() {
  try_ip({"link", "del", outside_interface_});
  try_ip({"netns", "del", name_});
}

std::vector<std::string> NetworkNamespace::launcher() const {
  return {"ip", "netns", "exec", name_};
}

void NetworkNamespace::cut() {
  ip({"link", "set", outside_interface_, "down"});
}

void NetworkNamespace::heal() {
  ip({"link", "set", outside_interface_, "up"});
}

}  // namespace processpype::testing
