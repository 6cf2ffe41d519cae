#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "change_writer.hpp"
#include "processpype/cluster/coordinator.hpp"

namespace processpype {

/// The refusal a command on cluster instance `name` answers with when the
/// store did not take its write (docs/cluster.md, "Records"); none for ok.
caf::error refusal_of(const cluster::WriteResult& result, const std::string& name);

/// Writes a cluster instance's changes to its record, as its owner: a
/// transaction that compares the record's revision (the one this node
/// wrote or acquired last) and this node's owner key.
class ClusterRecordWriter final : public ChangeWriter,
                                  public std::enable_shared_from_this<ClusterRecordWriter> {
 public:
  ClusterRecordWriter(std::shared_ptr<cluster::Coordinator> coordinator, std::string name,
                      std::int64_t revision)
      : coordinator_(std::move(coordinator)), name_(std::move(name)), revision_(revision) {}

  void write(InstanceChange change, Done done) override;
  /// A stop that cannot be written is refused: another node may own the
  /// instance already, and its record still says running.
  bool stop_acts_unwritten() const noexcept override { return false; }
  /// What this writer wrote last, else the record's as this node's view
  /// has it: only the owner writes a record, so until this writer writes a
  /// configuration, the view's is the one the instance was acquired with.
  std::optional<nlohmann::json> stored_configuration() const override;

 private:
  std::shared_ptr<cluster::Coordinator> coordinator_;
  std::string name_;
  /// Written on the coordinator's thread, read on the actor's: the actor
  /// writes one change at a time, so they never overlap.
  std::atomic<std::int64_t> revision_;
  /// The configuration this writer wrote last, as the record holds it ({}:
  /// none); nullopt until it writes one.
  LockedValue<std::optional<nlohmann::json>> written_configuration_;
};

}  // namespace processpype
