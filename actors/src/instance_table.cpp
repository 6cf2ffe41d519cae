#include "processpype/actors/instance_table.hpp"

#include <algorithm>
#include <functional>
#include <random>

namespace processpype {

namespace {

std::shared_ptr<const ServiceView> make_initial_view(InstanceOrigin origin) {
  auto configuration = std::make_shared<ConfigurationView>();
  configuration->origin = origin;
  auto view = std::make_shared<ServiceView>();
  view->configuration = std::move(configuration);
  return view;
}

/// Every new instance of an origin starts with the same view: sharing it
/// keeps an idle instance small.
const std::shared_ptr<const ServiceView>& initial_view(InstanceOrigin origin) {
  static const auto file = make_initial_view(InstanceOrigin::file);
  static const auto request = make_initial_view(InstanceOrigin::request);
  static const auto cluster = make_initial_view(InstanceOrigin::cluster);
  switch (origin) {
    case InstanceOrigin::file:
      return file;
    case InstanceOrigin::cluster:
      return cluster;
    default:
      return request;
  }
}

std::optional<double> seconds_until(
    const std::optional<std::chrono::steady_clock::time_point>& moment,
    std::chrono::steady_clock::time_point now) {
  if (!moment) return std::nullopt;
  return std::max(0.0, std::chrono::duration<double>(*moment - now).count());
}

/// The status of `view` (`now`: for next_restart_in_seconds) of an
/// instance placed by `cluster` (null: a node instance).
ServiceStatus status_of(const ServiceView& view, const ClusterPlacement* cluster,
                        std::chrono::steady_clock::time_point now) {
  ServiceStatus status;
  status.state = view.state;
  status.error = view.error;
  status.metadata = view.configuration->metadata;
  status.is_configured = view.configuration->is_configured;
  status.restarts = view.restarts;
  status.next_restart_in_seconds = seconds_until(view.next_restart_at, now);
  status.health = view.health;
  status.origin = view.configuration->origin;
  status.overrides = view.configuration->overrides;
  if (cluster) status.cluster = *cluster;
  return status;
}

}  // namespace

TableChanges::TableChanges()
    : boot_(std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32)) {}

TableVersion TableChanges::follow(std::function<void()> wake) {
  std::lock_guard lock{mutex_};
  if (!wake_) wake_ = std::move(wake);
  // Sequentially consistent with publishers' view exchange and their load
  // of followed_: one that still saw false stored its view before this, so
  // the caller's reads after this see it.
  followed_.store(true);
  return {boot_, sequence_.load()};
}

void TableChanges::note(const std::string& name) {
  if (!followed_.load()) return;
  bool wake = false;
  {
    std::lock_guard lock{mutex_};
    sequence_.fetch_add(1, std::memory_order_release);
    changed_.insert(name);
    wake = !std::exchange(woken_, true);
  }
  if (wake && wake_) wake_();
}

TableChanges::Batch TableChanges::take() {
  Batch batch;
  std::lock_guard lock{mutex_};
  batch.version = {boot_, sequence_.load()};
  batch.names.assign(changed_.begin(), changed_.end());
  changed_.clear();
  woken_ = false;
  return batch;
}

void InstanceCounts::add(const ServiceView& view, std::int64_t delta) {
  by_state[static_cast<std::size_t>(view.state)].fetch_add(delta, std::memory_order_relaxed);
  bool not_ready = view.state == ServiceState::starting || view.state == ServiceState::stopping ||
                   view.state == ServiceState::error;
  if (not_ready && view.configuration->enabled)
    enabled_not_ready.fetch_add(delta, std::memory_order_relaxed);
}

InstanceRecord::InstanceRecord(std::string name, std::shared_ptr<const ServiceClass> service_class,
                               std::uint64_t order, std::shared_ptr<InstanceCounts> counts,
                               std::shared_ptr<TableChanges> changes, InstanceOrigin origin,
                               std::shared_ptr<const nlohmann::json> file_metadata,
                               std::shared_ptr<const ClusterPlacement> cluster)
    : name_(std::move(name)),
      service_class_(std::move(service_class)),
      order_(order),
      origin_(origin),
      file_metadata_(std::move(file_metadata)),
      cluster_(std::move(cluster)),
      view_(initial_view(origin)),
      counts_(std::move(counts)),
      changes_(std::move(changes)) {}

void InstanceRecord::publish(std::shared_ptr<const ServiceView> view) {
  const auto& next = *view;
  // seq_cst: see TableChanges::follow.
  auto previous = view_.exchange(std::move(view));
  // Not listed yet: the insert counts it; removed: counted out already.
  if (!listed_.load(std::memory_order_acquire) || removed()) return;
  counts_->add(*previous, -1);
  counts_->add(next, +1);
  changes_->note(name_);
}

std::shared_ptr<const std::string> InstanceRecord::rendered(
    const std::shared_ptr<const ServiceView>& view) const {
  auto cached = rendered_.load(std::memory_order_acquire);
  if (!cached || cached->view != view) {
    // Two readers may both render a new view: the same text, either kept.
    cached = std::make_shared<const RenderedStatus>(
        RenderedStatus{view, status_text(status_of(*view, cluster_.get(), {}))});
    rendered_.store(cached, std::memory_order_release);
  }
  return {cached, &cached->body};
}

std::shared_ptr<const std::string> InstanceRecord::status_body(
    std::chrono::steady_clock::time_point now) const {
  auto current = view();
  if (current->next_restart_at)
    return std::make_shared<const std::string>(
        status_text(status_of(*current, cluster_.get(), now)));
  return rendered(current);
}

std::shared_ptr<const std::string> InstanceRecord::timeless_status_body() const {
  auto current = view();
  return current->next_restart_at ? nullptr : rendered(current);
}

ServiceStatus InstanceRecord::status(std::chrono::steady_clock::time_point now) const {
  return status_of(*view(), cluster_.get(), now);
}

nlohmann::json InstanceRecord::status_json(std::chrono::steady_clock::time_point now) const {
  return to_json(status_of(*view(), cluster_.get(), now));
}

std::size_t InstanceListing::first_after(std::uint64_t after) const {
  if (after == 0) return 0;
  const RecordPtr* begin = storage_->slots.get();
  auto found = std::upper_bound(
      begin, begin + count_, after,
      [](std::uint64_t order, const RecordPtr& record) { return order < record->order(); });
  return static_cast<std::size_t>(found - begin);
}

InstanceTable::InstanceTable() : storage_(std::make_shared<InstanceListing::Storage>(64)) {
  publish_listing();
}

InstanceTable::Shard& InstanceTable::shard_of(std::string_view name) const {
  return shards_[std::hash<std::string_view>{}(name) % shard_count];
}

RecordPtr InstanceTable::find(std::string_view name) const {
  auto& shard = shard_of(name);
  std::lock_guard lock{shard.mutex};
  auto found = shard.records.find(name);
  return found == shard.records.end() ? nullptr : found->second;
}

std::optional<std::uint64_t> InstanceTable::order_of(std::string_view name) const {
  if (auto record = find(name)) return record->order();
  return removed_orders_.find(name);
}

InstanceListing InstanceTable::listing() const {
  std::lock_guard lock{listing_mutex_};
  return listing_;
}

RecordPtr InstanceTable::make_record(std::string name,
                                     std::shared_ptr<const ServiceClass> service_class,
                                     InstanceOrigin origin,
                                     std::shared_ptr<const nlohmann::json> file_metadata,
                                     std::shared_ptr<const ClusterPlacement> cluster) {
  return std::make_shared<InstanceRecord>(std::move(name), std::move(service_class), next_order_++,
                                          counts_, changes_, origin, std::move(file_metadata),
                                          std::move(cluster));
}

namespace {

/// What `overrides` compares with the file's (node_start.cpp,
/// file_metadata): the status's metadata, but each secret field as the
/// instance stores it, since statuses show every set secret as "***" and a
/// changed secret would look like the file's. Never rendered.
nlohmann::json overrides_basis(const ServiceLifecycle& lifecycle) {
  auto metadata = lifecycle.status().metadata;
  const auto& stored = lifecycle.stored_configuration();
  for (const auto& name : lifecycle.configuration().secret_field_names())
    metadata[name] = stored && stored->is_object() ? stored->value(name, nlohmann::json(nullptr))
                                                   : nlohmann::json(nullptr);
  return metadata;
}

}  // namespace

std::shared_ptr<const ConfigurationView> describe_configuration(const ServiceLifecycle& lifecycle,
                                                                const InstanceRecord& record) {
  const auto& configuration = lifecycle.configuration();
  const auto& status = lifecycle.status();
  auto view = std::make_shared<ConfigurationView>();
  view->metadata = status.metadata;
  view->stored = lifecycle.stored_configuration();
  view->is_configured = status.is_configured;
  view->depends_on = configuration.depends_on;
  view->enabled = configuration.enabled;
  view->origin = record.origin();
  // A file instance differs from its file once configured otherwise; one
  // never configured differs from nothing.
  if (record.file_metadata() && status.is_configured)
    view->overrides = overridden_fields(overrides_basis(lifecycle), *record.file_metadata());
  return view;
}

void InstanceTable::insert(RecordPtr record) {
  if (count_ == storage_->capacity) {
    // Readers keep the old storage; the new one starts as its copy.
    auto grown = std::make_shared<InstanceListing::Storage>(2 * storage_->capacity);
    std::copy(storage_->slots.get(), storage_->slots.get() + count_, grown->slots.get());
    storage_ = std::move(grown);
  }
  storage_->slots[count_++] = record;
  {
    auto& shard = shard_of(record->name());
    std::lock_guard lock{shard.mutex};
    shard.records.emplace(record->name(), record);
  }
  size_.fetch_add(1, std::memory_order_relaxed);
  record->listed_.store(true, std::memory_order_release);
  counts_->add(*record->view(), +1);
  publish_listing();
  changes_->note(record->name());
}

void InstanceTable::erase(const std::string& name) {
  RecordPtr record;
  {
    auto& shard = shard_of(name);
    std::lock_guard lock{shard.mutex};
    auto found = shard.records.find(name);
    if (found == shard.records.end()) return;
    record = std::move(found->second);
    // Remembered before the name leaves the shard: order_of never misses
    // it in between.
    removed_orders_.remember(name, record->order());
    shard.records.erase(found);
  }
  record->removed_.store(true, std::memory_order_release);
  counts_->add(*record->view(), -1);
  size_.fetch_sub(1, std::memory_order_relaxed);
  changes_->note(name);
  if (++removed_ > 1024 && removed_ > count_ / 2) compact();
}

void InstanceTable::compact() {
  auto live = count_ - removed_;
  auto compacted = std::make_shared<InstanceListing::Storage>(std::max<std::size_t>(64, 2 * live));
  std::size_t kept = 0;
  for (std::size_t i = 0; i < count_; ++i)
    if (!storage_->slots[i]->removed()) compacted->slots[kept++] = storage_->slots[i];
  storage_ = std::move(compacted);
  count_ = kept;
  removed_ = 0;
  publish_listing();
}

void RemovedOrders::remember(const std::string& name, std::uint64_t order) {
  std::lock_guard lock{mutex_};
  removals_.emplace_back(name, order);
  orders_.insert_or_assign(name, order);
  if (removals_.size() <= capacity) return;
  const auto& [oldest_name, oldest_order] = removals_.front();
  auto remembered = orders_.find(oldest_name);
  if (remembered != orders_.end() && remembered->second == oldest_order) orders_.erase(remembered);
  removals_.pop_front();
}

std::optional<std::uint64_t> RemovedOrders::find(std::string_view name) const {
  std::lock_guard lock{mutex_};
  auto found = orders_.find(name);
  if (found == orders_.end()) return std::nullopt;
  return found->second;
}

void InstanceTable::publish_listing() {
  InstanceListing listing;
  listing.storage_ = storage_;
  listing.count_ = count_;
  std::lock_guard lock{listing_mutex_};
  listing_ = std::move(listing);
}

}  // namespace processpype
