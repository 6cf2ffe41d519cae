#pragma once

// The coordinator's worker: one thread that runs tasks one at a time, in
// the order they were posted, and timed tasks once their BootClock time
// has come. Every store write of a coordinator (but the lease's renewals)
// runs here, so that callers never wait for the store. Internal to
// processpype_cluster.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "processpype/cluster/boot_clock.hpp"

namespace processpype::cluster::internal {

class TaskQueue {
 public:
  struct Task {
    std::function<void()> run;
    /// Called instead of run when the queue stops first (e.g. to complete
    /// a caller's callback with "stopping"); may be empty.
    std::function<void()> abandon{};
  };

  TaskQueue();
  /// stop().
  ~TaskQueue();
  TaskQueue(const TaskQueue&) = delete;
  TaskQueue& operator=(const TaskQueue&) = delete;

  /// Runs `task` after the tasks posted before it. Tasks should not throw
  /// (what they throw is logged). After stop(), abandons
  /// it at once on the caller's thread.
  void post(Task task);
  /// Runs `task` once BootClock reaches `when`.
  void post_at(BootClock::time_point when, Task task);
  /// Lets the running task finish, abandons the others, joins the thread.
  void stop();
  /// Whether the calling thread is the worker.
  bool on_worker_thread() const noexcept;

 private:
  void run();
  /// The next task to run now, or none (then `wake_at` says when to look again).
  bool take(Task& task, BootClock::time_point& wake_at);

  mutable std::mutex mutex_;
  std::deque<Task> ready_;
  std::multimap<BootClock::time_point, Task> timed_;
  bool stopping_ = false;
  BootAlarm alarm_;
  std::thread::id worker_id_;
  std::thread thread_;
};

}  // namespace processpype::cluster::internal
