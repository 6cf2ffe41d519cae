// `echo` (SPEC 2 and 6): the minimal service of SPEC 2, plus a small
// configuration and one route, POST /echo, that answers while it runs.
#include <cstdint>
#include <memory>
#include <string>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

struct EchoConfiguration : ServiceConfiguration {
  std::string prefix = "Echo";
  std::int64_t max_length = 1000;
  PROCESSPYPE_FIELDS(prefix, max_length)
  void validate() const override {
    require(max_length > 0, "max_length", "must be greater than 0");
  }
};

/// `text` cut to at most `limit` Unicode code points; UTF-8 aware, so it never
/// cuts inside a multi-byte sequence.
std::string cut_to_code_points(std::string text, std::int64_t limit) {
  std::int64_t count = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (count++ == limit) {
      text.resize(i);
      break;
    }
  }
  return text;
}

class EchoManager : public ServiceManager {
 public:
  using ServiceManager::ServiceManager;
  void start() override { logger().info("Echo service ready"); }
  void stop() override { logger().info("Echo service stopped"); }
};

class EchoService : public ConfiguredService<EchoConfiguration> {
 public:
  using ConfiguredService::ConfiguredService;
  std::unique_ptr<ServiceManager> create_manager() override {
    return std::make_unique<EchoManager>(logger());
  }
  bool requires_configuration() const override { return false; }

  void add_routes(ServiceRoutes& routes) override {
    routes.post("/echo", [this](const RouteRequest& request) { return echo(request); });
  }

 private:
  /// The body is checked first (422), then the state (409), as a web
  /// framework validates a request before its handler runs.
  RouteResponse echo(const RouteRequest& request) const {
    const auto& body = request.body;
    if (!body.is_object() || !body.contains("message"))
      return RouteResponse::error(422, "Field 'message' is required");
    if (!body["message"].is_string())
      return RouteResponse::error(422, "Field 'message' must be a string");
    if (status().state != ServiceState::running)
      return RouteResponse::error(409, "Service " + name() + " is not running (state: " +
                                           std::string{to_string(status().state)} + ")");
    auto text = config().prefix + ": " + body["message"].get<std::string>();
    return RouteResponse::ok(
        {{"message", cut_to_code_points(std::move(text), config().max_length)}});
  }
};

PROCESSPYPE_REGISTER_SERVICE(EchoService);  // registry key "echo"

}  // namespace
}  // namespace processpype::examples
