// The C++ block of docs/secrets.md, "From C++", cut from here: an embedding
// program sets its own secrets, and the next configure of an instance sees a
// rotated one.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "processpype/actors/runtime.hpp"
#include "processpype/runtime/secrets.hpp"

namespace {

/// What the manager of `db` was last configured with.
std::string configured_password;

struct DbConfiguration : processpype::ServiceConfiguration {
  std::string password;
  void fields(processpype::Fields& fields) override {
    fields("password", password, "The database password").secret();
  }
};

class DbManager : public processpype::ConfiguredManager<DbConfiguration> {
 public:
  using ConfiguredManager::ConfiguredManager;
  void configure(const DbConfiguration& configuration) override {
    configured_password = configuration.password;
  }
  void start() override {}
  void stop() override {}
  bool may_block() const override { return false; }
};

class DbService : public processpype::ConfiguredService<DbConfiguration, DbManager> {
 public:
  using ConfiguredService::ConfiguredService;
};

}  // namespace

TEST_CASE("An embedding program sets secrets in C++, the next configure sees a rotated one") {
  caf::actor_system_config config;
  processpype::Runtime::add_types(config);
  caf::actor_system system{config};
  processpype::Runtime runtime{system};
  runtime.register_service<DbService>();
  const std::string fetched = "from-the-vault";
  const std::string rotated = "rotated-by-the-vault";

  // [snippet:secrets-from-cpp]
  auto& secrets = processpype::SecretStore::global();
  secrets.set_backend("vault", std::make_shared<processpype::SecretValues>(
                                   std::map<std::string, std::string>{{"db_password", fetched}}));
  runtime.configure("db", {{"password", "${secret:vault:db_password}"}});

  // Later, when the vault rotates the password: the next configure sees it.
  secrets.set_backend("vault", std::make_shared<processpype::SecretValues>(
                                   std::map<std::string, std::string>{{"db_password", rotated}}));
  runtime.configure("db", {{"password", "***"}});  // "***": keep the field as it is
  // [snippet-end:secrets-from-cpp]

  CHECK(configured_password == rotated);
  CHECK(runtime.status("db").metadata["password"] == "***");
  CHECK(secrets.find("vault", "db_password") == std::optional<std::string>{rotated});
  secrets.remove_backend("vault");
}
