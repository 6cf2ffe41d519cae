#include "event_streams.hpp"

#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <caf/all.hpp>

#include "processpype/actors/stray_messages.hpp"
#include "processpype/rest/json_mapping.hpp"

namespace processpype::rest {

namespace {

using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using written_atom = caf::atom_constant<caf::atom("written")>;

/// How often a stream checks the membership: nodes that went down end
/// their part of it, and a cluster stream follows nodes that came up.
constexpr auto membership_interval = std::chrono::seconds(1);
/// A keep-alive comment every 15 membership checks (15 s).
constexpr int checks_per_keep_alive = 15;

using StreamActor = EventSubscriberActor::extend<caf::reacts_to<heartbeat_atom>,
                                                 caf::reacts_to<written_atom, bool>>;

}  // namespace

/// The Server-Sent Events text of recent events, rendered once for every
/// stream of the server: with ten streams following a busy node, each
/// rendering every event's JSON itself, rendering took a third of the
/// node's CPU. Keeps the text of the last `slots` events of each node, by
/// seq (as many as a node's log keeps, so replays find them too).
class RenderedEvents {
 public:
  static constexpr std::size_t slots = 1024;
  static_assert(slots >= EventLog::max_capacity);

  /// Appends the text of each event of `batch` to `out`.
  void append(const EventBatch& batch, std::string& out) {
    std::lock_guard lock{mutex_};
    auto& node = nodes_[batch.node];
    if (node.boot != batch.boot || node.slots.empty()) {  // a node's seqs restart with its boot
      node.boot = batch.boot;
      node.slots.assign(slots, Slot{});
    }
    for (const auto& event : batch.events) {
      auto& slot = node.slots[event.seq % slots];
      if (slot.seq != event.seq) {
        slot.text = format_event(event);
        slot.seq = event.seq;
      }
      out += slot.text;
    }
  }

  /// Drops every text (no stream is open: nobody will ask for them).
  void clear() {
    std::lock_guard lock{mutex_};
    nodes_.clear();
  }

 private:
  struct Slot {
    std::uint64_t seq = 0;  ///< seqs start at 1: 0 is an empty slot
    std::string text;
  };
  struct Node {
    std::string boot;
    std::vector<Slot> slots;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Node> nodes_;
};

namespace {

struct StreamSetup {
  std::shared_ptr<ResponseStream> out;
  std::optional<StreamSource> source;  ///< none: the cluster
  std::uint64_t after = 0;
  std::string boot;
  std::shared_ptr<NodeDirectory> directory;
  std::shared_ptr<std::atomic<std::size_t>> open;
  std::shared_ptr<RenderedEvents> rendered;
};

class EventStream final : public StreamActor::base {
 public:
  EventStream(caf::actor_config& config, StreamSetup setup)
      : StreamActor::base(config), setup_(std::move(setup)) {
    drop_stray_messages(*this);
    set_down_handler([this](caf::down_msg& message) { on_source_down(message.source); });
  }

  const char* name() const override { return "processpype.event_stream"; }

  behavior_type make_behavior() override {
    // A client that leaves frees its place among max_event_streams at once,
    // not at the next write.
    setup_.out->on_client_gone([self = caf::actor_cast<caf::weak_actor_ptr>(this)] {
      if (auto alive = self.lock())
        caf::anon_send(caf::actor_cast<StreamActor>(alive), written_atom::value, false);
    });
    if (setup_.source)
      follow(*setup_.source, setup_.after, setup_.boot);
    else
      follow_cluster();
    delayed_send(this, membership_interval, heartbeat_atom::value);
    return {
        [this](events_atom, const EventBatch& batch) { write_batch(batch); },
        [this](heartbeat_atom) {
          drop_nodes_down();
          if (!setup_.source) follow_cluster();
          if (++checks_ % checks_per_keep_alive == 0) write(": keep-alive\n\n", 0);
          delayed_send(this, membership_interval, heartbeat_atom::value);
        },
        [this](written_atom, bool ok) { on_written(ok); },
    };
  }

  void on_exit() override {
    for (const auto& [address, source] : following_)
      send(source.feed, cancel_atom::value, caf::actor_cast<EventSubscriberActor>(this));
    following_.clear();
    if (setup_.out) {
      // What waits behind a write in flight (a node_down, say) still goes
      // out, before the end of the response.
      if (!waiting_.empty()) setup_.out->write(std::exchange(waiting_, {}), nullptr);
      setup_.out->close();
    }
    setup_.out = nullptr;
    if (setup_.open->fetch_sub(1) == 1) setup_.rendered->clear();
  }

 private:
  void follow(const StreamSource& source, std::uint64_t after, const std::string& boot) {
    if (!source.feed) return;
    monitor(source.feed);
    following_.emplace(source.feed.address(), source);
    request(source.feed, caf::infinite, subscribe_atom::value, after, boot,
            caf::actor_cast<EventSubscriberActor>(this))
        .then([this](const EventBatch& replay) { write_batch(replay); }, [](const caf::error&) {});
  }

  /// Subscribes to every node that is up and not followed yet, from its
  /// next event on (a cluster stream is live only).
  void follow_cluster() {
    for (const auto& node : setup_.directory->nodes()) {
      if (!node.up || !node.events || following_.count(node.events.address()) != 0) continue;
      follow(StreamSource{node.id, node.events}, live_events_only, {});
    }
  }

  /// A node the membership lists down (it left, or went silent) ends its
  /// part of the stream now: CAF reports the feed down only once the
  /// connection to that node closes.
  void drop_nodes_down() {
    std::vector<caf::actor_addr> gone;
    for (const auto& [address, source] : following_) {
      auto node = setup_.directory->find(source.node);
      if (!node || !node->up) gone.push_back(address);
    }
    for (const auto& address : gone) on_source_down(address);
  }

  void on_source_down(const caf::actor_addr& address) {
    auto found = following_.find(address);
    if (found == following_.end()) return;
    auto node = found->second.node;
    following_.erase(found);
    write(fmt::format("event: node_down\ndata: {}\n\n", dump({{"node", node}})), 0);
    if (setup_.source) quit();  // the stream of one node ends with it
  }

  void write_batch(const EventBatch& batch) {
    std::string text;
    // A cluster stream subscribes from "now": the replay's gap says nothing.
    if (batch.gap && setup_.source)
      text += fmt::format("event: gap\ndata: {}\n\n",
                          dump({{"boot", batch.boot}, {"oldest_seq", batch.oldest_seq}}));
    setup_.rendered->append(batch, text);
    if (!text.empty()) write(std::move(text), batch.events.size());
  }

  /// Hands `text` to the connection. One write is in flight at a time; what
  /// comes meanwhile is sent with the next one, so a busy node makes few,
  /// larger writes. A client more than max_events_behind events behind
  /// (waiting and in flight) loses its stream, not the node's memory.
  void write(std::string text, std::uint64_t events) {
    if (!setup_.out) return;
    if (waiting_events_ + in_flight_events_ + events > EventStreams::max_events_behind) {
      setup_.out->abort();
      quit();
      return;
    }
    waiting_ += text;
    waiting_events_ += events;
    if (!writing_) flush();
  }

  void flush() {
    if (waiting_.empty()) return;
    writing_ = true;
    in_flight_events_ = std::exchange(waiting_events_, 0);
    auto self = caf::actor_cast<StreamActor>(this);
    setup_.out->write(std::exchange(waiting_, {}),
                      [self](bool written) { caf::anon_send(self, written_atom::value, written); });
  }

  void on_written(bool ok) {
    if (!ok) return quit();  // the client is gone
    writing_ = false;
    in_flight_events_ = 0;
    flush();
  }

  StreamSetup setup_;
  std::unordered_map<caf::actor_addr, StreamSource> following_;
  std::string waiting_;
  std::uint64_t waiting_events_ = 0;
  std::uint64_t in_flight_events_ = 0;
  bool writing_ = false;
  int checks_ = 0;
};

}  // namespace

std::string format_event(const Event& event) {
  return fmt::format("id: {}:{}\nevent: {}\ndata: {}\n\n", event.boot, event.seq, event.state,
                     event_text(event));
}

EventStreams::EventStreams(caf::actor_system& system, std::shared_ptr<NodeDirectory> directory,
                           std::size_t limit, Opening opening)
    : system_(system),
      directory_(std::move(directory)),
      limit_(limit),
      opening_(std::move(opening)),
      rendered_(std::make_shared<RenderedEvents>()) {}

EventStreams::~EventStreams() {
  close_all();
}

bool EventStreams::open(const ExchangePtr& exchange, const std::optional<StreamSource>& source,
                        std::uint64_t after, const std::string& boot) {
  if (open_->fetch_add(1) >= limit_) {
    open_->fetch_sub(1);
    return false;
  }
  HttpResponse head;
  head.content_type = "text/event-stream";
  head.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
  if (opening_) opening_(exchange, head);
  auto out = exchange->stream(std::move(head));
  auto stream = system_.spawn<EventStream>(
      StreamSetup{out, source, after, boot, directory_, open_, rendered_});
  OpenStream opened{caf::actor_cast<caf::weak_actor_ptr>(stream), bearer_digest(*exchange)};
  std::lock_guard lock{mutex_};
  // Checked against the tokens before a reload that came since: refused by it.
  if (allows_ && !allows_(opened.token)) {
    caf::anon_send_exit(stream, caf::exit_reason::user_shutdown);
    return true;
  }
  std::erase_if(streams_, [](const OpenStream& open) { return !open.actor.lock(); });
  streams_.push_back(std::move(opened));
  return true;
}

void EventStreams::restrict_access(Access allows) {
  std::lock_guard lock{mutex_};
  allows_ = std::move(allows);
  std::erase_if(streams_, [&](const OpenStream& open) {
    if (allows_(open.token)) return false;
    end(open);
    return true;
  });
}

void EventStreams::close_all() {
  std::lock_guard lock{mutex_};
  for (const auto& open : streams_) end(open);
  streams_.clear();
}

void EventStreams::end(const OpenStream& stream) {
  if (auto actor = caf::actor_cast<caf::actor>(stream.actor.lock()))
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

}  // namespace processpype::rest
