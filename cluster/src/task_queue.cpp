#include "task_queue.hpp"

#include <exception>
#include <vector>

#include <spdlog/logger.h>

#include "processpype/runtime/logging.hpp"

namespace processpype::cluster::internal {

TaskQueue::TaskQueue() : thread_([this] { run(); }) {
  worker_id_ = thread_.get_id();  // before any post: tasks read it through the mutex's ordering
}

TaskQueue::~TaskQueue() {
  stop();
}

void TaskQueue::post(Task task) {
  {
    std::lock_guard lock{mutex_};
    if (!stopping_) {
      ready_.push_back(std::move(task));
      alarm_.wake();
      return;
    }
  }
  if (task.abandon) task.abandon();
}

void TaskQueue::post_at(BootClock::time_point when, Task task) {
  {
    std::lock_guard lock{mutex_};
    if (!stopping_) {
      timed_.emplace(when, std::move(task));
      alarm_.wake();
      return;
    }
  }
  if (task.abandon) task.abandon();
}

void TaskQueue::stop() {
  std::vector<Task> abandoned;
  {
    std::lock_guard lock{mutex_};
    if (stopping_) return;
    stopping_ = true;
    alarm_.wake();
  }
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock{mutex_};
    for (auto& task : ready_) abandoned.push_back(std::move(task));
    for (auto& [when, task] : timed_) abandoned.push_back(std::move(task));
    ready_.clear();
    timed_.clear();
  }
  for (auto& task : abandoned)
    if (task.abandon) task.abandon();
}

bool TaskQueue::on_worker_thread() const noexcept {
  return std::this_thread::get_id() == worker_id_;
}

bool TaskQueue::take(Task& task, BootClock::time_point& wake_at) {
  std::lock_guard lock{mutex_};
  auto now = BootClock::now();
  while (!timed_.empty() && timed_.begin()->first <= now) {
    ready_.push_back(std::move(timed_.begin()->second));
    timed_.erase(timed_.begin());
  }
  wake_at = timed_.empty() ? BootClock::time_point::max() : timed_.begin()->first;
  if (ready_.empty()) return false;
  task = std::move(ready_.front());
  ready_.pop_front();
  return true;
}

void TaskQueue::run() {
  for (;;) {
    {
      std::lock_guard lock{mutex_};
      if (stopping_) return;
    }
    Task task;
    BootClock::time_point wake_at;
    if (take(task, wake_at)) {
      try {
        task.run();
      } catch (const std::exception& error) {
        make_logger("processpype.cluster")
            ->error("cluster coordinator: a task failed: {}", error.what());
      }
      continue;
    }
    alarm_.wait_until(wake_at);
  }
}

}  // namespace processpype::cluster::internal
