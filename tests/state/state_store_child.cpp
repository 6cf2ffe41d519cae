// state_store_child: the other process of the state store's tests.
//
//   state_store_child open PATH
//       opens the store; exit 0 when it opened, 2 with StateError's line on
//       stderr when it was refused
//   state_store_child write PATH THREADS
//       THREADS threads commit, each in a loop, a registration, a configure
//       and a start of a new instance `t<thread>-<n>` in one submission; after
//       each acknowledged commit it prints `ack t<thread>-<n>` on stdout. Runs
//       until killed (the crash test kills it with SIGKILL), or 100,000
//       commits per thread.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "processpype/state/state_store.hpp"

namespace {

using namespace processpype::state;

constexpr int commits_per_thread = 100000;

std::mutex output;

void acknowledge(const std::string& name) {
  auto line = "ack " + name + "\n";
  std::lock_guard guard{output};
  // One write() per line, unbuffered: what is printed is what was acknowledged
  // before the kill.
  if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    std::_Exit(3);
}

void commit_in_a_loop(StateStore& store, int thread) {
  for (int n = 0; n < commits_per_thread; ++n) {
    auto name = "t" + std::to_string(thread) + "-" + std::to_string(n);
    std::vector<Change> changes{Registered{name, "echo", Origin::request},
                                Configured{name, {{"thread", thread}, {"n", n}}},
                                DesiredChanged{name, DesiredState::running}};
    auto result = store.commit(std::move(changes));
    if (!result.saved) {
      std::fprintf(stderr, "commit failed: %s\n", result.error.c_str());
      std::_Exit(4);
    }
    acknowledge(name);
  }
}

int write(const std::string& path, int threads) {
  auto store = StateStore::open({path});
  std::vector<std::thread> writers;
  for (int thread = 0; thread < threads; ++thread)
    writers.emplace_back([&store, thread] { commit_in_a_loop(*store, thread); });
  for (auto& writer : writers) writer.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 2 && args[0] == "open") {
      auto store = StateStore::open({args[1]});
      std::puts("opened");
      return 0;
    }
    if (args.size() == 3 && args[0] == "write") return write(args[1], std::stoi(args[2]));
  } catch (const StateError& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 2;
  }
  std::fprintf(stderr, "usage: state_store_child open PATH | write PATH THREADS\n");
  return 64;
}
