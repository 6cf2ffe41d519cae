#include "processpype/actors/service_client.hpp"

#include "blocking_request.hpp"

namespace processpype {

namespace {

caf::duration to_duration(std::optional<std::chrono::milliseconds> timeout) {
  return timeout ? caf::duration{*timeout} : caf::infinite;
}

}  // namespace

ServiceClient::ServiceClient(caf::actor_system& system, SupervisorActor supervisor,
                             std::chrono::milliseconds timeout,
                             std::optional<std::chrono::milliseconds> lifecycle_timeout)
    : system_(system),
      supervisor_(std::move(supervisor)),
      timeout_(timeout),
      lifecycle_timeout_(to_duration(lifecycle_timeout)) {}

Registration ServiceClient::register_service(std::string_view class_key,
                                             std::optional<std::string> instance_name) {
  RegisterRequest request;
  request.class_key = std::string{class_key};
  request.auto_name = !instance_name.has_value();
  request.instance_name = instance_name.value_or("");
  request.accept_restored = instance_name.has_value();
  return blocking_request<Registration>(system_, supervisor_, lifecycle_timeout_,
                                        register_atom::value, std::move(request));
}

void ServiceClient::configure(const std::string& name, const nlohmann::json& configuration,
                              Trigger trigger) {
  blocking_request<ServiceState>(system_, supervisor_, lifecycle_timeout_, configure_atom::value,
                                 name, configuration, std::move(trigger));
}

void ServiceClient::start(const std::string& name, Trigger trigger) {
  blocking_request<ServiceState>(system_, supervisor_, lifecycle_timeout_, start_atom::value, name,
                                 std::move(trigger));
}

StopResult ServiceClient::stop(const std::string& name, Trigger trigger) {
  return blocking_request<StopResult>(system_, supervisor_, lifecycle_timeout_, stop_atom::value,
                                      name, std::move(trigger));
}

ServiceStatus ServiceClient::status(const std::string& name) {
  return blocking_request<ServiceStatus>(system_, supervisor_, timeout_, status_atom::value, name);
}

std::vector<NamedStatus> ServiceClient::list() {
  return blocking_request<std::vector<NamedStatus>>(system_, supervisor_, timeout_,
                                                    list_atom::value);
}

Deregistration ServiceClient::deregister(const std::string& name, Trigger trigger) {
  return blocking_request<Deregistration>(system_, supervisor_, lifecycle_timeout_,
                                          deregister_atom::value, name, std::move(trigger));
}

RouteResponse ServiceClient::call_route(const std::string& name, RouteRequest request) {
  return blocking_request<RouteResponse>(system_, supervisor_, timeout_, route_atom::value,
                                         RouteCall{name, std::move(request)});
}

ApplicationInfo ServiceClient::info() {
  return blocking_request<ApplicationInfo>(system_, supervisor_, timeout_, info_atom::value);
}

std::vector<std::string> ServiceClient::stop_all(std::chrono::milliseconds timeout) {
  return blocking_request<std::vector<std::string>>(system_, supervisor_, lifecycle_timeout_,
                                                    stop_all_atom::value, caf::timespan{timeout});
}

}  // namespace processpype
