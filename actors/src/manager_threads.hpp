#pragma once

#include <cstdint>
#include <memory>

#include <caf/all.hpp>

#include "processpype/actors/protocol.hpp"

namespace processpype {

/// Runs lifecycle hooks (ServiceManager::start/stop) for one node, off CAF's
/// scheduler.
///
/// Why threads of its own: a manager may block for seconds (or forever). On
/// CAF's scheduler that would stall every actor sharing the worker; here a
/// blocked call holds one thread of a pool that grows when no thread is idle
/// (idle threads beyond a few exit after a while). A call that never returns
/// keeps its thread, nothing else.
///
/// Replies go straight to the service actor: (hook_done_atom, id, failure)
/// when the hook returns ("" if it did not throw), or (hook_timeout_atom, id)
/// first if its deadline passes. Deadlines are kept by one watchdog thread
/// that sleeps until the earliest one, so a call costs no timer in CAF's
/// clock and nothing stays scheduled after it returns.
class ManagerThreads {
 public:
  ManagerThreads();
  /// Idle threads end; a thread still in a call finishes it on its own.
  ~ManagerThreads();
  ManagerThreads(const ManagerThreads&) = delete;
  ManagerThreads& operator=(const ManagerThreads&) = delete;

  void run(ManagerCall call, caf::timespan timeout, caf::actor reply_to, std::uint64_t id);

 private:
  class Pool;
  std::shared_ptr<Pool> pool_;
};

}  // namespace processpype
