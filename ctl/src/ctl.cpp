#include "processpype/ctl/ctl.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>

#include <unistd.h>
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "completion.hpp"
#include "event_follower.hpp"
#include "processpype/ctl/errors.hpp"
#include "processpype/ctl/table.hpp"

namespace processpype::ctl {

namespace {

/// How long a command that waits for a transition may take by default: a
/// start lasts up to the service's start_timeout_seconds (60 by default),
/// and the node answers once the transition has finished.
constexpr std::chrono::seconds default_command_timeout{90};

/// The flags every command takes.
struct GlobalOptions {
  std::string url = "http://127.0.0.1:8000";
  std::optional<std::string> token_file;
  std::string node;
  std::string ca_file;
  std::optional<double> timeout_seconds;
  bool json = false;
};

std::string trimmed(std::string text) {
  auto end = text.find_last_not_of(" \t\r\n");
  text.erase(end == std::string::npos ? 0 : end + 1);
  text.erase(0, text.find_first_not_of(" \t\r\n"));
  return text;
}

/// `token`, unless a control character (a line break in the middle of a
/// file) would break the Authorization header it goes into.
std::string checked_token(std::string token, const std::string& source) {
  bool printable = std::all_of(token.begin(), token.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  });
  if (!printable) throw UsageError(source + ": the token holds control characters");
  return token;
}

/// The token: the content of --token-file (trimmed), else PROCESSPYPE_TOKEN.
std::string read_token(const GlobalOptions& options) {
  if (!options.token_file) {
    const char* token = std::getenv("PROCESSPYPE_TOKEN");
    return token != nullptr ? checked_token(trimmed(token), "PROCESSPYPE_TOKEN") : std::string();
  }
  auto source = "--token-file " + *options.token_file;
  std::ifstream file(*options.token_file, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!file.is_open() || file.bad()) throw UsageError(source + ": cannot be read");
  auto token = trimmed(std::move(content));
  if (token.empty()) throw UsageError(source + ": empty");
  return checked_token(std::move(token), source);
}

Connection connection_of(const GlobalOptions& options) {
  Connection connection;
  connection.url = options.url;
  connection.token = read_token(options);
  connection.node = options.node;
  connection.ca_file = options.ca_file;
  if (options.timeout_seconds)
    connection.timeout = std::chrono::milliseconds(
        static_cast<std::int64_t>(*options.timeout_seconds * 1000.0 + 0.5));
  return connection;
}

/// Names go into the request's path as they are: `.` and `..` would move
/// it (`/services/..` is `/`, the node's status), so they are refused
/// before any request, as the node refuses them (docs/rest-api.md: 1-64
/// characters of [A-Za-z0-9_.-], not `.` or `..`).
bool is_dot_segment(const std::string& text) {
  return text == "." || text == "..";
}

std::string instance_name_problem(const std::string& name) {
  bool allowed_characters = std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.' || c == '-';
  });
  if (name.empty() || name.size() > 64 || !allowed_characters || is_dot_segment(name))
    return "'" + printable(name) +
           "' is not an instance name: 1-64 characters of [A-Za-z0-9_.-], not . or ..";
  return "";
}

/// A node id may hold any character (percent-encoded); only `.` and `..`
/// would move the path.
std::string node_id_problem(const std::string& id) {
  if (is_dot_segment(id)) return "'" + id + "' is not a node id";
  return "";
}

const CLI::Validator instance_name{[](std::string& name) { return instance_name_problem(name); },
                                   "", "INSTANCE_NAME"};
const CLI::Validator node_id{[](std::string& id) { return node_id_problem(id); }, "", "NODE_ID"};

/// What runs once the command line is parsed: the command's work.
using Action = std::function<void(Context&)>;

/// A command's subcommand, and what it does.
struct Commands {
  std::map<const CLI::App*, Action> actions;
  CLI::App* completion = nullptr;
  CLI::App* events = nullptr;  ///< with --follow, EventFollower runs instead
};

void add_instance_command(CLI::App& ctl, Commands& commands, const std::string& name,
                          const std::string& description, std::string& instance,
                          void (*action)(Context&, const std::string&)) {
  auto* command = ctl.add_subcommand(name, description);
  command->add_option("name", instance, "The instance")
      ->required()
      ->type_name("NAME")
      ->check(instance_name);
  commands.actions[command] = [&instance, action](Context& context) { action(context, instance); };
}

/// Everything the command line can hold, bound to CLI11.
struct CommandLine {
  GlobalOptions global;
  std::optional<std::string> status_name;
  ListOptions list;
  bool ids_only = false;
  RegisterOptions registration;
  std::string start_name, stop_name, deregister_name;
  ConfigureOptions configure;
  bool follow = false;
  bool cluster_events = false;
  std::string drain_node;
  std::string shell;
};

void declare_global_options(CLI::App& ctl, GlobalOptions& global) {
  ctl.add_option("--url", global.url, "Base URL of the node's REST API, api_prefix included")
      ->envname("PROCESSPYPE_URL")
      ->type_name("URL")
      ->capture_default_str();
  ctl.add_option("--token-file", global.token_file,
                 "File holding the bearer token (else env PROCESSPYPE_TOKEN, the token itself)")
      ->type_name("FILE");
  ctl.add_option("--node", global.node,
                 "Act on node ID of the cluster: requests go under /nodes/ID")
      ->type_name("ID")
      ->check(node_id);
  ctl.add_option("--ca-file", global.ca_file, "PEM file of the CA of an HTTPS node")
      ->envname("PROCESSPYPE_CA_FILE")
      ->type_name("FILE");
  ctl.add_option("--timeout", global.timeout_seconds,
                 "Seconds a request may take (default 10 for reads, 90 for commands that wait for "
                 "a transition)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.001, 86400.0));  // libcurl reads 0 ms as "no limit"
  ctl.add_flag("--json", global.json, "Print the server's JSON replies unchanged");
}

void declare_commands(CLI::App& ctl, CommandLine& line, Commands& commands) {
  auto* status = ctl.add_subcommand("status", "The node's status, or one instance's in detail");
  status->add_option("name", line.status_name, "An instance")
      ->type_name("NAME")
      ->check(instance_name);
  commands.actions[status] = [&line](Context& context) {
    line.status_name ? show_instance_status(context, *line.status_name) : show_node_status(context);
  };

  auto* list = ctl.add_subcommand("list", "The instances, in registration order");
  list->add_option("--state", line.list.state, "Only instances in this state")
      ->type_name("STATE")
      ->check(CLI::IsMember(
          {"initialized", "configured", "starting", "running", "stopping", "stopped", "error"}));
  list->add_option("--type", line.list.type, "Only instances of this class (registry key)")
      ->type_name("CLASS");
  list->add_flag("-q,--quiet", line.list.names_only, "Only the names, one a line");
  commands.actions[list] = [&line](Context& context) { list_instances(context, line.list); };

  auto* registration = ctl.add_subcommand("register", "Registers an instance of a class");
  registration->add_option("class", line.registration.class_key, "The class (registry key)")
      ->required()
      ->type_name("CLASS");
  registration
      ->add_option("name", line.registration.name,
                   "The instance's name (default: chosen by the node)")
      ->type_name("NAME")
      ->check(instance_name);
  registration->add_option("--node", line.registration.node, "Create it on node ID of the cluster")
      ->type_name("ID")
      ->check(node_id);
  registration->add_flag(
      "--cluster", line.registration.cluster,
      "A cluster instance (\"placement\": \"cluster\"): one node runs it at a time");
  commands.actions[registration] = [&line](Context& context) {
    register_instance(context, line.registration);
  };

  add_instance_command(ctl, commands, "start", "Starts an instance (replies once it runs)",
                       line.start_name, start_instance);
  add_instance_command(ctl, commands, "stop", "Stops an instance (and what depends on it)",
                       line.stop_name, stop_instance);
  add_instance_command(ctl, commands, "deregister", "Stops and removes an instance",
                       line.deregister_name, deregister_instance);

  auto* configure = ctl.add_subcommand(
      "configure", "Merges KEY=VALUE into an instance's configuration, or replaces it");
  configure->add_option("name", line.configure.name, "The instance")
      ->required()
      ->type_name("NAME")
      ->check(instance_name);
  configure
      ->add_option("assignments", line.configure.assignments,
                   "Fields to set; VALUE is read as JSON where it is valid JSON")
      ->type_name("KEY=VALUE");
  configure
      ->add_option("--file", line.configure.file,
                   "Replace the configuration with this JSON file's (- for standard input)")
      ->type_name("FILE");
  configure->add_flag("--replace", line.configure.replace,
                      "Replace the configuration with the KEY=VALUE given, not merge them");
  commands.actions[configure] = [&line](Context& context) {
    configure_instance(context, line.configure);
  };

  auto* nodes = ctl.add_subcommand("nodes", "The nodes of the cluster");
  nodes->add_flag("-q,--quiet", line.ids_only, "Only the ids, one a line");
  commands.actions[nodes] = [&line](Context& context) { list_nodes(context, line.ids_only); };

  auto* events = ctl.add_subcommand("events", "The recent events, or (--follow) every new one");
  events->add_flag("-f,--follow", line.follow, "Print each new event as it comes, until stopped");
  events->add_flag("--cluster", line.cluster_events, "Every node's events, not only this node's");
  commands.actions[events] = [&line](Context& context) {
    list_events(context, line.cluster_events);
  };
  commands.events = events;

  auto* drain =
      ctl.add_subcommand("drain", "Hands node ID's cluster instances over and cordons it");
  drain->add_option("id", line.drain_node, "The node")->required()->type_name("ID")->check(node_id);
  commands.actions[drain] = [&line](Context& context) { drain_node(context, line.drain_node); };

  commands.completion = ctl.add_subcommand("completion", "Prints a shell completion script");
  commands.completion->add_option("shell", line.shell, "The shell")
      ->required()
      ->type_name("SHELL")
      ->check(CLI::IsMember({"bash"}));
}

int report(const CommandFailure& failure) {
  std::string message = printable(failure.what());
  if (const auto* refusal = dynamic_cast<const Refusal*>(&failure);
      refusal && refusal->status() != 0)
    message += " (HTTP " + std::to_string(refusal->status()) + ")";
  std::cerr << "processpype ctl: " << message << '\n';
  return static_cast<int>(failure.code());
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App ctl{"Operate a ProcessPype node through its REST API (docs/cli.md).", "processpype ctl"};
  ctl.require_subcommand(1);
  ctl.fallthrough();  // global flags after the command too: `ctl status --json`
  CommandLine line;
  Commands commands;
  declare_global_options(ctl, line.global);
  declare_commands(ctl, line, commands);
  try {
    ctl.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return ctl.exit(error) == 0 ? 0 : static_cast<int>(ExitCode::usage);
  }

  try {
    const auto* chosen = ctl.get_subcommands().front();
    if (chosen == commands.completion) {
      std::cout << bash_completion(ctl);
      return 0;
    }
    auto connection = connection_of(line.global);
    HttpClient client(connection);
    if (chosen == commands.events && line.follow) {
      HttpClient requests(connection);
      FollowOptions options;
      options.cluster = line.cluster_events;
      options.json = line.global.json;
      options.colour = colours_wanted(STDOUT_FILENO);
      EventFollower(client, requests, options, std::cout, std::cerr).run();
    }
    Context context{client,
                    line.global.timeout_seconds ? connection.timeout : default_command_timeout,
                    line.global.json,
                    colours_wanted(STDOUT_FILENO),
                    std::cout,
                    std::cin,
                    std::cerr};
    commands.actions.at(chosen)(context);
    std::cout.flush();
    return 0;
  } catch (const CommandFailure& failure) {
    std::cout.flush();
    return report(failure);
  }
}

}  // namespace processpype::ctl
