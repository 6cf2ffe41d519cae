// BusyManagers: a cluster instance is handed over only once every call of
// its manager returned (docs/cluster.md, "Drain, uncordon, rebalance").

#include <catch2/catch.hpp>

#include <thread>

#include "processpype/actors/busy_managers.hpp"

using processpype::BusyManagers;

TEST_CASE("busy managers: when_idle waits for the last call of the name to return",
          "[actors][busy]") {
  BusyManagers busy;
  int idle_calls = 0;
  busy.enter("x");
  busy.enter("x");  // a late stop, and the clean-up after it
  busy.enter("y");
  busy.when_idle("x", [&] { ++idle_calls; });
  CHECK(busy.busy("x"));

  busy.leave("x");
  CHECK(busy.busy("x"));
  CHECK(idle_calls == 0);
  busy.leave("x");
  CHECK_FALSE(busy.busy("x"));
  CHECK(idle_calls == 1);
  CHECK(busy.busy("y"));  // another instance's call is its own

  busy.enter("x");  // a new call: the old callback does not run again
  busy.leave("x");
  CHECK(idle_calls == 1);
}

TEST_CASE("busy managers: when_idle on a name without calls runs at once", "[actors][busy]") {
  BusyManagers busy;
  bool ran = false;
  busy.when_idle("x", [&] { ran = true; });
  CHECK(ran);
  busy.leave("x");  // a stray return changes nothing
  CHECK_FALSE(busy.busy("x"));
}

TEST_CASE("busy managers: the callback runs on the thread whose call returns", "[actors][busy]") {
  BusyManagers busy;
  busy.enter("x");
  std::thread::id ran_on;
  busy.when_idle("x", [&] { ran_on = std::this_thread::get_id(); });
  std::thread manager{[&] { busy.leave("x"); }};
  auto manager_id = manager.get_id();
  manager.join();
  CHECK(ran_on == manager_id);
}
