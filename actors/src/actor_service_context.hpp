#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/actor_control_block.hpp>

#include "processpype/communications/dispatcher.hpp"
#include "processpype/runtime/events.hpp"
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
                      std::optional<std::int64_t> fencing_token,
                      std::shared_ptr<const EventLog> events,
                      std::weak_ptr<communications::Dispatcher> dispatcher)
      : actor_(std::move(actor)),
        instance_(std::move(instance)),
        fencing_token_(fencing_token),
        events_(std::move(events)),
        dispatcher_(std::move(dispatcher)) {}

  void every(std::chrono::nanoseconds interval, std::function<void()> tick) override;
  void fail(std::string reason) override;
  void emit(OutgoingMessage message) override;
  std::optional<std::int64_t> fencing_token() const override { return fencing_token_; }
  /// The event log knows the node's id from the moment the node publishes.
  std::string node_id() const override { return events_ ? events_->node() : std::string(); }

  /// The failure reported since the last call, if any.
  std::optional<std::string> take_reported();

 private:
  caf::weak_actor_ptr actor_;
  const std::string instance_;
  const std::optional<std::int64_t> fencing_token_;
  const std::shared_ptr<const EventLog> events_;
  const std::weak_ptr<communications::Dispatcher> dispatcher_;
  std::mutex mutex_;
  std::optional<std::string> reported_;
};

}  // namespace processpype
