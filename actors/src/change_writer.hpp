#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <variant>

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "internal_protocol.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype {

/// A user's configure, as written ahead: the stored form of the
/// configuration (secrets as their references, docs/secrets.md).
struct ConfigurationChange {
  nlohmann::json stored;
};

/// A user's start (running) or stop.
struct DesiredStateChange {
  bool running = true;
};

using InstanceChange = std::variant<ConfigurationChange, DesiredStateChange>;

/// Where a service actor writes a user's change before it acts on it: the
/// node's state file (docs/state.md, "Write-ahead") or, for a cluster
/// instance, its record in the cluster store (docs/cluster.md, "Records").
/// One per instance; the actor writes one change at a time (later commands
/// wait), so writers see them in order.
class ChangeWriter {
 public:
  /// `failure` is none when the change was written, else the refusal the
  /// command answers with. Called on any thread.
  using Done = std::function<void(caf::error failure)>;

  virtual ~ChangeWriter() = default;
  virtual void write(InstanceChange change, Done done) = 0;
  /// write(), then tells `actor` how it went: (committed_atom, ticket,
  /// failure). A writer may send it straight from its own completion, as the
  /// state file's does: one callback less per change, on a path every
  /// user's start and stop takes.
  virtual void write_and_notify(InstanceChange change, const ServiceActor& actor,
                                std::uint64_t ticket);
  /// Whether a stop acts although its change could not be written: yes for
  /// the state file (an operator must be able to stop things during an
  /// incident; the reply warns), no for a cluster record (the instance may
  /// belong to another node already).
  virtual bool stop_acts_unwritten() const noexcept = 0;
};

/// Writes the changes of `record`'s instance to the node's state file.
std::shared_ptr<ChangeWriter> state_file_writer(std::shared_ptr<state::StateStore> store,
                                                const InstanceRecord& record);

}  // namespace processpype
