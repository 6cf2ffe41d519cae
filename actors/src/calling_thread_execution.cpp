#include "processpype/actors/calling_thread_execution.hpp"

#include <algorithm>
#include <memory>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace processpype {

namespace {

/// This thread's unit, and the one whose Scope is open on it (null: none).
thread_local CallingThreadExecution* this_thread_unit = nullptr;
thread_local CallingThreadExecution* open_unit = nullptr;

/// An actor keeps the unit it last ran on as its context() after the run:
/// units therefore live until the process ends, not with their thread.
CallingThreadExecution& unit_for_this_thread(caf::actor_system& system) {
  if (this_thread_unit != nullptr && &this_thread_unit->system() == &system)
    return *this_thread_unit;
  static std::mutex mutex;
  static std::vector<std::unique_ptr<CallingThreadExecution>> units;
  std::lock_guard lock{mutex};
  units.push_back(std::make_unique<CallingThreadExecution>(system));
  this_thread_unit = units.back().get();
  return *this_thread_unit;
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

CallingThreadExecution::CallingThreadExecution(caf::actor_system& system)
    : caf::execution_unit(&system) {}

CallingThreadExecution* CallingThreadExecution::current() noexcept {
  return open_unit;
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
  // CAF's own workers may drain a whole mailbox per resumption (its default
  // throughput is unbounded); here the Supervisor's backlog from the other
  // HTTP thread must not hold this one.
  const auto max_throughput = std::min(system().scheduler().max_throughput(), messages_per_resume);
  std::size_t resumes = 0;
  // An index, not an iterator: resuming a job may queue more.
  for (std::size_t next = 0; next < queue_.size() && resumes < max_resumes; ++next, ++resumes) {
    auto* job = queue_[next];
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
    queue_[next] = nullptr;
  }
  running_ = false;
  hand_over_queued();
}

void CallingThreadExecution::hand_over_queued() {
  if (running_) return;
  for (auto* job : queue_)
    if (job != nullptr) system().scheduler().enqueue(job);
  queue_.clear();
}

}  // namespace processpype
