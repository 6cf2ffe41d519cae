#include "processpype/actors/service_client.hpp"

namespace processpype {

namespace {

caf::duration to_duration(std::optional<std::chrono::milliseconds> timeout) {
  return timeout ? caf::duration{*timeout} : caf::infinite;
}

}  // namespace

ServiceClient::ServiceClient(caf::actor_system& system, caf::actor supervisor,
                             std::chrono::milliseconds timeout,
                             std::optional<std::chrono::milliseconds> lifecycle_timeout)
    : system_(system),
      supervisor_(std::move(supervisor)),
      timeout_(timeout),
      lifecycle_timeout_(to_duration(lifecycle_timeout)) {}

Registration ServiceClient::register_service(std::string_view class_key,
                                             std::optional<std::string> instance_name) {
  RegisterRequest request{std::string{class_key}, instance_name.value_or(""),
                          !instance_name.has_value()};
  return call<Registration>(timeout_, register_atom::value, std::move(request));
}

void ServiceClient::configure(const std::string& name, const nlohmann::json& configuration) {
  call<void>(timeout_, configure_atom::value, name, configuration);
}

void ServiceClient::start(const std::string& name) {
  call<void>(lifecycle_timeout_, start_atom::value, name);
}

void ServiceClient::stop(const std::string& name) {
  call<void>(lifecycle_timeout_, stop_atom::value, name);
}

ServiceStatus ServiceClient::status(const std::string& name) {
  return call<ServiceStatus>(timeout_, status_atom::value, name);
}

std::vector<NamedStatus> ServiceClient::list() {
  return call<std::vector<NamedStatus>>(timeout_, list_atom::value);
}

Deregistration ServiceClient::deregister(const std::string& name) {
  return call<Deregistration>(lifecycle_timeout_, deregister_atom::value, name);
}

RouteResponse ServiceClient::call_route(const std::string& name, RouteRequest request) {
  return call<RouteResponse>(timeout_, route_atom::value, RouteCall{name, std::move(request)});
}

std::vector<std::string> ServiceClient::stop_all(std::chrono::milliseconds timeout) {
  return call<std::vector<std::string>>(lifecycle_timeout_, stop_all_atom::value,
                                        caf::timespan{timeout});
}

}  // namespace processpype
