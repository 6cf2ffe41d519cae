#include "processpype/actors/busy_managers.hpp"

#include <utility>

namespace processpype {

void BusyManagers::enter(const std::string& name) {
  std::lock_guard lock{mutex_};
  ++calls_[name].running;
}

void BusyManagers::leave(const std::string& name) {
  std::vector<std::function<void()>> idle;
  {
    std::lock_guard lock{mutex_};
    auto found = calls_.find(name);
    if (found == calls_.end() || --found->second.running > 0) return;
    idle = std::move(found->second.waiting);
    calls_.erase(found);
  }
  for (auto& callback : idle) callback();
}

bool BusyManagers::busy(const std::string& name) const {
  std::lock_guard lock{mutex_};
  return calls_.contains(name);
}

void BusyManagers::when_idle(const std::string& name, std::function<void()> idle) {
  {
    std::lock_guard lock{mutex_};
    auto found = calls_.find(name);
    if (found != calls_.end()) {
      found->second.waiting.push_back(std::move(idle));
      return;
    }
  }
  idle();
}

}  // namespace processpype
