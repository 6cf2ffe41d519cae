#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/runtime/instance_registry.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace {

struct Entry {
  std::string name;
};

class NothingManager : public processpype::ServiceManager {
 public:
  using ServiceManager::ServiceManager;
  void start() override {}
  void stop() override {}
};

class RegistryProbeService : public processpype::Service {
 public:
  using Service::Service;
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<NothingManager>(logger());
  }
};
PROCESSPYPE_REGISTER_SERVICE(RegistryProbeService);

}  // namespace

TEST_CASE("class keys drop a trailing 'service', lowercase and lose the namespace") {
  CHECK(processpype::service_class_key("EchoService") == "echo");
  CHECK(processpype::service_class_key("demo::HTTPProxyService") == "httpproxy");
  CHECK(processpype::service_class_key("Service") == "service");
  CHECK(processpype::service_class_key("Ticker") == "ticker");
  CHECK(processpype::unqualified_type_name("a::b::EchoService") == "EchoService");
}

TEST_CASE("the macro registers a class under its key with its type name") {
  auto found = processpype::ServiceClassRegistry::global().find("registryprobe");
  REQUIRE(found);
  CHECK(found->type_name == "RegistryProbeService");
  auto service = found->create("probe_1");
  CHECK(service->name() == "probe_1");
}

TEST_CASE("instance names are 1-64 characters of [A-Za-z0-9_.-], not . or ..") {
  using processpype::is_valid_instance_name;
  for (const auto& name : std::vector<std::string>{"echo", "a.b-c_D9", std::string(64, 'x')}) {
    INFO(name);
    CHECK(is_valid_instance_name(name));
  }
  for (const auto& name :
       std::vector<std::string>{std::string(65, 'x'), "", ".", "..", "a/b", "a b", "é"}) {
    INFO(name);
    CHECK_FALSE(is_valid_instance_name(name));
  }
}

TEST_CASE("auto-naming: the key, then <key>_<n> with n the names starting with the key") {
  processpype::InstanceRegistry<Entry> registry;
  CHECK(registry.auto_name("echo") == "echo");
  registry.insert({"echo"});
  CHECK(registry.auto_name("echo") == "echo_1");
  registry.insert({"echo_1"});
  registry.insert({"echoes"});  // starts with the key too
  CHECK(registry.auto_name("echo") == "echo_3");
  registry.insert({"echo_3"});
  registry.erase("echoes");
  // 3 names start with "echo" but echo_3 is taken: increase until free.
  CHECK(registry.auto_name("echo") == "echo_4");
}

TEST_CASE("the instance registry keeps registration order and finds by name") {
  processpype::InstanceRegistry<Entry> registry;
  for (auto name : {"c", "a", "b"}) registry.insert({name});
  registry.erase("a");
  registry.insert({"a"});
  std::vector<std::string> order;
  for (const auto& entry : registry) order.push_back(entry.name);
  CHECK(order == std::vector<std::string>{"c", "b", "a"});
  REQUIRE(registry.find("b"));
  CHECK_FALSE(registry.find("x"));
  CHECK(registry.size() == 3);
}
