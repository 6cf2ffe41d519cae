// ManagerGate: when a service actor may call its manager, on its own (no
// actor, no threads): the calls are opened, held, timed out and closed by
// hand.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "manager_gate.hpp"
#include "processpype/actors/protocol.hpp"

using processpype::CallInFlight;
using processpype::EventCause;
using processpype::ManagerGate;
using Call = processpype::ServiceLifecycle::Call;

namespace {

/// Records what became of each command given to the gate.
struct Commands {
  std::vector<std::string> log;

  void admit(ManagerGate& gate, const std::string& name) { gate.admit(ran(name), refused(name)); }
  void admit_ahead(ManagerGate& gate, const std::string& name) {
    gate.admit_ahead(ran(name), refused(name));
  }

 private:
  ManagerGate::Command ran(const std::string& name) {
    return [this, name] { log.push_back("ran " + name); };
  }
  ManagerGate::Refusal refused(const std::string& name) {
    return [this, name](const caf::error& error) {
      log.push_back("refused " + name + ": " + processpype::to_error(error).detail());
    };
  }
};

CallInFlight hold(ManagerGate& gate, Call kind) {
  auto call = gate.open(kind, EventCause::request);
  gate.hold(call);
  return call;
}

}  // namespace

TEST_CASE("A command runs at once while the manager is free or busy with a start or stop",
          "[manager_gate]") {
  ManagerGate gate{"db"};
  Commands commands;
  commands.admit(gate, "first");
  hold(gate, Call::start);
  commands.admit(gate, "second");  // the lifecycle answers it (a start waits, say)
  CHECK(commands.log == std::vector<std::string>{"ran first", "ran second"});
}

TEST_CASE("A command waits while a health check or a clean-up has the manager, in order",
          "[manager_gate]") {
  auto kind = GENERATE(Call::health, Call::cleanup);
  ManagerGate gate{"db"};
  Commands commands;
  auto call = hold(gate, kind);
  commands.admit(gate, "first");
  commands.admit(gate, "second");
  CHECK(commands.log.empty());

  auto returned = gate.close(call.id);
  REQUIRE(returned);
  CHECK(returned->kind == kind);
  CHECK(gate.in_flight() == nullptr);
  gate.run_deferred();
  CHECK(commands.log == std::vector<std::string>{"ran first", "ran second"});
}

TEST_CASE("A waiting command that makes a call of its own keeps the next one waiting",
          "[manager_gate]") {
  ManagerGate gate{"db"};
  std::vector<std::string> log;
  auto health = hold(gate, Call::health);
  gate.admit(
      [&] {
        log.push_back("ran first");
        hold(gate, Call::cleanup);
      },
      [](const caf::error&) {});
  gate.admit([&] { log.push_back("ran second"); }, [](const caf::error&) {});
  gate.close(health.id);
  gate.run_deferred();
  CHECK(log == std::vector<std::string>{"ran first"});
}

TEST_CASE("A command is refused while a call that outlived its timeout still runs",
          "[manager_gate]") {
  ManagerGate gate{"db"};
  Commands commands;
  auto call = hold(gate, Call::stop);
  const auto* late = gate.mark_late(call.id);
  REQUIRE(late != nullptr);
  CHECK(late->late);
  CHECK(gate.late_call() == late);
  commands.admit(gate, "start");
  CHECK(commands.log ==
        std::vector<std::string>{"refused start: Service db is still running an earlier stop that "
                                 "timed out"});

  SECTION("until it returns: then the manager is free") {
    auto returned = gate.close(call.id);
    REQUIRE(returned);
    CHECK(returned->late);
    CHECK_FALSE(gate.refusal());
  }
}

TEST_CASE("A timeout or a return of a call that is not in flight is ignored", "[manager_gate]") {
  ManagerGate gate{"db"};
  auto inline_call = gate.open(Call::start, EventCause::request);  // made inline: never held
  auto call = hold(gate, Call::health);
  CHECK(call.id != inline_call.id);
  CHECK(gate.mark_late(inline_call.id) == nullptr);
  CHECK_FALSE(gate.close(inline_call.id));
  REQUIRE(gate.mark_late(call.id) != nullptr);
  CHECK(gate.mark_late(call.id) == nullptr);  // late once
  CHECK(gate.close(call.id));
  CHECK_FALSE(gate.close(call.id));
}

TEST_CASE("The clean-up after a failure waits for the call that has the manager",
          "[manager_gate]") {
  ManagerGate gate{"db"};
  CHECK_FALSE(gate.take_cleanup());
  CHECK_FALSE(gate.defer_cleanup());  // the manager is free: clean up now

  auto call = hold(gate, Call::health);
  CHECK(gate.defer_cleanup());
  CHECK_FALSE(gate.take_cleanup());  // the health check still has the manager
  gate.close(call.id);
  CHECK(gate.take_cleanup());
  CHECK_FALSE(gate.take_cleanup());  // once
}

TEST_CASE("Commands still waiting are answered with the error when the actor ends",
          "[manager_gate]") {
  ManagerGate gate{"db"};
  Commands commands;
  hold(gate, Call::cleanup);
  commands.admit(gate, "stop");
  gate.abandon(processpype::make_error(processpype::ErrorCode::service_failure, "ended"));
  CHECK(commands.log == std::vector<std::string>{"refused stop: ended"});
  gate.run_deferred();
  CHECK(commands.log.size() == 1);
}

TEST_CASE("Commands that waited for a clean-up are refused once it outlives its timeout",
          "[manager_gate]") {
  ManagerGate gate{"db"};
  Commands commands;
  auto call = hold(gate, Call::cleanup);
  commands.admit(gate, "start");
  CHECK(commands.log.empty());  // waits for the clean-up
  gate.refuse_waiting();
  CHECK(commands.log.empty());  // not late yet: it still waits
  REQUIRE(gate.mark_late(call.id) != nullptr);
  gate.refuse_waiting();
  CHECK(commands.log ==
        std::vector<std::string>{"refused start: Service db is still running an earlier clean-up "
                                 "stop that timed out"});
  gate.close(call.id);
  gate.run_deferred();
  CHECK(commands.log.size() == 1);  // answered once
}

TEST_CASE("A command waits while an earlier command's change is written", "[manager_gate]") {
  ManagerGate gate{"db"};
  Commands commands;
  gate.begin_commit();
  commands.admit(gate, "first");
  commands.admit(gate, "second");
  CHECK(commands.log.empty());
  CHECK_FALSE(gate.end_commit());  // written in time: its command acts
  gate.run_deferred();
  CHECK(commands.log == std::vector<std::string>{"ran first", "ran second"});
}

TEST_CASE("A lease's stop does not wait for a write: the command written acts no more",
          "[manager_gate]") {
  ManagerGate gate{"db"};
  Commands commands;
  gate.begin_commit();
  commands.admit(gate, "start");
  commands.admit_ahead(gate, "lease stop");
  CHECK(commands.log == std::vector<std::string>{"ran lease stop"});

  auto overtaken = gate.end_commit();
  REQUIRE(overtaken);
  CHECK(processpype::to_error(overtaken).code() == processpype::ErrorCode::node_unavailable);
  CHECK(processpype::to_error(overtaken).detail() == "cluster store unreachable");
  gate.run_deferred();  // what waited behind the write comes after the stop
  CHECK(commands.log == std::vector<std::string>{"ran lease stop", "ran start"});

  gate.begin_commit();  // a write after the stop is not overtaken
  CHECK_FALSE(gate.end_commit());
}

TEST_CASE("A lease's stop waits for a health check only: then it runs first", "[manager_gate]") {
  ManagerGate gate{"db"};
  Commands commands;
  auto health = hold(gate, Call::health);
  gate.begin_commit();
  commands.admit(gate, "configure");
  commands.admit_ahead(gate, "lease stop");
  CHECK(commands.log.empty());

  gate.close(health.id);
  gate.run_deferred();
  CHECK(commands.log == std::vector<std::string>{"ran lease stop"});  // the write still runs
  CHECK(gate.end_commit());
  gate.run_deferred();
  CHECK(commands.log == std::vector<std::string>{"ran lease stop", "ran configure"});
}

TEST_CASE("A lease's stop is refused while a late call runs and overtakes no write",
          "[manager_gate]") {
  ManagerGate gate{"db"};
  Commands commands;
  auto call = hold(gate, Call::start);
  REQUIRE(gate.mark_late(call.id) != nullptr);
  gate.begin_commit();
  commands.admit_ahead(gate, "lease stop");
  CHECK(commands.log ==
        std::vector<std::string>{"refused lease stop: Service db is still running an earlier start "
                                 "that timed out"});
  CHECK_FALSE(gate.end_commit());
}
