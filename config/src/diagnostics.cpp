#include "processpype/config/diagnostics.hpp"

#include <algorithm>
#include <stdexcept>

#include "processpype/runtime/secrets.hpp"

namespace processpype {

std::string ConfigProblem::describe() const {
  return key.empty() ? message : key + ": " + message;
}

void ConfigDiagnostics::error(std::string key, std::string message) {
  add(ConfigProblem::Severity::error, std::move(key), std::move(message));
  ++errors_;
}

void ConfigDiagnostics::warning(std::string key, std::string message) {
  add(ConfigProblem::Severity::warning, std::move(key), std::move(message));
}

void ConfigDiagnostics::add(ConfigProblem::Severity severity, std::string key,
                            std::string message) {
  problems_.push_back({severity, std::move(key), redact_values(std::move(message), hidden_)});
}

void ConfigDiagnostics::hide(std::string value) {
  if (value.size() < shortest_redacted_secret ||
      std::find(hidden_.begin(), hidden_.end(), value) != hidden_.end())
    return;
  auto longer = [](const std::string& a, const std::string& b) { return a.size() > b.size(); };
  hidden_.insert(std::upper_bound(hidden_.begin(), hidden_.end(), value, longer), std::move(value));
}

const ConfigProblem& ConfigDiagnostics::first_error() const {
  for (const auto& problem : problems_)
    if (problem.severity == ConfigProblem::Severity::error) return problem;
  throw std::logic_error("first_error() without an error");
}

namespace {

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and transpositions of neighbours (`lenght` is one edit from `length`).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string closest_name(std::string_view name, const std::vector<std::string>& known) {
  // Names of a handful of letters differ by one or two edits from each
  // other: allow a third of the name, at least one edit, at most three.
  auto allowed = std::clamp<std::size_t>(name.size() / 3, 1, 3);
  std::string best;
  std::size_t best_distance = allowed + 1;
  for (const auto& candidate : known) {
    auto distance = edit_distance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace processpype
