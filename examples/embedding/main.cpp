// ProcessPype embedded in a program that owns its caf::actor_system: the
// the README's minimal EchoService, driven through the blocking Runtime API, with
// each state it goes through printed.
#include <iostream>

#include <caf/all.hpp>

#include "processpype/actors/runtime.hpp"

class EchoManager : public processpype::ServiceManager {
 public:
  using ServiceManager::ServiceManager;
  void start() override { logger().info("Echo service ready"); }
  void stop() override { logger().info("Echo service stopped"); }
};

class EchoService : public processpype::Service {
 public:
  using Service::Service;
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<EchoManager>(logger());
  }
  bool requires_configuration() const override { return false; }
};
PROCESSPYPE_REGISTER_SERVICE(EchoService);  // registry key "echo"

int main() {
  caf::actor_system_config config;
  processpype::Runtime::add_types(config);
  caf::actor_system system{config};
  processpype::Runtime runtime{system};

  auto print_state = [&](const std::string& name) {
    std::cout << name << ": " << processpype::to_string(runtime.status(name).state) << std::endl;
  };

  auto echo = runtime.register_service("echo");
  std::cout << "registered " << echo.name << " (" << echo.type << ")" << std::endl;
  print_state(echo.name);
  runtime.configure(echo.name, {{"note", "configured from C++"}});
  print_state(echo.name);
  runtime.start(echo.name);
  print_state(echo.name);
  runtime.stop(echo.name);
  print_state(echo.name);

  try {
    runtime.register_service("echo", echo.name);  // the name is taken
  } catch (const processpype::Error& error) {
    std::cout << "refused (" << processpype::to_string(error.code()) << "): " << error.what()
              << std::endl;
  }
  runtime.deregister(echo.name);
  std::cout << "deregistered " << echo.name << std::endl;
}
