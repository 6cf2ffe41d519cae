#include "processpype/actors/protocol.hpp"

#include <caf/all.hpp>

namespace processpype {

caf::error make_error(ErrorCode code, std::string detail) {
  return caf::error(static_cast<std::uint8_t>(code), error_category,
                    caf::make_message(std::move(detail)));
}

caf::error make_error(const Error& error) {
  return make_error(error.code(), error.detail());
}

Error to_error(const caf::error& error) {
  if (error.category() == error_category) {
    auto code = static_cast<ErrorCode>(error.code());
    const auto& context = error.context();
    if (context.match_elements<std::string>()) return Error(code, context.get_as<std::string>(0));
    return Error(code, std::string{to_string(code)});
  }
  if (error == caf::sec::request_timeout)
    return Error(ErrorCode::timeout, "No answer within the request timeout");
  if (error == caf::sec::request_receiver_down)
    return Error(ErrorCode::node_unavailable, "The receiver of the request is down");
  return Error(ErrorCode::service_failure, caf::to_string(error));
}

void add_protocol_types(caf::actor_system_config& config) {
  config.add_message_type<nlohmann::json>("processpype::json")
      .add_message_type<ServiceState>("processpype::ServiceState")
      .add_message_type<EventCause>("processpype::EventCause")
      .add_message_type<Trigger>("processpype::Trigger")
      .add_message_type<HealthReport>("processpype::HealthReport")
      .add_message_type<ServiceStatus>("processpype::ServiceStatus")
      .add_message_type<RegisterRequest>("processpype::RegisterRequest")
      .add_message_type<Registration>("processpype::Registration")
      .add_message_type<Deregistration>("processpype::Deregistration")
      .add_message_type<StopResult>("processpype::StopResult")
      .add_message_type<NamedStatus>("processpype::NamedStatus")
      .add_message_type<std::vector<NamedStatus>>("processpype::NamedStatusList")
      .add_message_type<RouteRequest>("processpype::RouteRequest")
      .add_message_type<RouteCall>("processpype::RouteCall")
      .add_message_type<RouteResponse>("processpype::RouteResponse")
      .add_message_type<NodeInfo>("processpype::NodeInfo")
      .add_message_type<NodeAddress>("processpype::NodeAddress")
      .add_message_type<std::vector<NodeAddress>>("processpype::NodeAddressList")
      .add_message_type<Welcome>("processpype::Welcome")
      .add_message_type<Heartbeat>("processpype::Heartbeat")
      .add_message_type<NodeStatus>("processpype::NodeStatus")
      .add_message_type<std::vector<NodeStatus>>("processpype::NodeStatusList")
      .add_message_type<ApplicationInfo>("processpype::ApplicationInfo")
      .add_message_type<Event>("processpype::Event")
      .add_message_type<EventBatch>("processpype::EventBatch")
      .add_message_type<SupervisorActor>("processpype::SupervisorActor")
      .add_message_type<NodeActor>("processpype::NodeActor")
      .add_message_type<EventFeedActor>("processpype::EventFeedActor")
      .add_message_type<EventSubscriberActor>("processpype::EventSubscriberActor")
      .add_message_type<HttpGatewayActor>("processpype::HttpGatewayActor")
      .add_message_type<ClusterActor>("processpype::ClusterActor")
      .add_message_type<ClusterPlacement>("processpype::ClusterPlacement")
      .add_message_type<ForwardedRequest>("processpype::ForwardedRequest")
      .add_message_type<ForwardedResponse>("processpype::ForwardedResponse")
      .add_message_type<TableVersion>("processpype::TableVersion")
      .add_message_type<StatusBatch>("processpype::StatusBatch")
      .add_message_type<StatusFeedActor>("processpype::StatusFeedActor")
      .add_message_type<StatusSubscriberActor>("processpype::StatusSubscriberActor");
  config.add_error_category(error_category, [](std::uint8_t code, caf::atom_value,
                                               const caf::message& context) {
    auto text = std::string{"processpype::"} + std::string{to_string(static_cast<ErrorCode>(code))};
    if (context.match_elements<std::string>()) text += ": " + context.get_as<std::string>(0);
    return text;
  });
}

}  // namespace processpype
