#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "processpype/actors/cluster.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/actors/node_directory.hpp"
#include "processpype/communications/dispatcher.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype::rest {

/// Counts requests by method, route template and status, and their
/// durations, for /metrics (docs/operations.md). Counting takes no lock:
/// each thread keeps its own pointers to the series it has seen, and the
/// series are atomics; only a series' first request on a thread locks.
class HttpMetrics {
 public:
  HttpMetrics();
  ~HttpMetrics();
  HttpMetrics(const HttpMetrics&) = delete;
  HttpMetrics& operator=(const HttpMetrics&) = delete;

  void observe(std::string_view method, std::string_view route, int status,
               std::chrono::nanoseconds duration);

  /// Appends processpype_http_requests_total and
  /// processpype_http_request_duration_seconds in the text format.
  void render(std::string& out) const;

 private:
  struct Series;
  Series& series(std::string_view method, std::string_view route);

  const std::uint64_t id_;  ///< never reused: keys the threads' caches
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Series>> series_;
};

/// Where the series of /metrics come from; null parts are left out.
struct MetricSources {
  const InstanceTable& table;
  const NodeDirectory& directory;
  const HttpMetrics* http = nullptr;
  const state::StateStore* state = nullptr;
  const Cluster* cluster = nullptr;
  /// The node's communications backends (docs/communications.md).
  const communications::Dispatcher* messages = nullptr;
};

/// The whole /metrics document: the node's instances and nodes, HTTP
/// requests, the state file and the process (docs/operations.md lists every
/// series).
std::string render_metrics(const MetricSources& sources);

}  // namespace processpype::rest
