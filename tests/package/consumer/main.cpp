#include <iostream>

#include <caf/all.hpp>

#include "processpype/actors/runtime.hpp"

class PingManager : public processpype::ServiceManager {
 public:
  using ServiceManager::ServiceManager;
  void start() override {}
  void stop() override {}
};

class PingService : public processpype::Service {
 public:
  using Service::Service;
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<PingManager>(logger());
  }
  bool requires_configuration() const override { return false; }
};

int main() {
  caf::actor_system_config config;
  processpype::Runtime::add_types(config);
  caf::actor_system system{config};
  processpype::Runtime runtime{system};
  auto ping = runtime.register_service<PingService>();
  runtime.start(ping.name);
  std::cout << ping.name << " " << processpype::to_string(runtime.status(ping.name).state) << "\n";
  return runtime.status(ping.name).state == processpype::ServiceState::running ? 0 : 1;
}
