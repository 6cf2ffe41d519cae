#include "stop_chain.hpp"

#include <caf/all.hpp>

namespace processpype {

void StopChain::run() {
  if (next_ == order_.size()) {
    if (on_done) on_done();
    return;
  }
  const auto name = order_[next_++];
  auto* instance = instances_.find(name);
  if (instance == nullptr) return run();
  caf::duration timeout = caf::infinite;
  if (deadline) {
    auto remaining = *deadline - self_->clock().now();
    if (remaining <= caf::timespan::zero()) {
      failed(name, make_error(ErrorCode::timeout, "no time left"));
      return run();
    }
    timeout = caf::duration{remaining};
  }
  self_->request(actor_of_(*instance), timeout, stop_atom::value, trigger_)
      .then([chain = shared_from_this()](StopResult&) { chain->run(); },
            [chain = shared_from_this(), name](caf::error& error) {
              chain->failed(name, error);
              chain->run();
            });
}

void StopChain::failed(const std::string& name, const caf::error& error) {
  if (on_failure) on_failure(name, error);
}

}  // namespace processpype
