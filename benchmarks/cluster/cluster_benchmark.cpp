// cluster_benchmark: what an operation costs when it acts on another node
// (SPEC 7) rather than on the local one, measured with wrk through one
// node's REST.
//
// In one run:
//  1. two `processpype` binaries on 127.0.0.1 (fork/exec, free ports,
//     --log-level error): node a (--node-port PA --node-id a), and node b
//     (--node-port PB --node-id b --join 127.0.0.1:PA), once a's GET /nodes
//     lists b "up";
//  2. through a's REST: a running `echo` instance "local" on a, and one,
//     "remote", registered on b ({"node":"b"}); the same for the start/stop
//     instances ("local-cycle-N" on a, "remote-cycle-N" on b);
//  3. every operation measured on the local instance (the baseline) and on
//     the remote one through a's /nodes/b/... routes, in rounds that
//     alternate the two, its ratio the median of the rounds' ratios:
//     - a status read over one connection (the round trip, unloaded),
//     - status reads (GET /services/local vs GET /nodes/b/services/remote),
//     - start/stop transitions (one instance per wrk connection, as in
//       rest_benchmark: every request is a real transition),
//     - the echo custom route;
//  4. a table: each remote figure next to the local one, its ratio to it,
//     and the latency the remote hop adds.
//
// Usage: cluster_benchmark [--duration S (3)] [--runs ROUNDS (5)] [--threads N (2)]
//                          [--connections N (32)]
// wrk comes from the PATH, or WRK=/path/to/wrk. Exit code 0 when the run
// completed, 1 on a failure (also when node b was not up at the end), 2 on
// usage.
//
// Every child (wrk, both nodes) is killed when the benchmark ends, also on
// failure or on a signal (and by the kernel if the benchmark dies: see
// tests/support/processpype_testing). Loopback only; every wait is bounded.

#include <chrono>
#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <processpype/testing/cluster.hpp>

#include "benchmark_support.hpp"

namespace {

using namespace processpype::benchmark;
using namespace processpype::testing;

using Options = WrkOptions;

/// The remote node's id, and the prefix of a's routes that act on it.
const std::string remote_node = "b";
const std::string remote_services = "/nodes/b/services/";

/// Waits (at most `limit`) until `api`'s GET /nodes lists node `id` up.
void wait_until_up(HttpClient& api, const std::string& id, std::chrono::seconds limit) {
  if (wait_until([&] { return node_state(api, id) == "up"; }, limit, 50ms)) return;
  throw std::runtime_error(fmt::format("node {} not up on a within {} s; GET /nodes: {}", id,
                                       limit.count(), api.get("/nodes").body));
}

/// POST /services/register of an echo instance, on node `node` if not empty.
void register_echo(HttpClient& api, const std::string& name, const std::string& node = {}) {
  json body{{"service_name", "echo"}, {"instance_name", name}};
  if (!node.empty()) body["node"] = node;
  expect_ok(api.post("/services/register", body), "register " + name);
}

/// One operation: its local figure (the baseline) and its remote one.
struct Comparison {
  std::string operation;
  Figure local;
  Figure remote;  ///< ratio: median over rounds of remote / local req/s
};

Comparison compare(const Options& options, std::string operation, const WrkTarget& local,
                   const WrkTarget& remote) {
  std::vector<Measurement> local_runs;
  auto remote_figure = measure_against(options, local, local_runs, remote);
  return {std::move(operation), Figure{local.name, median_run(local_runs), 1.0, {}},
          std::move(remote_figure)};
}

/// Non-2xx, socket errors and script lines of a run, "" when none.
std::string run_notes(const Measurement& m) {
  std::string notes;
  auto add = [&notes](const std::string& text) { notes += (notes.empty() ? "" : ", ") + text; };
  if (m.non_2xx > 0) add(fmt::format("{} non-2xx of {}", m.non_2xx, m.requests));
  if (!m.socket_errors.empty()) add(m.socket_errors);
  if (!m.script_line.empty()) add(m.script_line);
  return notes;
}

std::string signed_latency(double ms) {
  return ms < 0 ? "-" + format_latency(-ms) : "+" + format_latency(ms);
}

int run(const Options& options) {
  begin_run("cluster_benchmark", options,
            "a run on node a's instance next to a run on node b's, both through a's REST");
  const auto echo_lua = wrk_script("echo.lua");
  const int per_thread = start_stop_instances_per_thread(options);
  const int cycle_instances = per_thread * options.threads;

  // 1. The nodes. Destroyed in reverse order: b stops first.
  auto node_a = start_node("a", {}, 0, server_options("node a"));
  auto node_b = start_node(remote_node, {node_a.node_port}, 0, server_options("node b"));
  auto api = node_a.client();
  auto join_begin = Clock::now();
  wait_until_up(api, remote_node, 15s);
  std::cout << fmt::format(
                   "nodes: a (REST {}, node port {}), b (REST {}, node port {}, joined a; up on a "
                   "{:.2f} s after b answered)\n\n",
                   api.url(""), node_a.node_port, node_b.client().url(""), node_b.node_port,
                   std::chrono::duration<double>(Clock::now() - join_begin).count())
            << std::flush;

  // 2. The instances, all through a's REST.
  register_echo(api, "local");
  register_echo(api, "remote", remote_node);
  expect_ok(api.post("/services/local/start"), "start local");
  expect_ok(api.post(remote_services + "remote/start"), "start remote");
  expect_ok(api.post("/services/local/echo", {{"message", "hi"}}), "echo local");
  expect_ok(api.post(remote_services + "remote/echo", {{"message", "hi"}}), "echo remote");
  {
    // The remote instance really lives on b.
    auto b_api = node_b.client();
    expect_ok(b_api.get("/services/remote"), "GET /services/remote on b's own REST");
  }
  for (int i = 0; i < cycle_instances; ++i) {
    register_echo(api, "local-cycle-" + std::to_string(i));
    register_echo(api, "remote-cycle-" + std::to_string(i), remote_node);
  }
  auto stop_cycle_instances = [&](const std::string& services_path, const std::string& prefix) {
    for (int i = 0; i < cycle_instances; ++i) {
      auto path = services_path + prefix + std::to_string(i) + "/stop";
      expect_ok(api.post(path), "POST " + path);
    }
  };

  // 3. Local against remote, alternating.
  const auto base = api.url("");
  std::vector<Comparison> comparisons;
  Options one_connection = options;
  one_connection.threads = 1;
  one_connection.connections = 1;
  comparisons.push_back(compare(
      one_connection, "status read, 1 connection",
      {"GET /services/local (1 connection)", base + "/services/local", {}},
      {"GET /nodes/b/services/remote (1 connection)", base + remote_services + "remote", {}}));
  comparisons.push_back(
      compare(options, "status read", {"GET /services/local", base + "/services/local", {}},
              {"GET /nodes/b/services/remote", base + remote_services + "remote", {}}));
  comparisons.push_back(compare(
      options, fmt::format("start/stop ({} instances each)", cycle_instances),
      start_stop_target("POST /services/{name}/start|stop", base + "/", "local-cycle-", per_thread,
                        "/services/", [&] { stop_cycle_instances("/services/", "local-cycle-"); }),
      start_stop_target("POST /nodes/b/services/{name}/start|stop", base + "/", "remote-cycle-",
                        per_thread, remote_services,
                        [&] { stop_cycle_instances(remote_services, "remote-cycle-"); })));
  comparisons.push_back(compare(
      options, "echo custom route",
      {"POST /services/local/echo", base + "/services/local/echo", echo_lua},
      {"POST /nodes/b/services/remote/echo", base + remote_services + "remote/echo", echo_lua}));

  auto load_at_end = machine_load();
  auto b_state = node_state(api, remote_node);
  auto stopped_b = stop_server(*node_b.server);
  auto stopped_a = stop_server(*node_a.server);

  // 4. The table.
  std::cout << "\n"
            << fmt::format("{:<34} {:>11} {:>12} {:>8} {:>9} {:>10} {:>10} {:>10}  {}\n",
                           "operation (through a's REST)", "local req/s", "remote req/s", "/local",
                           "local p50", "remote p50", "added p50", "remote p99", "notes");
  for (const auto& comparison : comparisons) {
    const auto& local = comparison.local.measurement;
    const auto& remote = comparison.remote.measurement;
    std::string notes;
    if (auto text = run_notes(local); !text.empty()) notes += "local: " + text;
    if (auto text = run_notes(remote); !text.empty())
      notes += (notes.empty() ? "" : "; ") + ("remote: " + text);
    std::cout << fmt::format(
        "{:<34} {:>11.0f} {:>12.0f} {:>7.2f}x {:>9} {:>10} {:>10} {:>10}  {}\n",
        comparison.operation, local.requests_per_second, remote.requests_per_second,
        comparison.remote.ratio, format_latency(local.p50_ms), format_latency(remote.p50_ms),
        signed_latency(remote.p50_ms - local.p50_ms), format_latency(remote.p99_ms), notes);
  }

  std::cout << fmt::format(
      "\nlocal: the instance on node a (GET /services/local, ...); remote: the instance on node\n"
      "b, through a's /nodes/b/... routes. req/s and p50/p99 are those of each side's median\n"
      "run; /local is the median, over rounds, of the remote run's req/s divided by that of\n"
      "the local run next to it (1.00x: the remote hop costs nothing). added p50 is remote p50\n"
      "minus local p50: with 1 connection, the round trip the hop adds; with {} connections it\n"
      "includes queueing. The start/stop figures use {} instances per side, one idle per wrk\n"
      "connection plus one spare per wrk thread (see rest_benchmark): every request is a real\n"
      "transition, all stopped before each run.\n"
      "\nWhere the remote cost comes from: a local request goes from a's RESTinio thread into\n"
      "the supervisor's mailbox and back (one CAF hop). A remote one takes one CAF BASP hop\n"
      "each way over loopback TCP: a's middleman serializes the protocol message and writes it\n"
      "to b; b's middleman reads and deserializes it and hands it to b's supervisor (and, for\n"
      "a transition or the echo route, to the service actor); the reply is serialized by b's\n"
      "middleman and deserialized by a's, whose I/O thread runs the REST callback. So: two\n"
      "serializations, two deserializations, two loopback writes/reads and the hand-offs to\n"
      "and from each node's middleman thread, plus a per-request timeout entry in a's CAF\n"
      "clock (remote requests are bounded by the request timeout), and b is a second process\n"
      "competing for the same CPUs.\n",
      options.connections, cycle_instances);

  std::cout << fmt::format(
      "\nNode b on a at the end: {}\nNode b: {}\nNode a: {}\nMachine at the end: {}\n",
      b_state.empty() ? "not listed" : b_state, stopped_b, stopped_a, load_at_end);
  if (b_state != "up") {
    std::cerr << "cluster_benchmark: node b was not up on a at the end: the remote figures "
                 "may be error replies\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  return benchmark_main(argc, argv, "cluster_benchmark", options, [&] { return run(options); });
}
