#pragma once

// A node (an embedded Runtime on an actor system of its own) with
// communications pointed at test receivers, for the tests of a node's side
// of docs/communications.md: emit from services and embedders, the node's
// alerts, the end's flush.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "communications_fixtures.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/runtime/logging.hpp"

namespace processpype::testing {

/// Communications with one webhook backend `hook` at `receiver` (path
/// /hook), handling `labels`; alerts as given; fast retries.
inline CommunicationsOptions hook_to(const HttpReceiver& receiver,
                                     std::vector<std::string> labels = {"default"},
                                     bool alerts = false,
                                     std::chrono::milliseconds alerts_min_interval = 60s) {
  CommunicationsOptions options;
  options.backends = {webhook_backend("hook", receiver.url("/hook"), std::move(labels))};
  options.alerts = alerts;
  options.alerts_min_interval = alerts_min_interval;
  options.dispatcher = test_options();
  return options;
}

/// A Runtime with `communications`, node id `id` (empty: the default,
/// which publish() sets); the middleman is loaded so that it may publish.
class TestNode {
 public:
  explicit TestNode(std::optional<CommunicationsOptions> communications, std::string id = "node-1",
                    std::chrono::milliseconds flush_timeout = 2s) {
    configure_logging(spdlog::level::off, LogFormat::text);
    Runtime::add_types(config_);
    config_.load<caf::io::middleman>();
    system_ = std::make_unique<caf::actor_system>(config_);
    RuntimeOptions options;
    options.node_id = std::move(id);
    if (communications) communications->flush_timeout = flush_timeout;
    options.communications = std::move(communications);
    runtime_ = std::make_unique<Runtime>(*system_, std::move(options));
  }
  ~TestNode() { end(); }
  TestNode(const TestNode&) = delete;
  TestNode& operator=(const TestNode&) = delete;

  Runtime* operator->() { return runtime_.get(); }
  Runtime& runtime() { return *runtime_; }

  /// Stops the services and ends the Runtime (which flushes), then the system.
  void end() {
    if (!runtime_) return;
    runtime_->stop_all(5s);
    runtime_.reset();
    system_.reset();
  }

 private:
  caf::actor_system_config config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<Runtime> runtime_;
};

}  // namespace processpype::testing
