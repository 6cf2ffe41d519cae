#pragma once

#include <functional>
#include <ostream>
#include <string>

#include "processpype/config/application_config.hpp"

namespace processpype {

/// `processpype check-config FILE` (docs/configuration.md): reads and
/// checks FILE as a start would (with this process's environment and
/// ENABLED_SERVICES, and the flags given, which `apply_flags` applies over
/// the file), prints every problem, one per line, then a summary.
/// Returns the exit code: 2 when there is an error, else 0 (warnings only
/// too).
int check_config_command(const std::string& file, std::ostream& out,
                         const std::function<void(ApplicationConfig&)>& apply_flags);

/// `processpype config-schema`: prints the JSON Schema of the file format,
/// with each built-in class's fields, for editors.
int config_schema_command(std::ostream& out);

}  // namespace processpype
