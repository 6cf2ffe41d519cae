#include "stop_chain.hpp"

#include <caf/all.hpp>

namespace processpype {

void StopChain::run() {
  // A loop, not a recursion: past the deadline, every remaining instance
  // fails here at once, and a node may have a hundred thousand.
  while (next_ < order_.size()) {
    const auto name = order_[next_++];
    auto* instance = instances_.find(name);
    if (instance == nullptr) continue;
    caf::duration timeout = caf::infinite;
    if (deadline) {
      auto remaining = *deadline - self_->clock().now();
      if (remaining <= caf::timespan::zero()) {
        failed(name, make_error(ErrorCode::timeout, "no time left"));
        continue;
      }
      timeout = caf::duration{remaining};
    }
    self_->request(actor_of_(*instance), timeout, stop_atom::value, trigger_)
        .then([chain = shared_from_this()](StopResult&) { chain->run(); },
              [chain = shared_from_this(), name](caf::error& error) {
                chain->failed(name, error);
                chain->run();
              });
    return;  // the reply runs the rest
  }
  if (on_done) on_done();
}

void StopChain::failed(const std::string& name, const caf::error& error) {
  if (on_failure) on_failure(name, error);
}

}  // namespace processpype
