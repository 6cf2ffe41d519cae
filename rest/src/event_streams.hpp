#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "authorizer.hpp"
#include "processpype/actors/node_directory.hpp"
#include "processpype/rest/http_exchange.hpp"

namespace processpype::rest {

/// Where a stream's events come from.
class RenderedEvents;

struct StreamSource {
  std::string node;  ///< the node's id
  EventFeedActor feed;
};

/// Server-Sent Events streams of events (docs/operations.md, "Events"). A
/// stream is an actor that subscribes to one node's EventFeed (or, for the
/// cluster scope, to every node that is up, including nodes that come up
/// later) and writes each batch to the HTTP response as it arrives. It
/// counts the events handed to the connection and not yet written to the
/// socket: a client that falls more than 1,000 behind is disconnected, so a
/// stalled client costs bounded memory: its connection is reset, and the
/// kernel holds at most a small send buffer for it meanwhile. A comment line every 15 s keeps
/// proxies from closing an idle stream and finds dead clients.
class EventStreams {
 public:
  static constexpr std::uint64_t max_events_behind = 1000;

  /// Runs with each stream's head before it is sent: the Api counts and
  /// logs the request, and adds its id (docs/operations.md).
  using Opening = std::function<void(const ExchangePtr& exchange, HttpResponse& head)>;

  EventStreams(caf::actor_system& system, std::shared_ptr<NodeDirectory> directory,
               std::size_t limit, Opening opening = {});
  ~EventStreams();
  EventStreams(const EventStreams&) = delete;
  EventStreams& operator=(const EventStreams&) = delete;

  /// Opens a stream on `exchange`: replays what `source` keeps after
  /// `after` (of boot `boot`; another boot replays everything after a
  /// `gap` event), then follows. No source: the cluster scope, live events
  /// of every node that is up. Returns false (and opens nothing) when
  /// `limit` streams are open already.
  bool open(const ExchangePtr& exchange, const std::optional<StreamSource>& source,
            std::uint64_t after, const std::string& boot);

  std::size_t open_streams() const noexcept { return open_->load(); }

  /// Whether a stream opened with a token (of this digest; nothing: none)
  /// may go on.
  using Access = std::function<bool(const std::optional<TokenDigest>& token)>;
  /// The tokens changed: ends every stream that `allows` refuses, and each
  /// one it refuses that opens from now on (its token was checked against
  /// the tokens before).
  void restrict_access(Access allows);

  /// Ends every stream (the server is stopping).
  void close_all();

 private:
  caf::actor_system& system_;
  std::shared_ptr<NodeDirectory> directory_;
  std::size_t limit_;
  Opening opening_;
  std::shared_ptr<std::atomic<std::size_t>> open_ = std::make_shared<std::atomic<std::size_t>>(0);
  std::shared_ptr<RenderedEvents> rendered_;
  struct OpenStream {
    caf::weak_actor_ptr actor;
    std::optional<TokenDigest> token;
  };

  static void end(const OpenStream& stream);

  std::mutex mutex_;
  std::vector<OpenStream> streams_;
  Access allows_;
};

/// One event as Server-Sent Events text: `id`, `event`, `data` lines.
std::string format_event(const Event& event);

}  // namespace processpype::rest
