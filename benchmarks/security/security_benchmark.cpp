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
// And the limit of https: bare RESTinio handlers in this process
// (support/bare_servers.hpp), one over TLS with the https server's
// certificate and protocol floor, one over plain HTTP; the cipher each
// negotiates is printed.
// Figures: GET /services/bench (a status read) with `--connections`
// connections (throughput), and with one connection (wrk -c1 -t1: p50 and
// p99 latency), for token and https against plain (the old baseline),
// https against the bare TLS handler (its limit), and the bare TLS handler
// against the bare HTTP one (what encryption alone costs).
//
// The machine may be shared, so every figure is measured in rounds, each
// running its references right next to the figure (in alternating order);
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
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <processpype/testing/probed_server.hpp>
#include <processpype/testing/server.hpp>
#include <processpype/testing/tls.hpp>

#include "bare_servers.hpp"
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

/// A figure's ratios to one reference: medians over rounds of figure /
/// reference (for latencies, above 1.00x is slower).
struct Ratios {
  double throughput = 1;
  double p50 = 1;
  double p99 = 1;
};

struct Result {
  std::string name;
  Measurement measurement;     ///< the figure's median run (by req/s)
  std::vector<Ratios> ratios;  ///< one per reference, in their order
};

struct Reference {
  const Target* target;
  std::vector<Measurement>* runs;  ///< every run of it is appended
};

/// `options.runs` rounds, each running every reference and the figure back
/// to back (the figure last in even rounds, first in odd ones).
Result measure(const WrkOptions& options, const Target& figure,
               const std::vector<Reference>& references) {
  std::vector<Measurement> runs;
  std::vector<std::vector<double>> throughput(references.size()), p50(references.size()),
      p99(references.size());
  for (int round = 0; round < options.runs; ++round) {
    auto label = fmt::format("{}/{}", round + 1, options.runs);
    auto measure_one = [&](const Target& target) {
      auto run = run_wrk_with(options, target.url, target.headers);
      print_run(target.name, label, run);
      return run;
    };
    std::vector<Measurement> round_runs(references.size());
    auto measure_references = [&](bool reversed) {
      for (std::size_t k = 0; k < references.size(); ++k) {
        auto i = reversed ? references.size() - 1 - k : k;
        round_runs[i] = measure_one(*references[i].target);
        references[i].runs->push_back(round_runs[i]);
      }
    };
    if (round % 2 == 0) {
      measure_references(false);
      runs.push_back(measure_one(figure));
    } else {
      runs.push_back(measure_one(figure));
      measure_references(true);
    }
    for (std::size_t i = 0; i < references.size(); ++i) {
      throughput[i].push_back(runs.back().requests_per_second / round_runs[i].requests_per_second);
      p50[i].push_back(runs.back().p50_ms / round_runs[i].p50_ms);
      p99[i].push_back(runs.back().p99_ms / round_runs[i].p99_ms);
    }
  }
  Result result{figure.name, median_run(runs), {}};
  for (std::size_t i = 0; i < references.size(); ++i)
    result.ratios.push_back(Ratios{median(throughput[i]), median(p50[i]), median(p99[i])});
  return result;
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

  // The limits: bare RESTinio handlers in this process, plain and over TLS
  // with the https server's certificate (the cost of encryption alone).
  auto bare_plain_port = free_port();
  BareServer bare_plain{static_cast<std::uint16_t>(bare_plain_port)};
  bare_plain.start();
  auto bare_tls_port = free_port();
  BareServer bare_tls{static_cast<std::uint16_t>(bare_tls_port),
                      BareTls{pki.certificate("server"), pki.key("server")}};
  bare_tls.start();
  std::cout << fmt::format("negotiated: https server {}; bare TLS handler {}\n\n",
                           negotiated_cipher(https->port()), negotiated_cipher(bare_tls_port));

  const std::string path = "/services/bench";
  const Target plain_target{
      "plain HTTP (baseline)", fmt::format("http://127.0.0.1:{}{}", plain->port(), path), {}};
  const Target token_target{"HTTP + read token",
                            fmt::format("http://127.0.0.1:{}{}", token->port(), path),
                            {"Authorization: Bearer " + read_token}};
  const Target https_target{
      "HTTPS keep-alive", fmt::format("https://127.0.0.1:{}{}", https->port(), path), {}};
  const Target bare_plain_target{"(bare RESTinio handler, HTTP)",
                                 fmt::format("http://127.0.0.1:{}{}", bare_plain_port, path),
                                 {}};
  const Target bare_tls_target{"(limit: bare RESTinio handler, TLS)",
                               fmt::format("https://127.0.0.1:{}{}", bare_tls_port, path),
                               {}};

  WrkOptions one = options;
  one.threads = 1;
  one.connections = 1;
  struct Runs {
    std::vector<Measurement> plain, bare_plain, bare_tls;
  };
  Runs many_runs, one_runs;
  struct Figures {
    Result token, https, encryption;
  };
  auto measure_all = [&](const WrkOptions& wrk, Runs& runs) {
    return Figures{measure(wrk, token_target, {{&plain_target, &runs.plain}}),
                   measure(wrk, https_target,
                           {{&plain_target, &runs.plain}, {&bare_tls_target, &runs.bare_tls}}),
                   measure(wrk, bare_tls_target, {{&bare_plain_target, &runs.bare_plain}})};
  };
  std::cout << fmt::format("GET {} with {} connections, {} threads:\n", path, options.connections,
                           options.threads);
  auto many = measure_all(options, many_runs);
  std::cout << fmt::format("\nGET {} with one connection (wrk -t1 -c1):\n", path);
  auto single = measure_all(one, one_runs);

  auto load_at_end = machine_load();
  auto stopped_plain = stop(*plain);
  auto stopped_token = stop(*token);
  auto stopped_https = stop(*https);

  // The table.
  auto ratio_text = [](double value) { return fmt::format("{:.2f}x", value); };
  std::cout << "\n"
            << fmt::format("{:<44} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8} {:>8}\n",
                           "figure", "req/s", "p50", "p99", "req/s /b", "p50 /b", "p99 /b",
                           "req/s /l", "p50 /l", "p99 /l");
  auto row = [&](const std::string& name, const Measurement& m, const Ratios& baseline,
                 const std::optional<Ratios>& limit) {
    auto limit_text = [&](double Ratios::*field) {
      return limit ? ratio_text((*limit).*field) : std::string{"-"};
    };
    std::cout << fmt::format(
        "{:<44} {:>9.0f} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8} {:>8}\n", name,
        m.requests_per_second, format_latency(m.p50_ms), format_latency(m.p99_ms),
        ratio_text(baseline.throughput), ratio_text(baseline.p50), ratio_text(baseline.p99),
        limit_text(&Ratios::throughput), limit_text(&Ratios::p50), limit_text(&Ratios::p99));
  };
  auto rows = [&](const std::string& suffix, const Runs& runs, const Figures& figures) {
    row("plain HTTP (baseline)" + suffix, median_run(runs.plain), {}, std::nullopt);
    row("HTTP + read token" + suffix, figures.token.measurement, figures.token.ratios[0],
        std::nullopt);
    row("HTTPS keep-alive" + suffix, figures.https.measurement, figures.https.ratios[0],
        figures.https.ratios[1]);
    row("bare handler, HTTP" + suffix, median_run(runs.bare_plain), {}, std::nullopt);
    row("bare handler, TLS (the limit)" + suffix, figures.encryption.measurement,
        figures.encryption.ratios[0], std::nullopt);
  };
  rows(fmt::format(", {} conn.", options.connections), many_runs, many);
  rows(", 1 conn.", one_runs, single);
  std::cout << fmt::format(
      "\nreq/s, p50 and p99 are those of a figure's median run; /b is the median, over {}\n"
      "rounds, of the figure's value divided by that of its baseline run next to it: the\n"
      "plain-HTTP server for the token and HTTPS figures, the bare HTTP handler for the bare\n"
      "TLS handler (the cost of encryption alone); /l, of HTTPS divided by the bare TLS\n"
      "handler with the same certificate (its limit). For latencies, above 1.00x is slower.\n"
      "The token figure sends the read token with every request; the HTTPS figures pay one\n"
      "handshake per connection (keep-alive).\n",
      options.runs);

  struct Aim {
    std::string text;
    bool met;
    std::string value;
  };
  // A latency aim "r x the baseline's speed" is a latency of at most 1/r x.
  auto latency_aim = [](double ratio, double aim) { return ratio <= 1.0 / aim; };
  const auto& token_many = many.token.ratios[0];
  const auto& token_one = single.token.ratios[0];
  const auto& https_many = many.https.ratios[0];
  const auto& https_one = single.https.ratios[0];
  const auto& https_many_limit = many.https.ratios[1];
  const auto& https_one_limit = single.https.ratios[1];
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
      {fmt::format("HTTPS, {} connections: req/s >= 0.9x the bare TLS handler",
                   options.connections),
       https_many_limit.throughput >= 0.9, ratio_text(https_many_limit.throughput)},
      {"HTTPS, 1 connection: p50 <= 1.15x the bare TLS handler's", https_one_limit.p50 <= 1.15,
       ratio_text(https_one_limit.p50)},
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
