// durable_state_benchmark: what a state file (docs/state.md) costs the
// `processpype` binary, each figure against the same build without one, in
// the same run (these machines are noisy: ratios hold better than times).
//
//  A. start/stop at 32 connections (wrk), with `state.sync: normal`,
//     alternating rounds against a node without a state file;
//  B. 10,000 registrations over one connection, with and without;
//  C. the size of the state file per registered, configured instance;
//  D. a node's start with 100,000 stored instances (process start to the
//     first 200 of GET /), against a start with none.
//
// Usage: durable_state_benchmark [--duration S (3)] [--runs ROUNDS (3)]
//                                [--instances N (10000)] [--stored N (100000)]
// wrk from the PATH, or WRK=/path/to/wrk. Exit code 0 when the run completed
// (the aims are printed, met or not), 1 on a failure, 2 on usage.

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <processpype/testing/server.hpp>

#include "benchmark_support.hpp"
#include "processpype/state/state_store.hpp"

namespace {

using namespace processpype::benchmark;
using namespace processpype::testing;
namespace state = processpype::state;

struct Options : WrkOptions {
  int instances = 10'000;
  int stored = 100'000;
};

/// A node, with its state file in `state_file` when that is not empty.
ServerProcess start_node(const std::string& name, const std::string& state_file) {
  auto options = server_options(name);
  if (!state_file.empty()) options.args.insert(options.args.end(), {"--state", state_file});
  options.ready_timeout = std::chrono::seconds(60);
  return ServerProcess{options};
}

/// Registers `count` counters `<prefix><i>`, each configured, over one
/// keep-alive connection; the seconds it took.
double register_configured(const ServerProcess& server, const std::string& prefix, int count) {
  auto api = server.client();
  auto begin = Clock::now();
  for (int i = 0; i < count; ++i) {
    auto name = prefix + std::to_string(i);
    expect_ok(
        api.post("/services/register", {{"service_name", "counter"}, {"instance_name", name}}),
        "register");
    expect_ok(api.post("/services/" + name + "/configure",
                       {{"step", 2}, {"initial_value", i}, {"restart", "on-failure"}}),
              "configure");
  }
  return std::chrono::duration<double>(Clock::now() - begin).count();
}

/// Registers `count` echo instances over one connection; the seconds.
double register_plain(const ServerProcess& server, const std::string& prefix, int count) {
  auto api = server.client();
  auto begin = Clock::now();
  for (int i = 0; i < count; ++i)
    expect_ok(api.post("/services/register",
                       {{"service_name", "echo"}, {"instance_name", prefix + std::to_string(i)}}),
              "register");
  return std::chrono::duration<double>(Clock::now() - begin).count();
}

std::uintmax_t file_bytes(const std::filesystem::path& file) {
  std::uintmax_t total = 0;
  for (const auto* suffix : {"", "-wal"}) {
    std::error_code error;
    auto size = std::filesystem::file_size(file.string() + suffix, error);
    if (!error) total += size;
  }
  return total;
}

/// A state file holding `count` registered, configured request instances,
/// written straight through the store (as a long-lived node would have).
void write_stored(const std::filesystem::path& file, int count) {
  auto store = state::StateStore::open({file});
  constexpr int batch = 5000;
  for (int first = 0; first < count; first += batch) {
    std::vector<state::Change> changes;
    for (int i = first; i < std::min(count, first + batch); ++i) {
      auto name = "stored-" + std::to_string(i);
      changes.push_back(state::Registered{name, "counter"});
      changes.push_back(
          state::Configured{name, {{"step", 2}, {"initial_value", i}, {"restart", "on-failure"}}});
    }
    auto result = store->commit(std::move(changes));
    if (!result.saved) throw std::runtime_error("writing the state file: " + result.error);
  }
}

/// Seconds from spawning a node on `state_file` to its first 200 of GET
/// /health/live: it serves once its instances are restored (and GET / of
/// 100,000 instances would measure the list, not the start).
double start_seconds(const std::string& state_file) {
  auto port = free_port();
  std::vector<std::string> args{"--port", std::to_string(port), "--log-level", "error"};
  if (!state_file.empty()) args.insert(args.end(), {"--state", state_file});
  auto begin = Clock::now();
  ChildProcess node{server_binary(), args};
  HttpClient api{port, "", std::chrono::seconds(2)};
  if (!wait_until([&] { return api.get("/health/live").status == 200; }, std::chrono::seconds(60),
                  std::chrono::milliseconds(5)))
    throw std::runtime_error("the node did not serve within 60 s: " + node.stderr_text());
  auto seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  node.signal(SIGTERM);
  node.wait(std::chrono::seconds(60));
  return seconds;
}

int run(const Options& options) {
  begin_run("durable_state_benchmark", options,
            "a node without a state file next to a node with one");
  TempDirectory folder{"processpype-state-benchmark"};
  auto state_file = (folder.path() / "state.db").string();
  const int per_thread = start_stop_instances_per_thread(options);
  const int cycle_instances = per_thread * options.threads;

  // A. start/stop, 32 connections.
  auto plain = start_node("the node without a state file", "");
  auto stateful = start_node("the node with a state file", state_file);
  for (auto* node : {&plain, &stateful}) {
    auto api = node->client();
    for (int i = 0; i < cycle_instances; ++i)
      expect_ok(api.post("/services/register", {{"service_name", "echo"},
                                                {"instance_name", "cycle-" + std::to_string(i)}}),
                "register cycle");
  }
  auto stop_all = [&](const ServerProcess& node) {
    return [&node, cycle_instances] {
      auto api = node.client();
      for (int i = 0; i < cycle_instances; ++i)
        expect_ok(api.post("/services/cycle-" + std::to_string(i) + "/stop"), "stop cycle");
    };
  };
  std::cout << fmt::format("\nA. start/stop, {} connections\n", options.connections);
  std::vector<Measurement> plain_runs;
  auto cycle = measure_against(
      options,
      start_stop_target("(start/stop without a state file)", plain.client().url("/"), "cycle-",
                        per_thread, "/services/", stop_all(plain)),
      plain_runs,
      start_stop_target("start/stop, state file (sync normal)", stateful.client().url("/"),
                        "cycle-", per_thread, "/services/", stop_all(stateful)));

  // B. registrations over one connection; C. the file's size.
  std::cout << fmt::format("\nB. {} registrations over one connection\n", options.instances);
  auto plain_seconds = register_plain(plain, "r-", options.instances);
  auto stateful_seconds = register_plain(stateful, "r-", options.instances);
  std::cout << fmt::format("  without a state file: {:.3f} s, with: {:.3f} s\n", plain_seconds,
                           stateful_seconds);
  auto before = file_bytes(state_file);
  auto configured_seconds = register_configured(stateful, "c-", options.instances);
  auto per_instance = double(file_bytes(state_file) - before) / options.instances;
  stop_server(plain);
  stop_server(stateful);
  auto after_stop = file_bytes(state_file);
  std::cout << fmt::format(
      "\nC. {} registered, configured instances: {:.3f} s; the file grew by {:.0f} bytes per "
      "instance ({} bytes in all after the node stopped)\n",
      options.instances, configured_seconds, per_instance, after_stop);

  // D. a start with 100,000 stored instances.
  std::cout << fmt::format("\nD. a node's start with {} stored instances\n", options.stored);
  auto big_file = (folder.path() / "big.db").string();
  write_stored(big_file, options.stored);
  auto empty_start = start_seconds("");
  auto big_start = start_seconds(big_file);
  std::cout << fmt::format("  start with no state file: {:.3f} s; with {} stored: {:.3f} s\n",
                           empty_start, options.stored, big_start);

  auto registration_ratio = stateful_seconds / plain_seconds;
  auto restore_seconds = big_start - empty_start;
  std::cout << "\nAims:\n";
  auto aim = [](bool met, const std::string& text) {
    std::cout << fmt::format("  [{}] {}\n", met ? "met   " : "MISSED", text);
    return met;
  };
  bool all = true;
  all &= aim(cycle.ratio >= 0.7,
             fmt::format("start/stop at {} connections with state >= 0.7x without: {:.2f}x",
                         options.connections, cycle.ratio));
  all &= aim(registration_ratio <= 1.5,
             fmt::format("{} registrations over one connection <= 1.5x the time without: {:.2f}x",
                         options.instances, registration_ratio));
  all &= aim(restore_seconds < 2.0,
             fmt::format("restoring {} instances at start < 2 s: {:.3f} s (the start's extra time)",
                         options.stored, restore_seconds));
  all &= aim(per_instance <= 1024,
             fmt::format("state file per registered, configured instance <= 1 KiB: {:.0f} bytes",
                         per_instance));
  std::cout << "\nMachine at the end: " << machine_load() << "\n"
            << (all ? "All aims met.\n" : "Some aims missed.\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  options.runs = 3;
  return benchmark_main(
      argc, argv, "durable_state_benchmark", options, [&] { return run(options); },
      "[--instances N (10000)] [--stored N (100000)]",
      [&](int& i) {
        std::string_view arg = argv[i];
        if (arg == "--instances")
          options.instances = parse_number(argc, argv, i, 10, 1'000'000);
        else if (arg == "--stored")
          options.stored = parse_number(argc, argv, i, 10, 1'000'000);
        else
          return false;
        return true;
      });
}
