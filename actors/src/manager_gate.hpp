#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include <caf/error.hpp>

#include "processpype/runtime/events.hpp"
#include "processpype/runtime/lifecycle.hpp"

namespace processpype {

/// A manager call the actor waits for. `late`: it outlived its timeout and
/// was answered as timed out, but it still runs (the manager stays busy).
struct CallInFlight {
  std::uint64_t id = 0;
  ServiceLifecycle::Call kind = ServiceLifecycle::Call::start;
  Trigger trigger;
  bool late = false;
  /// The bound it was given: its own timeout, or less (a lost lease's
  /// stop). What a timeout message names.
  std::chrono::nanoseconds timeout{0};
};

/// "start", "clean-up stop", ...: a call as messages name it.
const char* describe(ServiceLifecycle::Call kind);

/// The door between a service actor and its manager: a manager never sees
/// two calls at once (docs/architecture.md, "Lifecycle"). A command that
/// needs the manager waits while a clean-up stop or a health check has it,
/// and is refused while a call that outlived its timeout still runs; the
/// clean-up after a failure waits for the call that has the manager. A
/// command also waits while an earlier command's change is written (to the
/// state file, docs/state.md, or to a cluster record, docs/cluster.md), so
/// that commands act in the order they are written; only the stop of a
/// lease at risk does not wait for a write (admit_ahead).
///
/// Only the rules: the actor makes the calls and runs the commands, the
/// gate says when.
class ManagerGate {
 public:
  using Call = ServiceLifecycle::Call;
  using Command = std::function<void()>;
  using Refusal = std::function<void(const caf::error&)>;

  /// `service` names the instance in refusals.
  explicit ManagerGate(std::string service) : service_(std::move(service)) {}

  // -- commands ---------------------------------------------------------------

  /// Runs `command` now, or once the clean-up or health check that has the
  /// manager returns (or the commit in flight ends); `refuse`s it while a
  /// late call runs.
  void admit(Command command, Refusal refuse);

  /// A stop with a deadline that a write to a store that does not answer
  /// must not hold back: the stop of a lease at risk or lost
  /// (docs/cluster.md, "Store outages"). It runs now, or first once the
  /// clean-up or health check that has the manager returns; refused as
  /// admit() refuses. The commands whose change is being written now are
  /// overtaken: they act no more (end_commit).
  void admit_ahead(Command command, Refusal refuse);

  /// A command's change is being written: later commands wait until
  /// end_commit().
  void begin_commit() { ++commits_; }
  /// The earliest write in flight ended (writes end in the order they
  /// began). None: its command acts now; else the refusal it answers with
  /// instead, for a stop overtook it: the store did not answer in time.
  caf::error end_commit();

  /// The refusal while a call that outlived its timeout still runs.
  std::optional<caf::error> refusal() const;

  // -- calls ------------------------------------------------------------------

  /// Numbers a new call of `kind`.
  CallInFlight open(Call kind, Trigger trigger, std::chrono::nanoseconds timeout = {});
  /// `call` runs on a manager thread: it has the manager until it returns,
  /// even past its timeout (a call made inline never holds the gate).
  void hold(const CallInFlight& call) { call_ = call; }

  /// The call that has the manager, if any.
  const CallInFlight* in_flight() const { return call_ ? &*call_ : nullptr; }
  /// The call that has the manager past its timeout, if any.
  const CallInFlight* late_call() const { return call_ && call_->late ? &*call_ : nullptr; }

  /// Call `id` outlived its timeout: the call, now late; none when `id` is
  /// stale or late already.
  const CallInFlight* mark_late(std::uint64_t id);
  /// Call `id` returned, and the manager is free: the call; none for a
  /// stale `id`.
  std::optional<CallInFlight> close(std::uint64_t id);

  // -- what waits for the manager ----------------------------------------------

  /// The clean-up stop after a failure: true when a call has the manager,
  /// so that the clean-up waits for it (take_cleanup); false when it may run
  /// now.
  bool defer_cleanup();
  /// Whether the manager is free and a clean-up waited for it (it waits no
  /// more: run it now).
  bool take_cleanup();
  /// Runs the commands that waited, in order, while the manager stays free
  /// for them.
  void run_deferred();
  /// Answers the commands still waiting with `error` (the actor ends).
  void abandon(const caf::error& error);
  /// Refuses the commands still waiting, as admit() refuses a command while
  /// a late call runs: a call has just become late.
  void refuse_waiting();

 private:
  /// A command that arrived while a clean-up or a health check had the
  /// manager, or while a commit was in flight.
  struct DeferredCommand {
    Command run;
    Refusal abandon;
    bool waits_for_commits = true;  ///< false: admitted ahead
  };

  /// Whether a clean-up or health check has the manager.
  bool manager_busy_in_background() const;
  /// Whether `command` waits: the manager is busy in the background, or
  /// (unless it was admitted ahead) a commit is in flight.
  bool waits(const DeferredCommand& command) const;

  std::string service_;
  std::uint64_t last_call_ = 0;
  std::optional<CallInFlight> call_;
  std::deque<DeferredCommand> deferred_;
  bool cleanup_pending_ = false;
  int commits_ = 0;
  /// How many of the commits in flight, the earliest ones, a stop admitted
  /// ahead overtook.
  int overtaken_ = 0;
};

}  // namespace processpype
