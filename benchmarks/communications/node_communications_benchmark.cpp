// node_communications_benchmark: what a node's communications cost the rest
// of the node (docs/communications.md), with one webhook backend pointed at a
// receiver that accepts and never answers.
//
//  A. A burst of emits (10,000 by default) on the caller's side, in an
//     embedded Runtime: from a service (Service::emit, inside a route) and
//     from the embedding program (Runtime::emit), next to pushing as many
//     copies of the message into a std::vector in the same round. Aim: the
//     burst <= 10 ms.
//  B. Status reads (wrk, GET /services/{name}) of the `processpype` binary
//     with `communications.alerts: true` and the hanging webhook, while a
//     `faulty` instance fails and restarts without pause (alerts without
//     end, every one queued behind the hanging transfer or dropped), against
//     the same file without `communications` in the same run (both servers
//     run throughout; rounds alternate). Aim: >= 0.95x.
//
//   node_communications_benchmark [--emits N] [--duration S] [--runs ROUNDS]
//                                 [--threads N] [--connections N]
//
// wrk comes from the PATH, or WRK=/path/to/wrk; the receiver is
// tests/communications/http_receiver.py (Python 3), on 127.0.0.1.

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <caf/all.hpp>

#include "benchmark_support.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/runtime/logging.hpp"
#include "processpype/runtime/service.hpp"
#include "receivers.hpp"

namespace {

using namespace processpype::benchmark;
using processpype::OutgoingMessage;
using processpype::testing::Clock;
using processpype::testing::elapsed_ms;
using processpype::testing::HttpReceiver;
using processpype::testing::ServerProcess;
using processpype::testing::TempFile;

struct Options : WrkOptions {
  int emits = 10'000;
};

/// What an alert of the node looks like.
OutgoingMessage sample_message() {
  return {.message = "Instance store failed on node node-1: connection refused",
          .label = "alerts",
          .source = "store",
          .severity = "error",
          .metadata = {{"alert", "failure"}, {"held_back", 0}}};
}

/// POST /burst {"count"}: emits the sample `count` times; answers how long
/// that took on its side, in ms.
class Burst : public processpype::Service {
 public:
  using Service::Service;

  void add_routes(processpype::ServiceRoutes& routes) override {
    routes.post("/burst", [this](const processpype::RouteRequest& request) {
      auto count = request.body.value("count", 0);
      auto message = sample_message();
      auto started = Clock::now();
      for (int i = 0; i < count; ++i) emit(message);
      return processpype::RouteResponse::ok({{"ms", elapsed_ms(started)}});
    });
  }
};

double vector_baseline(int count) {
  auto message = sample_message();
  auto started = Clock::now();
  std::vector<OutgoingMessage> messages;
  for (int i = 0; i < count; ++i) messages.push_back(message);
  return elapsed_ms(started);
}

struct BurstFigures {
  std::vector<double> baseline, service, embedder;
};

/// One round of A, in a Runtime of its own (so each burst meets empty queues).
void burst_round(const std::string& hook_url, int count, BurstFigures& figures) {
  caf::actor_system_config config;
  processpype::Runtime::add_types(config);
  caf::actor_system system{config};
  processpype::RuntimeOptions options;
  options.node_id = "node-1";
  processpype::communications::WebhookSettings hook{.url = hook_url, .timeout_seconds = 60};
  options.communications = processpype::CommunicationsOptions{
      .backends = {{"hanging", {"alerts"}, true, hook}}, .alerts = true};
  processpype::Runtime runtime{system, options};
  runtime.register_service<Burst>(std::string{"burst"});
  runtime.configure("burst", nlohmann::json::object());
  runtime.start("burst");

  figures.baseline.push_back(vector_baseline(count));
  processpype::RouteRequest request;
  request.method = "POST";
  request.path = "/burst";
  request.body = {{"count", count}};
  figures.service.push_back(runtime.call_route("burst", request).body.value("ms", -1.0));

  auto message = sample_message();
  auto started = Clock::now();
  for (int i = 0; i < count; ++i) runtime.emit(message);
  figures.embedder.push_back(elapsed_ms(started));
  std::cout << fmt::format(
      "  round {}: vector {:.2f} ms, Service::emit {:.2f} ms, "
      "Runtime::emit {:.2f} ms\n",
      figures.baseline.size(), figures.baseline.back(), figures.service.back(),
      figures.embedder.back());
  runtime.stop_all(std::chrono::seconds(5));
}

/// The application file of B: `bench` (echo) is read, `flaky` fails and
/// restarts every 20 ms; `communications` is appended for the figure.
std::string server_file(const std::string& communications = "") {
  return R"(server: {metrics: false}
logging: {level: critical}
services:
  bench: {type: echo}
  flaky:
    type: faulty
    fail_starts: 1000000000
    restart: on-failure
    restart_delay_seconds: 0.02
    restart_max_delay_seconds: 0.02
    max_restarts: 1000000000
)" + communications;
}

ServerProcess start_server(const TempFile& file, std::string name) {
  auto options = server_options(std::move(name));
  options.args = {"--config", file.path(), "--log-level", "critical"};
  return ServerProcess{options};
}

double best(const std::vector<double>& values) {
  return *std::min_element(values.begin(), values.end());
}

struct Aim {
  std::string text;
  bool met;
  std::string shown;
};

int run(const Options& options) {
  begin_run("node_communications_benchmark", options,
            "a server without communications next to one with alerts and a hanging webhook");
  HttpReceiver hanging{{.hang = true}};

  std::cout << fmt::format("\nA. a burst of {} emits, caller's side (hanging webhook)\n",
                           options.emits);
  BurstFigures bursts;
  for (int round = 0; round < options.runs; ++round)
    burst_round(hanging.url("/hook"), options.emits, bursts);

  std::cout << "\nB. status reads while a restart loop alerts into a hanging webhook\n";
  TempFile quiet_file{server_file()};
  TempFile alerting_file{server_file(fmt::format(R"(communications:
  alerts: true
  alerts_min_interval_seconds: 0.001
  backends:
    hanging: {{type: webhook, labels: [alerts], url: "{}", timeout_seconds: 600}}
)",
                                                 hanging.url("/hook")))};
  auto quiet = start_server(quiet_file, "the server without communications");
  auto alerting = start_server(alerting_file, "the server with alerts");
  if (!hanging.wait_for_requests(1, std::chrono::seconds(10)))
    throw std::runtime_error("the server with alerts sent no alert to the hanging webhook");
  std::vector<Measurement> quiet_runs;
  auto alerts_on = measure_against(
      options, {"(GET /services/{name}, no communications)", quiet.client().url("/services/bench")},
      quiet_runs,
      {"GET /services/{name}, alerts into a hanging webhook",
       alerting.client().url("/services/bench")});
  auto metrics = alerting.client().get("/metrics").body;
  auto restarts = alerting.client().get("/services/flaky").field("restarts");
  std::cout << fmt::format("  the alerting server's restarts so far: {}; its counters:\n",
                           restarts.dump());
  for (const auto& line : processpype::testing::lines_of(metrics))
    if (line.starts_with("processpype_messages_")) std::cout << "    " << line << "\n";
  std::cout << "  " << stop_server(alerting) << "; " << stop_server(quiet) << "\n";

  // The median says what a caller usually sees; the best, what the code
  // costs when nothing else takes the CPU away in the middle of a burst.
  auto service_median = median(bursts.service);
  auto embedder_median = median(bursts.embedder);
  auto baseline_median = median(bursts.baseline);
  std::cout << fmt::format("\n{:<52} {:>10} {:>10}\n", fmt::format("over {} rounds", options.runs),
                           "median", "best");
  auto burst_row = [&](const std::string& name, const std::vector<double>& times) {
    std::cout << fmt::format("{:<52} {:>7.2f} ms {:>7.2f} ms  ({:.2f}x the baseline's median)\n",
                             name, median(times), best(times), median(times) / baseline_median);
  };
  burst_row(fmt::format("vector baseline ({} push_back)", options.emits), bursts.baseline);
  burst_row(fmt::format("{} Service::emit", options.emits), bursts.service);
  burst_row(fmt::format("{} Runtime::emit", options.emits), bursts.embedder);
  std::cout << fmt::format(
      "{:<52} {:>8.0f}/s  ({:.3f}x the server without communications, "
      "median of the rounds' ratios)\n",
      "status reads, alerts into a hanging webhook", alerts_on.measurement.requests_per_second,
      alerts_on.ratio);

  const Aim aims[] = {
      {fmt::format("{} Service::emit <= 10 ms", options.emits), service_median <= 10.0,
       fmt::format("{:.2f} ms", service_median)},
      {fmt::format("{} Runtime::emit <= 10 ms", options.emits), embedder_median <= 10.0,
       fmt::format("{:.2f} ms", embedder_median)},
      {"status reads with alerts and a hanging webhook >= 0.95x without", alerts_on.ratio >= 0.95,
       fmt::format("{:.3f}x", alerts_on.ratio)},
  };
  bool all_met = true;
  std::cout << "\nAims:\n";
  for (const auto& aim : aims) {
    std::cout << fmt::format("  [{}] {}: {}\n", aim.met ? "met" : "MISSED", aim.text, aim.shown);
    all_met = all_met && aim.met;
  }
  std::cout << "\nMachine at the end: " << machine_load() << "\n"
            << (all_met ? "All aims met.\n" : "Some aims missed.\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  processpype::configure_logging(spdlog::level::off, processpype::LogFormat::text);
  Options options;
  return benchmark_main(
      argc, argv, "node_communications_benchmark", options, [&] { return run(options); },
      "[--emits N (10000)]",
      [&](int& i) {
        if (std::string_view{argv[i]} != "--emits") return false;
        options.emits = parse_number(argc, argv, i, 1, 10'000'000);
        return true;
      });
}
