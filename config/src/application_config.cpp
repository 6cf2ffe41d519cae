// The application file's format, declared once (docs/configuration.md):
// the same declarations read a file and describe it as JSON Schema.
#include "processpype/config/application_config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "processpype/runtime/durations.hpp"
#include "processpype/runtime/service_registry.hpp"
#include "secret_references.hpp"
#include "section.hpp"
#include "yaml_tree.hpp"

namespace processpype {

namespace {

using nlohmann::json;

const std::vector<std::string> log_levels = {"trace",   "debug", "info",
                                             "warning", "error", "critical"};

void declare_app(Section& app, AppSettings& settings) {
  app.text("title", settings.title, "The application's title (GET /, /nodes)")
      .text("version", settings.version, "The application's version (default: the binary's)")
      .text("environment", settings.environment, "development, production, ...")
      .flag("debug", settings.debug, "Debug mode");
}

void declare_tls(Section& tls, std::string& certificate, std::string& key, std::string& ca,
                 const char* ca_key, std::string_view ca_description) {
  tls.text("certificate", certificate, "PEM certificate (chain) of this server")
      .text("key", key, "PEM private key of the certificate")
      .text(ca_key, ca, ca_description)
      .rule(certificate.empty() == key.empty(), "needs both certificate and key");
}

void declare_limits(Section& limits, ServerSettings& server) {
  auto& http = server.http.limits;
  limits.count("max_body_bytes", http.max_body_bytes, "Larger request bodies are answered 413")
      .count("max_header_bytes", http.max_header_bytes, "Larger header sections are answered 431")
      .count("max_url_bytes", http.max_url_bytes, "Longer request targets are answered 414")
      .count("max_connections", http.max_connections, "Connections served at once")
      .count("max_instances", server.max_instances, "Registrations beyond are refused (409)")
      .seconds("read_timeout_seconds", http.read_timeout_seconds,
               "A client that has not sent a whole request (or finished its TLS handshake) by "
               "then is disconnected")
      .count("max_event_streams", server.http.api.max_event_streams,
             "Server-Sent Events streams open at once; 503 beyond");
}

void declare_auth(Section& auth, AuthSettings& settings) {
  auth.token("admin_token", settings.admin_token, "Bearer token that may do everything")
      .token("read_token", settings.read_token, "Bearer token that may only GET")
      .flag("allow_anonymous", settings.allow_anonymous,
            "Serve a host other than loopback without an admin token");
}

void declare_server(Section& server, ServerSettings& settings) {
  auto& http = settings.http;
  server.text("host", http.host, "Address to serve HTTP on")
      .port("port", http.port, "HTTP port")
      .text("api_prefix", http.api.api_prefix, "Prefix of every REST path, e.g. /api")
      .seconds("closing_timeout_seconds", settings.closing_timeout_seconds,
               "How long a shutdown waits for the services to stop")
      .flag("metrics", http.api.collect_metrics,
            "Count requests for /metrics (off only to measure what counting costs)")
      .section("limits", "What one request and one client may cost",
               [&](Section& limits) { declare_limits(limits, settings); })
      .section("auth", "Bearer tokens (docs/security.md)",
               [&](Section& auth) { declare_auth(auth, settings.auth); })
      .section("tls", "HTTPS (docs/security.md)", [&](Section& tls) {
        declare_tls(tls, http.tls.certificate, http.tls.key, http.tls.client_ca, "client_ca",
                    "PEM CA whose certificates clients must present");
      });
}

void declare_logging(Section& logging, ApplicationConfig& config) {
  auto& settings = config.logging;
  std::string format = settings.format == LogFormat::json ? "json" : "text";
  logging.text("level", settings.level, "trace, debug, info, warning, error or critical")
      .check("level", log_level_from_string(settings.level).has_value(),
             "must be one of trace, debug, info, warning, error, critical")
      .choice("format", format, {"text", "json"}, "Lines of text, or JSON objects")
      .flag("access_log", config.server.http.api.access_log,
            "One line per request: method, route, status, duration, peer")
      .entries("loggers", "A level per logger name (and the loggers below it)",
               {{"type", "string"}, {"enum", log_levels}},
               [&](const std::string& name, const json& level, const std::string& key) {
                 if (!level.is_string() || !log_level_from_string(level.get<std::string>()))
                   logging.diagnostics().error(
                       key, "must be one of trace, debug, info, warning, error, critical");
                 else
                   settings.loggers.emplace_back(name, level.get<std::string>());
               });
  settings.format = format == "json" ? LogFormat::json : LogFormat::text;
}

void declare_node(Section& node, NodeSettings& settings) {
  node.port("port", settings.port, "Publish this node for other nodes on this port")
      .text("host", settings.host, "Address of the node port")
      .text("id", settings.id, "Node id (default <hostname>:<node port>)")
      .texts("join", settings.join, "HOST:PORT of nodes to join")
      .seconds_or_zero("join_timeout_seconds", settings.join_timeout_seconds,
                       "How long a join target that does not answer yet is retried (0: forever)")
      .flag("allow_insecure", settings.allow_insecure,
            "Publish the node port beyond loopback without TLS")
      .seconds("heartbeat_seconds", settings.heartbeat_seconds,
               "How often this node sends each member a heartbeat")
      .seconds("down_after_seconds", settings.down_after_seconds,
               "A member silent this long is down")
      .seconds("forget_after_seconds", settings.forget_after_seconds,
               "A member down this long leaves /nodes")
      .section("tls", "Mutual TLS between nodes (docs/security.md)", [&](Section& tls) {
        declare_tls(tls, settings.tls.certificate, settings.tls.key, settings.tls.ca, "ca",
                    "PEM CA that signs every member's certificate");
      });
}

void declare_state(Section& state, StateSettings& settings) {
  state.text("path", settings.path, "The state file (SQLite); unset: nothing is persisted")
      .choice("sync", settings.sync, {"normal", "full"},
              "normal survives a crash of the process, full also a power loss");
}

void declare_cluster(Section& cluster, ClusterSettings& settings) {
  cluster.texts("store", settings.store, "etcd endpoints: http://HOST:PORT or https://HOST:PORT")
      .text("name", settings.name, "Keys under /processpype/<name>/ in the store")
      .seconds("lease_seconds", settings.lease_seconds,
               "A node that cannot renew its lease this long loses its cluster instances")
      .rule(settings.lease_seconds >= 2, "lease_seconds must be at least 2")
      .section("store_tls", "TLS to https:// endpoints", [&](Section& tls) {
        tls.text("ca", settings.store_ca,
                 "PEM CA of the store's certificates (default: the system's)")
            .text("certificate", settings.store_certificate,
                  "PEM client certificate, for a store that asks for one")
            .text("key", settings.store_key, "PEM private key of the client certificate")
            .rule(settings.store_certificate.empty() == settings.store_key.empty(),
                  "needs both certificate and key");
      });
}

void declare_secret_backend(Section& backend, SecretBackendSettings& settings) {
  backend
      .choice("type", settings.type, {"env", "file", "dotenv"},
              "The environment, a YAML file of key: value, or a .env file")
      .text("prefix", settings.prefix, "Put before every key looked up (APP_ + key)")
      .text("path", settings.path, "The file of a file or dotenv backend (dotenv: default .env)")
      .rule(settings.type != "file" || !settings.path.empty(), "a file backend needs a path")
      .rule(settings.type != "env" || settings.path.empty(), "an env backend has no path");
}

/// What every entry of `secrets.backends` may hold.
json secret_backend_schema() {
  json schema;
  SecretBackendSettings defaults;
  auto backend = Section::describer(schema);
  declare_secret_backend(backend, defaults);
  backend.finish();
  return schema;
}

void declare_secrets(Section& secrets, SecretsSettings& settings) {
  secrets.flag("enabled", settings.enabled, "false: no backend is read and every reference fails")
      .flag("cache_enabled", settings.cache_enabled,
            "ProcessPype's key, accepted: every backend is read whole at start and SIGHUP")
      .entries("backends", "Backends by name: ${secret:<name>:<key>} looks there",
               secret_backend_schema(),
               [&](const std::string& name, const json& value, const std::string& key) {
                 auto backend = Section::reader(value, key, secrets.diagnostics());
                 SecretBackendSettings read;
                 declare_secret_backend(backend, read);
                 backend.finish();
                 settings.backends.insert_or_assign(name, std::move(read));
               })
      .texts("load", settings.load, "backend:glob of the secrets to preload, e.g. env:API_*");
}

/// Reads `secrets` first, then resolves the references of the rest of the
/// file against it (docs/secrets.md). The section's own problems are
/// reported when the whole file is read; with any, nothing is resolved.
void resolve_file_secrets(YamlTree& tree, ApplicationConfig& config,
                          ConfigDiagnostics& diagnostics) {
  if (!tree.root.is_object()) return;
  refuse_references_in_secrets(tree.root, diagnostics);
  ConfigDiagnostics section_problems;
  SecretsSettings settings;
  static const json absent = nullptr;
  auto found = tree.root.find("secrets");
  const json& value = found != tree.root.end() ? *found : absent;
  auto section = Section::reader(value, "secrets", section_problems);
  declare_secrets(section, settings);
  section.finish();
  if (section_problems.has_errors()) return;
  auto backends = std::make_shared<SecretBackends>(read_secret_backends(settings, diagnostics));
  resolve_secret_references(tree.root, *backends, diagnostics);
  config.secret_backends = std::move(backends);
  config.resolved_secrets = diagnostics.hidden();
}

// -- communications (docs/communications.md) -----------------------------------------

namespace communication_keys {

using communications::BackendSettings;

const std::vector<std::string> backend_types = {"webhook", "email", "telegram"};

/// The keys every backend has; `type` is read by the caller.
void declare_basics(Section& backend, std::string& type, BackendSettings& settings) {
  backend.choice("type", type, backend_types, "webhook, email or telegram")
      .texts("labels", settings.labels, "The labels whose messages it gets")
      .flag("enabled", settings.enabled, "false: checked, then sent nothing");
}

void declare_webhook(Section& backend, communications::WebhookSettings& webhook) {
  backend.text("url", webhook.url, "Where each message is POSTed as JSON (http:// or https://)")
      .entries("headers", "Sent with every request; values may be ${secret:...}",
               {{"type", {"string", "number", "boolean"}}},
               [&](const std::string& name, const json& value, const std::string& key) {
                 // The value is not quoted: it may be a secret.
                 if (value.is_string())
                   webhook.headers[name] = value.get<std::string>();
                 else if (value.is_number() || value.is_boolean())
                   webhook.headers[name] = value.dump();
                 else
                   backend.diagnostics().error(key, "must be a string");
               })
      .seconds("timeout_seconds", webhook.timeout_seconds,
               "For one attempt, the connection included (at most 600)");
}

void declare_email(Section& backend, communications::EmailSettings& email, std::string& ca_file) {
  auto port = static_cast<std::uint16_t>(email.port);
  backend.text("host", email.host, "The SMTP server")
      .port("port", port, "Its port (587: submission with STARTTLS)")
      .token("username", email.username, "AUTH is used when set")
      .token("password", email.password, "The AUTH password; use ${secret:...}")
      .text("from_address", email.from_address, "The From address")
      .texts("default_recipients", email.default_recipients,
             "Where messages go unless their metadata.recipients says otherwise")
      .flag("start_tls", email.start_tls,
            "Require STARTTLS and verify the server's certificate (no implicit TLS)")
      .text("ca_file", ca_file, "PEM CAs to verify the server with (default: the system's)")
      .seconds("timeout_seconds", email.timeout_seconds,
               "For one attempt: the whole SMTP session (at most 600)");
  email.port = port;
  if (!ca_file.empty()) email.ca_file = ca_file;
}

void declare_chat(Section& chat, communications::TelegramChat& settings, std::size_t& topic_id) {
  chat.text("chat_id", settings.chat_id, "A chat id (-100...) or @channel")
      .count("topic_id", topic_id, "A forum topic (message_thread_id)");
  if (topic_id > 0) settings.topic_id = static_cast<std::int64_t>(topic_id);
}

json chat_schema() {
  json schema;
  communications::TelegramChat defaults;
  std::size_t no_topic = 0;
  auto chat = Section::describer(schema);
  declare_chat(chat, defaults, no_topic);
  chat.finish();
  schema["properties"]["topic_id"].erase("default");  // none: no topic
  schema["required"] = {"chat_id"};
  return schema;
}

void declare_telegram(Section& backend, communications::TelegramSettings& telegram) {
  std::optional<std::string> token;
  backend.token("token", token, "The bot's token; use ${secret:...}")
      .entries("chats", "A chat per label; `default` takes the labels without one", chat_schema(),
               [&](const std::string& label, const json& value, const std::string& key) {
                 auto chat = Section::reader(value, key, backend.diagnostics());
                 communications::TelegramChat settings;
                 std::size_t topic_id = 0;
                 declare_chat(chat, settings, topic_id);
                 chat.finish();
                 telegram.chats.insert_or_assign(label, std::move(settings));
               })
      .text("base_url", telegram.base_url,
            "The Bot API's URL: a self-hosted gateway, a test server")
      .seconds("timeout_seconds", telegram.timeout_seconds, "For one attempt (at most 600)");
  if (token) telegram.token = std::move(*token);
}

/// Declares the keys of a backend of `type` on `backend`, into `settings`.
void declare_transport(Section& backend, const std::string& type, BackendSettings& settings,
                       std::string& ca_file) {
  if (type == "webhook") {
    declare_webhook(backend, settings.transport.emplace<communications::WebhookSettings>());
  } else if (type == "email") {
    declare_email(backend, settings.transport.emplace<communications::EmailSettings>(), ca_file);
  } else {
    declare_telegram(backend, settings.transport.emplace<communications::TelegramSettings>());
  }
}

/// The closed schema of a backend of `type`.
json typed_backend_schema(const std::string& type) {
  json schema;
  BackendSettings defaults;
  std::string type_value = type;
  std::string ca_file;
  auto backend = Section::describer(schema);
  declare_basics(backend, type_value, defaults);
  declare_transport(backend, type, defaults, ca_file);
  backend.finish();
  return schema;
}

/// What every entry of `communications.backends` may hold: `type`, then the
/// keys of that type.
json backend_schema() {
  auto by_type = json::array();
  for (const auto& type : backend_types)
    by_type.push_back(
        {{"if", {{"properties", {{"type", {{"const", type}}}}}, {"required", {"type"}}}},
         {"then", typed_backend_schema(type)}});
  return {{"type", "object"},
          {"description", "A backend: its type, labels, and the keys of its type"},
          {"required", {"type"}},
          {"properties", {{"type", {{"type", "string"}, {"enum", backend_types}}}}},
          {"allOf", std::move(by_type)}};
}

bool is_backend_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

/// One entry of `communications.backends`: its keys, then the library's
/// checks (which never quote a token, a password, a header value or a URL).
void read_backend(const std::string& name, const json& value, const std::string& key,
                  std::vector<BackendSettings>& backends, ConfigDiagnostics& diagnostics) {
  // The name is the metrics' `backend` label and appears in logs.
  if (!is_backend_name(name))
    return diagnostics.error(key, "a backend name is letters, digits, '_', '.' and '-'");
  auto errors = diagnostics.errors();
  auto backend = Section::reader(value, key, diagnostics);
  BackendSettings settings;
  settings.name = name;
  std::string type;
  std::string ca_file;
  declare_basics(backend, type, settings);
  if (type.empty()) {  // without a type, its other keys mean nothing
    if (diagnostics.errors() == errors)
      diagnostics.error(key + ".type", "is required: webhook, email or telegram");
    return;
  }
  declare_transport(backend, type, settings, ca_file);
  backend.finish();
  if (diagnostics.errors() != errors) return;
  try {
    communications::validate(settings);
  } catch (const communications::InvalidSettings& refusal) {
    return diagnostics.error(key + "." + refusal.field(), refusal.what());
  }
  backends.push_back(std::move(settings));
}

}  // namespace communication_keys

void declare_communications(Section& section, CommunicationsSettings& settings) {
  section
      .flag("alerts", settings.alerts,
            "Send the runtime's alerts (label alerts): failures, give-ups, failovers, nodes lost")
      .seconds("alerts_min_interval_seconds", settings.alerts_min_interval_seconds,
               "At most one alert per instance or node this often; a give-up always goes")
      .entries("backends", "Backends by name; each gets the messages of its labels",
               communication_keys::backend_schema(),
               [&](const std::string& name, const json& value, const std::string& key) {
                 communication_keys::read_backend(name, value, key, settings.backends,
                                                  section.diagnostics());
               });
  bool alerts_go_somewhere =
      std::any_of(settings.backends.begin(), settings.backends.end(), [](const auto& backend) {
        return backend.enabled && std::find(backend.labels.begin(), backend.labels.end(),
                                            "alerts") != backend.labels.end();
      });
  if (section.reading() && settings.alerts && !alerts_go_somewhere &&
      !section.diagnostics().has_errors())
    section.diagnostics().warning(section.key() + ".alerts",
                                  "no enabled backend has the label alerts: alerts go nowhere");
}

}  // namespace

std::optional<CommunicationsOptions> communications_options(
    const CommunicationsSettings& settings) {
  if (settings.backends.empty()) return std::nullopt;
  CommunicationsOptions options;
  options.backends = settings.backends;
  options.alerts = settings.alerts;
  options.alerts_min_interval =
      to_duration<std::chrono::milliseconds>(settings.alerts_min_interval_seconds);
  return options;
}

namespace {

/// `placement` and `nodes` next to `type` (docs/cluster.md): registration
/// attributes, not configuration.
void read_placement(ServiceInstanceConfig& instance, const std::string& key,
                    ConfigDiagnostics& diagnostics) {
  auto& body = instance.configuration;
  if (auto placement = body.find("placement"); placement != body.end()) {
    if (*placement == "cluster" || *placement == "node")
      instance.cluster = *placement == "cluster";
    else
      diagnostics.error(key + ".placement", "must be node or cluster");
    body.erase(placement);
  }
  auto nodes = body.find("nodes");
  if (nodes == body.end()) return;
  bool ids = nodes->is_array() && std::all_of(nodes->begin(), nodes->end(), [](const json& id) {
               return id.is_string() && !id.get_ref<const std::string&>().empty();
             });
  if (!ids)
    diagnostics.error(key + ".nodes", "must be a list of node ids");
  else if (!instance.cluster)
    diagnostics.error(key + ".nodes", "needs placement: cluster");
  else
    instance.nodes = nodes->get<std::vector<std::string>>();
  body.erase(nodes);
}

/// One instance of `services`: `type`, `placement`, `nodes`, and the rest
/// is its configuration.
void read_service(const std::string& name, const json& body, const std::string& key,
                  ApplicationConfig& config, ConfigDiagnostics& diagnostics) {
  ServiceInstanceConfig instance{name, name, json::object(), false, {}};
  if (!body.is_null()) {
    if (!body.is_object()) {
      diagnostics.error(key, "must be a mapping of configuration fields");
      return;
    }
    instance.configuration = body;
    if (auto type = instance.configuration.find("type"); type != instance.configuration.end()) {
      if (type->is_string())
        instance.type = type->get<std::string>();
      else
        diagnostics.error(key + ".type", "must be a service class key");
      instance.configuration.erase(type);
    }
    read_placement(instance, key, diagnostics);
  }
  config.services.push_back(std::move(instance));
}

/// What a `services` entry may hold: `type`, then the fields of the class
/// it names.
json service_entry_schema() {
  auto classes = ServiceClassRegistry::global().classes();
  std::vector<std::string> keys;
  auto by_class = json::array();
  for (const auto& service_class : classes) {
    keys.push_back(service_class->key);
    by_class.push_back(
        {{"if",
          {{"properties", {{"type", {{"const", service_class->key}}}}}, {"required", {"type"}}}},
         {"then", describe(*service_class).configuration_schema}});
  }
  json schema = {
      {"type", {"object", "null"}},
      {"description",
       "An instance: its class (`type`, default the instance's name) and its configuration"},
      {"properties",
       {{"type", {{"type", "string"}, {"enum", keys}, {"description", "A class key"}}},
        {"placement",
         {{"type", "string"},
          {"enum", {"node", "cluster"}},
          {"description", "cluster: one node of the cluster runs it (docs/cluster.md)"}}},
        {"nodes",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"description", "The nodes that may run a cluster instance (default: all)"}}}}}};
  if (!by_class.empty()) schema["allOf"] = std::move(by_class);
  return schema;
}

/// The whole file, for reading (`tree` set) or describing.
void declare_file(Section& file, ApplicationConfig& config, const YamlTree* tree) {
  file.section("app", "Who the application is", [&](Section& app) { declare_app(app, config.app); })
      .section("server", "The HTTP server",
               [&](Section& server) { declare_server(server, config.server); })
      .section("logging", "Logs (stderr)",
               [&](Section& logging) { declare_logging(logging, config); })
      .section("node", "Distribution across nodes (docs/membership.md)",
               [&](Section& node) { declare_node(node, config.node); })
      .section("state", "The node's state file (docs/state.md)",
               [&](Section& state) { declare_state(state, config.state); })
      .section("cluster", "Cluster instances and their store (docs/cluster.md)",
               [&](Section& cluster) { declare_cluster(cluster, config.cluster); })
      .section("secrets", "Where ${secret:backend:key} references look (docs/secrets.md)",
               [&](Section& secrets) { declare_secrets(secrets, config.secrets); })
      .section("communications",
               "Messages to people and the node's alerts "
               "(docs/communications.md)",
               [&](Section& section) { declare_communications(section, config.communications); })
      .entries(
          "services", "Instances by name, in start order", service_entry_schema(),
          [&](const std::string& name, const json& body, const std::string& key) {
            read_service(name, body, key, config, file.diagnostics());
          },
          tree ? &tree->service_order : nullptr);
  file.finish();
}

}  // namespace

std::string describe_problem(const std::string& file, const ConfigProblem& problem) {
  return fmt::format("{}: {}", file, problem.describe());
}

void read_application_config(const std::string& text, ApplicationConfig& config,
                             ConfigDiagnostics& diagnostics) {
  YamlTree tree;
  try {
    tree = read_yaml_tree(text, diagnostics);
  } catch (const YAML::Exception& error) {
    diagnostics.error("", fmt::format("invalid YAML at line {}, column {}: {}", error.mark.line + 1,
                                      error.mark.column + 1, error.msg));
    return;
  }
  resolve_file_secrets(tree, config, diagnostics);
  auto file = Section::reader(tree.root, "", diagnostics);
  declare_file(file, config, &tree);
}

ApplicationConfig parse_application_config(const std::string& text, const std::string& name) {
  ApplicationConfig config;
  ConfigDiagnostics diagnostics;
  read_application_config(text, config, diagnostics);
  if (diagnostics.has_errors())
    throw ApplicationConfigError(describe_problem(name, diagnostics.first_error()));
  return config;
}

namespace {

/// Closes a descriptor on every path out of a scope.
struct DescriptorCloser {
  int descriptor;
  ~DescriptorCloser() {
    if (descriptor >= 0) ::close(descriptor);
  }
};

/// Why `status` is not a file to read a configuration from: a directory
/// reads as nothing, a device or FIFO may never end or block the start.
std::optional<std::string> not_a_file(const struct stat& status) {
  if (S_ISREG(status.st_mode)) return std::nullopt;
  if (S_ISDIR(status.st_mode)) return "it is a directory";
  return "not a regular file";
}

}  // namespace

std::optional<std::string> read_config_file(const std::string& path,
                                            ConfigDiagnostics& diagnostics) {
  auto refuse = [&](const std::string& reason) {
    diagnostics.error("", "cannot read the file: " + reason);
    return std::nullopt;
  };
  // Non-blocking: opening a FIFO must not wait for a writer before it is
  // refused. Reads of a regular file ignore the flag.
  DescriptorCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (file.descriptor < 0) return refuse(std::strerror(errno));
  struct stat status {};
  if (::fstat(file.descriptor, &status) != 0) return refuse(std::strerror(errno));
  if (auto reason = not_a_file(status)) return refuse(*reason);
  std::string text;
  std::array<char, 65536> chunk{};
  for (;;) {
    auto count = ::read(file.descriptor, chunk.data(), chunk.size());
    if (count == 0) return text;
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) return refuse(std::strerror(errno));
    text.append(chunk.data(), static_cast<std::size_t>(count));
  }
}

ApplicationConfig load_application_config(const std::string& path) {
  ConfigDiagnostics diagnostics;
  auto text = read_config_file(path, diagnostics);
  if (!text) throw ApplicationConfigError(describe_problem(path, diagnostics.first_error()));
  return parse_application_config(*text, path);
}

json application_config_schema() {
  json schema;
  ApplicationConfig defaults;
  auto file = Section::describer(schema);
  declare_file(file, defaults, nullptr);
  schema["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  schema["title"] = "ProcessPype application file";
  schema["description"] = "docs/configuration.md describes every key";
  return schema;
}

}  // namespace processpype
