// `echo` (docs/rest-api.md, "Example services"): the minimal service of the
// README (a manager that logs), plus a small configuration and two routes
// that answer while the service runs: POST /echo, and POST /emit, which
// sends a message to people (docs/communications.md).
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
    routes.post(
        "/emit", [this](const RouteRequest& request) { return emit_message(request); },
        "Send a message through the node's communications");
  }

 private:
  /// The body is checked first (422), then the state (409), as a web
  /// framework validates a request before its handler runs.
  RouteResponse echo(const RouteRequest& request) const {
    const auto& body = request.body;
    check_message(body);
    check_running();
    auto text = config().prefix + ": " + body["message"].get<std::string>();
    return RouteResponse::ok(
        {{"message", cut_to_code_points(std::move(text), config().max_length)}});
  }

  /// `{message, label?, source?, severity?, subject?, metadata?}`, each
  /// field as OutgoingMessage has it; what is absent keeps its default.
  RouteResponse emit_message(const RouteRequest& request) {
    const auto& body = request.body;
    check_message(body);
    OutgoingMessage message;
    message.message = body["message"].get<std::string>();
    read_text(body, "label", message.label);
    read_text(body, "source", message.source);
    read_text(body, "severity", message.severity);
    read_text(body, "subject", message.subject);
    if (body.contains("metadata")) {
      if (!body["metadata"].is_object())
        throw Error(ErrorCode::invalid_value, "Field 'metadata' must be an object");
      message.metadata = body["metadata"];
    }
    check_running();
    emit(std::move(message));
    return RouteResponse::ok({{"emitted", true}});
  }

  static void check_message(const nlohmann::json& body) {
    if (!body.is_object() || !body.contains("message"))
      throw Error(ErrorCode::invalid_value, "Field 'message' is required");
    if (!body["message"].is_string())
      throw Error(ErrorCode::invalid_value, "Field 'message' must be a string");
  }

  static void read_text(const nlohmann::json& body, const char* key, std::string& into) {
    if (!body.contains(key)) return;
    if (!body[key].is_string())
      throw Error(ErrorCode::invalid_value, std::string{"Field '"} + key + "' must be a string");
    into = body[key].get<std::string>();
  }

  void check_running() const {
    if (status().state != ServiceState::running)
      throw Error(ErrorCode::conflict, "Service " + name() + " is not running (state: " +
                                           std::string{to_string(status().state)} + ")");
  }
};

PROCESSPYPE_REGISTER_SERVICE(EchoService);  // registry key "echo"

}  // namespace
}  // namespace processpype::examples
