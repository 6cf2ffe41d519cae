#include "service_timers.hpp"

#include <caf/all.hpp>

namespace processpype {

void ServiceTimers::add(caf::timespan interval, Tick tick) {
  auto state = lifecycle_.state();
  if (state != ServiceState::starting && state != ServiceState::running) return;
  timers_.push_back({interval, std::move(tick)});
  self_->delayed_send(self_, interval, tick_atom::value, generation_,
                      std::uint64_t{timers_.size() - 1});
}

bool ServiceTimers::fire(std::uint64_t generation, std::uint64_t index) {
  if (generation != generation_ || index >= timers_.size()) return false;
  auto interval = timers_[index].interval;
  if (lifecycle_.state() == ServiceState::running) timers_[index].tick();
  self_->delayed_send(self_, interval, tick_atom::value, generation, index);
  return true;
}

void ServiceTimers::stop() {
  if (timers_.empty()) return;
  timers_.clear();
  ++generation_;
}

}  // namespace processpype
