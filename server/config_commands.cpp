#include "config_commands.hpp"

#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "listen_probe.hpp"
#include "processpype/config/application_config.hpp"
#include "processpype/config/validation.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype {

namespace {

const char* severity_name(ConfigProblem::Severity severity) {
  return severity == ConfigProblem::Severity::error ? "error" : "warning";
}

std::string plural(std::size_t count, const char* noun) {
  return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

/// What a start refuses of the state file before it opens it, probed
/// without creating or changing anything (docs/state.md).
void check_state_file(const std::string& path, ConfigDiagnostics& diagnostics) {
  if (path.empty()) return;
  try {
    state::check_state_path(path);
  } catch (const state::StateError& error) {
    diagnostics.error("state.path", error.what());
  }
}

/// Whether a start could bind server.host, on any port: the port itself is
/// not checked, as the running node holds it when a restart is checked
/// (docs/packaging.md).
void check_listen_address(const std::string& host, ConfigDiagnostics& diagnostics) {
  if (auto problem = listen_problem(host, 0))
    diagnostics.error("server.host", fmt::format("cannot listen on {}: {}", host, *problem));
}

}  // namespace

int check_config_command(const std::string& file, std::ostream& out,
                         const std::function<void(ApplicationConfig&)>& apply_flags) {
  ConfigDiagnostics diagnostics;
  ApplicationConfig config;
  if (auto text = read_config_file(file, diagnostics)) {
    // A key with a problem keeps its default: the checks of a start still
    // apply to the rest, so that one run lists everything to fix.
    read_application_config(*text, config, diagnostics);
    apply_flags(config);
    validate_application_config(config, parse_comma_list(std::getenv("ENABLED_SERVICES")),
                                diagnostics);
    check_state_file(config.state.path, diagnostics);
    check_listen_address(config.server.http.host, diagnostics);
  }
  for (const auto& problem : diagnostics.problems())
    fmt::print(out, "{}: {}: {}\n", file, severity_name(problem.severity), problem.describe());
  auto warnings = diagnostics.problems().size() - diagnostics.errors();
  fmt::print(out, "{}: {}, {}\n", file,
             diagnostics.has_errors() ? plural(diagnostics.errors(), "error") : "ok",
             plural(warnings, "warning"));
  return diagnostics.has_errors() ? 2 : 0;
}

int config_schema_command(std::ostream& out) {
  out << application_config_schema().dump(2) << "\n";
  return 0;
}

}  // namespace processpype
