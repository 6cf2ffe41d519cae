#pragma once

// The README's minimal service, as short as a service can be (a manager that
// logs, a service that creates it, one registration). The README and
// docs/embedding.md show it cut from here (docs/embedding.md, "The C++ blocks
// of these docs"); the embedding example and the snippet tests run it.
//
// Each source file that includes it registers the class once more, which
// only replaces the same entry of the class registry.

#include <memory>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

// [snippet:echo-service]
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
// [snippet-end:echo-service]
