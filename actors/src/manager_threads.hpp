#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace processpype {

/// Runs the blocking calls of managers (ServiceManager::start, stop,
/// check_health) for one node, off CAF's scheduler.
///
/// Why threads of its own: a manager may block for seconds (or forever). On
/// CAF's scheduler that would stall every actor sharing the worker; here a
/// blocked call holds one thread of a pool that grows when no thread is idle
/// (idle threads beyond a few exit after a while). A call that never returns
/// keeps its thread, nothing else.
///
/// `on_late` runs (on the watchdog thread) if the call has not returned when
/// its timeout passes; the call itself goes on until it returns. Deadlines
/// are kept by one watchdog thread that sleeps until the earliest one, so a
/// call costs no timer in CAF's clock. Both callbacks must not block.
class ManagerThreads {
 public:
  ManagerThreads();
  /// Idle threads end; a thread still in a call finishes it on its own.
  ~ManagerThreads();
  ManagerThreads(const ManagerThreads&) = delete;
  ManagerThreads& operator=(const ManagerThreads&) = delete;

  void run(std::function<void()> call, std::chrono::nanoseconds timeout,
           std::function<void()> on_late);

 private:
  class Pool;
  std::shared_ptr<Pool> pool_;
};

}  // namespace processpype
