// rest_benchmark: the REST API of the `processpype` binary (SPEC 5) measured
// with wrk, against a bare RESTinio server configured like the real one.
//
// In one run:
//  1. baseline: an in-process RESTinio server with the real server's settings
//     (the traits and parser callbacks of rest/src/http_parsing.hpp, the
//     default limits and I/O threads of rest::ServerOptions, its timeouts)
//     whose handler answers a fixed JSON body at once, on its I/O thread;
//  2. the real binary (fork/exec, free port, --log-level error) with a
//     running `echo` instance: GET /services/{name}, GET /services, a
//     start/stop cycle, the echo custom route;
//  3. 10,000 registrations over one keep-alive connection (and, for scale,
//     the same POSTs to the bare server), then GET /services/{name} of the
//     last instance;
//  4. a table, with the ratio of each figure to the baseline, and the aims.
//
// The machine may be shared, so the baseline is not measured once: every
// figure is measured in rounds, each a baseline run next to a run of the
// figure, and its ratio is the median of the rounds' ratios.
//
// Usage: rest_benchmark [--duration S (3)] [--runs ROUNDS (5)] [--threads N (2)]
//                       [--connections N (32)] [--instances N (10000)]
// wrk comes from the PATH, or WRK=/path/to/wrk. Exit code 0 when the run
// completed (the aims are printed, met or not), 1 on a failure, 2 on usage.
//
// Every child (wrk, the server) is killed when the benchmark ends, also on
// failure or on a signal (and by the kernel if the benchmark dies: see
// tests/support/processpype_testing). Loopback only; every wait is bounded.

#include <algorithm>
#include <chrono>
#include <climits>
#include <exception>
#include <functional>
#include <future>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <processpype/testing/server.hpp>

#include "benchmark_support.hpp"
#include "http_parsing.hpp"  // rest/src: how the server reads requests (traits, limits)
#include "processpype/rest/server.hpp"

// -- the baseline: the real server's RESTinio settings, a handler that answers at once

namespace baseline {
namespace {

namespace rest = processpype::rest;
using HttpServer = restinio::http_server_t<rest::ServerTraits>;

/// The body GET /services/{name} of a running echo instance answers, so that
/// both servers write the same bytes.
constexpr std::string_view fixed_body =
    R"({"error":null,"is_configured":false,"metadata":{},"state":"running"})";

/// The real server's settings (see rest::Server: its traits, its default
/// limits and threads, own io_context, a year-long handle_request_timeout)
/// with a handler that answers at once, on the RESTinio I/O thread.
class Server {
 public:
  explicit Server(std::uint16_t port)
      : limits_(rest::parsing::message_limits(defaults_.limits.max_body_bytes,
                                              defaults_.limits.max_header_bytes,
                                              defaults_.limits.max_url_bytes)),
        http_(restinio::own_io_context(),
              [this, port](auto& settings) {
                settings.address("127.0.0.1")
                    .port(port)
                    .incoming_http_msg_limits(limits_)
                    .max_parallel_connections(defaults_.limits.max_connections)
                    .read_next_http_message_timelimit(
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(defaults_.limits.read_timeout_seconds)))
                    .handle_request_timeout(std::chrono::hours(24 * 365))
                    .request_handler([this](restinio::request_handle_t request) {
                      return handle(std::move(request));
                    });
              }),
        runner_(defaults_.threads, http_) {}
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start() {
    std::promise<void> started;
    auto result = started.get_future();
    runner_.start(
        [&started]() noexcept { started.set_value(); },
        [&started](std::exception_ptr error) noexcept { started.set_exception(std::move(error)); });
    result.get();
    running_ = true;
  }

  void stop() {
    if (!std::exchange(running_, false)) return;
    runner_.stop();
    runner_.wait();
  }

 private:
  restinio::request_handling_status_t handle(restinio::request_handle_t request) {
    auto& header = const_cast<restinio::http_request_header_t&>(request->header());
    auto refusal = rest::parsing::take_refusal(header, limits_);
    auto status = static_cast<std::uint16_t>(refusal ? refusal->status : 200);
    auto response = request->create_response(restinio::http_status_line_t{
        restinio::http_status_code_t{status}, refusal ? "Error" : "OK"});
    response.append_header(restinio::http_field::content_type, "application/json");
    response.set_body(refusal ? nlohmann::json{{"detail", refusal->detail}}.dump()
                              : std::string{fixed_body});
    response.done();
    return restinio::request_accepted();
  }

  const rest::ServerOptions defaults_{};
  restinio::incoming_http_msg_limits_t limits_;
  HttpServer http_;
  restinio::on_pool_runner_t<HttpServer> runner_;
  bool running_ = false;
};

}  // namespace
}  // namespace baseline

namespace {

using namespace processpype::benchmark;
using namespace processpype::testing;

struct Options : WrkOptions {
  int instances = 10000;
};

/// One figure of the server against the bare baseline (see measure_against).
Figure measure(const Options& options, const std::string& baseline_url,
               std::vector<Measurement>& baseline_runs, const WrkTarget& figure) {
  return measure_against(options, {"(baseline)", baseline_url, {}}, baseline_runs, figure);
}

// -- the benchmark -------------------------------------------------------------

int run(const Options& options) {
  begin_run("rest_benchmark", options, "a baseline run next to a run of the figure");
  std::cout << std::endl;
  const int per_thread = start_stop_instances_per_thread(options);
  const int cycle_instances = per_thread * options.threads;

  // 1. The bare RESTinio server, in this process, for the whole benchmark
  // (idle between its runs).
  auto bare_port = free_port();
  baseline::Server bare_server{static_cast<std::uint16_t>(bare_port)};
  bare_server.start();
  auto bare_url = fmt::format("http://127.0.0.1:{}/services/bench", bare_port);
  {
    HttpClient probe{bare_port};
    expect_ok(probe.get("/services/bench"), "baseline GET");
  }
  std::vector<Measurement> bare_runs;

  // 2. The processpype binary, one running echo instance.
  ServerProcess server{server_options()};
  auto api = server.client();
  auto base = api.url("");
  expect_ok(api.post("/services/register", {{"service_name", "echo"}, {"instance_name", "bench"}}),
            "register bench");
  expect_ok(api.post("/services/bench/start"), "start bench");
  expect_ok(api.post("/services/bench/echo", {{"message", "hi"}}), "echo");

  auto status_one =
      measure(options, bare_url, bare_runs, {"GET /services/{name}", base + "/services/bench"});
  auto list_one =
      measure(options, bare_url, bare_runs, {"GET /services (1 instance)", base + "/services"});

  for (int i = 0; i < cycle_instances; ++i) {
    auto name = "cycle-" + std::to_string(i);
    expect_ok(api.post("/services/register", {{"service_name", "echo"}, {"instance_name", name}}),
              "register " + name);
  }
  auto stop_cycle_instances = [&] {
    for (int i = 0; i < cycle_instances; ++i)
      expect_ok(api.post("/services/cycle-" + std::to_string(i) + "/stop"), "stop cycle");
  };
  auto cycle = measure(
      options, bare_url, bare_runs,
      start_stop_target(fmt::format("POST start/stop ({} instances)", cycle_instances), base + "/",
                        "cycle-", per_thread, "/services/", stop_cycle_instances));
  cycle.note = "transitions/s";
  auto echo = measure(
      options, bare_url, bare_runs,
      {"POST /services/{name}/echo", base + "/services/bench/echo", wrk_script("echo.lua")});

  // 3. Many instances, registered one after another on one connection. The
  // same requests to the bare server first give the floor: the client, HTTP
  // and loopback part of a sequential request.
  double floor_seconds = 0;
  {
    HttpClient bare_client{bare_port};
    auto floor_begin = Clock::now();
    for (int i = 0; i < options.instances; ++i) {
      auto body = fmt::format(R"({{"service_name":"echo","instance_name":"inst-{:05d}"}})", i);
      expect_ok(bare_client.post_raw("/services/register", body), "bare POST");
    }
    floor_seconds = std::chrono::duration<double>(Clock::now() - floor_begin).count();
  }
  std::cout << fmt::format("  {} sequential POSTs to the bare server in {:.3f} s\n",
                           options.instances, floor_seconds);
  auto connections_before = api.connections();
  std::string last_name;
  std::vector<double> registration_ms;
  registration_ms.reserve(static_cast<std::size_t>(options.instances));
  auto begin = Clock::now();
  for (int i = 0; i < options.instances; ++i) {
    last_name = fmt::format("inst-{:05d}", i);
    auto body = R"({"service_name":"echo","instance_name":")" + last_name + "\"}";
    auto sent = Clock::now();
    auto reply = api.post_raw("/services/register", body);
    registration_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
    if (reply.status != 200)
      throw std::runtime_error(
          fmt::format("registration {} ({}): {} {}", i, last_name, reply.status, reply.body));
  }
  double registration_seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  long registration_connections = api.connections() - connections_before;
  std::sort(registration_ms.begin(), registration_ms.end());
  auto registration_percentile = [&](double fraction) {
    auto index =
        static_cast<std::size_t>(fraction * static_cast<double>(registration_ms.size() - 1));
    return registration_ms[index];
  };
  std::cout << fmt::format(
                   "  {} registrations in {:.3f} s ({} new connection(s)), per request p50 {} p99 "
                   "{} max {}\n",
                   options.instances, registration_seconds, registration_connections,
                   format_latency(registration_percentile(0.5)),
                   format_latency(registration_percentile(0.99)),
                   format_latency(registration_ms.back()))
            << std::flush;
  auto status_many =
      measure(options, bare_url, bare_runs,
              {fmt::format("GET /services/{{name}} ({} instances, last)", options.instances),
               base + "/services/" + last_name});

  auto load_at_end = machine_load();
  auto stopped = stop_server(server);
  bare_server.stop();

  // 4. The table and the aims.
  Figure bare{"baseline: bare RESTinio, same settings", median_run(bare_runs), 1.0,
              fmt::format("median of {} runs", bare_runs.size())};
  std::cout << "\n"
            << fmt::format("{:<46} {:>10} {:>9} {:>9} {:>10}  {}\n", "figure", "req/s", "p50",
                           "p99", "/baseline", "notes");
  for (const Figure* figure : {&bare, &status_one, &list_one, &cycle, &echo, &status_many}) {
    const auto& m = figure->measurement;
    std::string notes = figure->note;
    auto add = [&notes](const std::string& text) { notes += (notes.empty() ? "" : "; ") + text; };
    if (m.non_2xx > 0) add(fmt::format("{} non-2xx of {}", m.non_2xx, m.requests));
    if (!m.socket_errors.empty()) add(m.socket_errors);
    if (!m.script_line.empty()) add(m.script_line);
    std::cout << fmt::format("{:<46} {:>10.0f} {:>9} {:>9} {:>9.2f}x  {}\n", figure->name,
                             m.requests_per_second, format_latency(m.p50_ms),
                             format_latency(m.p99_ms), figure->ratio, notes);
  }
  std::cout << fmt::format(
      "{:<46} {:>10.0f}   total {:.3f} s, {} new connection(s), p50 {}, p99 {}\n",
      fmt::format("registration: {} x POST /services/register", options.instances),
      options.instances / registration_seconds, registration_seconds, registration_connections,
      format_latency(registration_percentile(0.5)), format_latency(registration_percentile(0.99)));
  std::cout << fmt::format("{:<46} {:>10.0f}   total {:.3f} s: the floor of the registration\n",
                           fmt::format("same POSTs, sequential, to the bare server"),
                           options.instances / floor_seconds, floor_seconds);

  std::cout << fmt::format(
      "\nreq/s, p50 and p99 are those of the figure's median run; /baseline is the median, over\n"
      "rounds, of the figure's req/s divided by that of the baseline run next to it. A\n"
      "request to the server crosses threads (RESTinio -> CAF worker -> RESTinio), the\n"
      "baseline's does not, so on a busy machine the ratios fall: see the load above.\n"
      "The start/stop figure: {} echo instances, one idle per wrk connection plus one spare\n"
      "per wrk thread; the script sends an instance's next transition only after its previous\n"
      "one was answered (the reply comes when the transition has finished), so every request\n"
      "is a real start or stop and none is refused (409: see non-2xx). Alternating on ONE\n"
      "instance from {} connections would mostly measure cheap 409 refusals instead. Its wrk\n"
      "script runs Lua per request and per response, which the other figures do not.\n",
      cycle_instances, options.connections);

  struct Aim {
    std::string text;
    bool met;
    std::string value;
  };
  const double many_vs_one = status_many.ratio / status_one.ratio;
  std::vector<Aim> aims{
      {"GET /services/{name} >= 0.6x the bare baseline", status_one.ratio >= 0.6,
       fmt::format("{:.2f}x", status_one.ratio)},
      {"GET /services >= 0.6x the bare baseline", list_one.ratio >= 0.6,
       fmt::format("{:.2f}x", list_one.ratio)},
      {fmt::format("GET /services/{{name}} with {} instances >= 0.9x the 1-instance rate",
                   options.instances),
       many_vs_one >= 0.9,
       fmt::format("{:.2f}x (each against its baseline runs; raw req/s ratio {})", many_vs_one,
                   ratio(status_many.measurement.requests_per_second,
                         status_one.measurement.requests_per_second))},
      {fmt::format("{} registrations < 2 s", options.instances), registration_seconds < 2.0,
       fmt::format("{:.3f} s", registration_seconds)},
  };
  std::cout << "\nAims:\n";
  bool all_met = true;
  for (const auto& aim : aims) {
    all_met = all_met && aim.met;
    std::cout << fmt::format("  [{}] {}: {}\n", aim.met ? "met   " : "MISSED", aim.text, aim.value);
  }
  std::cout << "\nServer: " << stopped << "\nMachine at the end: " << load_at_end << "\n";
  std::cout << (all_met ? "All aims met.\n" : "Some aims missed.\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  return benchmark_main(
      argc, argv, "rest_benchmark", options, [&] { return run(options); },
      "[--instances N (10000)]",
      [&](int& i) {
        if (std::string_view{argv[i]} != "--instances") return false;
        options.instances = parse_number(argc, argv, i, 1, 1'000'000);
        return true;
      });
}
