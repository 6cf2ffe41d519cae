#include "processpype/actors/event_feed.hpp"

#include "processpype/actors/stray_messages.hpp"

#include <atomic>
#include <unordered_map>

#include <caf/all.hpp>

namespace processpype {

namespace {

/// What the log's listener and the feed share: whether anyone listens and
/// whether a wake-up is on its way already.
struct WakeUp {
  std::atomic<std::size_t> subscribers{0};
  std::atomic<bool> pending{false};
};

class EventFeed final : public EventFeedActor::base {
 public:
  static constexpr auto live = live_events_only;

  EventFeed(caf::actor_config& config, std::shared_ptr<EventLog> log)
      : EventFeedActor::base(config), log_(std::move(log)), wake_up_(std::make_shared<WakeUp>()) {
    drop_stray_messages(*this);
    set_down_handler([this](caf::down_msg& message) { forget(message.source); });
  }

  const char* name() const override { return "processpype.events"; }

  behavior_type make_behavior() override {
    auto self = caf::actor_cast<caf::weak_actor_ptr>(ctrl());
    listener_ = log_->add_listener([self, wake_up = wake_up_](std::uint64_t) {
      if (wake_up->subscribers.load(std::memory_order_relaxed) == 0) return;
      if (wake_up->pending.exchange(true, std::memory_order_acq_rel)) return;
      if (auto feed = caf::actor_cast<EventFeedActor>(self.lock()))
        caf::anon_send(feed, publish_atom::value);
    });
    return {
        [this](subscribe_atom, std::uint64_t after, const std::string& boot,
               const EventSubscriberActor& subscriber) -> EventBatch {
          return subscribe(after, boot, subscriber);
        },
        [this](cancel_atom, const EventSubscriberActor& subscriber) {
          demonitor(subscriber.address());
          forget(subscriber.address());
        },
        [this](publish_atom) { push(); },
    };
  }

  void on_exit() override {
    log_->remove_listener(listener_);
    subscribers_.clear();
  }

 private:
  struct Subscriber {
    EventSubscriberActor handle;
    std::uint64_t last_seq = 0;
  };

  EventBatch subscribe(std::uint64_t after, const std::string& boot,
                       const EventSubscriberActor& subscriber) {
    bool other_boot = !boot.empty() && boot != log_->boot();
    bool live_only = after == live;
    bool added = subscriber && subscribers_.count(subscriber.address()) == 0;
    // Counted before the log is read: an event appended after the read finds
    // a subscriber and wakes the feed, one appended before is in the slice.
    // (Counted after, an event in between was in neither, and reached the
    // subscriber only with the next event.) The log's mutex orders the two.
    if (added) wake_up_->subscribers.store(subscribers_.size() + 1, std::memory_order_relaxed);
    auto slice = live_only ? EventSlice{{}, false, 0, log_->last_seq()}
                           : log_->since(other_boot ? 0 : after);
    if (added) {
      monitor(subscriber);
      subscribers_.emplace(subscriber.address(), Subscriber{subscriber, slice.last_seq});
    }
    return batch(std::move(slice), other_boot && after != 0 && !live_only);
  }

  /// Sends every subscriber what it has not seen yet, one batch each.
  /// Subscribers that have seen the same events (usually all of them) get
  /// the same message: its events are copied once, not once per subscriber.
  void push() {
    wake_up_->pending.store(false, std::memory_order_release);
    if (subscribers_.empty()) return;
    auto oldest_wanted = std::numeric_limits<std::uint64_t>::max();
    for (const auto& [address, subscriber] : subscribers_)
      oldest_wanted = std::min(oldest_wanted, subscriber.last_seq);
    auto slice = log_->since(oldest_wanted);
    if (slice.events.empty()) return;
    std::unordered_map<std::uint64_t, caf::message> by_last_seq;  // empty: nothing new
    for (auto& [address, subscriber] : subscribers_) {
      auto [found, added] = by_last_seq.try_emplace(subscriber.last_seq);
      if (added) found->second = message_after(slice, subscriber.last_seq);
      subscriber.last_seq = slice.last_seq;
      if (!found->second.empty())
        subscriber.handle->enqueue(ctrl(), caf::make_message_id(), found->second, context());
    }
  }

  /// (events_atom, EventBatch) of the events of `slice` after `last_seq`;
  /// an empty message when there are none.
  caf::message message_after(const EventSlice& slice, std::uint64_t last_seq) const {
    EventSlice own;
    own.oldest_seq = slice.oldest_seq;
    own.last_seq = slice.last_seq;
    own.gap = last_seq + 1 < slice.oldest_seq;  // it fell behind the buffer
    for (const auto& event : slice.events)
      if (event.seq > last_seq) own.events.push_back(event);
    if (own.events.empty()) return {};
    return caf::make_message(events_atom::value, batch(std::move(own)));
  }

  EventBatch batch(EventSlice slice, bool force_gap = false) const {
    return EventBatch{log_->node(), log_->boot(), slice.gap || force_gap, slice.oldest_seq,
                      std::move(slice.events)};
  }

  void forget(const caf::actor_addr& address) {
    subscribers_.erase(address);
    wake_up_->subscribers.store(subscribers_.size(), std::memory_order_relaxed);
  }

  std::shared_ptr<EventLog> log_;
  std::shared_ptr<WakeUp> wake_up_;
  std::uint64_t listener_ = 0;
  std::unordered_map<caf::actor_addr, Subscriber> subscribers_;
};

}  // namespace

EventFeedActor spawn_event_feed(caf::actor_system& system, std::shared_ptr<EventLog> log) {
  return system.spawn<EventFeed>(std::move(log));
}

}  // namespace processpype
