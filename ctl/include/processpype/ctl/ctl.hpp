#pragma once

// `processpype ctl <command>`: the operator's client of a node's REST API
// (docs/cli.md).

namespace processpype::ctl {

/// Runs `processpype ctl ...`: argv[0] is "ctl", the command and its flags
/// follow. Returns the exit code: 0 done, 1 refused by the server, 2 usage
/// error, 3 server unreachable (errors.hpp).
int run(int argc, char** argv);

}  // namespace processpype::ctl
