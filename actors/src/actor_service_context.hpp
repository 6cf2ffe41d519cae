#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include <caf/actor_control_block.hpp>

#include "processpype/communications/dispatcher.hpp"
#include "processpype/runtime/service.hpp"

namespace processpype {

/// How service code reaches its service actor from any thread
/// (Service::every, Service::fail) and the node's Dispatcher
/// (Service::emit). It holds both weakly, so that the service keeps neither
/// its own actor nor the Runtime's Dispatcher alive. A reported failure is
/// kept here as well as sent: the actor applies it right after the route or
/// timer tick that reported it, so the route's reply already shows it.
class ActorServiceContext final : public ServiceContext {
 public:
  /// `instance`: the name emit() puts in a message without a source;
  /// `dispatcher`: empty when the node has no communications.
  ActorServiceContext(caf::weak_actor_ptr actor, std::string instance,
                      std::weak_ptr<communications::Dispatcher> dispatcher)
      : actor_(std::move(actor)),
        instance_(std::move(instance)),
        dispatcher_(std::move(dispatcher)) {}

  void every(std::chrono::nanoseconds interval, std::function<void()> tick) override;
  void fail(std::string reason) override;
  void emit(OutgoingMessage message) override;

  /// The failure reported since the last call, if any.
  std::optional<std::string> take_reported();

 private:
  caf::weak_actor_ptr actor_;
  const std::string instance_;
  const std::weak_ptr<communications::Dispatcher> dispatcher_;
  std::mutex mutex_;
  std::optional<std::string> reported_;
};

}  // namespace processpype
