#pragma once

// The commands of `processpype ctl` (docs/cli.md), each one or a few REST
// requests and what it prints. A command that does not finish throws a
// CommandFailure (errors.hpp), which run() turns into the exit code.

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "processpype/ctl/http_client.hpp"

namespace processpype::ctl {

/// What every command works with.
struct Context {
  HttpClient& client;
  /// The time limit of commands that wait for a transition (start, stop,
  /// deregister, configure, register, drain); reads use the connection's.
  std::chrono::milliseconds command_timeout;
  bool json = false;    ///< print the server's JSON instead of tables
  bool colour = false;  ///< ANSI colours on stdout
  std::ostream& out;
  std::istream& in;
  std::ostream& err;
};

/// `status`: GET / (the application and a row per instance).
void show_node_status(Context& context);
/// `status NAME`: GET /services/NAME.
void show_instance_status(Context& context, const std::string& name);

struct ListOptions {
  std::optional<std::string> state;
  std::optional<std::string> type;
  bool names_only = false;  ///< -q: one name a line, for scripts and completion
};
/// `list`: GET /services, a page of 1,000 at a time.
void list_instances(Context& context, const ListOptions& options);

struct RegisterOptions {
  std::string class_key;
  std::optional<std::string> name;
  std::optional<std::string> node;
  bool cluster = false;
};
/// `register`: POST /services/register.
void register_instance(Context& context, const RegisterOptions& options);

/// `start`, `stop`: POST /services/NAME/<command>.
void start_instance(Context& context, const std::string& name);
void stop_instance(Context& context, const std::string& name);
/// `deregister`: DELETE /services/NAME.
void deregister_instance(Context& context, const std::string& name);

struct ConfigureOptions {
  std::string name;
  std::vector<std::string> assignments;  ///< KEY=VALUE
  std::optional<std::string> file;       ///< a JSON file, "-" stdin
  bool replace = false;
};
/// `configure`: POST /services/NAME/configure with the merged or the new
/// configuration.
void configure_instance(Context& context, const ConfigureOptions& options);

/// `nodes`: GET /nodes (`ids_only`: one id a line).
void list_nodes(Context& context, bool ids_only);

/// `events` (without --follow): GET /events, or with `cluster` every up
/// node's events merged by time.
void list_events(Context& context, bool cluster);

/// `drain ID`: POST /nodes/ID/drain.
void drain_node(Context& context, const std::string& node);

}  // namespace processpype::ctl
