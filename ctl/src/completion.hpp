#pragma once

// `processpype ctl completion bash` (docs/cli.md, "Completion").

#include <string>

namespace CLI {
class App;
}

namespace processpype::ctl {

/// A bash completion script for `processpype ctl` as `ctl` declares it:
/// every command and flag, and the values that can be known: states,
/// files, and instance names and node ids asked from the node (`list -q`,
/// `nodes -q`, with the --url, --node and --token-file already typed).
/// Options and arguments say what they take by their type name (NAME, ID,
/// FILE, STATE, SHELL); a vector argument repeats.
std::string bash_completion(const CLI::App& ctl);

}  // namespace processpype::ctl
