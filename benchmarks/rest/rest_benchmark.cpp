// rest_benchmark: the REST API of the `processpype` binary measured with wrk,
// each figure as a ratio to a baseline measured in the same run (these
// machines are noisy: absolute figures drift, ratios hold better).
//
// The baseline is a bare RESTinio server in this process (RESTinio's default
// traits, the same number of I/O threads as the real server) whose handler
// answers a fixed JSON body at once, on its I/O thread
// (support/bare_servers.hpp).
//
// Figures (docs/performance.md explains the paths they measure):
//  A. 32 connections, throughput: GET /services/{name}, GET /services, a
//     start/stop cycle, the echo custom route.
//  B. one keep-alive connection, latency p50/p99: the same status read,
//     transition and custom route, against the bare handler's p50, plus a
//     liveness probe (a round trip through a CAF worker) and a transition of
//     a manager that may block; the differences between them give the cost
//     of each stage.
//  C. state changes while 10 Server-Sent Events clients follow /events,
//     against the same with none (the old baseline) and against their
//     limit: a bare RESTinio server that writes each of a transition's
//     two events to 10 open chunked responses as it answers (the cost of
//     fan-out alone).
//  D. status reads with metrics collection on, against a server with it off.
//  E. 10,000 instances: their registration, the last instance's status read
//     against the first's, GET /metrics latency.
//  F. 100,000 instances: status reads while another client lists them all
//     without pause, against the same reads alone.
//
// Usage: rest_benchmark [--duration S (3)] [--runs ROUNDS (5)] [--threads N (2)]
//                       [--connections N (32)] [--instances N (10000)]
//                       [--big N (100000)]
// wrk comes from the PATH, or WRK=/path/to/wrk. Exit code 0 when the run
// completed (the aims are printed, met or not), 1 on a failure, 2 on usage.
// Every child is killed when the benchmark ends; loopback only; every wait
// is bounded.

#include <algorithm>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <processpype/testing/server.hpp>

#include "bare_servers.hpp"
#include "benchmark_support.hpp"

namespace {

using namespace processpype::benchmark;
using namespace processpype::testing;

// -- options and output --------------------------------------------------------------

struct Options : WrkOptions {
  int instances = 10'000;
  int big = 100'000;
};

/// A start publishes `starting` and `running`, a stop `stopping` and
/// `stopped`: the bare fan-out writes as many events per request.
constexpr int events_per_transition = 2;

WrkOptions one_connection(const WrkOptions& options) {
  auto one = options;
  one.threads = 1;
  one.connections = 1;
  return one;
}

struct Aim {
  std::string text;
  bool met;
  std::string value;
};

void print_figures(const std::vector<const Figure*>& figures) {
  std::cout << "\n"
            << fmt::format("{:<52} {:>10} {:>9} {:>9} {:>10}  {}\n", "figure", "req/s", "p50",
                           "p99", "/baseline", "notes");
  for (const auto* figure : figures) {
    const auto& m = figure->measurement;
    std::string notes = figure->note;
    auto add = [&notes](const std::string& text) { notes += (notes.empty() ? "" : "; ") + text; };
    if (m.non_2xx > 0) add(fmt::format("{} non-2xx of {}", m.non_2xx, m.requests));
    if (!m.socket_errors.empty()) add(m.socket_errors);
    if (!m.script_line.empty()) add(m.script_line);
    std::cout << fmt::format("{:<52} {:>10.0f} {:>9} {:>9} {:>9.2f}x  {}\n", figure->name,
                             m.requests_per_second, format_latency(m.p50_ms),
                             format_latency(m.p99_ms), figure->ratio, notes);
  }
}

bool print_aims(const std::vector<Aim>& aims) {
  std::cout << "\nAims:\n";
  bool all_met = true;
  for (const auto& aim : aims) {
    all_met = all_met && aim.met;
    std::cout << fmt::format("  [{}] {}: {}\n", aim.met ? "met   " : "MISSED", aim.text, aim.value);
  }
  return all_met;
}

/// Where the time of one request goes, from the one-connection p50s: each
/// stage is the difference between two requests that differ by that stage.
/// A command's actors run on the HTTP thread (docs/architecture.md, "The
/// transition path"); the liveness probe alone still crosses to a CAF
/// worker and back, on purpose, so it prices that crossing.
void print_stages(double bare, double status, double live, double transition, double blocking,
                  double route) {
  auto row = [](std::string_view stage, double ms, std::string_view how) {
    std::cout << fmt::format("  {:<52} {:>9}   {}\n", stage, format_latency(ms), how);
  };
  std::cout << "\nOne request, stage by stage (p50 differences, one connection):\n";
  row("HTTP over loopback, RESTinio, a handler", bare, "the bare handler");
  row("+ routing, the InstanceTable, JSON", status - bare, "status read - bare");
  row("+ the Supervisor, the service actor, events (here)", transition - status,
      "transition (inline manager) - status read");
  row("+ a custom route in the service actor (here)", route - status, "echo route - status read");
  row("+ the manager threads, there and back", blocking - transition,
      "transition (blocking manager) - inline");
  row("(a crossing to a CAF worker and back, an actor)", live - bare, "liveness probe - bare");
}

/// Registers `count` echo instances `<prefix><i>` over `clients` parallel
/// keep-alive connections; returns the seconds it took.
double register_many(const ServerProcess& server, const std::string& prefix, int count,
                     int clients) {
  auto begin = Clock::now();
  std::vector<std::future<void>> workers;
  for (int c = 0; c < clients; ++c)
    workers.push_back(std::async(std::launch::async, [&, c] {
      auto api = server.client();
      for (int i = c; i < count; i += clients) {
        auto body = fmt::format(R"({{"service_name":"echo","instance_name":"{}{}"}})", prefix, i);
        expect_ok(api.post_raw("/services/register", body), "register");
      }
    }));
  for (auto& worker : workers) worker.get();
  return std::chrono::duration<double>(Clock::now() - begin).count();
}

/// A second server with metrics collection off, from a configuration file.
ServerOptions without_metrics(const TempFile& config) {
  auto options = server_options("the server without metrics");
  options.args = {"--config", config.path(), "--log-level", "error"};
  return options;
}

// -- the benchmark -----------------------------------------------------------------

int run(const Options& options) {
  begin_run("rest_benchmark", options, "a baseline run next to a run of the figure");
  const auto one = one_connection(options);
  const int per_thread = start_stop_instances_per_thread(options);
  const int cycle_instances = per_thread * options.threads;

  auto bare_port = free_port();
  BareServer bare{static_cast<std::uint16_t>(bare_port)};
  bare.start();
  auto bare_url = fmt::format("http://127.0.0.1:{}/services/bench", bare_port);
  WrkTarget baseline{"(baseline: bare RESTinio)", bare_url};
  std::vector<Measurement> bare_runs, bare_one_runs;

  // Room for F's instances beside those of the earlier figures.
  TempFile limits_config{
      fmt::format("server:\n  limits:\n    max_instances: {}\n", options.big + 1000)};
  auto main_options = server_options();
  main_options.args.insert(main_options.args.end(), {"--config", limits_config.path()});
  ServerProcess server{main_options};
  auto api = server.client();
  auto base = api.url("");
  expect_ok(api.post("/services/register", {{"service_name", "echo"}, {"instance_name", "bench"}}),
            "register bench");
  expect_ok(api.post("/services/bench/start"), "start bench");
  for (int i = 0; i < cycle_instances; ++i) {
    auto suffix = std::to_string(i);
    expect_ok(api.post("/services/register",
                       {{"service_name", "echo"}, {"instance_name", "cycle-" + suffix}}),
              "register cycle");
    // faulty's manager may block (it sleeps when told to): its calls go to
    // the manager threads.
    expect_ok(api.post("/services/register",
                       {{"service_name", "faulty"}, {"instance_name", "blocking-" + suffix}}),
              "register blocking");
  }
  auto all_stopped = [&] {
    for (int i = 0; i < cycle_instances; ++i)
      expect_ok(api.post("/services/cycle-" + std::to_string(i) + "/stop"), "stop cycle");
  };
  auto cycle = [&](std::string name, int instances_per_thread) {
    return start_stop_target(std::move(name), base + "/", "cycle-", instances_per_thread,
                             "/services/", all_stopped);
  };
  const WrkTarget status{"GET /services/{name}", base + "/services/bench"};
  const WrkTarget echo{"POST /services/{name}/echo", base + "/services/bench/echo",
                       wrk_script("echo.lua")};

  // A. 32 connections.
  std::cout << "\nA. " << options.connections << " connections\n";
  auto status32 = measure_against(options, baseline, bare_runs, status);
  auto list32 = measure_against(options, baseline, bare_runs,
                                {"GET /services (1+ instances)", base + "/services"});
  auto cycle32 = measure_against(
      options, baseline, bare_runs,
      cycle(fmt::format("POST start/stop ({} instances)", cycle_instances), per_thread));
  cycle32.note = "transitions/s";
  auto echo32 = measure_against(options, baseline, bare_runs, echo);

  // A2. Four connections: transitions, next to the bare handler.
  std::cout << "\nA2. four connections\n";
  auto four = options;
  four.connections = 4;
  four.threads = std::min(options.threads, four.connections);
  std::vector<Measurement> bare_four_runs;
  auto cycle4 = measure_against(
      four, baseline, bare_four_runs,
      cycle("POST start/stop, 4 connections", start_stop_instances_per_thread(four)));
  cycle4.note = "transitions/s";
  Figure bare_four_figure{
      "baseline: bare RESTinio, 4 connections", median_run(bare_four_runs), 1.0, {}};

  // B. One keep-alive connection: latency.
  std::cout << "\nB. one connection\n";
  auto status1 = measure_against(one, baseline, bare_one_runs, status);
  auto cycle1 = measure_against(
      one, baseline, bare_one_runs,
      cycle("POST start/stop, one connection", start_stop_instances_per_thread(one)));
  auto echo1 = measure_against(one, baseline, bare_one_runs, echo);
  auto live1 = measure_against(one, baseline, bare_one_runs,
                               {"GET /health/live (one CAF round trip)", base + "/health/live"});
  auto blocking1 = measure_against(
      one, baseline, bare_one_runs,
      start_stop_target("POST start/stop, a manager that may block", base + "/", "blocking-",
                        start_stop_instances_per_thread(one), "/services/", [&] {
                          for (int i = 0; i < cycle_instances; ++i)
                            expect_ok(api.post("/services/blocking-" + std::to_string(i) + "/stop"),
                                      "stop blocking");
                        }));
  auto bare_one = median_run(bare_one_runs);
  for (auto* figure : {&status1, &cycle1, &echo1, &live1, &blocking1})
    figure->note =
        fmt::format("p50 {:.2f}x the bare p50", figure->measurement.p50_ms / bare_one.p50_ms);

  // C. State changes while 10 event streams follow them, against none and
  // against the bare fan-out of the same events (their limit).
  std::cout << "\nC. state changes followed by 10 event streams\n";
  constexpr std::size_t follower_count = 10;
  std::vector<std::unique_ptr<ChildProcess>> followers;
  auto start_followers = [&](const std::string& events_url) {
    followers.clear();
    for (std::size_t i = 0; i < follower_count; ++i)
      followers.push_back(std::make_unique<ChildProcess>(
          "curl", std::vector<std::string>{"-sN", "-o", "/dev/null", "-H",
                                           "Accept: text/event-stream", events_url}));
  };
  auto unfollowed = cycle("POST start/stop, no event streams", per_thread);
  auto unfollow = unfollowed.prepare;
  unfollowed.prepare = [&, unfollow] {
    followers.clear();
    unfollow();
  };
  auto followed = cycle("POST start/stop, 10 event streams", per_thread);
  followed.prepare = [&] {
    all_stopped();
    start_followers(base + "/events");
  };
  auto fan_out_port = free_port();
  BareFanOut fan_out{static_cast<std::uint16_t>(fan_out_port), events_per_transition};
  fan_out.start();
  auto fan_out_base = fmt::format("http://127.0.0.1:{}", fan_out_port);
  auto fan_out_limit = start_stop_target(
      "(limit: bare fan-out to 10 streams)", fan_out_base + "/", "cycle-", per_thread, "/services/",
      [&] {
        fan_out.close_streams();
        start_followers(fan_out_base + "/events");
        if (!wait_until([&] { return fan_out.open_streams() == follower_count; }, 10s))
          throw std::runtime_error("the followers of the bare fan-out did not connect in 10 s");
      });
  std::vector<Measurement> unfollowed_runs, fan_out_runs;
  auto streams_compared = measure_beside(
      options, followed, {{&unfollowed, &unfollowed_runs}, {&fan_out_limit, &fan_out_runs}});
  fan_out.close_streams();
  followers.clear();
  auto streams = streams_compared.figure;
  const double streams_to_limit = streams_compared.ratios[1];
  streams.note =
      fmt::format("ratio to the same with no stream; {:.2f}x the bare fan-out", streams_to_limit);
  Figure fan_out_figure{"limit: bare fan-out to 10 streams", median_run(fan_out_runs),
                        median_run(fan_out_runs).requests_per_second /
                            median_run(unfollowed_runs).requests_per_second,
                        "ratio to start/stop with no stream"};

  // D. Metrics collection on, against off.
  std::cout << "\nD. metrics collection\n";
  TempFile no_metrics_config{"server: {metrics: false}\nservices: {bench: {type: echo}}\n"};
  ServerProcess quiet{without_metrics(no_metrics_config)};  // starts bench by itself
  std::vector<Measurement> quiet_runs;
  auto metrics_on = measure_against(
      options, {"(GET /services/{name}, metrics off)", quiet.client().url("/services/bench")},
      quiet_runs, {"GET /services/{name}, metrics on", base + "/services/bench"});
  metrics_on.note = "ratio to the same server with metrics off";
  stop_server(quiet);

  // E. Many instances.
  std::cout << fmt::format("\nE. {} instances\n", options.instances);
  auto first_name = std::string{"inst-0"};
  auto last_name = "inst-" + std::to_string(options.instances - 1);
  auto registration_seconds = register_many(server, "inst-", options.instances, 1);
  std::cout << fmt::format("  {} registrations over one connection in {:.3f} s\n",
                           options.instances, registration_seconds);
  auto first =
      measure_against(options, baseline, bare_runs,
                      {"GET /services/{name}, the first", base + "/services/" + first_name});
  auto last =
      measure_against(options, baseline, bare_runs,
                      {fmt::format("GET /services/{{name}}, the last of {}", options.instances),
                       base + "/services/" + last_name});
  auto metrics_one = one;
  metrics_one.runs = 1;
  auto metrics_run = run_wrk(metrics_one, base + "/metrics", {});
  print_run(fmt::format("GET /metrics ({} instances)", options.instances), "1/1", metrics_run);

  // F. A huge list does not stall other reads.
  std::cout << fmt::format("\nF. {} instances, one client listing them without pause\n",
                           options.big);
  auto big_seconds = register_many(server, "big-", options.big - options.instances, 4);
  std::cout << fmt::format("  {} more registrations over 4 connections in {:.3f} s\n",
                           options.big - options.instances, big_seconds);
  auto list_once = api.get("/services");
  std::cout << fmt::format("  GET /services ({} instances): {:.0f} ms, {} bytes\n", options.big,
                           list_once.elapsed_ms, list_once.body.size());
  auto lister_options = one;
  lister_options.duration_seconds = options.duration_seconds * 2 * options.runs + 30;
  ChildProcess lister{options.wrk,
                      {"-t1", "-c1", "-d" + std::to_string(lister_options.duration_seconds) + "s",
                       base + "/services"}};
  auto reads_while_listing = run_wrk(one, base + "/services/" + last_name, {});
  print_run("GET /services/{name} while listing", "1/1", reads_while_listing);
  lister.kill();
  auto reads_alone = run_wrk(one, base + "/services/" + last_name, {});
  print_run("GET /services/{name} alone", "1/1", reads_alone);

  auto load_at_end = machine_load();
  auto stopped = stop_server(server);

  Figure bare_figure{"baseline: bare RESTinio, 32 connections", median_run(bare_runs), 1.0, {}};
  Figure bare_one_figure{"baseline: bare RESTinio, one connection", bare_one, 1.0, {}};
  Figure listing{"GET /services/{name} while another client lists", reads_while_listing,
                 reads_while_listing.requests_per_second / reads_alone.requests_per_second,
                 "ratio to the same reads alone"};
  print_figures({&bare_figure, &status32, &list32, &cycle32, &echo32, &bare_four_figure, &cycle4,
                 &bare_one_figure, &status1, &cycle1, &echo1, &live1, &blocking1, &fan_out_figure,
                 &streams, &metrics_on, &first, &last, &listing});
  print_stages(bare_one.p50_ms, status1.measurement.p50_ms, live1.measurement.p50_ms,
               cycle1.measurement.p50_ms, blocking1.measurement.p50_ms, echo1.measurement.p50_ms);
  std::cout << fmt::format(
      "\n{} registrations in {:.3f} s; GET /metrics with {} instances: p50 {}, "
      "p99 {}\n",
      options.instances, registration_seconds, options.instances,
      format_latency(metrics_run.p50_ms), format_latency(metrics_run.p99_ms));

  auto aim = [](std::string text, bool met, std::string shown) {
    return Aim{std::move(text), met, std::move(shown)};
  };
  auto times = [](double value) { return fmt::format("{:.2f}x", value); };
  double status1_p50 = status1.measurement.p50_ms / bare_one.p50_ms;
  double cycle1_p50 = cycle1.measurement.p50_ms / bare_one.p50_ms;
  double last_vs_first = last.ratio / first.ratio;
  bool all_met = print_aims({
      aim("one-connection status read p50 <= 1.3x the bare handler's", status1_p50 <= 1.3,
          times(status1_p50)),
      aim("one-connection transition p50 <= 2x the bare handler's p50", cycle1_p50 <= 2.0,
          times(cycle1_p50)),
      aim("32-connection status reads >= 0.9x the bare handler", status32.ratio >= 0.9,
          times(status32.ratio)),
      aim(fmt::format("the last of {} instances >= 0.95x the first", options.instances),
          last_vs_first >= 0.95, times(last_vs_first)),
      aim("status-read p99 < 10 ms while another client lists all",
          reads_while_listing.p99_ms < 10.0, format_latency(reads_while_listing.p99_ms)),
      aim("one-connection transition p50 <= 1.5x the bare handler's p50", cycle1_p50 <= 1.5,
          times(cycle1_p50)),
      aim("4-connection transitions >= 40,000/s", cycle4.measurement.requests_per_second >= 40'000,
          fmt::format("{:.0f}/s", cycle4.measurement.requests_per_second)),
      aim("state changes with 10 event streams >= 0.7x the bare fan-out", streams_to_limit >= 0.7,
          times(streams_to_limit)),
      aim("status reads with metrics on >= 0.95x off", metrics_on.ratio >= 0.95,
          times(metrics_on.ratio)),
      aim(fmt::format("GET /metrics with {} instances < 50 ms", options.instances),
          metrics_run.p50_ms < 50.0, format_latency(metrics_run.p50_ms)),
  });
  std::cout << "\nServer: " << stopped << "\nMachine at the end: " << load_at_end << "\n";
  std::cout << (all_met ? "All aims met.\n" : "Some aims missed.\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  return benchmark_main(
      argc, argv, "rest_benchmark", options, [&] { return run(options); },
      "[--instances N (10000)] [--big N (100000)]",
      [&](int& i) {
        std::string_view arg = argv[i];
        if (arg == "--instances")
          options.instances = parse_number(argc, argv, i, 2, 1'000'000);
        else if (arg == "--big")
          options.big = parse_number(argc, argv, i, 2, 1'000'000);
        else
          return false;
        return true;
      });
}
