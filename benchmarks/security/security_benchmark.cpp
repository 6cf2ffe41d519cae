// security_benchmark: what the security of the REST API (docs/security.md) costs,
// measured with wrk on the real `processpype` binary, as ratios to plain
// HTTP without authentication measured in the same run.
//
// Three servers, each with a running `echo` instance `bench`:
//  - plain:  HTTP, no tokens (the baseline);
//  - token:  HTTP with an admin and a read token (--admin-token-file,
//            --read-token-file); wrk sends the read token with -H;
//  - https:  server.tls with a certificate of a throwaway CA made by the
//            `openssl` command in a temporary directory; wrk keeps its
//            connections alive, so a handshake is paid once per connection.
// Figures: GET /services/bench (a status read) with `--connections`
// connections (throughput), and with one connection (wrk -c1 -t1: p50 and
// p99 latency), for token and https, each against plain.
//
// The machine may be shared, so every figure is measured in rounds, each a
// baseline run right next to a run of the figure (in alternating order);
// a figure's ratio is the median of the rounds' ratios.
//
// Usage: security_benchmark [--duration S (3)] [--runs ROUNDS (5)] [--threads N (2)]
//                           [--connections N (32)]
// wrk comes from the PATH, or WRK=/path/to/wrk (built with OpenSSL, as
// Debian's is, for https:// URLs). Exit code 0 when the run completed (the
// aims are printed, met or not), 1 on a failure, 2 on usage. Every child
// is killed when the benchmark ends; loopback only; every wait is bounded.

#include <algorithm>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <processpype/testing/probed_server.hpp>
#include <processpype/testing/server.hpp>
#include <processpype/testing/tls.hpp>

#include "benchmark_support.hpp"

namespace {

using namespace processpype::benchmark;
using namespace processpype::testing;

const std::string admin_token = "bench-admin-5f1c9a7e3b";
const std::string read_token = "bench-read-8d2e4b6a0c";

/// One wrk run with extra headers (-H); as run_wrk otherwise.
Measurement run_wrk_with(const WrkOptions& options, const std::string& url,
                         const std::vector<std::string>& headers) {
  std::vector<std::string> args{"-t" + std::to_string(options.threads),
                                "-c" + std::to_string(options.connections),
                                "-d" + std::to_string(options.duration_seconds) + "s",
                                "--latency",
                                "--timeout",
                                "10s"};
  for (const auto& header : headers) args.insert(args.end(), {"-H", header});
  args.push_back(url);
  ChildProcess wrk{options.wrk, args};
  auto status = wrk.wait(std::chrono::seconds(options.duration_seconds + 30));
  if (status.timed_out()) wrk.kill();
  auto output = wrk.stdout_text() + wrk.stderr_text();
  if (status.timed_out()) throw std::runtime_error("wrk did not finish in time:\n" + output);
  if (!status.exited || status.code != 0)
    throw std::runtime_error("wrk " + status.describe() + ":\n" + output);
  auto measurement = parse_wrk_output(output);
  if (measurement.non_2xx > 0 || measurement.requests == 0)
    throw std::runtime_error(fmt::format("{}: {} non-2xx of {} requests", url, measurement.non_2xx,
                                         measurement.requests));
  return measurement;
}

struct Target {
  std::string name;
  std::string url;
  std::vector<std::string> headers;
};

struct Result {
  std::string name;
  Measurement measurement;  ///< the figure's median run (by req/s)
  double throughput = 1;    ///< median of the rounds' req/s ratios
  double p50 = 1;           ///< median of the rounds' p50 ratios (figure / baseline)
  double p99 = 1;
};

/// `options.runs` rounds of a baseline run next to a figure run.
Result measure(const WrkOptions& options, const Target& baseline, const Target& figure,
               std::vector<Measurement>& baseline_runs) {
  std::vector<Measurement> runs;
  std::vector<double> throughput, p50, p99;
  for (int round = 0; round < options.runs; ++round) {
    auto label = fmt::format("{}/{}", round + 1, options.runs);
    Measurement base, run;
    auto measure_baseline = [&] {
      base = run_wrk_with(options, baseline.url, baseline.headers);
      print_run(baseline.name, label, base);
    };
    auto measure_figure = [&] {
      run = run_wrk_with(options, figure.url, figure.headers);
      print_run(figure.name, label, run);
    };
    if (round % 2 == 0) {
      measure_baseline();
      measure_figure();
    } else {
      measure_figure();
      measure_baseline();
    }
    baseline_runs.push_back(base);
    runs.push_back(run);
    throughput.push_back(run.requests_per_second / base.requests_per_second);
    p50.push_back(run.p50_ms / base.p50_ms);
    p99.push_back(run.p99_ms / base.p99_ms);
  }
  return Result{figure.name, median_run(runs), median(throughput), median(p50), median(p99)};
}

/// A server on a free port with a running echo instance `bench`.
std::unique_ptr<ProbedServer> start_server(
    const std::string& name, std::vector<std::string> args, std::function<bool(int)> ready,
    std::function<HttpResponse(int port, const std::string&, const std::string&)> admin_post) {
  ProbedServerOptions options;
  options.args = {"--log-level", "error"};
  options.args.insert(options.args.end(), args.begin(), args.end());
  options.ready = std::move(ready);
  options.output = Output::inherit;
  options.attempts = 3;
  options.name = name;
  auto server = std::make_unique<ProbedServer>(options);
  expect_ok(admin_post(server->port(), "/services/register",
                       R"({"service_name":"echo","instance_name":"bench"})"),
            name + ": register bench");
  expect_ok(admin_post(server->port(), "/services/bench/start", ""), name + ": start bench");
  return server;
}

std::string stop(ProbedServer& server) {
  auto begin = Clock::now();
  auto status = server.stop(SIGTERM, 60s);
  if (status.timed_out()) return "did not stop within 60 s of SIGTERM: killed";
  return fmt::format("{}, {:.2f} s after SIGTERM", status.describe(),
                     std::chrono::duration<double>(Clock::now() - begin).count());
}

int run(const WrkOptions& options) {
  begin_run("security_benchmark", options, "a plain-HTTP baseline run next to a run of the figure");
  std::cout << std::endl;

  // The certificates, in a temporary directory removed at the end (or by
  // the termination handlers).
  TestPki pki;
  pki.make_ca("ca");
  pki.make_server("server", "ca", 1001);
  TlsClientOptions trust;
  trust.ca_file = pki.certificate("ca");
  auto tokens_admin = pki.write("admin.token", admin_token + "\n");
  auto tokens_read = pki.write("read.token", read_token + "\n");
  auto tls_config =
      pki.write("tls.yaml", "server:\n  tls:\n    certificate: " + pki.certificate("server") +
                                "\n    key: " + pki.key("server") + "\n");

  auto plain_post = [](int port, const std::string& path, const std::string& body) {
    HttpClient client(port);
    return client.request("POST", path, body);
  };
  auto token_post = [](int port, const std::string& path, const std::string& body) {
    HttpClient client(port);
    return client.request("POST", path, body, {"Authorization: Bearer " + admin_token});
  };
  auto https_post = [trust](int port, const std::string& path, const std::string& body) {
    HttpsClient client(port, trust);
    return client.request("POST", path, body);
  };
  auto https_ready = [trust](int port) {
    HttpsClient probe(port, trust, 1s);
    return probe.get("/health/ready").status == 200;
  };

  auto plain = start_server("plain", {}, http_ready, plain_post);
  auto token =
      start_server("token", {"--admin-token-file", tokens_admin, "--read-token-file", tokens_read},
                   http_ready, token_post);
  auto https = start_server("https", {"--config", tls_config}, https_ready, https_post);

  // The figures measure what they say: the token is checked, HTTPS is served.
  {
    HttpClient client(token->port());
    auto refused = client.get("/services/bench");
    if (refused.status != 401)
      throw std::runtime_error("token server without a token: " + refused.describe());
    expect_ok(client.request("GET", "/services/bench", std::nullopt,
                             {"Authorization: Bearer " + read_token}),
              "token server with the read token");
    HttpsClient secure(https->port(), trust);
    expect_ok(secure.get("/services/bench"), "https server");
  }

  const std::string path = "/services/bench";
  const Target plain_target{
      "plain HTTP (baseline)", fmt::format("http://127.0.0.1:{}{}", plain->port(), path), {}};
  const Target token_target{"HTTP + read token",
                            fmt::format("http://127.0.0.1:{}{}", token->port(), path),
                            {"Authorization: Bearer " + read_token}};
  const Target https_target{
      "HTTPS keep-alive", fmt::format("https://127.0.0.1:{}{}", https->port(), path), {}};

  WrkOptions one = options;
  one.threads = 1;
  one.connections = 1;
  std::vector<Measurement> baseline_many, baseline_one;
  std::cout << fmt::format("GET {} with {} connections, {} threads:\n", path, options.connections,
                           options.threads);
  auto token_many = measure(options, plain_target, token_target, baseline_many);
  auto https_many = measure(options, plain_target, https_target, baseline_many);
  std::cout << fmt::format("\nGET {} with one connection (wrk -t1 -c1):\n", path);
  auto token_one = measure(one, plain_target, token_target, baseline_one);
  auto https_one = measure(one, plain_target, https_target, baseline_one);

  auto load_at_end = machine_load();
  auto stopped_plain = stop(*plain);
  auto stopped_token = stop(*token);
  auto stopped_https = stop(*https);

  // The table.
  std::cout << "\n"
            << fmt::format("{:<40} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "figure", "req/s",
                           "p50", "p99", "req/s /b", "p50 /b", "p99 /b");
  auto row = [](const std::string& name, const Measurement& m, const std::string& throughput,
                const std::string& p50, const std::string& p99) {
    std::cout << fmt::format("{:<40} {:>10.0f} {:>9} {:>9} {:>9} {:>9} {:>9}\n", name,
                             m.requests_per_second, format_latency(m.p50_ms),
                             format_latency(m.p99_ms), throughput, p50, p99);
  };
  auto ratio_text = [](double value) { return fmt::format("{:.2f}x", value); };
  row(fmt::format("baseline, {} connections", options.connections), median_run(baseline_many),
      "1.00x", "1.00x", "1.00x");
  for (const auto* result : {&token_many, &https_many})
    row(result->name + fmt::format(", {} connections", options.connections), result->measurement,
        ratio_text(result->throughput), ratio_text(result->p50), ratio_text(result->p99));
  row("baseline, 1 connection", median_run(baseline_one), "1.00x", "1.00x", "1.00x");
  for (const auto* result : {&token_one, &https_one})
    row(result->name + ", 1 connection", result->measurement, ratio_text(result->throughput),
        ratio_text(result->p50), ratio_text(result->p99));
  std::cout << fmt::format(
      "\nreq/s, p50 and p99 are those of a figure's median run; /b is the median, over {}\n"
      "rounds, of the figure's value divided by that of the plain-HTTP run next to it\n"
      "(for latencies, above 1.00x is slower). The token figure sends the read token with\n"
      "every request; the HTTPS figure pays one handshake per connection (keep-alive).\n",
      options.runs);

  struct Aim {
    std::string text;
    bool met;
    std::string value;
  };
  // A latency aim "r x the baseline's speed" is a latency of at most 1/r x.
  auto latency_aim = [](double ratio, double aim) { return ratio <= 1.0 / aim; };
  std::vector<Aim> aims{
      {fmt::format("token, {} connections: req/s >= 0.95x", options.connections),
       token_many.throughput >= 0.95, ratio_text(token_many.throughput)},
      {"token, 1 connection: req/s >= 0.95x", token_one.throughput >= 0.95,
       ratio_text(token_one.throughput)},
      {"token, 1 connection: p50 <= 1/0.95 = 1.05x", latency_aim(token_one.p50, 0.95),
       ratio_text(token_one.p50)},
      {"token, 1 connection: p99 <= 1.05x", latency_aim(token_one.p99, 0.95),
       ratio_text(token_one.p99)},
      {fmt::format("HTTPS keep-alive, {} connections: req/s >= 0.7x", options.connections),
       https_many.throughput >= 0.7, ratio_text(https_many.throughput)},
      {"HTTPS keep-alive, 1 connection: req/s >= 0.7x", https_one.throughput >= 0.7,
       ratio_text(https_one.throughput)},
      {"HTTPS keep-alive, 1 connection: p50 <= 1/0.7 = 1.43x", latency_aim(https_one.p50, 0.7),
       ratio_text(https_one.p50)},
      {"HTTPS keep-alive, 1 connection: p99 <= 1.43x", latency_aim(https_one.p99, 0.7),
       ratio_text(https_one.p99)},
  };
  std::cout << "\nAims:\n";
  bool all_met = true;
  for (const auto& aim : aims) {
    all_met = all_met && aim.met;
    std::cout << fmt::format("  [{}] {}: {}\n", aim.met ? "met   " : "MISSED", aim.text, aim.value);
  }
  std::cout << fmt::format("\nServers: plain {}; token {}; https {}\nMachine at the end: {}\n",
                           stopped_plain, stopped_token, stopped_https, load_at_end);
  std::cout << (all_met ? "All aims met.\n" : "Some aims missed.\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  WrkOptions options;
  return benchmark_main(argc, argv, "security_benchmark", options, [&] { return run(options); });
}
