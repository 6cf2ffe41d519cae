// ProcessPype embedded in a program that owns its caf::actor_system: the
// README's minimal EchoService (echo_service.hpp), driven through the
// blocking Runtime API, with each state it goes through printed. The README
// shows the start of main() (region `embed`, docs/embedding.md, "The C++
// blocks of these docs").
#include <iostream>
#include <string>

#include <caf/all.hpp>

#include "echo_service.hpp"
#include "processpype/actors/runtime.hpp"

namespace {

void print_state(processpype::Runtime& runtime, const std::string& name) {
  std::cout << name << ": " << processpype::to_string(runtime.status(name).state) << std::endl;
}

}  // namespace

int main() {
  // [snippet:embed]
  caf::actor_system_config config;
  processpype::Runtime::add_types(config);  // protocol types, before the system exists
  caf::actor_system system{config};
  processpype::Runtime runtime{system};
  auto echo = runtime.register_service<EchoService>();
  // [snippet-skip]
  std::cout << "registered " << echo.name << " (" << echo.type << ")" << std::endl;
  print_state(runtime, echo.name);
  runtime.configure(echo.name, {{"note", "configured from C++"}});
  print_state(runtime, echo.name);
  // [snippet-resume]
  runtime.start(echo.name);  // blocking calls throw processpype::Error
  // [snippet-end:embed]
  print_state(runtime, echo.name);
  runtime.stop(echo.name);
  print_state(runtime, echo.name);

  try {
    runtime.register_service("echo", echo.name);  // the name is taken
  } catch (const processpype::Error& error) {
    std::cout << "refused (" << processpype::to_string(error.code()) << "): " << error.what()
              << std::endl;
  }
  runtime.deregister(echo.name);
  std::cout << "deregistered " << echo.name << std::endl;
}
