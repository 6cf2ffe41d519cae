#include "processpype/cluster/coordinator.hpp"

#include <future>
#include <stdexcept>

#include "coordinator_impl.hpp"
#include "processpype/runtime/logging.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::cluster {

namespace {

/// The coordinator whose callback runs on this thread, if any.
thread_local const Coordinator::Impl* delivering = nullptr;

struct DeliveryScope {
  explicit DeliveryScope(const Coordinator::Impl* impl) : previous(delivering) {
    delivering = impl;
  }
  ~DeliveryScope() { delivering = previous; }
  DeliveryScope(const DeliveryScope&) = delete;
  DeliveryScope& operator=(const DeliveryScope&) = delete;
  const Coordinator::Impl* previous;
};

CoordinatorOptions checked(CoordinatorOptions options) {
  if (!is_valid_node_id(options.node.id))
    throw std::invalid_argument(
        "a cluster node id must be non-empty, without '/' or control "
        "characters, at most 256 bytes: \"" +
        options.node.id + "\"");
  if (options.batch_size < 1 || options.batch_size > 64)
    throw std::invalid_argument("the batch size must be between 1 and 64");
  if (options.placement_delay < std::chrono::milliseconds(0))
    throw std::invalid_argument("the placement delay cannot be negative");
  options.node.cordoned = false;
  options.node.classes = sorted_set(std::move(options.node.classes));
  return options;
}

/// The client options of the lease's renewals: each renewal bounded by
/// its own timeout, whatever the store's calls get.
etcd::ClientOptions lease_client_options(etcd::ClientOptions options, const LeaseTiming& timing) {
  options.request_timeout = std::min(options.request_timeout, timing.renewal_timeout());
  options.connect_timeout = std::min(options.connect_timeout, options.request_timeout);
  return options;
}

}  // namespace

std::string_view to_string(LeaseHealth health) noexcept {
  switch (health) {
    case LeaseHealth::secure:
      return "secure";
    case LeaseHealth::at_risk:
      return "at_risk";
    case LeaseHealth::lost:
      return "lost";
  }
  return "unknown";
}

std::string_view to_string(WriteOutcome outcome) noexcept {
  switch (outcome) {
    case WriteOutcome::ok:
      return "ok";
    case WriteOutcome::exists:
      return "exists";
    case WriteOutcome::conflict:
      return "conflict";
    case WriteOutcome::being_deleted:
      return "being_deleted";
    case WriteOutcome::not_found:
      return "not_found";
    case WriteOutcome::not_owner:
      return "not_owner";
    case WriteOutcome::invalid:
      return "invalid";
    case WriteOutcome::unreachable:
      return "unreachable";
    case WriteOutcome::rejected:
      return "rejected";
    case WriteOutcome::stopping:
      return "stopping";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Impl: life

Coordinator::Impl::Impl(CoordinatorOptions options, CoordinatorCallbacks callbacks)
    : options_(checked(std::move(options))),
      callbacks_(std::move(callbacks)),
      layout_(options_.cluster_name),
      timing_(options_.lease_seconds, options_.stop_allowance),
      log_(make_logger("processpype.cluster")),
      store_([this] {
        // Every call of both clients is counted, then shown to the node's hook.
        auto hook = options_.store.on_request;
        options_.store.on_request = [this, hook](std::chrono::nanoseconds duration, bool ok) {
          store_calls_.fetch_add(1);
          if (!ok) store_errors_.fetch_add(1);
          if (hook) hook(duration, ok);
        };
        return etcd::Client(options_.store);
      }()),
      view_(layout_, log_),
      registration_(options_.node) {
  lease_keeper_ = std::make_unique<internal::NodeLease>(
      etcd::Client(lease_client_options(options_.store, timing_)), timing_, lease_signals(), log_);
}

Coordinator::Impl::~Impl() {
  lease_keeper_->stop(false);
  if (worker_) worker_->stop();
  watch_.reset();
}

void Coordinator::Impl::start() {
  if (started_.exchange(true)) throw std::logic_error("Coordinator::start called twice");
  worker_ = std::make_unique<internal::TaskQueue>();
  worker_->post({[this] { load_view(); }});
  lease_keeper_->start();
}

void Coordinator::Impl::leave() {
  forbid_waiting("leave");
  if (!started_.load() || leaving_.exchange(true)) return;
  wait_for("leave", [this](WriteDone done) {
    worker_->post({[this, done] { release_all_for_leave(done); },
                   [this, done] { finish(done, {WriteOutcome::stopping}); }});
  });
  lease_keeper_->stop(true);
  worker_->stop();
  watch_.reset();
}

void Coordinator::Impl::forbid_waiting(const char* member) const {
  if (delivering == this || (worker_ && worker_->on_worker_thread()))
    throw std::logic_error(std::string("Coordinator::") + member +
                           " waits for the store: not from a coordinator callback");
}

WriteResult Coordinator::Impl::wait_for(const char* member,
                                        const std::function<void(WriteDone)>& start) {
  forbid_waiting(member);
  auto promise = std::make_shared<std::promise<WriteResult>>();
  auto future = promise->get_future();
  start([promise](const WriteResult& result) { promise->set_value(result); });
  return future.get();
}

void Coordinator::Impl::post_operation(WriteDone done,
                                       std::function<void(const WriteDone&)> operation) {
  if (!started_.load()) {
    finish(done, {WriteOutcome::stopping, 0, "the coordinator is not started"});
    return;
  }
  worker_->post({[done, operation = std::move(operation)] { operation(done); },
                 [this, done] {
                   finish(done, {WriteOutcome::stopping, 0, "stopping"});
                 }});
}

void Coordinator::Impl::finish(const WriteDone& done, WriteResult result) {
  if (!done) return;
  DeliveryScope scope(this);
  try {
    done(result);
  } catch (const std::exception& error) {
    log_->error("cluster coordinator: a completion callback threw: {}", error.what());
  } catch (...) {
    log_->error("cluster coordinator: a completion callback threw");
  }
}

void Coordinator::Impl::change_and_tell(const std::function<void(Deliveries&)>& change) {
  std::lock_guard order{callback_mutex_};
  Deliveries deliveries;
  {
    std::lock_guard lock{mutex_};
    change(deliveries);
  }
  changed_.notify_all();
  DeliveryScope scope(this);
  for (const auto& delivery : deliveries) {
    try {
      delivery();
    } catch (const std::exception& error) {
      log_->error("cluster coordinator: a callback threw: {}", error.what());
    } catch (...) {
      log_->error("cluster coordinator: a callback threw");
    }
  }
}

// ---------------------------------------------------------------------------
// Coordinator

Coordinator::Coordinator(CoordinatorOptions options, CoordinatorCallbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(callbacks))) {}

Coordinator::~Coordinator() = default;

void Coordinator::start() {
  impl_->start();
}

bool Coordinator::wait_until_registered(std::chrono::milliseconds timeout) const {
  std::unique_lock lock{impl_->mutex_};
  return impl_->changed_.wait_for(lock, timeout, [&] { return impl_->lease_.registered; });
}

bool Coordinator::wait_until_view_at(std::int64_t revision,
                                     std::chrono::milliseconds timeout) const {
  std::unique_lock lock{impl_->mutex_};
  return impl_->changed_.wait_for(lock, timeout,
                                  [&] { return impl_->view_.revision() >= revision; });
}

void Coordinator::create_record(std::string name, InstanceRecord record, CreateMode mode,
                                WriteDone done) {
  if (!is_valid_instance_name(name)) {
    impl_->finish(done, {WriteOutcome::invalid, 0, "invalid instance name \"" + name + "\""});
    return;
  }
  if (record.class_key.empty() || !record.configuration.is_object() || record.tombstone) {
    impl_->finish(done, {WriteOutcome::invalid, 0,
                         "a record needs a class and a JSON object as configuration"});
    return;
  }
  record.nodes = sorted_set(std::move(record.nodes));
  impl_->post_operation(std::move(done), [impl = impl_.get(), name = std::move(name),
                                          record = std::move(record), mode](const WriteDone& done) {
    impl->create_record(name, record, mode, done);
  });
}

WriteResult Coordinator::create_record(std::string name, InstanceRecord record, CreateMode mode) {
  return impl_->wait_for("create_record", [&](WriteDone done) {
    create_record(std::move(name), std::move(record), mode, std::move(done));
  });
}

void Coordinator::update_record(std::string name, RecordUpdate update,
                                std::int64_t expected_revision, WriteDone done) {
  if (!update.configuration && !update.desired) {
    impl_->finish(done, {WriteOutcome::invalid, 0, "an update that changes nothing"});
    return;
  }
  if (update.configuration && !update.configuration->is_object()) {
    impl_->finish(done, {WriteOutcome::invalid, 0, "a configuration must be a JSON object"});
    return;
  }
  impl_->post_operation(std::move(done),
                        [impl = impl_.get(), name = std::move(name), update = std::move(update),
                         expected_revision](const WriteDone& done) {
                          impl->rewrite_record(
                              name, expected_revision,
                              [&update](InstanceRecord& record) {
                                if (update.configuration)
                                  record.configuration = *update.configuration;
                                if (update.desired) record.desired = *update.desired;
                              },
                              done);
                        });
}

WriteResult Coordinator::update_record(std::string name, RecordUpdate update,
                                       std::int64_t expected_revision) {
  return impl_->wait_for("update_record", [&](WriteDone done) {
    update_record(std::move(name), std::move(update), expected_revision, std::move(done));
  });
}

void Coordinator::remove_record(std::string name, WriteDone done) {
  impl_->post_operation(std::move(done),
                        [impl = impl_.get(), name = std::move(name)](const WriteDone& done) {
                          impl->rewrite_record(
                              name, 0,
                              [](InstanceRecord& record) {
                                record.tombstone = true;
                                record.desired = DesiredState::stopped;
                              },
                              done);
                        });
}

WriteResult Coordinator::remove_record(std::string name) {
  return impl_->wait_for("remove_record",
                         [&](WriteDone done) { remove_record(std::move(name), std::move(done)); });
}

void Coordinator::remove_unowned_record(std::string name, WriteDone done) {
  impl_->post_operation(std::move(done),
                        [impl = impl_.get(), name = std::move(name)](const WriteDone& done) {
                          impl->remove_unowned_record(name, done);
                        });
}

WriteResult Coordinator::remove_unowned_record(std::string name) {
  return impl_->wait_for("remove_unowned_record", [&](WriteDone done) {
    remove_unowned_record(std::move(name), std::move(done));
  });
}

void Coordinator::purge_record(std::string name, WriteDone done) {
  impl_->post_operation(std::move(done),
                        [impl = impl_.get(), name = std::move(name)](const WriteDone& done) {
                          impl->purge_record(name, done);
                        });
}

WriteResult Coordinator::purge_record(std::string name) {
  return impl_->wait_for("purge_record",
                         [&](WriteDone done) { purge_record(std::move(name), std::move(done)); });
}

void Coordinator::release(std::string name, WriteDone done) {
  impl_->post_operation(std::move(done),
                        [impl = impl_.get(), name = std::move(name)](const WriteDone& done) {
                          impl->queue_release(name, done);
                        });
}

WriteResult Coordinator::release(std::string name) {
  return impl_->wait_for("release",
                         [&](WriteDone done) { release(std::move(name), std::move(done)); });
}

void Coordinator::decline(std::string name, WriteDone done) {
  impl_->post_operation(std::move(done), [impl = impl_.get(), name = std::move(name)](
                                             const WriteDone& done) { impl->decline(name, done); });
}

WriteResult Coordinator::decline(std::string name) {
  return impl_->wait_for("decline",
                         [&](WriteDone done) { decline(std::move(name), std::move(done)); });
}

void Coordinator::withdraw_decline(std::string name, WriteDone done) {
  impl_->post_operation(std::move(done),
                        [impl = impl_.get(), name = std::move(name)](const WriteDone& done) {
                          impl->withdraw_decline(name, done);
                        });
}

WriteResult Coordinator::withdraw_decline(std::string name) {
  return impl_->wait_for("withdraw_decline", [&](WriteDone done) {
    withdraw_decline(std::move(name), std::move(done));
  });
}

void Coordinator::drain(WriteDone done) {
  impl_->post_operation(std::move(done),
                        [impl = impl_.get()](const WriteDone& done) { impl->drain(done); });
}

WriteResult Coordinator::drain() {
  return impl_->wait_for("drain", [&](WriteDone done) { drain(std::move(done)); });
}

void Coordinator::uncordon(WriteDone done) {
  impl_->post_operation(std::move(done),
                        [impl = impl_.get()](const WriteDone& done) { impl->uncordon(done); });
}

WriteResult Coordinator::uncordon() {
  return impl_->wait_for("uncordon", [&](WriteDone done) { uncordon(std::move(done)); });
}

void Coordinator::rebalance(WriteDone done) {
  impl_->post_operation(std::move(done), [impl = impl_.get()](const WriteDone& done) {
    impl->request_rebalance(done);
  });
}

WriteResult Coordinator::rebalance() {
  return impl_->wait_for("rebalance", [&](WriteDone done) { rebalance(std::move(done)); });
}

void Coordinator::leave() {
  impl_->leave();
}

void Coordinator::stop_placing() {
  impl_->stop_placing();
}

std::vector<ClusterInstance> Coordinator::instances(bool with_tombstones) const {
  std::lock_guard lock{impl_->mutex_};
  std::vector<ClusterInstance> instances;
  for (const auto& [name, instance] : impl_->view_.instances()) {
    if (!instance.record || (instance.record->tombstone && !with_tombstones)) continue;
    instances.push_back(impl_->view_.describe(name, instance));
  }
  return instances;
}

std::optional<ClusterInstance> Coordinator::instance(std::string_view name,
                                                     bool with_tombstones) const {
  std::lock_guard lock{impl_->mutex_};
  const auto* instance = impl_->view_.instance(std::string(name));
  if (instance == nullptr || !instance->record) return std::nullopt;
  if (instance->record->tombstone && !with_tombstones) return std::nullopt;
  return impl_->view_.describe(std::string(name), *instance);
}

std::vector<NodeInfo> Coordinator::nodes() const {
  std::lock_guard lock{impl_->mutex_};
  std::vector<NodeInfo> nodes;
  for (const auto& [id, node] : impl_->view_.nodes())
    nodes.push_back({node.registration, node.lease});
  return nodes;
}

std::vector<std::string> Coordinator::owned() const {
  std::lock_guard lock{impl_->mutex_};
  std::vector<std::string> names;
  for (const auto& [name, owned] : impl_->owned_) names.push_back(name);
  return names;
}

std::optional<std::string> Coordinator::preferred_owner(std::string_view name) const {
  std::lock_guard lock{impl_->mutex_};
  return impl_->view_.preferred_owner(std::string(name));
}

std::int64_t Coordinator::view_revision() const {
  std::lock_guard lock{impl_->mutex_};
  return impl_->view_.revision();
}

LeaseStatus Coordinator::lease_status() const {
  std::lock_guard lock{impl_->mutex_};
  const auto& lease = impl_->lease_;
  return {lease.id, lease.registered, lease.health, lease.confirmed_at, lease.lost_at};
}

std::optional<bool> Coordinator::store_reachable() const {
  auto state = impl_->reachable_.load();
  if (state < 0) return std::nullopt;
  return state == 1;
}

CoordinatorMetrics Coordinator::metrics() const {
  CoordinatorMetrics metrics;
  {
    std::lock_guard lock{impl_->mutex_};
    metrics.instances_owned = impl_->owned_.size();
    metrics.failovers_total = impl_->failovers_;
    metrics.acquisitions_total = impl_->acquisitions_;
    metrics.releases_total = impl_->releases_;
  }
  metrics.renewals_total = impl_->lease_keeper_->renewals();
  metrics.store_calls_total = impl_->store_calls_.load();
  metrics.store_errors_total = impl_->store_errors_.load();
  metrics.store_requests_total =
      impl_->store_.requests_sent() + impl_->lease_keeper_->requests_sent();
  return metrics;
}

const std::string& Coordinator::node_id() const noexcept {
  return impl_->options_.node.id;
}

}  // namespace processpype::cluster
