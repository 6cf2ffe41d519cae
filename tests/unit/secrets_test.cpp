// Secrets in the service model (docs/secrets.md): references and backends,
// the process's SecretStore, and secret fields through the lifecycle:
// masked in statuses and schemas, "***" keeping the value, references
// resolved at each configure, failure texts redacted.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>

#include "processpype/runtime/lifecycle.hpp"
#include "processpype/runtime/secrets.hpp"
#include "thrown.hpp"

using nlohmann::json;
using processpype::ConfigurationError;
using processpype::SecretBackends;
using processpype::SecretError;
using processpype::SecretStore;
using processpype::SecretValues;
using processpype::ServiceLifecycle;

namespace {

std::shared_ptr<const SecretValues> values(std::map<std::string, std::string> pairs) {
  return std::make_shared<const SecretValues>(std::move(pairs));
}

/// `vault` holds db_password and pin; `app` is the same data behind prefix APP_.
SecretBackends sample_backends() {
  SecretBackends backends;
  backends.set("vault", values({{"db_password", "s3cret-db"}, {"pin", "123456"}}));
  backends.set("app", values({{"APP_TOKEN", "tok-1"}, {"APP_KEY", "key-1"}, {"OTHER", "x"}}),
               "APP_");
  return backends;
}

/// The text of the SecretError `substitute(text)` throws ("" when none).
std::string refusal_of(const SecretBackends& backends, const std::string& text) {
  auto error = unit_tests::thrown_by<SecretError>([&] { backends.substitute(text); });
  return error ? error->detail() : "";
}

}  // namespace

// -- references and backends --------------------------------------------------------

TEST_CASE("a reference resolves alone, inside a longer text, and several at once") {
  auto backends = sample_backends();
  CHECK(backends.substitute("${secret:vault:db_password}") == "s3cret-db");
  CHECK(backends.substitute("postgres://u:${secret:vault:db_password}@db/x") ==
        "postgres://u:s3cret-db@db/x");
  CHECK(backends.substitute("${secret:vault:pin}-${secret:app:TOKEN}") == "123456-tok-1");
  CHECK(backends.substitute("no reference, ${VAR} untouched") == "no reference, ${VAR} untouched");
}

TEST_CASE("a value is never scanned again for references") {
  SecretBackends backends;
  backends.set("b", values({{"tricky", "${secret:b:other}"}, {"other", "leaked"}}));
  CHECK(backends.substitute("${secret:b:tricky}") == "${secret:b:other}");
}

TEST_CASE("a backend's prefix is put before every key looked up") {
  auto backends = sample_backends();
  CHECK(backends.get("app", "TOKEN") == "tok-1");
  CHECK_FALSE(backends.find("app", "OTHER"));  // APP_OTHER does not exist
  CHECK(backends.find("app", "KEY") == std::optional<std::string>{"key-1"});
}

TEST_CASE("a missing key or backend is refused naming the reference, never a value") {
  auto backends = sample_backends();
  auto missing_key = refusal_of(backends, "${secret:vault:nope}");
  CHECK(missing_key.find("${secret:vault:nope}") != std::string::npos);
  CHECK(missing_key.find("s3cret-db") == std::string::npos);
  auto missing_backend = refusal_of(backends, "x ${secret:elsewhere:db_password}");
  CHECK(missing_backend.find("${secret:elsewhere:db_password}") != std::string::npos);
  CHECK(missing_backend.find("no secrets backend named 'elsewhere'") != std::string::npos);
}

TEST_CASE("a malformed reference is refused naming it") {
  auto backends = sample_backends();
  auto text = GENERATE(as<std::string>{}, "${secret:}", "${secret:vault}", "${secret:vault:}",
                       "${secret::pin}", "${secret:vault:pin");
  auto refusal = refusal_of(backends, text);
  INFO(refusal);
  CHECK(refusal.find("malformed secret reference") != std::string::npos);
  CHECK(refusal.find(text.substr(0, 10)) != std::string::npos);
  CHECK(refusal.find("123456") == std::string::npos);
}

TEST_CASE("globs list a backend's keys without its prefix, and preload remembers them") {
  auto backends = sample_backends();
  CHECK(backends.matching("app", "*") == std::vector<std::string>{"KEY", "TOKEN"});
  CHECK(backends.matching("app", "T?KEN") == std::vector<std::string>{"TOKEN"});
  CHECK(backends.matching("vault", "[dp]*") == std::vector<std::string>{"db_password", "pin"});
  CHECK(backends.matching("vault", "nothing*").empty());
  CHECK_THROWS_AS(backends.matching("elsewhere", "*"), SecretError);

  CHECK(backends.preload("app", "*") == 2);
  CHECK(backends.preload("vault", "pin") == 1);
  CHECK(backends.preload("vault", "zzz*") == 0);
  CHECK(backends.preloaded() == std::vector<std::string>{"app:KEY", "app:TOKEN", "vault:pin"});
}

TEST_CASE("the environment backend sees the variables as they were when it was made") {
  ::setenv("PROCESSPYPE_SECRETS_TEST_VARIABLE", "from-env", 1);
  auto snapshot = SecretValues::environment();
  ::setenv("PROCESSPYPE_SECRETS_TEST_VARIABLE", "changed", 1);
  CHECK(snapshot->find("PROCESSPYPE_SECRETS_TEST_VARIABLE") ==
        std::optional<std::string>{"from-env"});
  ::unsetenv("PROCESSPYPE_SECRETS_TEST_VARIABLE");
}

TEST_CASE("the store installs backends by name and its snapshots do not change") {
  SecretStore store;
  auto before = store.backends();
  store.install(sample_backends());
  CHECK(before->empty());
  CHECK(store.find("vault", "pin") == std::optional<std::string>{"123456"});

  SecretBackends reread;
  reread.set("vault", values({{"pin", "654321"}}));
  store.install(reread);  // replaces vault, keeps app
  CHECK(store.find("vault", "pin") == std::optional<std::string>{"654321"});
  CHECK_FALSE(store.find("vault", "db_password"));
  CHECK(store.find("app", "TOKEN") == std::optional<std::string>{"tok-1"});

  store.set_backend("embedded", values({{"k", "v"}}));
  store.remove_backend("app");
  CHECK(store.backends()->backend_names() == std::vector<std::string>{"embedded", "vault"});
  store.clear();
  CHECK(store.backends()->empty());
}

// -- secret fields -----------------------------------------------------------------------

namespace {

struct Recorded {
  std::string password;
  std::string label;
  int configures = 0;
};

struct VaultConfiguration : processpype::ServiceConfiguration {
  std::string password;
  std::string label;
  void fields(processpype::Fields& fields) override {
    fields("password", password, "A secret").secret();
    fields("label", label, "Not a secret");
  }
};

class VaultManager : public processpype::ConfiguredManager<VaultConfiguration> {
 public:
  VaultManager(std::shared_ptr<spdlog::logger> logger, Recorded& recorded)
      : ConfiguredManager(std::move(logger)), recorded_(recorded) {}
  void configure(const VaultConfiguration& configuration) override {
    if (configuration.label == "refuse")
      throw std::runtime_error("cannot log in with " + configuration.password);
    recorded_.password = configuration.password;
    recorded_.label = configuration.label;
    ++recorded_.configures;
  }
  void start() override { throw std::runtime_error("login failed for " + recorded_.password); }
  void stop() override {}

 private:
  Recorded& recorded_;
};

class VaultService : public processpype::ConfiguredService<VaultConfiguration> {
 public:
  VaultService(std::string name, Recorded& recorded)
      : ConfiguredService(std::move(name)), recorded_(recorded) {}
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<VaultManager>(logger(), recorded_);
  }

 private:
  Recorded& recorded_;
};

/// A lifecycle of VaultService, with `vault` installed in the process's
/// store (removed again afterwards).
struct SecretFixture {
  Recorded recorded;
  ServiceLifecycle lifecycle{std::make_unique<VaultService>("vault-user", recorded)};

  explicit SecretFixture(const std::string& password = "s3cret-db") { install(password); }
  ~SecretFixture() { SecretStore::global().remove_backend("unit-vault"); }

  static void install(const std::string& password) {
    SecretStore::global().set_backend("unit-vault", values({{"db_password", password}}));
  }
  const json& metadata() const { return lifecycle.status().metadata; }
};

}  // namespace

TEST_CASE("mask_secret shows *** when set, \"\" when empty, null when unset") {
  CHECK(processpype::mask_secret("hunter22") == "***");
  CHECK(processpype::mask_secret("") == "");
  CHECK(processpype::mask_secret(nullptr).is_null());
  CHECK(processpype::mask_secret(42) == "***");
}

TEST_CASE("a secret field's schema masks its default and says it is secret") {
  struct WithDefault : processpype::ServiceConfiguration {
    std::string token = "default-token";
    void fields(processpype::Fields& fields) override {
      fields("token", token, "A token").secret();
    }
  } configuration;
  auto property = configuration.schema()["properties"]["token"];
  CHECK(property["default"] == "***");
  CHECK(property["format"] == "password");
  CHECK(property["x-processpype-secret"] == true);
  CHECK(configuration.secret_field_names() == std::vector<std::string>{"token"});
  CHECK(configuration.to_public_json()["token"] == "***");
  CHECK(configuration.to_json()["token"] == "default-token");
}

TEST_CASE("a secret set in clear reaches the manager and shows as *** in the status") {
  SecretFixture fixture;
  fixture.lifecycle.configure({{"password", "hunter22"}, {"label", "x"}});
  CHECK(fixture.recorded.password == "hunter22");
  CHECK(fixture.metadata()["password"] == "***");
  CHECK(fixture.metadata()["label"] == "x");
  CHECK((*fixture.lifecycle.stored_configuration())["password"] == "hunter22");
  CHECK(fixture.metadata().dump().find("hunter22") == std::string::npos);
}

TEST_CASE("an empty secret shows as \"\"") {
  SecretFixture fixture;
  fixture.lifecycle.configure({{"password", ""}});
  CHECK(fixture.metadata()["password"] == "");
  fixture.lifecycle.configure(json::object());  // the default is empty too
  CHECK(fixture.metadata()["password"] == "");
}

TEST_CASE("*** keeps the current value, a new value replaces it") {
  SecretFixture fixture;
  fixture.lifecycle.configure({{"password", "hunter22"}, {"label", "a"}});
  fixture.lifecycle.configure({{"password", "***"}, {"label", "b"}});
  CHECK(fixture.recorded.password == "hunter22");
  CHECK(fixture.recorded.label == "b");
  // A read-modify-write client sends back what it read.
  fixture.lifecycle.configure(fixture.metadata());
  CHECK(fixture.recorded.password == "hunter22");
  fixture.lifecycle.configure({{"password", "changed-it"}});
  CHECK(fixture.recorded.password == "changed-it");
  CHECK(fixture.metadata()["password"] == "***");
}

TEST_CASE("*** before any configure keeps the default") {
  SecretFixture fixture;
  fixture.lifecycle.configure({{"password", "***"}});
  CHECK(fixture.recorded.password.empty());
  CHECK(fixture.metadata()["password"] == "");
}

TEST_CASE("a reference in a secret field resolves at each configure and is stored as such") {
  SecretFixture fixture;
  fixture.lifecycle.configure({{"password", "${secret:unit-vault:db_password}"}});
  CHECK(fixture.recorded.password == "s3cret-db");
  CHECK(fixture.metadata()["password"] == "***");
  CHECK((*fixture.lifecycle.stored_configuration())["password"] ==
        "${secret:unit-vault:db_password}");

  // As after a SIGHUP: the next configure sees the new value, also with ***.
  SecretFixture::install("rotated-db");
  fixture.lifecycle.configure({{"password", "***"}});
  CHECK(fixture.recorded.password == "rotated-db");

  // The stored configuration applies again to a fresh lifecycle (a revived actor).
  Recorded revived_calls;
  ServiceLifecycle revived{std::make_unique<VaultService>("vault-user", revived_calls)};
  revived.configure(*fixture.lifecycle.stored_configuration());
  CHECK(revived_calls.password == "rotated-db");
}

TEST_CASE("a reference in a field that is not secret stays text") {
  SecretFixture fixture;
  fixture.lifecycle.configure({{"label", "${secret:unit-vault:db_password}"}});
  CHECK(fixture.recorded.label == "${secret:unit-vault:db_password}");
  CHECK(fixture.metadata().dump().find("s3cret-db") == std::string::npos);
}

TEST_CASE("a missing secret refuses the configure naming the field and the reference") {
  SecretFixture fixture;
  fixture.lifecycle.configure({{"password", "before"}});
  try {
    fixture.lifecycle.configure({{"password", "${secret:unit-vault:nope}"}});
    FAIL("the configure was accepted");
  } catch (const ConfigurationError& error) {
    CHECK(error.field() == "password");
    CHECK(error.detail().find("${secret:unit-vault:nope}") != std::string::npos);
  }
  CHECK(fixture.recorded.password == "before");  // the previous configuration is kept
}

TEST_CASE("failure texts that quote a secret are redacted") {
  SecretFixture fixture;
  fixture.lifecycle.configure({{"password", "hunter22"}});
  fixture.lifecycle.begin_start();
  fixture.lifecycle.hand_out();
  auto failure = std::get<std::string>(fixture.lifecycle.run(ServiceLifecycle::Call::start));
  CHECK(failure == "login failed for ***");
  fixture.lifecycle.finish_start(failure);
  CHECK(fixture.lifecycle.status().error.find("hunter22") == std::string::npos);

  fixture.lifecycle.fail("again: hunter22 hunter22");
  CHECK(fixture.lifecycle.status().error == "again: *** ***");

  try {
    fixture.lifecycle.configure({{"password", "other-pass"}, {"label", "refuse"}});
    FAIL("the configure was accepted");
  } catch (const processpype::Error& error) {
    CHECK(error.detail() == "cannot log in with ***");
  }
}
