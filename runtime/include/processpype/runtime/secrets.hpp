#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/errors.hpp"

namespace processpype {

/// A secret reference that cannot be resolved: malformed, naming an
/// unknown backend, or a key the backend does not hold. The text names the
/// reference, never a value (docs/secrets.md).
class SecretError : public Error {
 public:
  explicit SecretError(const std::string& detail) : Error(ErrorCode::invalid_value, detail) {}
};

/// Whether `text` holds a `${secret:` reference (well-formed or not).
bool mentions_secret(std::string_view text) noexcept;

/// Shorter secret values are not hidden in texts: they would garble them
/// (docs/secrets.md, "failure texts are redacted").
inline constexpr std::size_t shortest_redacted_secret = 4;

/// `text` with every occurrence of each value replaced by `***`. `values`
/// longest first, so that a secret containing another is replaced whole.
std::string redact_values(std::string text, const std::vector<std::string>& values);

/// Where secrets come from: one backend of the file's `secrets.backends`, or
/// one an embedding program adds. Immutable once made (a reload makes new
/// ones), so any thread may read it.
class SecretBackend {
 public:
  virtual ~SecretBackend() = default;
  /// The value stored under `name` (the backend's prefix included), if any.
  virtual std::optional<std::string> find(const std::string& name) const = 0;
  /// Every name it holds, sorted.
  virtual std::vector<std::string> names() const = 0;
};

/// Secrets held in memory: what the `file` and `dotenv` backends read, the
/// environment as the `env` backend saw it, or what an embedding program
/// sets.
class SecretValues final : public SecretBackend {
 public:
  SecretValues() = default;
  explicit SecretValues(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  /// The process environment as it is now (the `env` backend).
  static std::shared_ptr<const SecretValues> environment();

  std::optional<std::string> find(const std::string& name) const override;
  std::vector<std::string> names() const override;

 private:
  std::map<std::string, std::string> values_;
};

/// Backends by name, each with a prefix: what `${secret:backend:key}`
/// resolves against (the backend's `prefix + key`). A value type; copies
/// share the backends themselves.
class SecretBackends {
 public:
  /// Adds or replaces backend `name`.
  void set(std::string name, std::shared_ptr<const SecretBackend> source, std::string prefix = {});
  void remove(std::string_view name);
  bool contains(std::string_view name) const;
  std::vector<std::string> backend_names() const;
  bool empty() const noexcept { return entries_.empty(); }

  /// The value of `key` in `backend`, if both exist.
  std::optional<std::string> find(std::string_view backend, std::string_view key) const;
  /// The same; SecretError naming `${secret:backend:key}` when it is missing.
  std::string get(std::string_view backend, std::string_view key) const;
  /// The keys of `backend` (without its prefix) that match the glob
  /// `pattern` (fnmatch: `*`, `?`, `[...]`), sorted. SecretError when the
  /// backend is unknown.
  std::vector<std::string> matching(std::string_view backend, std::string_view pattern) const;

  /// `text` with every `${secret:backend:key}` replaced by its value, in one
  /// pass (a value is never scanned again). SecretError for a malformed,
  /// unknown or missing reference, naming the reference. `values`, when
  /// given, gets each value put in, to keep out of messages.
  std::string substitute(std::string_view text, std::vector<std::string>* values = nullptr) const;

  /// `secrets.load`: remembers the keys of `backend` matching `pattern` as
  /// preloaded (`backend:key`). Returns how many matched. SecretError when
  /// the backend is unknown.
  std::size_t preload(std::string_view backend, std::string_view pattern);
  /// The preloaded names, `backend:key`, in the order they were preloaded.
  const std::vector<std::string>& preloaded() const noexcept { return preloaded_; }

 private:
  friend class SecretStore;
  struct Entry {
    std::shared_ptr<const SecretBackend> source;
    std::string prefix;
  };
  const Entry& entry_of(std::string_view backend, std::string_view reference) const;

  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::string> preloaded_;
};

/// The secrets of the process (docs/secrets.md): what references in secret
/// fields resolve against at each configure. Process-wide like the class
/// registry, so that an embedding program sets its own backends without
/// reaching into a Runtime. Thread-safe; readers never wait for a writer.
///
///     processpype::SecretStore::global().set_backend(
///         "vault", std::make_shared<processpype::SecretValues>(
///                      std::map<std::string, std::string>{{"db_password", fetched}}));
class SecretStore {
 public:
  SecretStore();
  static SecretStore& global();

  /// The backends now; later changes do not affect the snapshot.
  std::shared_ptr<const SecretBackends> backends() const {
    return current_.load(std::memory_order_acquire);
  }
  /// Sets every backend of `backends` (those of the same name replaced,
  /// others kept) with its preloaded names, at once.
  void install(const SecretBackends& backends);
  void set_backend(std::string name, std::shared_ptr<const SecretBackend> source,
                   std::string prefix = {});
  void remove_backend(std::string_view name);
  /// Every backend and preloaded name removed.
  void clear();

  /// The value of `key` in `backend` now, if both exist.
  std::optional<std::string> find(std::string_view backend, std::string_view key) const {
    return backends()->find(backend, key);
  }

 private:
  void change(const std::function<void(SecretBackends&)>& edit);

  std::mutex writer_;  ///< one writer at a time
  std::atomic<std::shared_ptr<const SecretBackends>> current_;
};

/// A configure's body made ready for a configuration of one class (docs/secrets.md,
/// "Secret fields"): `stored` holds each secret field as given, in clear or
/// as its reference, a field given as exactly `"***"` taking its value in
/// the current configuration instead; `resolved` is `stored` with the
/// references of secret fields resolved, what the configuration loads.
/// Only secret fields resolve references: a plain field keeps `${secret:`
/// as text, or any client could read any secret through a status.
struct PreparedConfiguration {
  nlohmann::json stored;
  nlohmann::json resolved;
};

/// Prepares `requested` for a configuration of `type`'s class, `current`
/// being the stored configuration now (`{}` before the first configure).
/// A body that is not an object is returned as it is (load() refuses it).
/// Throws ConfigurationError naming the field and the reference.
PreparedConfiguration prepare_configuration(const ServiceConfiguration& type,
                                            const nlohmann::json& requested,
                                            const nlohmann::json& current,
                                            const SecretBackends& secrets);

}  // namespace processpype
