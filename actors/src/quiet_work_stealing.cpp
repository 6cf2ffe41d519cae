#include "processpype/actors/quiet_work_stealing.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scheduler/worker.hpp>

namespace processpype {

namespace {

/// Rounds of `work-stealing.relaxed-sleep-duration` without a job taken
/// anywhere before a worker sleeps until woken: 10 ms with the binary's 1 ms.
constexpr std::size_t quiet_rounds = 10;

/// The longest a quiet worker sleeps. A ceiling, not a poll: every job that
/// lands in its queue, and every job a running peer queues, wakes it.
constexpr auto quiet_sleep_limit = std::chrono::seconds(2);

/// CAF 0.17's work stealing (caf/policy/work_stealing.hpp), whose worker,
/// once idle, wakes every relaxed-sleep-duration to look for work to steal.
/// This one does so only while another worker runs, or ran in the last
/// `quiet_rounds` rounds. Otherwise it sleeps until woken: by a job in its
/// own queue (CAF's external enqueue notifies a sleeping worker), or by a
/// running peer that queues work for itself (internal_enqueue below), which
/// is the work a timer-less sleeper would otherwise leave behind a busy
/// actor.
///
/// Whether a peer runs and whether a worker sleeps quietly are told apart
/// without a lock on the hot path: a worker marks itself running before it
/// runs a job that may queue work, then reads the count of quiet sleepers
/// when it queues; a worker going quiet counts itself first, then looks for
/// running peers (all sequentially consistent). One of the two sees the
/// other: a quiet sleeper is woken, or it does not go quiet.
class QuietWorkStealing : public caf::policy::work_stealing {
 public:
  struct coordinator_data : work_stealing::coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator* parent)
        : work_stealing::coordinator_data(parent) {}

    std::atomic<std::size_t> quiet_sleepers{0};
  };

  struct worker_data : work_stealing::worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator* parent)
        : work_stealing::worker_data(parent) {}
    worker_data(const worker_data& other) : work_stealing::worker_data(other) {}

    /// Jobs this worker has taken; only it writes.
    std::atomic<std::uint64_t> jobs_taken{0};
    /// From the job that ends a sleep to the next sleep.
    std::atomic<bool> running{true};
    // Under waitdata.lock:
    bool quiet = false;
    bool asked_to_steal = false;
    std::size_t asked_by = 0;  ///< the worker whose queue holds the work
  };

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& data = d(self);
    // CAF's two polling phases, as work_stealing has them.
    for (std::size_t phase = 0; phase < 2; ++phase) {
      const auto& strategy = data.strategies[phase];
      for (std::size_t i = 0; i < strategy.attempts; i += strategy.step_size) {
        if (auto* job = data.queue.take_head()) return taken(data, job);
        if (i % strategy.steal_interval == 0)
          if (auto* job = try_steal(self)) return taken(data, job);
        if (strategy.sleep_duration.count() > 0)
          std::this_thread::sleep_for(strategy.sleep_duration);
      }
    }
    return sleep_until_job(self);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    d(self).queue.prepend(job);
    if (d(self->parent()).quiet_sleepers.load() > 0) wake_a_quiet_peer(self);
  }

 private:
  static caf::resumable* taken(worker_data& data, caf::resumable* job) {
    data.jobs_taken.store(data.jobs_taken.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    return job;
  }

  template <class Worker>
  caf::resumable* sleep_until_job(Worker* self) {
    auto& data = d(self);
    auto& shared = d(self->parent());
    const auto& relaxed = data.strategies[2];
    data.running.store(false);
    auto seen = jobs_taken_by_all(self);
    std::size_t idle_rounds = 0;
    for (std::size_t round = 1;; ++round) {
      bool ready = false;
      bool asked = false;
      std::size_t asker = 0;
      {
        std::unique_lock guard{data.waitdata.lock};
        data.waitdata.sleeping = true;
        auto woken = [&] { return !data.queue.empty() || data.asked_to_steal; };
        if (idle_rounds >= quiet_rounds && go_quiet(self, shared)) {
          ready = data.waitdata.cv.wait_for(guard, quiet_sleep_limit, woken);
          data.quiet = false;
          shared.quiet_sleepers.fetch_sub(1);
        } else {
          ready = data.waitdata.cv.wait_for(guard, relaxed.sleep_duration, woken);
        }
        data.waitdata.sleeping = false;
        asked = std::exchange(data.asked_to_steal, false);
        asker = data.asked_by;
      }
      caf::resumable* job = ready ? data.queue.take_head() : nullptr;
      if (job == nullptr && asked) job = d(self->parent()->worker_by_id(asker)).queue.take_tail();
      if (job == nullptr && !ready && round % relaxed.steal_interval == 0) job = try_steal(self);
      if (job != nullptr) {
        data.running.store(true);  // before the job runs: see the class comment
        return taken(data, job);
      }
      auto now = jobs_taken_by_all(self);
      idle_rounds = now == seen ? idle_rounds + 1 : 0;
      seen = now;
    }
  }

  /// Under the worker's own lock.
  template <class Worker>
  static bool go_quiet(Worker* self, coordinator_data& shared) {
    auto& data = d(self);
    data.quiet = true;
    shared.quiet_sleepers.fetch_add(1);
    if (!any_peer_running(self)) return true;
    data.quiet = false;
    shared.quiet_sleepers.fetch_sub(1);
    return false;
  }

  template <class Worker>
  static bool any_peer_running(Worker* self) {
    auto* parent = self->parent();
    for (std::size_t i = 0; i < parent->num_workers(); ++i)
      if (i != self->id() && d(parent->worker_by_id(i)).running.load()) return true;
    return false;
  }

  template <class Worker>
  static std::uint64_t jobs_taken_by_all(Worker* self) {
    auto* parent = self->parent();
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < parent->num_workers(); ++i)
      sum += d(parent->worker_by_id(i)).jobs_taken.load(std::memory_order_relaxed);
    return sum;
  }

  template <class Worker>
  static void wake_a_quiet_peer(Worker* self) {
    auto* parent = self->parent();
    for (std::size_t i = 0; i < parent->num_workers(); ++i) {
      if (i == self->id()) continue;
      auto& peer = d(parent->worker_by_id(i));
      std::lock_guard guard{peer.waitdata.lock};
      if (!peer.quiet || peer.asked_to_steal) continue;
      peer.asked_to_steal = true;
      peer.asked_by = self->id();
      peer.waitdata.cv.notify_one();
      return;
    }
  }
};

}  // namespace

void use_quiet_work_stealing(caf::actor_system_config& config) {
  config.module_factories.push_back([](caf::actor_system& system) -> caf::actor_system::module* {
    return new caf::scheduler::coordinator<QuietWorkStealing>(system);
  });
}

}  // namespace processpype
