#pragma once

#include <nlohmann/json.hpp>

#include "processpype/config/diagnostics.hpp"
#include "processpype/runtime/secrets.hpp"

namespace processpype {

/// Refuses every `${secret:...}` reference inside `secrets` (under its key;
/// the value reads as null): the secrets are read before any reference
/// resolves.
void refuse_references_in_secrets(nlohmann::json& root, ConfigDiagnostics& diagnostics);

/// Resolves the `${secret:backend:key}` references of the application file
/// `root` in place, before its sections are read (docs/secrets.md): each
/// one outside `secrets` and outside the secret fields of `services`
/// entries is replaced by its value; one in a secret field is checked and
/// kept, to be resolved at each configure of the instance. One in a key
/// that names a class, nodes or instances (`type`, `placement`, `nodes`,
/// `depends_on`) is an error quoting the text as written, left unresolved.
/// A reference that cannot be resolved is an error under its key (naming
/// the reference, never a value), and its value reads as null. A reference
/// in a service field that is not secret is a warning: statuses show that
/// field.
void resolve_secret_references(nlohmann::json& root, const SecretBackends& backends,
                               ConfigDiagnostics& diagnostics);

}  // namespace processpype
