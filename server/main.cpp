// processpype: the ProcessPype server (docs/configuration.md lists its
// flags, keys and environment variables).
#include <cstdlib>
#include <iostream>
#include <string_view>

#include <CLI/CLI.hpp>

#include "application.hpp"
#include "processpype/ctl/ctl.hpp"
#include "processpype/version.hpp"

int main(int argc, char** argv) {
  // `processpype ctl ...` is the client (docs/cli.md): no server flags, no actors.
  if (argc > 1 && std::string_view(argv[1]) == "ctl")
    return processpype::ctl::run(argc - 1, argv + 1);
  CLI::App cli{"ProcessPype: an actor-model runtime for long-running services", "processpype"};
  std::optional<std::string> config_file, host, api_prefix, log_level, log_format, node_host,
      node_id, node_cert, node_key, node_ca, admin_token_file, read_token_file;
  std::optional<std::uint16_t> port, node_port;
  std::vector<std::string> join;
  bool show_version = false;
  cli.add_option("--config", config_file, "YAML configuration file");
  cli.add_option("--host", host, "HTTP address (default 127.0.0.1)");
  cli.add_option("--port", port, "HTTP port (default 8000)");
  cli.add_option("--api-prefix", api_prefix, "Prefix of every REST path");
  cli.add_option("--log-level", log_level, "trace, debug, info, warning, error, critical");
  cli.add_option("--log-format", log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  cli.add_option("--node-port", node_port, "Publish this node for other nodes on this port");
  cli.add_option("--node-host", node_host, "Address of the node port (default 127.0.0.1)");
  cli.add_option("--node-id", node_id, "Node id (default <hostname>:<node-port>)");
  cli.add_option("--join", join, "HOST:PORT of a node to join (repeatable)");
  cli.add_option("--node-cert", node_cert,
                 "PEM certificate of this node, for TLS between nodes (node.tls.certificate)");
  cli.add_option("--node-key", node_key, "PEM key of --node-cert (node.tls.key)");
  cli.add_option("--node-ca", node_ca, "PEM CA that signs every node's certificate (node.tls.ca)");
  cli.add_option("--admin-token-file", admin_token_file,
                 "File holding the admin token (server.auth.admin_token)");
  cli.add_option("--read-token-file", read_token_file,
                 "File holding the read token (server.auth.read_token)");
  cli.add_flag("--version", show_version, "Print the version and exit");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return cli.exit(error) == 0 ? 0 : 2;
  }
  if (show_version) {
    std::cout << "processpype " << PROCESSPYPE_VERSION << "\n";
    return 0;
  }

  processpype::ApplicationConfig config;
  config.version = PROCESSPYPE_VERSION;
  std::vector<std::string> enabled_services;
  try {
    if (config_file) {
      config = processpype::load_application_config(*config_file);
      if (config.version.empty()) config.version = PROCESSPYPE_VERSION;
    }
    if (host) config.host = *host;
    if (port) config.port = *port;
    if (api_prefix) config.api_prefix = *api_prefix;
    if (log_level) config.log_level = *log_level;
    if (log_format) config.log_format = *processpype::log_format_from_string(*log_format);
    if (node_port) config.node_port = *node_port;
    if (node_host) config.node_host = *node_host;
    if (node_id) config.node_id = *node_id;
    config.join.insert(config.join.end(), join.begin(), join.end());
    if (node_cert) config.node_tls.certificate = *node_cert;
    if (node_key) config.node_tls.key = *node_key;
    if (node_ca) config.node_tls.ca = *node_ca;
    if (admin_token_file) config.auth.admin_token_file = *admin_token_file;
    if (read_token_file) config.auth.read_token_file = *read_token_file;
    auto level = processpype::log_level_from_string(config.log_level);
    if (!level)
      throw processpype::ApplicationConfigError("--log-level: unknown level '" + config.log_level +
                                                "'");
    std::vector<processpype::LoggerLevel> logger_levels;
    for (const auto& [name, logger_level] : config.loggers)
      logger_levels.emplace_back(name, *processpype::log_level_from_string(logger_level));
    processpype::configure_logging(*level, config.log_format, std::move(logger_levels));
    enabled_services = processpype::parse_enabled_services(std::getenv("ENABLED_SERVICES"));
  } catch (const processpype::ApplicationConfigError& error) {
    std::cerr << "processpype: " << error.what() << "\n";
    return 2;
  }

  processpype::Application application{std::move(config), std::move(enabled_services)};
  try {
    application.validate();
  } catch (const processpype::ApplicationConfigError& error) {
    std::cerr << "processpype: " << error.what() << "\n";
    return 2;
  }
  processpype::block_application_signals();
  return application.run();
}
