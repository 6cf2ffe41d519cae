#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include <caf/actor_control_block.hpp>

#include "processpype/runtime/service.hpp"

namespace processpype {

/// How service code reaches its service actor from any thread
/// (Service::every, Service::fail). It holds the actor weakly, so that the
/// service does not keep its own actor alive. A reported failure is kept
/// here as well as sent: the actor applies it right after the route or
/// timer tick that reported it, so the route's reply already shows it.
class ActorServiceContext final : public ServiceContext {
 public:
  explicit ActorServiceContext(caf::weak_actor_ptr actor) : actor_(std::move(actor)) {}

  void every(std::chrono::nanoseconds interval, std::function<void()> tick) override;
  void fail(std::string reason) override;

  /// The failure reported since the last call, if any.
  std::optional<std::string> take_reported();

 private:
  caf::weak_actor_ptr actor_;
  std::mutex mutex_;
  std::optional<std::string> reported_;
};

}  // namespace processpype
