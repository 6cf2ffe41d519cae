#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace processpype {

/// The instances of a node whose manager is in a call on a manager thread
/// (start, stop, health check) that has not returned. Such a call goes on
/// past its timeout, and past the deregistration of its instance: while it
/// runs, the instance's copy may still run here, so a cluster instance is
/// handed over only once its call returned (docs/cluster.md, "Drain,
/// uncordon, rebalance"). Any thread.
class BusyManagers {
 public:
  /// A call of `name` begins.
  void enter(const std::string& name);
  /// That call returned: runs the `when_idle` callbacks of `name` once no
  /// call of it runs any more (on this thread, outside the lock).
  void leave(const std::string& name);

  bool busy(const std::string& name) const;

  /// Runs `idle` once no call of `name` runs: at once when none does, else
  /// on the thread whose call returns last. It must not block.
  void when_idle(const std::string& name, std::function<void()> idle);

 private:
  struct Calls {
    int running = 0;
    std::vector<std::function<void()>> waiting;
  };

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Calls> calls_;
};

}  // namespace processpype
