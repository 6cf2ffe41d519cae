#include "processpype/actors/runtime.hpp"

#include <cxxabi.h>

#include <memory>

#include "processpype/actors/supervisor.hpp"

namespace processpype {

void Runtime::add_types(caf::actor_system_config& config) {
  add_protocol_types(config);
}

Runtime::Runtime(caf::actor_system& system, std::chrono::milliseconds timeout)
    : system_(system), timeout_(timeout), supervisor_(spawn_supervisor(system)) {}

Runtime::~Runtime() {
  caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
}

std::string Runtime::demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free};
  return status == 0 && name ? std::string{name.get()} : std::string{mangled};
}

template <class Result, class... Ts>
Result Runtime::call(caf::duration timeout, Ts&&... message) {
  caf::scoped_actor self{system_};
  std::optional<Error> failure;
  if constexpr (std::is_void_v<Result>) {
    self->request(supervisor_, timeout, std::forward<Ts>(message)...)
        .receive([] {}, [&](caf::error& error) { failure = to_error(error); });
    if (failure) throw *failure;
  } else {
    std::optional<Result> result;
    self->request(supervisor_, timeout, std::forward<Ts>(message)...)
        .receive([&](Result& value) { result = std::move(value); },
                 [&](caf::error& error) { failure = to_error(error); });
    if (failure) throw *failure;
    return std::move(*result);
  }
}

Registration Runtime::register_service(std::string_view class_key,
                                       std::optional<std::string> instance_name) {
  RegisterRequest request{std::string{class_key}, instance_name.value_or(""),
                          !instance_name.has_value()};
  return call<Registration>(timeout_, register_atom::value, std::move(request));
}

void Runtime::configure(const std::string& name, const nlohmann::json& configuration) {
  call<void>(timeout_, configure_atom::value, name, configuration);
}

void Runtime::start(const std::string& name) {
  call<void>(caf::infinite, start_atom::value, name);
}

void Runtime::stop(const std::string& name) {
  call<void>(caf::infinite, stop_atom::value, name);
}

ServiceStatus Runtime::status(const std::string& name) {
  return call<ServiceStatus>(timeout_, status_atom::value, name);
}

std::vector<NamedStatus> Runtime::list() {
  return call<std::vector<NamedStatus>>(timeout_, list_atom::value);
}

Deregistration Runtime::deregister(const std::string& name) {
  return call<Deregistration>(caf::infinite, deregister_atom::value, name);
}

RouteResponse Runtime::call_route(const std::string& name, RouteRequest request) {
  return call<RouteResponse>(timeout_, route_atom::value, RouteCall{name, std::move(request)});
}

std::vector<std::string> Runtime::stop_all(std::chrono::milliseconds timeout) {
  return call<std::vector<std::string>>(caf::infinite, stop_all_atom::value,
                                        caf::timespan{timeout});
}

}  // namespace processpype
