#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <variant>

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "internal_protocol.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype {

/// A user's configure, as written ahead: the stored form of the
/// configuration (secrets as given or as their references, never as stars:
/// docs/secrets.md). nullopt: no configuration, what a configure the service
/// refused writes back for an instance that had none (docs/state.md).
struct ConfigurationChange {
  std::optional<nlohmann::json> stored;
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
  /// What the store holds as the instance's configuration, as far as this
  /// writer knows: what it wrote last, else what the store held when the
  /// writer was made; nullopt: none. A configure that the service refuses
  /// after it was written writes this back (docs/state.md). Read by the
  /// actor while no write of its own is in flight.
  virtual std::optional<nlohmann::json> stored_configuration() const = 0;
  /// The instance's deregistration is about to be written: changes from
  /// now on are refused (409) instead of written, so that none lands after
  /// its tombstone (a file instance's first change re-creates its row, and
  /// would bring it back at the next start). Those written before come
  /// before the tombstone.
  virtual void retire() {}
};

/// A value that a writer's completions set on the store's thread while an
/// actor reads it: a revived actor may read while a write of the actor it
/// replaces still completes.
template <class T>
class LockedValue {
 public:
  explicit LockedValue(T value = {}) : value_(std::move(value)) {}
  T get() const {
    std::lock_guard lock{mutex_};
    return value_;
  }
  void set(T value) {
    std::lock_guard lock{mutex_};
    value_ = std::move(value);
  }

 private:
  mutable std::mutex mutex_;
  T value_;
};

/// Writes the changes of instance `name` (of class `class_key`) to the
/// node's state file. `stored_configuration`: its row's configuration, for
/// an instance restored from the file.
std::shared_ptr<ChangeWriter> state_file_writer(
    std::shared_ptr<state::StateStore> store, std::string name, std::string class_key,
    InstanceOrigin origin, std::optional<nlohmann::json> stored_configuration = std::nullopt);
/// The writer of a registered instance `record`, with no stored configuration.
std::shared_ptr<ChangeWriter> state_file_writer(std::shared_ptr<state::StateStore> store,
                                                const InstanceRecord& record);

}  // namespace processpype
