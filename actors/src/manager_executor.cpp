#include "manager_executor.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "processpype/actors/protocol.hpp"
#include "processpype/runtime/lifecycle.hpp"

namespace processpype {

namespace {

/// A pool of detached threads that grows on demand. Shared with its threads
/// so that a thread stuck in a manager call outlives the executor safely.
class ThreadPool : public std::enable_shared_from_this<ThreadPool> {
 public:
  static constexpr std::size_t kept_idle_threads = 4;
  static constexpr auto idle_timeout = std::chrono::seconds(30);

  void post(std::function<void()> task) {
    std::unique_lock lock{mutex_};
    tasks_.push_back(std::move(task));
    if (idle_ > 0) {
      lock.unlock();
      wakeup_.notify_one();
      return;
    }
    ++threads_;
    lock.unlock();
    std::thread{[pool = shared_from_this()] { pool->work(); }}.detach();
  }

  void shut_down() {
    {
      std::lock_guard lock{mutex_};
      closed_ = true;
    }
    wakeup_.notify_all();
  }

 private:
  void work() {
    std::unique_lock lock{mutex_};
    for (;;) {
      if (!tasks_.empty()) {
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        task();
        lock.lock();
        continue;
      }
      if (closed_) break;
      ++idle_;
      bool woken = wakeup_.wait_for(lock, idle_timeout, [&] { return closed_ || !tasks_.empty(); });
      --idle_;
      if (!woken && threads_ > kept_idle_threads) break;
    }
    --threads_;
  }

  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::deque<std::function<void()>> tasks_;
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
  bool closed_ = false;
};

struct ExecutorState {
  std::shared_ptr<ThreadPool> pool = std::make_shared<ThreadPool>();
  std::uint64_t next_call = 0;
  std::unordered_map<std::uint64_t, caf::response_promise> pending;
  static inline const char* name = "processpype.manager_executor";

  ~ExecutorState() { pool->shut_down(); }
};

caf::behavior manager_executor(caf::stateful_actor<ExecutorState>* self) {
  return {
      [=](run_hook_atom, ManagerCall& call) -> caf::result<std::string> {
        auto id = self->state.next_call++;
        auto promise = self->make_response_promise();
        self->state.pending.emplace(id, promise);
        auto executor = caf::actor_cast<caf::actor>(self);
        self->state.pool->post([executor, id, call = std::move(call)] {
          auto failure = call.lifecycle->run_hook(call.start);
          caf::anon_send(executor, hook_done_atom::value, id, failure.value_or(std::string{}));
        });
        return promise;
      },
      [=](hook_done_atom, std::uint64_t id, std::string& failure) {
        auto found = self->state.pending.find(id);
        if (found == self->state.pending.end()) return;
        found->second.deliver(std::move(failure));
        self->state.pending.erase(found);
      },
  };
}

}  // namespace

caf::actor spawn_manager_executor(caf::actor_system& system) {
  return system.spawn(manager_executor);
}

}  // namespace processpype
