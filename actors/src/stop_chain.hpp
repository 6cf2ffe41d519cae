#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>

#include "internal_protocol.hpp"
#include "processpype/runtime/instance_registry.hpp"
#include "supervised_instance.hpp"

namespace processpype {

/// Stops instances one after the other, each once the one before answered,
/// then calls `on_done`: a stop that cascades to the dependents first,
/// stop_all, the dependents of a failed instance. An instance no longer
/// registered is passed over. With a deadline, each stop gets the time
/// left, and an instance reached after it is a failure ("no time left").
class StopChain : public std::enable_shared_from_this<StopChain> {
 public:
  /// An instance's actor, spawned if it has none yet.
  using ActorOf = std::function<const ServiceActor&(SupervisedInstance&)>;

  StopChain(InternalSupervisorActor::pointer self, InstanceRegistry<SupervisedInstance>& instances,
            ActorOf actor_of, std::vector<std::string> order, Trigger trigger)
      : self_(self),
        instances_(instances),
        actor_of_(std::move(actor_of)),
        order_(std::move(order)),
        trigger_(std::move(trigger)) {}

  std::optional<caf::actor_clock::time_point> deadline;
  /// An instance that did not stop cleanly (its stop failed, or timed out).
  std::function<void(const std::string& name, const caf::error&)> on_failure;
  std::function<void()> on_done;

  /// Stops the next instance, and the rest after it.
  void run();

 private:
  void failed(const std::string& name, const caf::error& error);

  InternalSupervisorActor::pointer self_;
  InstanceRegistry<SupervisedInstance>& instances_;
  ActorOf actor_of_;
  std::vector<std::string> order_;
  Trigger trigger_;
  std::size_t next_ = 0;
};

}  // namespace processpype
