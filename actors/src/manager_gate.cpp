#include "manager_gate.hpp"

#include <fmt/format.h>

#include "processpype/actors/protocol.hpp"

namespace processpype {

const char* describe(ServiceLifecycle::Call kind) {
  using Call = ServiceLifecycle::Call;
  switch (kind) {
    case Call::start:
      return "start";
    case Call::stop:
      return "stop";
    case Call::cleanup:
      return "clean-up stop";
    case Call::health:
      return "health check";
  }
  return "call";
}

void ManagerGate::admit(Command command, Refusal refuse) {
  if (auto refused = refusal()) return refuse(*refused);
  DeferredCommand admitted{std::move(command), std::move(refuse)};
  if (waits(admitted)) return deferred_.push_back(std::move(admitted));
  admitted.run();
}

void ManagerGate::admit_ahead(Command command, Refusal refuse) {
  if (auto refused = refusal()) return refuse(*refused);
  overtaken_ = commits_;
  DeferredCommand admitted{std::move(command), std::move(refuse), false};
  if (waits(admitted)) return deferred_.push_front(std::move(admitted));
  admitted.run();
}

caf::error ManagerGate::end_commit() {
  --commits_;
  if (overtaken_ == 0) return caf::none;
  --overtaken_;
  // The lease was at risk because the store did not answer: what a command
  // on a cluster instance answers during an outage (docs/cluster.md).
  return make_error(ErrorCode::node_unavailable, "cluster store unreachable");
}

std::optional<caf::error> ManagerGate::refusal() const {
  const auto* late = late_call();
  if (late == nullptr) return std::nullopt;
  return make_error(ErrorCode::conflict,
                    fmt::format("Service {} is still running an earlier {} that timed out",
                                service_, describe(late->kind)));
}

CallInFlight ManagerGate::open(Call kind, Trigger trigger, std::chrono::nanoseconds timeout) {
  return CallInFlight{++last_call_, kind, std::move(trigger), false, timeout};
}

const CallInFlight* ManagerGate::mark_late(std::uint64_t id) {
  if (!call_ || call_->id != id || call_->late) return nullptr;
  call_->late = true;
  return &*call_;
}

std::optional<CallInFlight> ManagerGate::close(std::uint64_t id) {
  if (!call_ || call_->id != id) return std::nullopt;
  return std::exchange(call_, std::nullopt);
}

bool ManagerGate::defer_cleanup() {
  if (!call_) return false;
  cleanup_pending_ = true;
  return true;
}

bool ManagerGate::take_cleanup() {
  if (!cleanup_pending_ || call_) return false;
  cleanup_pending_ = false;
  return true;
}

void ManagerGate::run_deferred() {
  while (!deferred_.empty() && !waits(deferred_.front()) && !late_call()) {
    auto command = std::move(deferred_.front());
    deferred_.pop_front();
    command.run();
  }
}

void ManagerGate::abandon(const caf::error& error) {
  for (auto& command : std::exchange(deferred_, {})) command.abandon(error);
}

void ManagerGate::refuse_waiting() {
  if (auto refused = refusal()) abandon(*refused);
}

bool ManagerGate::manager_busy_in_background() const {
  return call_ && (call_->kind == Call::cleanup || call_->kind == Call::health);
}

bool ManagerGate::waits(const DeferredCommand& command) const {
  return manager_busy_in_background() || (command.waits_for_commits && commits_ > 0);
}

}  // namespace processpype
