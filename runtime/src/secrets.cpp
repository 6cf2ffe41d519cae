#include "processpype/runtime/secrets.hpp"

#include <fnmatch.h>

#include <algorithm>

#include <fmt/format.h>

extern char** environ;  // NOLINT: POSIX declares it nowhere else

namespace processpype {

namespace {

constexpr std::string_view reference_start = "${secret:";

std::string reference_text(std::string_view backend, std::string_view key) {
  return fmt::format("${{secret:{}:{}}}", backend, key);
}

}  // namespace

bool mentions_secret(std::string_view text) noexcept {
  return text.find(reference_start) != std::string_view::npos;
}

std::string redact_values(std::string text, const std::vector<std::string>& values) {
  for (const auto& value : values)
    for (auto found = text.find(value); found != std::string::npos;
         found = text.find(value, found + masked_secret.size()))
      text.replace(found, value.size(), masked_secret);
  return text;
}

// -- SecretValues ------------------------------------------------------------------

std::shared_ptr<const SecretValues> SecretValues::environment() {
  std::map<std::string, std::string> values;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text{*entry};
    auto equals = text.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    values.emplace(text.substr(0, equals), text.substr(equals + 1));
  }
  return std::make_shared<const SecretValues>(std::move(values));
}

std::optional<std::string> SecretValues::find(const std::string& name) const {
  auto found = values_.find(name);
  if (found == values_.end()) return std::nullopt;
  return found->second;
}

std::vector<std::string> SecretValues::names() const {
  std::vector<std::string> names;
  names.reserve(values_.size());
  for (const auto& [name, value] : values_) names.push_back(name);
  return names;
}

// -- SecretBackends ----------------------------------------------------------------

void SecretBackends::set(std::string name, std::shared_ptr<const SecretBackend> source,
                         std::string prefix) {
  entries_.insert_or_assign(std::move(name), Entry{std::move(source), std::move(prefix)});
}

void SecretBackends::remove(std::string_view name) {
  if (auto found = entries_.find(name); found != entries_.end()) entries_.erase(found);
  std::erase_if(preloaded_, [&](const std::string& preloaded) {
    return preloaded.size() > name.size() && preloaded.starts_with(name) &&
           preloaded[name.size()] == ':';
  });
}

bool SecretBackends::contains(std::string_view name) const {
  return entries_.find(name) != entries_.end();
}

std::vector<std::string> SecretBackends::backend_names() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : entries_) names.push_back(name);
  return names;
}

const SecretBackends::Entry& SecretBackends::entry_of(std::string_view backend,
                                                      std::string_view reference) const {
  auto found = entries_.find(backend);
  if (found == entries_.end())
    throw SecretError(fmt::format("secret {}: no secrets backend named '{}'", reference, backend));
  return found->second;
}

std::optional<std::string> SecretBackends::find(std::string_view backend,
                                                std::string_view key) const {
  auto found = entries_.find(backend);
  if (found == entries_.end()) return std::nullopt;
  return found->second.source->find(found->second.prefix + std::string{key});
}

std::string SecretBackends::get(std::string_view backend, std::string_view key) const {
  auto reference = reference_text(backend, key);
  const auto& entry = entry_of(backend, reference);
  auto value = entry.source->find(entry.prefix + std::string{key});
  if (!value)
    throw SecretError(fmt::format("secret {} not found: backend '{}' has no key '{}{}'", reference,
                                  backend, entry.prefix, key));
  return std::move(*value);
}

std::vector<std::string> SecretBackends::matching(std::string_view backend,
                                                  std::string_view pattern) const {
  const auto& entry = entry_of(backend, fmt::format("{}:{}", backend, pattern));
  std::string glob = entry.prefix + std::string{pattern};
  std::vector<std::string> keys;
  for (const auto& name : entry.source->names())
    if (name.starts_with(entry.prefix) && fnmatch(glob.c_str(), name.c_str(), 0) == 0)
      keys.push_back(name.substr(entry.prefix.size()));
  return keys;
}

std::string SecretBackends::substitute(std::string_view text,
                                       std::vector<std::string>* values) const {
  std::string result;
  std::size_t position = 0;
  while (true) {
    auto start = text.find(reference_start, position);
    if (start == std::string_view::npos) break;
    result.append(text.substr(position, start - position));
    auto end = text.find('}', start);
    if (end == std::string_view::npos)
      throw SecretError(
          fmt::format("malformed secret reference '{}': no closing '}}'", text.substr(start, 40)));
    auto reference = text.substr(start, end + 1 - start);
    auto body = text.substr(start + reference_start.size(), end - start - reference_start.size());
    auto colon = body.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == body.size())
      throw SecretError(
          fmt::format("malformed secret reference '{}': write ${{secret:backend:key}}", reference));
    auto value = get(body.substr(0, colon), body.substr(colon + 1));
    result += value;
    if (values) values->push_back(std::move(value));
    position = end + 1;
  }
  result.append(text.substr(position));
  return result;
}

std::size_t SecretBackends::preload(std::string_view backend, std::string_view pattern) {
  auto keys = matching(backend, pattern);
  for (const auto& key : keys) {
    auto name = fmt::format("{}:{}", backend, key);
    if (std::find(preloaded_.begin(), preloaded_.end(), name) == preloaded_.end())
      preloaded_.push_back(std::move(name));
  }
  return keys.size();
}

// -- SecretStore --------------------------------------------------------------------

SecretStore::SecretStore() : current_(std::make_shared<const SecretBackends>()) {}

SecretStore& SecretStore::global() {
  static SecretStore store;
  return store;
}

void SecretStore::change(const std::function<void(SecretBackends&)>& edit) {
  std::lock_guard lock{writer_};
  auto next = std::make_shared<SecretBackends>(*current_.load(std::memory_order_acquire));
  edit(*next);
  current_.store(std::move(next), std::memory_order_release);
}

void SecretStore::install(const SecretBackends& backends) {
  change([&](SecretBackends& next) {
    for (const auto& [name, entry] : backends.entries_) {
      next.remove(name);  // with its preloaded names
      next.set(name, entry.source, entry.prefix);
    }
    for (const auto& name : backends.preloaded_) next.preloaded_.push_back(name);
  });
}

void SecretStore::set_backend(std::string name, std::shared_ptr<const SecretBackend> source,
                              std::string prefix) {
  change([&](SecretBackends& next) { next.set(std::move(name), source, std::move(prefix)); });
}

void SecretStore::remove_backend(std::string_view name) {
  change([&](SecretBackends& next) { next.remove(name); });
}

void SecretStore::clear() {
  change([](SecretBackends& next) { next = SecretBackends{}; });
}

// -- secret fields ---------------------------------------------------------------------

PreparedConfiguration prepare_configuration(const ServiceConfiguration& type,
                                            const nlohmann::json& requested,
                                            const nlohmann::json& current,
                                            const SecretBackends& secrets) {
  PreparedConfiguration prepared{requested, requested};
  if (!requested.is_object()) return prepared;
  auto secret_fields = type.secret_field_names();
  for (const auto& field : secret_fields) {
    auto given = prepared.stored.find(field);
    if (given == prepared.stored.end()) continue;
    if (given->is_string() &&
        given->get_ref<const std::string&>() ==
            masked_secret) {  // the value a status showed: keep the current one
      auto kept = current.is_object() ? current.find(field) : current.end();
      if (current.is_object() && kept != current.end())
        *given = *kept;
      else
        prepared.stored.erase(given);
    }
  }
  prepared.resolved = prepared.stored;
  for (const auto& field : secret_fields) {
    auto value = prepared.resolved.find(field);
    if (value == prepared.resolved.end() || !value->is_string()) continue;
    const auto& text = value->get_ref<const std::string&>();
    if (!mentions_secret(text)) continue;
    try {
      *value = secrets.substitute(text);
    } catch (const SecretError& error) {
      throw ConfigurationError(field, "cannot be resolved: " + error.detail());
    }
  }
  return prepared;
}

}  // namespace processpype
