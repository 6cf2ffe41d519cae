// coordination_benchmark: the coordination of cluster instances (cluster/,
// docs/cluster.md) on a real etcd, three coordinators (simulated nodes) in
// this process, each figure beside its aim:
//
//   - placement: N instance records (default 10,000) written in batches,
//     then the time until every one is owned, and how many each node owns
//     (aim: N/3 ± 10 %)
//   - steady state: HTTP requests per second from the three coordinators
//     to etcd over a few lease periods (aim: three keep-alives per node per
//     lease period, nothing per instance)
//   - failover: one coordinator dies (gone without releasing, as a kill -9)
//     and the time until its instances are owned by the two others (aim:
//     within lease + 10 s), with the requests it cost
//
//   coordination_benchmark [--instances N] [--lease S] [--periods P]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "processpype/cluster/coordinator.hpp"
#include "processpype/etcd/etcd_client.hpp"
#include "processpype/testing/etcd.hpp"
#include "processpype/testing/process.hpp"

namespace {

using namespace processpype::cluster;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace etcd = processpype::etcd;

struct Options {
  int instances = 10'000;
  int lease_seconds = 5;
  int periods = 3;
};

void require(bool holds, const std::string& what) {
  if (holds) return;
  fmt::print(stderr, "coordination_benchmark: {}\n", what);
  std::exit(1);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int index = 1; index < argc; ++index) {
    std::string argument = argv[index];
    auto value = [&] {
      require(index + 1 < argc, argument + " needs a value");
      return std::atoi(argv[++index]);
    };
    if (argument == "--instances")
      options.instances = value();
    else if (argument == "--lease")
      options.lease_seconds = value();
    else if (argument == "--periods")
      options.periods = value();
    else
      require(false,
              "unknown argument " + argument + " (--instances N, --lease SECONDS, --periods P)");
  }
  require(options.instances > 0 && options.lease_seconds >= 2 && options.periods > 0,
          "--instances > 0, --lease >= 2, --periods > 0");
  return options;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string name_of(int index) {
  return fmt::format("svc-{:05}", index);
}

/// One simulated node: a coordinator that "runs" whatever it acquires.
struct Node {
  std::string id;
  std::unique_ptr<Coordinator> coordinator;

  std::size_t owned() const { return coordinator->metrics().instances_owned; }
  std::uint64_t requests() const { return coordinator->metrics().store_requests_total; }
};

std::unique_ptr<Node> start_node(const std::string& id, const std::vector<std::string>& endpoints,
                                 const Options& options) {
  CoordinatorOptions settings;
  settings.store.endpoints = endpoints;
  settings.cluster_name = "benchmark";
  settings.node.id = id;
  settings.node.classes = {"echo"};
  settings.lease_seconds = std::chrono::seconds(options.lease_seconds);
  auto node = std::make_unique<Node>();
  node->id = id;
  node->coordinator = std::make_unique<Coordinator>(settings, CoordinatorCallbacks{});
  node->coordinator->start();
  return node;
}

/// Writes the records straight into etcd, 128 per transaction (etcd's
/// most operations per transaction): what nodes would create one by one.
void write_records(const std::vector<std::string>& endpoints, int count) {
  etcd::ClientOptions options;
  options.endpoints = endpoints;
  options.request_timeout = 10s;
  etcd::Client client(options);
  InstanceRecord record;
  record.class_key = "echo";
  record.desired = DesiredState::running;
  for (int start = 0; start < count; start += 128) {
    std::vector<etcd::Operation> puts;
    for (int index = start; index < std::min(count, start + 128); ++index) {
      record.configuration = {{"index", index}, {"greeting", "hello"}};
      puts.push_back(etcd::Operation::put("/processpype/benchmark/instances/" + name_of(index),
                                          encode(record)));
    }
    client.txn({}, puts);
  }
}

bool wait_for(const std::function<bool()>& condition, std::chrono::seconds timeout) {
  return processpype::testing::wait_until(condition, timeout, 10ms);
}

std::size_t owned_by(const std::vector<std::unique_ptr<Node>>& nodes) {
  std::size_t owned = 0;
  for (const auto& node : nodes) owned += node->owned();
  return owned;
}

std::uint64_t requests_of(const std::vector<std::unique_ptr<Node>>& nodes) {
  std::uint64_t requests = 0;
  for (const auto& node : nodes) requests += node->requests();
  return requests;
}

void print_placement(const std::vector<std::unique_ptr<Node>>& nodes,
                     const std::vector<std::string>& endpoints, const Options& options) {
  auto started = Clock::now();
  write_records(endpoints, options.instances);
  auto written = seconds_since(started);
  auto count = static_cast<std::size_t>(options.instances);
  require(wait_for([&] { return owned_by(nodes) == count; }, 120s),
          "the instances were not all placed within 120 s");
  auto placed = seconds_since(started);
  fmt::print(
      "placement: {} records written in {:.2f} s, all owned {:.2f} s after the first "
      "write\n",
      options.instances, written, placed);
  auto third = static_cast<double>(options.instances) / 3;
  for (const auto& node : nodes)
    fmt::print("  node {}: owns {} ({:+.1f} % of a third; aim within ±10 %)\n", node->id,
               node->owned(), 100 * (static_cast<double>(node->owned()) - third) / third);
}

void print_steady_state(const std::vector<std::unique_ptr<Node>>& nodes, const Options& options) {
  // Let the placement's aftermath (watch deliveries) settle for a period.
  std::this_thread::sleep_for(std::chrono::seconds(options.lease_seconds));
  auto before = requests_of(nodes);
  auto started = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(options.lease_seconds * options.periods));
  auto seconds = seconds_since(started);
  auto requests = static_cast<double>(requests_of(nodes) - before);
  auto aim = 3.0 * static_cast<double>(nodes.size()) / options.lease_seconds;
  fmt::print(
      "steady state with {} instances: {:.2f} requests/s to etcd over {:.1f} s "
      "({:.2f} per node per lease period; aim: {:.2f} requests/s, 3 keep-alives per "
      "node per period)\n",
      options.instances, requests / seconds, seconds,
      requests / seconds * options.lease_seconds / static_cast<double>(nodes.size()), aim);
}

void print_failover(std::vector<std::unique_ptr<Node>>& nodes, const Options& options) {
  auto victim = nodes.back()->owned();
  auto requests_before = requests_of(nodes) - nodes.back()->requests();
  auto died = Clock::now();
  nodes.pop_back();  // destroyed without leave(): its keys expire with its lease
  auto count = static_cast<std::size_t>(options.instances);
  require(wait_for([&] { return owned_by(nodes) == count; }, 120s),
          "the dead node's instances were not all owned again within 120 s");
  auto taken = seconds_since(died);
  std::uint64_t failovers = 0;
  for (const auto& node : nodes) failovers += node->coordinator->metrics().failovers_total;
  fmt::print(
      "failover: node c died owning {}; all {} owned again {:.2f} s later (aim: within "
      "lease + 10 s = {} s); {} failovers counted, {} requests to etcd meanwhile\n",
      victim, options.instances, taken, options.lease_seconds + 10, failovers,
      requests_of(nodes) - requests_before);
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  processpype::testing::install_termination_handlers();
  processpype::testing::EtcdCluster cluster;
  auto endpoints = cluster.endpoints();
  fmt::print("coordination_benchmark: {} instances, 3 coordinators, lease {} s, etcd {} on {}\n",
             options.instances, options.lease_seconds,
             etcd::Client(etcd::ClientOptions{endpoints}).status().version, endpoints.front());

  std::vector<std::unique_ptr<Node>> nodes;
  for (auto id : {"a", "b", "c"}) nodes.push_back(start_node(id, endpoints, options));
  require(wait_for(
              [&] {
                for (const auto& node : nodes)
                  if (node->coordinator->nodes().size() != 3) return false;
                return true;
              },
              30s),
          "the three coordinators did not see each other within 30 s");

  print_placement(nodes, endpoints, options);
  print_steady_state(nodes, options);
  print_failover(nodes, options);
  return 0;
}
