// cluster_benchmark: what an operation costs when it acts on another node
// (docs/membership.md) rather than on the local one, measured with wrk through one
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
//     the start/stop and echo figures also beside their limit: the same
//     requests to a bare CAF hop (bare_hop_node.cpp: a bare RESTinio
//     handler in front of a bare CAF node that calls another over BASP,
//     messages of the sizes a node sends for them);
//  4. a table: each remote figure next to the local one and its limit, its
//     ratios to them, and the latency the remote hop adds.
//
//  5. node TLS: the echo custom route through a's REST to an instance of b
//     (it crosses BASP both ways; status reads are served from a's replica),
//     with a second pair of nodes whose node protocol runs over TLS (CAF's
//     OpenSSL module, certificates of a throwaway CA made with the `openssl`
//     command), in rounds alternating with the plain pair and the bare hop
//     over TLS: the TLS figure as a ratio to plain BASP and to its limit;
//  6. convergence: for N = 2, 4, 8 nodes, node n1 first, then N-1 nodes
//     started at the same moment, each joining a random node already up;
//     the time until every node answered (its join done) and until every
//     node lists all N up, median and worst of --convergence-rounds rounds.
//
// Usage: cluster_benchmark [--duration S (3)] [--runs ROUNDS (5)] [--threads N (2)]
//                          [--connections N (32)] [--only remote|tls|convergence]
//                          [--convergence-rounds N (5)]
// wrk comes from the PATH, or WRK=/path/to/wrk (not needed for --only
// convergence). Exit code 0 when the run completed, 1 on a failure (also
// when node b was not up at the end, or a cluster did not converge within
// 30 s), 2 on usage.
//
// Every child (wrk, both nodes) is killed when the benchmark ends, also on
// failure or on a signal (and by the kernel if the benchmark dies: see
// tests/support/processpype_testing). Loopback only; every wait is bounded.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <set>
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

/// What a run measures (--only picks one).
struct Phases {
  bool remote = true;       ///< 1-4: local against remote operations
  bool tls = true;          ///< 5: node TLS against plain BASP
  bool convergence = true;  ///< 6: time to converge
  int convergence_rounds = 5;
};

/// What echo.lua posts.
const json echo_request_body = {{"message", "hi"}};

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

/// One operation: its local figure (the baseline), its remote one and,
/// when measured, its limit (the bare hop).
struct Comparison {
  std::string operation;
  Figure local;
  Figure remote;                ///< ratio: median over rounds of remote / local req/s
  std::optional<Figure> limit;  ///< the bare hop's median run
  double limit_ratio = 0;       ///< median over rounds of remote / limit req/s
  /// Median over rounds of limit / local req/s: what a remote call that
  /// cost nothing beyond the bare hop would reach against local.
  double limit_to_local = 0;
};

Comparison compare(const Options& options, std::string operation, const WrkTarget& local,
                   const WrkTarget& remote, const WrkTarget* limit = nullptr) {
  std::vector<Measurement> local_runs, limit_runs;
  std::vector<Reference> references{{&local, &local_runs}};
  if (limit) references.push_back({limit, &limit_runs});
  auto compared = measure_beside(options, remote, references);
  Comparison comparison{std::move(operation), Figure{local.name, median_run(local_runs), 1.0, {}},
                        std::move(compared.figure), std::nullopt, 0};
  if (limit) {
    comparison.limit = Figure{limit->name, median_run(limit_runs), 1.0, {}};
    comparison.limit_ratio = compared.ratios[1];
    std::vector<double> rounds;
    for (std::size_t i = 0; i < local_runs.size() && i < limit_runs.size(); ++i)
      rounds.push_back(limit_runs[i].requests_per_second / local_runs[i].requests_per_second);
    comparison.limit_to_local = median(rounds);
  }
  return comparison;
}

// -- the limit: a bare CAF hop ------------------------------------------------------------

/// About the bytes CAF 0.17 serializes for a string: a length, then the
/// characters.
std::size_t serialized(const std::string& text) {
  return text.size() + (text.size() < 128 ? 1 : 2);
}

/// The request a node sends its peer for one HTTP request (ForwardedRequest
/// after http_atom, with the headers wrk sends: Host, Content-Type,
/// Content-Length), in bytes.
std::size_t forwarded_request_bytes(const std::string& path, const std::string& body) {
  std::size_t bytes =
      8 + serialized("POST") + serialized(path) + serialized("") + serialized(body) + 1;
  for (const auto& [name, value] : {std::pair<std::string, std::string>{"Host", "127.0.0.1:40000"},
                                    {"Content-Type", "application/json"},
                                    {"Content-Length", std::to_string(body.size())}})
    bytes += serialized(name) + serialized(value);
  return bytes;
}

/// The reply (ForwardedResponse: status, content type, the X-Request-Id
/// header, body, table version), in bytes.
std::size_t forwarded_response_bytes(const std::string& body) {
  return 4 + serialized("application/json") + 1 + serialized("X-Request-Id") +
         serialized(std::string(32, '0')) + serialized(body) + 16;
}

/// Two bare_hop_node processes (see bare_hop_node.cpp): a peer, and a front
/// serving HTTP on `http_port` that calls the peer for every request.
struct BareHop {
  std::unique_ptr<ChildProcess> peer;
  std::unique_ptr<ChildProcess> front;
  int http_port = 0;

  std::string url(const std::string& path) const {
    return fmt::format("http://127.0.0.1:{}{}", http_port, path);
  }
};

/// Waits (at most 15 s) for `process` to print "ready".
void wait_ready(ChildProcess& process, const std::string& name) {
  if (wait_until([&] { return process.stdout_text().find("ready") != std::string::npos; }, 15s,
                 20ms))
    return;
  throw std::runtime_error(fmt::format("{} not ready in 15 s: {}{}", name, process.stdout_text(),
                                       process.stderr_text()));
}

/// A bare hop carrying messages of `request_bytes` and `reply_bytes`; over
/// TLS with `tls` (a certificate for each node, one CA).
BareHop start_bare_hop(std::size_t request_bytes, std::size_t reply_bytes,
                       const std::optional<std::pair<NodeTlsFiles, NodeTlsFiles>>& tls = {}) {
  auto tls_args = [](const NodeTlsFiles& files) {
    return std::vector<std::string>{"--tls", files.certificate, files.key, files.ca};
  };
  BareHop hop;
  auto node_port = free_port();
  std::vector<std::string> peer_args{"peer", "--node-port", std::to_string(node_port),
                                     "--reply-bytes", std::to_string(reply_bytes)};
  if (tls) {
    auto args = tls_args(tls->first);
    peer_args.insert(peer_args.end(), args.begin(), args.end());
  }
  hop.peer = std::make_unique<ChildProcess>(PROCESSPYPE_BARE_HOP_NODE, peer_args);
  wait_ready(*hop.peer, "the bare hop's peer");
  hop.http_port = free_port();
  std::vector<std::string> front_args{"front",
                                      "--http-port",
                                      std::to_string(hop.http_port),
                                      "--peer-port",
                                      std::to_string(node_port),
                                      "--request-bytes",
                                      std::to_string(request_bytes)};
  if (tls) {
    auto args = tls_args(tls->second);
    front_args.insert(front_args.end(), args.begin(), args.end());
  }
  hop.front = std::make_unique<ChildProcess>(PROCESSPYPE_BARE_HOP_NODE, front_args);
  wait_ready(*hop.front, "the bare hop's front");
  return hop;
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

// -- 6. convergence -------------------------------------------------------------------

/// One formation of `count` nodes (see the top); the milliseconds from the
/// start of the joiners until all answered, and until all listed all up.
struct Formation {
  double joined_ms = 0;
  double converged_ms = 0;
};

Formation form_cluster(int count, std::mt19937& random) {
  std::vector<std::unique_ptr<LaunchedNode>> nodes;
  nodes.push_back(launch_node("n1", {}, {"--log-level", "error"}));
  if (auto why = wait_until_ready({nodes.front().get()}, 30s); !why.empty())
    throw std::runtime_error(why);
  std::vector<LaunchedNode*> up = {nodes.front().get()};
  auto start = Clock::now();
  for (int k = 2; k <= count; ++k) {
    for (const auto& node : nodes)
      if (std::find(up.begin(), up.end(), node.get()) == up.end() && is_ready(*node))
        up.push_back(node.get());
    auto* target = up[std::uniform_int_distribution<std::size_t>{0, up.size() - 1}(random)];
    nodes.push_back(
        launch_node("n" + std::to_string(k), {target->node_port}, {"--log-level", "error"}));
  }
  std::vector<LaunchedNode*> all;
  std::vector<int> ports;
  std::set<std::string> ids;
  for (const auto& node : nodes) {
    all.push_back(node.get());
    ports.push_back(node->http_port);
    ids.insert(node->id);
  }
  if (auto why = wait_until_ready(all, 60s); !why.empty()) throw std::runtime_error(why);
  Formation formation;
  formation.joined_ms = elapsed_ms(start);
  if (!time_until_all_up(ports, ids, 30s))
    throw std::runtime_error(
        fmt::format("{} nodes did not converge within 30 s: {}", count, describe_views(ports)));
  formation.converged_ms = elapsed_ms(start);
  return formation;
}

void run_convergence(const Phases& phases) {
  std::cout << fmt::format(
                   "\nconvergence: n1, then N-1 nodes started at once, each joining a random "
                   "node already up; {} round(s) per N\n",
                   phases.convergence_rounds)
            << std::flush;
  std::mt19937 random{std::random_device{}()};
  std::cout << fmt::format("{:>3} {:>14} {:>14} {:>16} {:>16}\n", "N", "joined p50", "joined max",
                           "all up p50", "all up max");
  for (int count : {2, 4, 8}) {
    std::vector<double> joined;
    std::vector<double> converged;
    for (int round = 0; round < phases.convergence_rounds; ++round) {
      auto formation = form_cluster(count, random);
      joined.push_back(formation.joined_ms);
      converged.push_back(formation.converged_ms);
    }
    std::cout << fmt::format("{:>3} {:>12.0f}ms {:>12.0f}ms {:>14.0f}ms {:>14.0f}ms\n", count,
                             median(joined), *std::max_element(joined.begin(), joined.end()),
                             median(converged),
                             *std::max_element(converged.begin(), converged.end()))
              << std::flush;
  }
  std::cout << "\njoined: from the start of the N-1 processes until each answered GET / (it "
               "started and its\njoin was answered); all up: until GET /nodes on every node "
               "listed all N up (the rest\nof the mesh is made by the nodes themselves: news "
               "of a join, heartbeats listing members).\n"
            << machine_load() << "\n";
}

// -- 1-5. local, remote and TLS operations -------------------------------------------------

/// 5. The echo route of an instance of b through a's REST (a BASP round
/// trip; status reads are served from a's replica): a TLS pair of nodes
/// against the plain pair (node_a, node_b), alternating.
std::vector<Comparison> compare_tls(const Options& options, const std::string& plain_base) {
  TestCa ca;
  auto tls_options = [&](const std::string& name, const std::string& id) {
    auto server = server_options(name);
    auto files = ca.issue(id);
    auto args = files.args();
    server.args.insert(server.args.end(), args.begin(), args.end());
    return server;
  };
  auto tls_a = start_node("ta", {}, 0, tls_options("TLS node ta", "ta"));
  auto tls_b = start_node("tb", {tls_a.node_port}, 0, tls_options("TLS node tb", "tb"));
  auto api = tls_a.client();
  wait_until_up(api, "tb", 15s);
  register_echo(api, "remote", "tb");
  expect_ok(api.post("/nodes/tb/services/remote/start"), "start remote on tb");
  std::cout << fmt::format("TLS nodes: ta (REST {}, node port {}), tb (node port {}, joined ta)\n",
                           api.url(""), tls_a.node_port, tls_b.node_port)
            << std::flush;
  const auto tls_base = api.url("");
  const std::string echo_path = "/nodes/tb/services/remote/echo";
  auto echo_reply = api.post(echo_path, echo_request_body);
  expect_ok(echo_reply, "echo remote on tb");
  auto hop = start_bare_hop(forwarded_request_bytes(echo_path, echo_request_body.dump()),
                            forwarded_response_bytes(echo_reply.body),
                            std::pair{ca.issue("bare-peer"), ca.issue("bare-front")});
  std::vector<Comparison> comparisons;
  Options one_connection = options;
  one_connection.threads = 1;
  one_connection.connections = 1;
  const auto echo_lua = wrk_script("echo.lua");
  const WrkTarget limit_one{"(limit: bare CAF hop over TLS, 1 connection)", hop.url(echo_path),
                            echo_lua};
  const WrkTarget limit{"(limit: bare CAF hop over TLS)", hop.url(echo_path), echo_lua};
  comparisons.push_back(compare(
      one_connection, "remote echo route, 1 connection",
      {"plain: POST /nodes/b/services/remote/echo (1 connection)",
       plain_base + remote_services + "remote/echo", echo_lua},
      {"TLS: POST /nodes/tb/services/remote/echo (1 connection)", tls_base + echo_path, echo_lua},
      &limit_one));
  comparisons.push_back(compare(
      options, "remote echo route",
      {"plain: POST /nodes/b/services/remote/echo", plain_base + remote_services + "remote/echo",
       echo_lua},
      {"TLS: POST /nodes/tb/services/remote/echo", tls_base + echo_path, echo_lua}, &limit));
  auto tb_state = node_state(api, "tb");
  std::cout << fmt::format("TLS node tb: {}; ta: {}\n", stop_server(*tls_b.server),
                           stop_server(*tls_a.server));
  if (tb_state != "up")
    throw std::runtime_error("TLS node tb was not up on ta at the end: the figures may be errors");
  return comparisons;
}

std::string limit_rate(const Comparison& comparison) {
  return comparison.limit ? fmt::format("{:.0f}", comparison.limit->measurement.requests_per_second)
                          : "-";
}

std::string limit_ratio(const Comparison& comparison) {
  return comparison.limit ? fmt::format("{:.2f}x", comparison.limit_ratio) : "-";
}

std::string limit_p50(const Comparison& comparison) {
  return comparison.limit ? format_latency(comparison.limit->measurement.p50_ms) : "-";
}

void print_tls_table(const std::vector<Comparison>& comparisons) {
  std::cout << "\n"
            << fmt::format("{:<34} {:>11} {:>10} {:>8} {:>11} {:>7} {:>9} {:>9} {:>9} {:>9}  {}\n",
                           "node TLS (through a's REST)", "plain req/s", "TLS req/s", "/plain",
                           "limit req/s", "/limit", "plain p50", "TLS p50", "limit p50", "TLS p99",
                           "notes");
  for (const auto& comparison : comparisons) {
    const auto& plain = comparison.local.measurement;
    const auto& tls = comparison.remote.measurement;
    std::string notes;
    if (auto text = run_notes(plain); !text.empty()) notes += "plain: " + text;
    if (auto text = run_notes(tls); !text.empty())
      notes += (notes.empty() ? "" : "; ") + ("TLS: " + text);
    std::cout << fmt::format(
        "{:<34} {:>11.0f} {:>10.0f} {:>7.2f}x {:>11} {:>7} {:>9} {:>9} {:>9} {:>9}  {}\n",
        comparison.operation, plain.requests_per_second, tls.requests_per_second,
        comparison.remote.ratio, limit_rate(comparison), limit_ratio(comparison),
        format_latency(plain.p50_ms), format_latency(tls.p50_ms), limit_p50(comparison),
        format_latency(tls.p99_ms), notes);
  }
  std::cout << "\nplain: node a's /nodes/b/... over plain BASP; TLS: node ta's /nodes/tb/... "
               "over BASP in TLS\n(mutual verification, certificates of one CA). /plain is "
               "the median, over rounds, of the\nTLS run's req/s divided by that of the plain "
               "run next to it; /limit, divided by that of\nthe bare CAF hop over TLS "
               "(bare_hop_node: a bare RESTinio handler in front of two bare\nCAF nodes, "
               "messages of the same sizes).\n";
}

// 4. The table.
void print_remote_table(const Options& options, const std::vector<Comparison>& comparisons,
                        int cycle_instances) {
  std::cout << "\n"
            << fmt::format(
                   "{:<34} {:>11} {:>12} {:>8} {:>11} {:>7} {:>12} {:>9} {:>10} {:>9} {:>10} "
                   "{:>10}  {}\n",
                   "operation (through a's REST)", "local req/s", "remote req/s", "/local",
                   "limit req/s", "/limit", "limit/local", "local p50", "remote p50", "limit p50",
                   "added p50", "remote p99", "notes");
  for (const auto& comparison : comparisons) {
    const auto& local = comparison.local.measurement;
    const auto& remote = comparison.remote.measurement;
    std::string notes;
    if (auto text = run_notes(local); !text.empty()) notes += "local: " + text;
    if (auto text = run_notes(remote); !text.empty())
      notes += (notes.empty() ? "" : "; ") + ("remote: " + text);
    std::cout << fmt::format(
        "{:<34} {:>11.0f} {:>12.0f} {:>7.2f}x {:>11} {:>7} {:>12} {:>9} {:>10} {:>9} {:>10} "
        "{:>10}  {}\n",
        comparison.operation, local.requests_per_second, remote.requests_per_second,
        comparison.remote.ratio, limit_rate(comparison), limit_ratio(comparison),
        comparison.limit ? fmt::format("{:.2f}x", comparison.limit_to_local) : "-",
        format_latency(local.p50_ms), format_latency(remote.p50_ms), limit_p50(comparison),
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
      "\nlimit: the same requests to a bare CAF hop (bare_hop_node: a bare RESTinio handler\n"
      "in front of one bare CAF node that calls another over BASP on loopback, messages of\n"
      "the sizes a node sends for them); /limit is the median, over rounds, of the remote\n"
      "run's req/s divided by that of the bare hop's run next to it; limit/local, the bare\n"
      "hop's req/s divided by the local run's: the most a remote call can reach against local.\n"
      "\nA status read through a is answered from a's replica of b's status (no BASP hop; see\n"
      "docs/architecture.md, \"Status replicas\"): it costs what a local read costs.\n"
      "Where the remote cost of the others comes from: a local request goes from a's RESTinio\n"
      "thread into the supervisor's mailbox and back (one CAF hop). A remote one takes one CAF "
      "BASP hop\n"
      "each way over loopback TCP: a's middleman serializes the protocol message and writes it\n"
      "to b; b's middleman reads and deserializes it and hands it to b's supervisor (and, for\n"
      "a transition or the echo route, to the service actor); the reply is serialized by b's\n"
      "middleman and deserialized by a's, whose I/O thread runs the REST callback. So: two\n"
      "serializations, two deserializations, two loopback writes/reads and the hand-offs to\n"
      "and from each node's middleman thread (a's deadlines for them cost one clock message\n"
      "per timeout period, not one per request), and b is a second process competing for\n"
      "the same CPUs.\n",
      options.connections, cycle_instances);

  // The figure of all connections whose name starts with `operation`.
  auto find = [&](std::string_view operation) -> const Comparison* {
    for (const auto& comparison : comparisons)
      if (comparison.operation.starts_with(operation) &&
          comparison.operation.find("1 connection") == std::string::npos)
        return &comparison;
    return nullptr;
  };
  auto ratio_of = [&](std::string_view operation) {
    const auto* comparison = find(operation);
    return comparison ? comparison->remote.ratio : 0.0;
  };
  auto limit_ratio_of = [&](std::string_view operation) {
    const auto* comparison = find(operation);
    return comparison ? comparison->limit_ratio : 0.0;
  };
  auto aim = [](std::string_view text, double ratio, double bound, std::string note = {}) {
    std::cout << fmt::format("  [{}] {}: {:.2f}x{}\n", ratio >= bound ? "met   " : "MISSED", text,
                             ratio, note);
  };
  // A remote call costs at least the bare hop, so an aim against local is
  // out of reach for any runtime when the hop alone falls short of it.
  auto local_aim_note = [&](std::string_view operation, double bound) -> std::string {
    const auto* comparison = find(operation);
    if (!comparison || !comparison->limit) return {};
    auto hop = comparison->limit_to_local;
    if (hop < bound)
      return fmt::format(" (beyond the limit: the bare CAF hop alone reaches {:.2f}x local)", hop);
    return fmt::format(" (the bare CAF hop reaches {:.2f}x local: this asks {:.2f}x the hop)", hop,
                       bound / hop);
  };
  std::cout << "\nAims:\n";
  aim(fmt::format("remote status reads, {} connections, >= 0.8x local", options.connections),
      ratio_of("status read"), 0.8);
  for (auto operation : {"start/stop", "echo custom route"}) {
    aim(fmt::format("remote {}, {} connections, >= 0.7x the bare CAF hop", operation,
                    options.connections),
        limit_ratio_of(operation), 0.7);
    aim(fmt::format("remote {}, {} connections, >= 0.6x local", operation, options.connections),
        ratio_of(operation), 0.6, local_aim_note(operation, 0.6));
  }
}

int run(const Options& options, const Phases& phases) {
  if (phases.remote || phases.tls) {
    begin_run("cluster_benchmark", options,
              "a run on node a's instance next to a run on node b's, both through a's REST");
  } else {
    std::cout << "cluster_benchmark: convergence only\nserver: " << server_binary()
              << "\nmachine: " << machine_load() << "\n";
  }
  if (phases.convergence) run_convergence(phases);
  if (!phases.remote && !phases.tls) return 0;
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
  expect_ok(api.post("/services/local/echo", echo_request_body), "echo local");
  expect_ok(api.post(remote_services + "remote/echo", echo_request_body), "echo remote");
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
  std::vector<Comparison> tls_comparisons;
  if (phases.tls) tls_comparisons = compare_tls(options, base);
  if (phases.remote) {
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
    // The limits: bare hops carrying messages of the same sizes.
    const auto cycle_path = remote_services + "remote-cycle-0/start";
    auto cycle_hop = start_bare_hop(
        forwarded_request_bytes(cycle_path, ""),
        forwarded_response_bytes(R"({"service":"remote-cycle-0","status":"started"})"));
    const auto echo_path = remote_services + "remote/echo";
    auto echo_reply = api.post(echo_path, echo_request_body);
    auto echo_hop = start_bare_hop(forwarded_request_bytes(echo_path, echo_request_body.dump()),
                                   forwarded_response_bytes(echo_reply.body));
    const auto cycle_limit = start_stop_target("(limit: bare CAF hop)", cycle_hop.url("/"),
                                               "remote-cycle-", per_thread, remote_services);
    const WrkTarget echo_limit_one{"(limit: bare CAF hop, 1 connection)", echo_hop.url(echo_path),
                                   echo_lua};
    const WrkTarget echo_limit{"(limit: bare CAF hop)", echo_hop.url(echo_path), echo_lua};
    comparisons.push_back(compare(
        one_connection, "echo custom route, 1 connection",
        {"POST /services/local/echo (1 connection)", base + "/services/local/echo", echo_lua},
        {"POST /nodes/b/services/remote/echo (1 connection)", base + echo_path, echo_lua},
        &echo_limit_one));
    comparisons.push_back(
        compare(options, fmt::format("start/stop ({} instances each)", cycle_instances),
                start_stop_target("POST /services/{name}/start|stop", base + "/", "local-cycle-",
                                  per_thread, "/services/",
                                  [&] { stop_cycle_instances("/services/", "local-cycle-"); }),
                start_stop_target("POST /nodes/b/services/{name}/start|stop", base + "/",
                                  "remote-cycle-", per_thread, remote_services,
                                  [&] { stop_cycle_instances(remote_services, "remote-cycle-"); }),
                &cycle_limit));
    comparisons.push_back(
        compare(options, "echo custom route",
                {"POST /services/local/echo", base + "/services/local/echo", echo_lua},
                {"POST /nodes/b/services/remote/echo", base + echo_path, echo_lua}, &echo_limit));
  }

  auto load_at_end = machine_load();
  auto b_state = node_state(api, remote_node);
  auto stopped_b = stop_server(*node_b.server);
  auto stopped_a = stop_server(*node_a.server);

  if (phases.tls) print_tls_table(tls_comparisons);
  if (phases.remote) print_remote_table(options, comparisons, cycle_instances);
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
  Phases phases;
  auto extra = [&](int& index) {
    std::string_view arg = argv[index];
    if (arg == "--convergence-rounds") {
      phases.convergence_rounds = parse_number(argc, argv, index, 1, 50);
      return true;
    }
    if (arg != "--only") return false;
    if (index + 1 >= argc) throw std::invalid_argument("--only needs a value");
    std::string_view only = argv[++index];
    if (only != "remote" && only != "tls" && only != "convergence")
      throw std::invalid_argument("--only takes remote, tls or convergence");
    phases.remote = only == "remote";
    phases.tls = only == "tls";
    phases.convergence = only == "convergence";
    return true;
  };
  return benchmark_main(
      argc, argv, "cluster_benchmark", options, [&] { return run(options, phases); },
      "[--only remote|tls|convergence] [--convergence-rounds N (5)]", extra);
}
