#include "alert_source.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <caf/all.hpp>

#include "processpype/actors/stray_messages.hpp"
#include "processpype/communications/alert_throttle.hpp"
#include "processpype/runtime/logging.hpp"

namespace processpype {

namespace {

using communications::AlertKind;
using nlohmann::json;

using ThrottleClock = communications::AlertThrottle::Clock;

/// An alert before the throttle has its say.
struct Alert {
  std::string throttle_key;  ///< instances and nodes apart, whatever their names
  AlertKind kind = AlertKind::throttled;
  OutgoingMessage message;
  /// When it happened, on the throttle's clock.
  ThrottleClock::time_point happened = ThrottleClock::now();
};

Alert make_alert(std::string throttle_key, AlertKind kind, std::string source, std::string text,
                 json metadata) {
  OutgoingMessage message;
  message.message = std::move(text);
  message.label = "alerts";
  message.source = std::move(source);
  message.severity = "error";
  message.metadata = std::move(metadata);
  return {std::move(throttle_key), kind, std::move(message)};
}

/// When `time` (a wall-clock time of the past) was on the throttle's clock.
ThrottleClock::time_point throttle_time_of(std::chrono::system_clock::time_point time) {
  auto steady_now = ThrottleClock::now();
  auto age = std::max(std::chrono::system_clock::now() - time,
                      std::chrono::system_clock::duration::zero());
  return steady_now - std::chrono::duration_cast<ThrottleClock::duration>(age);
}

/// An event's alert goes by when the event happened, not when this actor
/// read it: a reader behind by a second must not let through what the
/// interval holds back, nor hold back what it allows.
Alert event_alert(const Event& event, Alert alert) {
  alert.happened = throttle_time_of(event.time);
  return alert;
}

/// An instance's alert carries its event as /events shows it.
json event_metadata(const Event& event, std::string_view alert) {
  return {{"alert", alert}, {"event", to_json(event)}};
}

/// An `error` event: a failure, or the give-up that ends a restart loop.
/// The error text is the status's, redacted already (docs/secrets.md).
Alert failure_alert(const Event& event) {
  if (event.gave_up)
    return make_alert("instance:" + event.service, AlertKind::always_sent, event.service,
                      fmt::format("Instance {} failed on node {} and will not be restarted: {}",
                                  event.service, event.node, event.error),
                      event_metadata(event, "give_up"));
  return make_alert(
      "instance:" + event.service, AlertKind::throttled, event.service,
      fmt::format("Instance {} failed on node {}: {}", event.service, event.node, event.error),
      event_metadata(event, "failure"));
}

Alert failover_alert(const Event& event) {
  auto from = event.from_node.empty() ? std::string{} : " from node " + event.from_node;
  return make_alert(
      "instance:" + event.service, AlertKind::throttled, event.service,
      fmt::format("Instance {} failed over to node {}{}", event.service, event.node, from),
      event_metadata(event, "failover"));
}

Alert node_down_alert(const std::string& id, const std::string& reason,
                      const std::string& reporter) {
  return make_alert("node:" + id, AlertKind::throttled, id,
                    fmt::format("Node {} is down: {} (seen by node {})", id, reason, reporter),
                    {{"alert", "node_down"}, {"reason", reason}});
}

/// Which events are alerts. A failover brings several events of the same
/// instance (registered, configured, starting...) that all carry its cause:
/// only the first is an alert, until the instance has an event of another
/// cause.
class EventAlerts {
 public:
  std::optional<Alert> alert_for(const Event& event) {
    if (event.state == "error") {
      failing_over_.erase(event.service);
      return event_alert(event, failure_alert(event));
    }
    if (event.cause != EventCause::failover) {
      if (!failing_over_.empty()) failing_over_.erase(event.service);
      return std::nullopt;
    }
    if (!failing_over_.insert(event.service).second) return std::nullopt;
    return event_alert(event, failover_alert(event));
  }

 private:
  std::unordered_set<std::string> failing_over_;
};

class AlertSource final : public AlertSourceActor::base {
 public:
  AlertSource(caf::actor_config& config, AlertSourceSetup setup)
      : AlertSourceActor::base(config),
        setup_(std::move(setup)),
        throttle_(setup_.min_interval, [this] { return admitting_; }),
        last_seq_(setup_.after),
        wake_up_pending_(std::make_shared<std::atomic<bool>>(false)) {
    drop_stray_messages(*this);
    follow();
  }

  const char* name() const override { return "processpype.alerts"; }

  behavior_type make_behavior() override {
    read_events();  // those appended before it ran
    return {
        [this](publish_atom) { read_events(); },
        [this](node_down_atom, const std::string& id, const std::string& reason) {
          on_node_down(id, reason);
        },
        [this](flush_atom) {
          read_events();
          return true;
        },
    };
  }

  void on_exit() override { setup_.events->remove_listener(listener_); }

 private:
  /// Listens from the moment it exists (its mailbox holds what comes before
  /// it runs), so that nothing between the Runtime's start and its first run
  /// is missed.
  void follow() {
    auto self = caf::actor_cast<caf::weak_actor_ptr>(ctrl());
    listener_ = setup_.events->add_listener([self, pending = wake_up_pending_](std::uint64_t) {
      if (pending->exchange(true, std::memory_order_acq_rel)) return;  // one is on its way
      if (auto source = caf::actor_cast<AlertSourceActor>(self.lock()))
        caf::anon_send(source, publish_atom::value);
    });
    // A node that left said so: only one that was lost is an alert.
    setup_.directory->on_down([self](const NodeDirectory::Node& node) {
      if (node.local || node.left) return;
      if (auto source = caf::actor_cast<AlertSourceActor>(self.lock()))
        caf::anon_send(source, node_down_atom::value, node.id, node.down_reason);
    });
  }

  void read_events() {
    wake_up_pending_->store(false, std::memory_order_release);
    auto slice = setup_.events->since(last_seq_);
    if (slice.gap && slice.oldest_seq > last_seq_ + 1)
      log_->warn("{} events were overwritten before their alerts were made",
                 slice.oldest_seq - last_seq_ - 1);
    for (const auto& event : slice.events)
      if (auto alert = events_.alert_for(event)) send(std::move(*alert));
    last_seq_ = std::max(last_seq_, slice.last_seq);
  }

  /// The up node with the smallest id reports a lost node, so that the
  /// cluster does once. Two nodes lost together (a rack, a zone) may be
  /// noticed one after the other: the reporter chosen for the first may be
  /// the second, already dead. So each lost node stays pending for twice
  /// down_after, and is reported by this node as soon as it is the
  /// smallest up one.
  void on_node_down(const std::string& id, const std::string& reason) {
    auto now = std::chrono::steady_clock::now();
    lost_[id] = LostNode{reason, now};
    auto nodes = setup_.directory->nodes();  // sorted by id
    for (auto lost = lost_.begin(); lost != lost_.end();) {
      auto reporter = reporter_of(nodes, lost->first);
      bool settled = now - lost->second.since > 2 * setup_.down_after || !reporter ||
                     is_up(nodes, lost->first);
      if (!settled && reporter->local)
        send(node_down_alert(lost->first, lost->second.reason, reporter->id));
      lost = settled || reporter->local ? lost_.erase(lost) : std::next(lost);
    }
  }

  static const NodeDirectory::Node* reporter_of(const std::vector<NodeDirectory::Node>& nodes,
                                                const std::string& lost) {
    auto found = std::find_if(nodes.begin(), nodes.end(), [&](const NodeDirectory::Node& node) {
      return node.up && node.id != lost;
    });
    return found == nodes.end() ? nullptr : &*found;
  }

  static bool is_up(const std::vector<NodeDirectory::Node>& nodes, const std::string& id) {
    return std::any_of(nodes.begin(), nodes.end(),
                       [&](const NodeDirectory::Node& node) { return node.id == id && node.up; });
  }

  void send(Alert alert) {
    admitting_ = alert.happened;
    auto admission = throttle_.admit(alert.throttle_key, alert.kind);
    if (!admission) return;
    auto& message = alert.message;
    if (admission.held_back > 0)
      message.message += fmt::format(" ({} earlier {} about {} held back)", admission.held_back,
                                     admission.held_back == 1 ? "alert" : "alerts", message.source);
    message.metadata["held_back"] = admission.held_back;
    if (auto dispatcher = setup_.dispatcher.lock()) dispatcher->emit(std::move(message));
  }

  AlertSourceSetup setup_;
  communications::AlertThrottle throttle_;
  /// When the alert the throttle is asked about happened: its clock.
  ThrottleClock::time_point admitting_{};
  EventAlerts events_;
  std::uint64_t last_seq_;
  /// Whether a wake-up is on its way already: the listener sends one
  /// message however many events are appended before the actor reads them.
  std::shared_ptr<std::atomic<bool>> wake_up_pending_;
  std::uint64_t listener_ = 0;
  /// Lost members another up node was to report, by id: see on_node_down.
  struct LostNode {
    std::string reason;
    std::chrono::steady_clock::time_point since;
  };
  std::map<std::string, LostNode> lost_;
  std::shared_ptr<spdlog::logger> log_ = make_logger("processpype.alerts");
};

}  // namespace

AlertSourceActor spawn_alert_source(caf::actor_system& system, AlertSourceSetup setup) {
  return system.spawn<AlertSource>(std::move(setup));
}

}  // namespace processpype
