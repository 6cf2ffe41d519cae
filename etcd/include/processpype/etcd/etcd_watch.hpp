#pragma once

// A watch of etcd v3 through its JSON gateway: POST /v3/watch answers with
// a chunked stream of JSON objects, one per line. A Watch reads it on a
// thread of its own and hands the events to its owner in revision order,
// each revision once: when the stream breaks (etcd restarted, endpoint
// down, silent too long) it reconnects with backoff, to the next endpoint,
// and resumes right after the last revision it delivered. Watches only make
// the cluster fast; its safety rests on leases and transactions
// (docs/cluster.md).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "processpype/etcd/etcd_client.hpp"

namespace processpype::etcd {

struct WatchEvent {
  enum class Type { put, erase };
  Type type = Type::put;
  /// The key after a put; after an erase only `key` and `mod_revision`.
  KeyValue kv{};
};

struct WatchOptions {
  std::string key{};
  /// Watch every key that starts with `key` instead of `key` alone.
  bool prefix = false;
  /// The first revision to deliver; 0: the changes after the watch starts.
  /// A range read at revision R followed by a watch from R + 1 misses
  /// nothing and sees nothing twice.
  std::int64_t start_revision = 0;
  /// Waits between reconnections: min_backoff, doubling up to max_backoff;
  /// back to min_backoff once a stream is established.
  std::chrono::milliseconds min_backoff = 100ms;
  std::chrono::milliseconds max_backoff = 2s;
  /// When above zero, asks etcd for progress notifications and treats a
  /// stream that stays silent this long as broken. Only for stores started
  /// with --experimental-watch-progress-notify-interval below it (etcd's
  /// default is 10 minutes); otherwise 0: a frozen endpoint whose kernel
  /// still answers then goes unnoticed, a dead host is found by TCP
  /// keep-alive.
  std::chrono::milliseconds silence_timeout = 0ms;
  /// Where the watch logs its reconnections and resynchronizations: the
  /// owner's logger, so the lines take the node's log format and name
  /// (null: spdlog's default logger).
  std::shared_ptr<spdlog::logger> logger{};
};

/// The owner's callbacks, called on the watch's thread, one at a time.
/// They must not throw (what they throw is logged and dropped) and must
/// not destroy the Watch.
struct WatchCallbacks {
  /// The events of one revision, in the order etcd applied them.
  std::function<void(const std::vector<WatchEvent>& events, std::int64_t revision)> on_events{};
  /// etcd compacted its history past the revision the watch needed: events
  /// are lost. The owner reads the keys again (range) and returns the
  /// revision of that read; the watch resumes right after it. What it
  /// throws makes the watch try again after a backoff. Without it, the watch
  /// resumes at `compact_revision`.
  std::function<std::int64_t(std::int64_t compact_revision)> on_resync{};
  /// The stream became established (true) or broke (false); called on
  /// changes only, the first time with the first outcome.
  std::function<void(bool connected)> on_state{};
};

class Watch {
 public:
  /// Use Client::watch.
  Watch(std::shared_ptr<internal::Gateway> gateway, WatchOptions options, WatchCallbacks callbacks);
  /// Stops the watch and joins its thread, promptly (also while connected
  /// and idle, or waiting to reconnect). No callback runs afterwards.
  ~Watch();
  Watch(Watch&&) noexcept;
  Watch& operator=(Watch&&) noexcept;

  /// Whether a stream is established right now.
  bool connected() const noexcept;
  /// The revision the watch resumes from: one past the last it delivered
  /// (0 before the first stream when it started "from now").
  std::int64_t next_revision() const noexcept;
  /// Streams established so far (1 while the first one holds).
  int streams() const noexcept;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace processpype::etcd
