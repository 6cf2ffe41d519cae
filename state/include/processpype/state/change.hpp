#pragma once

#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "processpype/state/stored_instance.hpp"

namespace processpype::state {

/// An instance was registered. Origin request (a new instance): a fresh row
/// is written in place of any row `name` had (a tombstone, or the kept row
/// of a file instance the application file no longer lists): a new
/// sequence, no configuration, no desired state. Origin file: with no row,
/// or only a tombstone, a fresh row is written; with a live row, the row is
/// kept (its configuration and desired state too) and only `class_key` and
/// `origin` are updated: a file instance gets its row by a Registered
/// submitted with its first change, and submitting one with every change of
/// a file instance is harmless.
struct Registered {
  std::string name;
  std::string class_key;
  Origin origin = Origin::request;
};

/// A configure was accepted (or, when the service refused one written
/// ahead, the configuration stored before it is written back):
/// `configuration` replaces the stored one whole (the body as given, not
/// defaults-filled). The row must exist.
struct Configured {
  std::string name;
  nlohmann::json configuration;
};

/// The stored configuration is cleared, as if no configure had been stored:
/// what a configure written ahead leaves when the service refuses it and
/// the instance had none stored before (docs/state.md, "What the API
/// answers"). A file instance gets its file's mapping again. The row must
/// exist.
struct Unconfigured {
  std::string name;
};

/// A user's start (running) or stop (stopped). The row must exist.
struct DesiredChanged {
  std::string name;
  DesiredState desired = DesiredState::running;
};

/// An instance was deregistered. `tombstone` false (a request instance): the
/// row is deleted, and a missing row is fine; any name is taken, so that a
/// row that loaded with a problem (even in its name) can be purged. `tombstone` true (a file
/// instance): the row is kept as a tombstone, its configuration and desired
/// state cleared, so the instance stays deregistered when the file still
/// lists it; the row must exist (submit a Registered with it).
struct Deregistered {
  std::string name;
  bool tombstone = false;
};

/// One change to one instance. A submission of several changes is atomic:
/// all of them are stored, or none.
using Change = std::variant<Registered, Configured, Unconfigured, DesiredChanged, Deregistered>;

/// The name of the instance `change` is about.
const std::string& instance_name(const Change& change) noexcept;

}  // namespace processpype::state
