#include "missing_class.hpp"

#include <fmt/format.h>

#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/service.hpp"

namespace processpype {

namespace {

class MissingClassService final : public Service {
 public:
  MissingClassService(std::string name, std::string class_key)
      : Service(std::move(name)), class_key_(std::move(class_key)) {}

  bool requires_configuration() const override { return false; }
  std::unique_ptr<ServiceManager> create_manager() override {
    return std::make_unique<Refusing>(logger(), missing_class_reason(class_key_));
  }

 private:
  class Refusing final : public ServiceManager {
   public:
    Refusing(std::shared_ptr<spdlog::logger> logger, std::string reason)
        : ServiceManager(std::move(logger)), reason_(std::move(reason)) {}
    void start() override { throw Error(ErrorCode::conflict, reason_); }
    void stop() override {}
    bool may_block() const override { return false; }

   private:
    std::string reason_;
  };

  std::string class_key_;
};

}  // namespace

std::shared_ptr<const ServiceClass> missing_class(const std::string& key) {
  return std::make_shared<const ServiceClass>(
      ServiceClass{key, "(missing class " + key + ")", [key](std::string name) {
                     return std::unique_ptr<Service>{new MissingClassService(std::move(name), key)};
                   }});
}

std::string missing_class_reason(const std::string& key) {
  return fmt::format("Service class '{}' is not registered on this node", key);
}

}  // namespace processpype
