// The REST server of docs/embedding.md, cut from here (docs/embedding.md,
// "The C++ blocks of these docs"): it serves the runtime the program runs.
#include <catch2/catch.hpp>

#include <cstdint>

#include <caf/all.hpp>

#include "echo_service.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/testing/http.hpp"

// [snippet:rest-server]
#include "processpype/rest/server.hpp"

// [snippet-skip]
TEST_CASE("The REST server serves the runtime that the program drives") {
  caf::actor_system_config config;
  processpype::Runtime::add_types(config);
  caf::actor_system system{config};
  processpype::Runtime runtime{system};
  auto echo = runtime.register_service<EchoService>();

  // [snippet-resume]
  processpype::rest::ServerOptions options;
  options.port = 8000;
  // [snippet-skip]
  options.port = static_cast<std::uint16_t>(processpype::testing::free_port());  // no fixed port
  // [snippet-resume]
  processpype::rest::Server server{runtime, options};
  server.start();
  // [snippet-end:rest-server]

  processpype::testing::HttpClient api{options.port};
  auto registered = api.get("/services/" + echo.name);
  REQUIRE(registered.status == 200);
  CHECK(registered.field("state") == "initialized");

  CHECK(api.post("/services/" + echo.name + "/start").status == 200);
  CHECK(runtime.status(echo.name).state == processpype::ServiceState::running);
  runtime.stop(echo.name);
  CHECK(api.get("/services/" + echo.name).field("state") == "stopped");
  server.stop();
}
