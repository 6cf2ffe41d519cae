#pragma once

// What `processpype ctl configure` sends (docs/cli.md, "configure"): the
// current configuration with KEY=VALUE assignments merged in, or a whole
// configuration read from a file.

#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace processpype::ctl {

/// One KEY=VALUE of the command line.
struct Assignment {
  std::string key;
  nlohmann::json value;
};

/// Parses "KEY=VALUE" at the first '=': VALUE is read as JSON where it is
/// valid JSON (`step=5` a number, `enabled=false` a bool, `x=[1,2]` a list,
/// `prefix="5"` a string), else taken as a string (`prefix=Hi`, `prefix=`).
/// UsageError without '=', with an empty KEY, or with a number no double
/// holds (`step=1e400`).
Assignment parse_assignment(std::string_view text);

/// `configuration` (a JSON object) with every assignment set, in order: a
/// later one for the same KEY wins.
nlohmann::json apply_assignments(nlohmann::json configuration,
                                 const std::vector<Assignment>& assignments);

/// The configuration in the JSON file `path` ("-": all of `input`).
/// UsageError, naming the file, when it cannot be read, is not JSON or is
/// not a JSON object.
nlohmann::json read_configuration_file(const std::string& path, std::istream& input);

}  // namespace processpype::ctl
