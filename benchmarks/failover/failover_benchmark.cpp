// failover_benchmark: cluster instances (docs/cluster.md) on three real
// `processpype` nodes that find each other through a real etcd on loopback
// (lease 2 s), each figure beside its baseline or its aim, measured in the
// same run:
//
//   - status read of a cluster instance on its owner, one connection, beside
//     the same read of a node instance on that node (aim: <= 1.2x)
//   - start + stop of a cluster instance on its owner, one connection, beside
//     a node instance's (aim: <= 3x): the cluster instance's commands write
//     its record in etcd before they act, so the figure's real limit, printed
//     beside it, is a node instance's start + stop plus two etcd transactions
//     of the same shape, timed from this process in the same blocks
//   - SIGTERM of the owner until the instance runs on another node (aim: p50
//     <= 0.5 s), then kill -9 of the owner until it runs elsewhere (aim: p50
//     <= 3 s, max <= 4 s), each over --rounds rounds; the node is started
//     again after each round
//
//   failover_benchmark [--rounds N] [--requests N] [--cycles N]
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "processpype/etcd/etcd_client.hpp"
#include "processpype/testing/cluster.hpp"
#include "processpype/testing/etcd.hpp"
#include "processpype/testing/process.hpp"

namespace {

using namespace processpype::testing;
using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr auto lease = 2s;

struct Options {
  int rounds = 10;
  int requests = 2000;
  int cycles = 200;
};

[[noreturn]] void fail(const std::string& what) {
  fmt::print(stderr, "failover_benchmark: {}\n", what);
  std::exit(1);
}

void require(bool holds, const std::string& what) {
  if (!holds) fail(what);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int index = 1; index < argc; ++index) {
    std::string argument = argv[index];
    require(index + 1 < argc, argument + " needs a value (--rounds N, --requests N, --cycles N)");
    int value = std::atoi(argv[++index]);
    require(value > 0, argument + " must be a positive number");
    if (argument == "--rounds")
      options.rounds = value;
    else if (argument == "--requests")
      options.requests = value;
    else if (argument == "--cycles")
      options.cycles = value;
    else
      fail("unknown option " + argument);
  }
  return options;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// Three nodes a, b, c on one etcd member, lease 2 s.
class ThreeNodes {
 public:
  ThreeNodes() : config_(directory_.write("node.yaml", "cluster:\n  lease_seconds: 2\n")) {
    for (auto id : {"a", "b", "c"}) start(id);
  }

  void start(const std::string& id) {
    auto options = node_options();
    options.args = {
        "--cluster-store", etcd_.member(0).endpoint(), "--config", config_, "--log-level", "error"};
    options.attempts = 3;
    nodes_.insert_or_assign(id, start_node(id, {}, 0, options));
    require(wait_until([&] { return store_lists_every_node(); }, 30s),
            "the nodes did not all see each other through the store within 30 s");
  }

  Node& node(const std::string& id) { return nodes_.at(id); }
  std::string store() { return etcd_.member(0).endpoint(); }

  /// The owner of `name` as node `observer` sees it ("" when none).
  std::string owner_of(const std::string& observer, const std::string& name) {
    auto client = node(observer).client();
    auto services = client.get("/cluster/services").field("services");
    if (!services.is_array()) return "";
    for (const auto& entry : services)
      if (entry.value("name", "") == name && entry["owner"].is_string() &&
          entry.value("state", json()) == "running")
        return entry["owner"].get<std::string>();
    return "";
  }

 private:
  bool store_lists_every_node() {
    for (auto& [id, node] : nodes_) {
      auto client = node.client();
      auto listed = client.get("/nodes").field("nodes");
      if (!listed.is_array()) return false;
      long up = std::count_if(listed.begin(), listed.end(),
                              [](const json& entry) { return entry.value("state", "") == "up"; });
      if (up != static_cast<long>(nodes_.size())) return false;
    }
    return true;
  }

  EtcdCluster etcd_;
  TempDirectory directory_{"failover-benchmark"};
  std::string config_;
  std::map<std::string, Node> nodes_;
};

void require_ok(const HttpResponse& response, const std::string& what) {
  require(response.status == 200, what + ": " + response.describe());
}

/// p50 in microseconds of `count` calls of `call`.
double p50_of(int count, const std::function<void()>& call) {
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto start = Clock::now();
    call();
    samples.push_back(milliseconds_since(start) * 1000);
  }
  return median(samples);
}

/// Alternating blocks of the baseline and the figure, so that drift hits both.
void print_against(const std::string& what, double aim, int blocks, int per_block,
                   const std::function<void()>& baseline, const std::function<void()>& figure) {
  std::vector<double> baseline_p50, figure_p50, ratios;
  for (int block = 0; block < blocks; ++block) {
    auto base = p50_of(per_block, baseline);
    auto measured = p50_of(per_block, figure);
    baseline_p50.push_back(base);
    figure_p50.push_back(measured);
    ratios.push_back(measured / base);
  }
  fmt::print(
      "{:<44} node instance p50 {:7.1f} us, cluster instance p50 {:7.1f} us: {:.2f}x "
      "(aim <= {:.1f}x)\n",
      what, median(baseline_p50), median(figure_p50), median(ratios), aim);
}

/// One transaction of the shape an owner sends before a cluster instance's
/// start or stop acts (docs/cluster.md, "Write-ahead"): the record's revision,
/// the owner key's lease and value compared, the record put. Written from
/// this process with the node's own client, to keys no node reads.
class RecordWrite {
 public:
  explicit RecordWrite(const std::string& endpoint)
      : store_(processpype::etcd::ClientOptions{{endpoint}}), lease_(store_.grant(60).id) {
    store_.put(owner_key_, owner_value_, lease_);
    revision_ = store_.put(record_key_, "{}");
  }

  void operator()() {
    using processpype::etcd::Compare;
    using processpype::etcd::Operation;
    auto result = store_.txn(
        {Compare::mod_revision(record_key_, Compare::equal, revision_),
         Compare::lease(owner_key_, Compare::equal, lease_),
         Compare::value(owner_key_, Compare::equal, owner_value_)},
        {Operation::put(record_key_,
                        R"({"class":"echo","configuration":{},"desired":"running","nodes":[],)"
                        R"("tombstone":false})")},
        {Operation::range(record_key_), Operation::range(owner_key_)});
    require(result.succeeded, "the probe transaction's compares did not hold");
    revision_ = result.revision;
  }

 private:
  processpype::etcd::Client store_;
  std::int64_t lease_;
  std::int64_t revision_ = 0;
  const std::string record_key_ = "/failover-benchmark/instances/probe";
  const std::string owner_key_ = "/failover-benchmark/owners/probe";
  const std::string owner_value_ = R"({"node":"probe"})";
};

/// Start + stop of a node instance and of a cluster instance on their owner,
/// in alternating blocks, beside their real limit: the node instance's p50
/// plus two record writes (a start and a stop each write once), measured in
/// the same block.
void print_start_stop(HttpClient& client, const std::string& store, int blocks, int per_block) {
  auto cycle = [&client](const std::string& name) {
    return [&client, name] {
      require_ok(client.post("/services/" + name + "/start"), "start " + name);
      require_ok(client.post("/services/" + name + "/stop"), "stop " + name);
    };
  };
  RecordWrite write(store);
  std::vector<double> node_p50, cluster_p50, write_p50, ratios, to_limit;
  for (int block = 0; block < blocks; ++block) {
    node_p50.push_back(p50_of(per_block, cycle("ne")));
    write_p50.push_back(p50_of(per_block, [&write] { write(); }));
    cluster_p50.push_back(p50_of(per_block, cycle("ce")));
    ratios.push_back(cluster_p50.back() / node_p50.back());
    to_limit.push_back(cluster_p50.back() / (node_p50.back() + 2 * write_p50.back()));
  }
  fmt::print(
      "{:<44} node instance p50 {:7.1f} us, cluster instance p50 {:7.1f} us: {:.2f}x "
      "(aim <= 3.0x)\n",
      "start + stop on the owner, one connection", median(node_p50), median(cluster_p50),
      median(ratios));
  auto limit = median(node_p50) + 2 * median(write_p50);
  fmt::print(
      "{:<44} one record write p50 {:7.1f} us; node instance + 2 writes {:7.1f} us = {:.2f}x "
      "a node instance's; the cluster instance is {:.2f}x that limit\n",
      "  its limit (etcd transaction, same shape)", median(write_p50), limit,
      limit / median(node_p50), median(to_limit));
}

void print_one_connection_figures(ThreeNodes& nodes, const Options& options) {
  auto api = nodes.node("a").client();
  require_ok(
      api.post("/services/register",
               json{{"service_name", "echo"}, {"instance_name", "ce"}, {"placement", "cluster"}}),
      "register ce");
  std::string owner;
  require(wait_until(
              [&] {
                owner = api.get("/services/ce").field("owner").get<std::string>();
                return !owner.empty();
              },
              10s),
          "ce has no owner");
  auto client = nodes.node(owner).client();
  require_ok(register_service(client, "echo", "ne"), "register ne");
  require_ok(client.post("/services/ce/configure", json::object()), "configure ce");
  require_ok(client.post("/services/ne/configure", json::object()), "configure ne");

  constexpr int blocks = 5;
  print_against(
      "status read on the owner, one connection", 1.2, blocks, options.requests / blocks,
      [&] { require_ok(client.get("/services/ne"), "read ne"); },
      [&] { require_ok(client.get("/services/ce"), "read ce"); });
  print_start_stop(client, nodes.store(), blocks, std::max(1, options.cycles / blocks));
}

/// Rounds of: signal the owner of `lk`, time until another node runs it,
/// start the node again.
void print_moves(ThreeNodes& nodes, const Options& options, int signal, const std::string& what,
                 double aim_p50_ms, double aim_max_ms) {
  std::vector<double> samples;
  for (int round = 0; round < options.rounds; ++round) {
    auto owner = nodes.owner_of("a", "lk");
    if (owner.empty())
      require(wait_until([&] { return !(owner = nodes.owner_of("a", "lk")).empty(); }, 15s),
              "lk does not run anywhere");
    auto observer = owner == "a" ? std::string("b") : std::string("a");
    auto start = Clock::now();
    nodes.node(owner).server->process().signal(signal);
    std::string new_owner;
    require(wait_until(
                [&] {
                  new_owner = nodes.owner_of(observer, "lk");
                  return !new_owner.empty() && new_owner != owner;
                },
                lease + 15s, 5ms),
            what + ": lk did not run elsewhere within lease + 15 s");
    samples.push_back(milliseconds_since(start));
    nodes.node(owner).server->process().wait(20s);
    nodes.start(owner);
    // A node places nothing during its first lease (docs/cluster.md,
    // "Placement"): the next round starts once that is over, as a rolling
    // restart that waits for each node would.
    std::this_thread::sleep_for(lease);
  }
  auto max = *std::max_element(samples.begin(), samples.end());
  fmt::print("{:<44} p50 {:6.0f} ms, max {:6.0f} ms over {} rounds (aim p50 <= {:.0f} ms{})\n",
             what, median(samples), max, samples.size(), aim_p50_ms,
             aim_max_ms > 0 ? fmt::format(", max <= {:.0f} ms", aim_max_ms) : "");
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  install_termination_handlers();
  ThreeNodes nodes;
  fmt::print("failover_benchmark: 3 nodes, lease 2 s, one etcd member on loopback; {}\n", [] {
    double load = 0;
    if (auto* file = std::fopen("/proc/loadavg", "r")) {
      if (std::fscanf(file, "%lf", &load) != 1) load = 0;
      std::fclose(file);
    }
    return fmt::format("load average {:.2f}", load);
  }());
  print_one_connection_figures(nodes, options);

  auto api = nodes.node("a").client();
  require_ok(
      api.post("/services/register",
               json{{"service_name", "echo"}, {"instance_name", "lk"}, {"placement", "cluster"}}),
      "register lk");
  require_ok(api.post("/services/lk/start"), "start lk");
  print_moves(nodes, options, SIGTERM, "SIGTERM of the owner to running elsewhere", 500, 0);
  print_moves(nodes, options, SIGKILL, "kill -9 of the owner to running elsewhere", 3000, 4000);
  return 0;
}
