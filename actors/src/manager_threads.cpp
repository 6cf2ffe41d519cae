#include "manager_threads.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace processpype {

class ManagerThreads::Pool : public std::enable_shared_from_this<Pool> {
 public:
  static constexpr std::size_t kept_idle_threads = 4;
  static constexpr auto idle_timeout = std::chrono::seconds(30);
  /// A queued call that waited this long means the threads are blocked in
  /// slow managers: the watchdog adds a thread.
  static constexpr auto starvation_delay = std::chrono::milliseconds(50);

  /// Threads added on demand without waiting: enough to keep the cores busy
  /// with quick managers, few enough not to thrash them.
  static std::size_t eager_threads() {
    return std::max<std::size_t>(2, std::thread::hardware_concurrency());
  }

  using Clock = std::chrono::steady_clock;
  /// Ordered by deadline; the sequence number makes keys unique.
  using DeadlineKey = std::pair<Clock::time_point, std::uint64_t>;

  struct Task {
    std::function<void()> call;
    DeadlineKey deadline;
    Clock::time_point queued;
  };

  void start_watchdog() {
    std::thread{[pool = shared_from_this()] { pool->watch(); }}.detach();
  }

  void post(Task task, std::function<void()> on_late) {
    std::unique_lock lock{mutex_};
    bool earliest = deadlines_.empty() || task.deadline < deadlines_.begin()->first;
    deadlines_.emplace(task.deadline, std::move(on_late));
    tasks_.push_back(std::move(task));
    bool spawn = idle_ == 0 && threads_ < eager_threads();
    bool queued_behind_busy_threads = idle_ == 0 && !spawn;
    if (spawn) ++threads_;
    lock.unlock();
    if (earliest || queued_behind_busy_threads) watchdog_wakeup_.notify_one();
    if (spawn)
      spawn_thread();
    else
      work_wakeup_.notify_one();
  }

  void shut_down() {
    {
      std::lock_guard lock{mutex_};
      closed_ = true;
    }
    work_wakeup_.notify_all();
    watchdog_wakeup_.notify_all();
  }

  std::uint64_t next_sequence() { return sequence_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void spawn_thread() {
    std::thread{[pool = shared_from_this()] { pool->work(); }}.detach();
  }

  void work() {
    std::unique_lock lock{mutex_};
    for (;;) {
      if (!tasks_.empty()) {
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        task.call();
        lock.lock();
        deadlines_.erase(task.deadline);
        continue;
      }
      if (closed_) break;
      ++idle_;
      bool woken =
          work_wakeup_.wait_for(lock, idle_timeout, [&] { return closed_ || !tasks_.empty(); });
      --idle_;
      if (!woken && threads_ > kept_idle_threads) break;
    }
    --threads_;
  }

  /// Sleeps until the earliest deadline (or until the oldest queued call
  /// has waited starvation_delay); tells the caller of each call that
  /// outlived its deadline (the call itself goes on until it returns), and
  /// adds a thread when every thread is stuck while calls wait.
  void watch() {
    std::unique_lock lock{mutex_};
    while (!closed_) {
      auto now = Clock::now();
      if (!tasks_.empty() && idle_ == 0 && now - tasks_.front().queued >= starvation_delay) {
        ++threads_;
        lock.unlock();
        spawn_thread();
        lock.lock();
        // Give the new thread time to take it before adding another.
        if (!tasks_.empty()) tasks_.front().queued = Clock::now();
        continue;
      }
      auto wake = Clock::time_point::max();
      if (!deadlines_.empty()) wake = deadlines_.begin()->first.first;
      if (!tasks_.empty()) wake = std::min(wake, tasks_.front().queued + starvation_delay);
      if (deadlines_.empty() || deadlines_.begin()->first.first > now) {
        if (wake == Clock::time_point::max())
          watchdog_wakeup_.wait(lock);
        else
          watchdog_wakeup_.wait_until(lock, wake);
        continue;
      }
      auto first = deadlines_.begin();
      auto on_late = std::move(first->second);
      deadlines_.erase(first);
      lock.unlock();
      on_late();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_wakeup_;
  std::condition_variable watchdog_wakeup_;
  std::deque<Task> tasks_;
  std::map<DeadlineKey, std::function<void()>> deadlines_;
  std::atomic<std::uint64_t> sequence_{0};
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
  bool closed_ = false;
};

ManagerThreads::ManagerThreads() : pool_(std::make_shared<Pool>()) {
  pool_->start_watchdog();
}

ManagerThreads::~ManagerThreads() {
  pool_->shut_down();
}

void ManagerThreads::run(std::function<void()> call, std::chrono::nanoseconds timeout,
                         std::function<void()> on_late) {
  auto now = Pool::Clock::now();
  auto deadline = now + std::chrono::duration_cast<Pool::Clock::duration>(timeout);
  pool_->post(Pool::Task{std::move(call), {deadline, pool_->next_sequence()}, now},
              std::move(on_late));
}

}  // namespace processpype
