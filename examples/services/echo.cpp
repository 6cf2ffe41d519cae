// `echo` (docs/rest-api.md, "Example services"): the minimal service of the
// README (a manager that logs), plus a small configuration and one route,
// POST /echo, that answers while the service runs.
#include <cstdint>
#include <string>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

struct EchoConfiguration : ServiceConfiguration {
  std::string prefix = "Echo";
  std::int64_t max_length = 1000;

  void fields(Fields& fields) override {
    fields("prefix", prefix, "Put before each message, with \": \"");
    fields("max_length", max_length, "Longest reply, in Unicode code points").greater_than(0);
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

/// Nothing it does blocks: its calls run inside the service's actor.
class EchoManager : public ServiceManager {
 public:
  using ServiceManager::ServiceManager;
  void start() override { logger().info("Echo service ready"); }
  void stop() override { logger().info("Echo service stopped"); }
  bool may_block() const override { return false; }
};

class EchoService : public ConfiguredService<EchoConfiguration, EchoManager> {
 public:
  using ConfiguredService::ConfiguredService;
  bool requires_configuration() const override { return false; }

  void add_routes(ServiceRoutes& routes) override {
    routes.post(
        "/echo", [this](const RouteRequest& request) { return echo(request); },
        "Echo a message with the prefix");
  }

 private:
  /// The body is checked first (422), then the state (409), as a web
  /// framework validates a request before its handler runs.
  RouteResponse echo(const RouteRequest& request) const {
    const auto& body = request.body;
    if (!body.is_object() || !body.contains("message"))
      throw Error(ErrorCode::invalid_value, "Field 'message' is required");
    if (!body["message"].is_string())
      throw Error(ErrorCode::invalid_value, "Field 'message' must be a string");
    if (status().state != ServiceState::running)
      throw Error(ErrorCode::conflict, "Service " + name() + " is not running (state: " +
                                           std::string{to_string(status().state)} + ")");
    auto text = config().prefix + ": " + body["message"].get<std::string>();
    return RouteResponse::ok(
        {{"message", cut_to_code_points(std::move(text), config().max_length)}});
  }
};

PROCESSPYPE_REGISTER_SERVICE(EchoService);  // registry key "echo"

}  // namespace
}  // namespace processpype::examples
