#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

#include <caf/execution_unit.hpp>
#include <caf/fwd.hpp>

namespace processpype {

/// Marks the actors that may run on the thread of the request that woke
/// them: their handlers are short and never block (the Supervisor and the
/// service actors; a manager that may block runs on the manager threads).
/// Every other actor always runs on CAF's workers.
class RunsOnCallingThread {
 protected:
  RunsOnCallingThread() = default;
  ~RunsOnCallingThread() = default;
};

/// A CAF execution unit that an HTTP handler's own thread drives. A request
/// sent from that thread (AsyncCaller) wakes the Supervisor through it; the
/// Supervisor, the service actor it delegates to and the reply then run on
/// this thread, right away, instead of waking a CAF worker for the request
/// and the I/O thread again for the reply: a command costs no thread
/// wake-up (docs/performance.md, "The last crossing").
///
/// CAF lets any thread resume an actor whose mailbox it unblocked: the
/// mailbox hands the actor to exactly one execution unit, so an actor still
/// runs on one thread at a time. What the unit takes is bounded: only
/// RunsOnCallingThread actors, only on its own thread while a Scope is
/// open there, and per run at most `max_resumes` resumptions of
/// `messages_per_resume` messages each, or `max_run_time`; anything
/// else goes to CAF's scheduler as before.
class CallingThreadExecution final : public caf::execution_unit {
 public:
  /// Opens this thread's unit (one per thread and actor system) for the
  /// Scope's life. Nested scopes share it.
  class Scope {
   public:
    explicit Scope(caf::actor_system& system);
    /// Hands what is still queued to CAF's scheduler.
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    CallingThreadExecution* unit_;
    CallingThreadExecution* outer_;
  };

  /// Closes this thread's unit for its life: requests sent meanwhile go to
  /// CAF's workers, as from any thread (a liveness probe must find them).
  class WorkersOnly {
   public:
    WorkersOnly();
    ~WorkersOnly();
    WorkersOnly(const WorkersOnly&) = delete;
    WorkersOnly& operator=(const WorkersOnly&) = delete;

   private:
    CallingThreadExecution* outer_;
  };

  /// Resumptions one run() does before it hands the rest to CAF's workers:
  /// a cascade (a restart storm, a long dependency chain) must not hold
  /// the HTTP thread.
  static constexpr std::size_t max_resumes = 64;
  /// Messages one resumption handles at most, for the same reason.
  static constexpr std::size_t messages_per_resume = 16;
  /// After a resumption that ends past this, the rest goes to CAF's workers.
  static constexpr std::chrono::microseconds max_run_time{200};

  explicit CallingThreadExecution(caf::actor_system& system);

  /// The unit of this thread while a Scope is open on it; null otherwise.
  static CallingThreadExecution* current() noexcept;

  /// Hands what this thread's open unit holds to CAF's workers: called
  /// before a thread blocks on an actor's answer (blocking_request), since
  /// that actor may be one of those waiting here.
  static void before_blocking();

  /// Queues `job` when this thread drives the unit and the job is a
  /// RunsOnCallingThread actor; else CAF's scheduler takes it. (Another
  /// thread may get here through an actor's last context(): it must not
  /// touch the queue.)
  void exec_later(caf::resumable* job) override;

  /// Runs the queued actors and those they wake, on this thread, until none
  /// is left or `max_resumes` ran. A call from inside a run (a reply's
  /// callback that sends again) returns at once: the outer run takes it.
  void run();

 private:
  void hand_over_queued();

  std::vector<caf::resumable*> queue_;
  bool running_ = false;
};

}  // namespace processpype
