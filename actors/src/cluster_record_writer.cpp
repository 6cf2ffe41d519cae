#include "cluster_record_writer.hpp"

#include <fmt/format.h>

namespace processpype {

caf::error refusal_of(const cluster::WriteResult& result, const std::string& name) {
  using cluster::WriteOutcome;
  switch (result.outcome) {
    case WriteOutcome::ok:
      return caf::none;
    case WriteOutcome::exists:
      return make_error(ErrorCode::conflict, fmt::format("Service {} already exists", name));
    case WriteOutcome::conflict:
      return make_error(
          ErrorCode::conflict,
          fmt::format("Service {} was changed meanwhile: read it and try again", name));
    case WriteOutcome::being_deleted:
      return make_error(ErrorCode::conflict,
                        fmt::format("Service {} is being deleted (its owner is stopping it): "
                                    "register it again once it has stopped",
                                    name));
    case WriteOutcome::not_found:
      return make_error(ErrorCode::not_found, fmt::format("Service {} not found", name));
    case WriteOutcome::not_owner:
      return make_error(ErrorCode::node_unavailable,
                        fmt::format("Service {} moved to another node: try again", name));
    case WriteOutcome::invalid:
      return make_error(ErrorCode::bad_request, result.detail);
    case WriteOutcome::unreachable:
      return make_error(ErrorCode::node_unavailable, "cluster store unreachable");
    case WriteOutcome::rejected:
      return make_error(ErrorCode::service_failure, "cluster store refused: " + result.detail);
    case WriteOutcome::stopping:
      return make_error(ErrorCode::node_unavailable, "The node is shutting down");
  }
  return make_error(ErrorCode::service_failure, result.detail);
}

void ClusterRecordWriter::write(InstanceChange change, Done done) {
  cluster::RecordUpdate update;
  if (auto* configured = std::get_if<ConfigurationChange>(&change))
    // A record always holds an object: an empty one is no configuration
    // (docs/cluster.md, "Records").
    update.configuration = std::move(configured->stored).value_or(nlohmann::json::object());
  else
    update.desired = std::get<DesiredStateChange>(change).running ? cluster::DesiredState::running
                                                                  : cluster::DesiredState::stopped;
  std::optional<nlohmann::json> written = update.configuration;  // the coordinator takes it
  coordinator_->update_record(name_, std::move(update), revision_.load(),
                              [self = shared_from_this(), written = std::move(written),
                               done = std::move(done)](const cluster::WriteResult& result) {
                                if (result.ok()) {
                                  self->revision_.store(result.revision);
                                  if (written) self->written_configuration_.set(written);
                                }
                                done(refusal_of(result, self->name_));
                              });
}

std::optional<nlohmann::json> ClusterRecordWriter::stored_configuration() const {
  auto configuration = written_configuration_.get();
  if (!configuration) {
    auto instance = coordinator_->instance(name_);
    if (!instance) return std::nullopt;
    configuration = std::move(instance->record.configuration);
  }
  if (configuration->empty()) return std::nullopt;
  return configuration;
}

}  // namespace processpype
