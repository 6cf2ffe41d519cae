#include "processpype/actors/calling_thread_execution.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace processpype {

namespace {

/// The units this thread has made (one per actor system), and the one
/// whose Scope is open on it (null: none).
thread_local std::vector<CallingThreadExecution*> this_thread_units;
thread_local CallingThreadExecution* open_unit = nullptr;

/// An actor keeps the unit it last ran on as its context() after the run,
/// and an embedder's actor system may outlive main(): units are never
/// freed. The list keeps them reachable (no leak report) and is never
/// destroyed either, for the same reason.
CallingThreadExecution& unit_for_this_thread(caf::actor_system& system) {
  for (auto* unit : this_thread_units)
    if (&unit->system() == &system) return *unit;
  static std::mutex mutex;
  static auto* units = new std::vector<CallingThreadExecution*>;
  auto* unit = new CallingThreadExecution(system);
  {
    std::lock_guard lock{mutex};
    units->push_back(unit);
  }
  this_thread_units.push_back(unit);
  return *unit;
}

bool runs_on_calling_thread(caf::resumable* job) {
  return job->subtype() == caf::resumable::scheduled_actor &&
         dynamic_cast<RunsOnCallingThread*>(job) != nullptr;
}

}  // namespace

CallingThreadExecution::Scope::Scope(caf::actor_system& system)
    : unit_(&unit_for_this_thread(system)), outer_(open_unit) {
  open_unit = unit_;
}

CallingThreadExecution::Scope::~Scope() {
  open_unit = outer_;
  if (outer_ != unit_) unit_->hand_over_queued();
}

CallingThreadExecution::WorkersOnly::WorkersOnly() : outer_(open_unit) {
  open_unit = nullptr;
}

CallingThreadExecution::WorkersOnly::~WorkersOnly() {
  open_unit = outer_;
}

CallingThreadExecution::CallingThreadExecution(caf::actor_system& system)
    : caf::execution_unit(&system) {}

CallingThreadExecution* CallingThreadExecution::current() noexcept {
  return open_unit;
}

void CallingThreadExecution::before_blocking() {
  if (open_unit != nullptr) open_unit->hand_over_queued();
}

void CallingThreadExecution::exec_later(caf::resumable* job) {
  if (open_unit == this && runs_on_calling_thread(job))
    queue_.push_back(job);  // the reference the enqueue took is the queue's now
  else
    system().scheduler().enqueue(job);
}

void CallingThreadExecution::run() {
  if (running_) return;
  running_ = true;
  // Whatever happens, nothing stays queued here once the run ends.
  struct EndOfRun {
    CallingThreadExecution& unit;
    ~EndOfRun() {
      unit.running_ = false;
      unit.hand_over_queued();
    }
  } end_of_run{*this};
  // CAF's own workers may drain a whole mailbox per resumption (its default
  // throughput is unbounded); here the Supervisor's backlog from the other
  // HTTP thread must not hold this one.
  const auto max_throughput = std::min(system().scheduler().max_throughput(), messages_per_resume);
  const auto deadline = std::chrono::steady_clock::now() + max_run_time;
  std::size_t resumes = 0;
  // An index, not an iterator: resuming a job may queue more.
  for (std::size_t next = 0; next < queue_.size() && resumes < max_resumes; ++next) {
    auto* job = std::exchange(queue_[next], nullptr);
    if (job == nullptr) continue;  // handed over already (before_blocking)
    ++resumes;
    switch (job->resume(this, max_throughput)) {
      case caf::resumable::resume_later:
        queue_.push_back(job);  // its mailbox has more: it stays ours
        break;
      case caf::resumable::awaiting_message:
      case caf::resumable::done:
      case caf::resumable::shutdown_execution_unit:
        intrusive_ptr_release(job);
        break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
}

void CallingThreadExecution::hand_over_queued() {
  for (auto*& job : queue_)
    if (job != nullptr) system().scheduler().enqueue(std::exchange(job, nullptr));
  if (!running_) queue_.clear();
}

}  // namespace processpype
