// What only the wrk-based benchmarks (rest/, cluster/) share: their options,
// main(), wrk runs and their output, the Lua scripts in benchmarks/scripts/,
// and rounds that alternate a baseline with a figure (median of the rounds'
// ratios). Processes, ports, the HTTP client and the server come from the
// harness processpype_testing (tests/support).
//
// Every wait is bounded; everything listens on and talks to 127.0.0.1 only.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <processpype/testing/server.hpp>

namespace processpype::benchmark {

// -- options -------------------------------------------------------------------

/// How wrk is run, and how many rounds each figure gets.
struct WrkOptions {
  std::string wrk = "wrk";  ///< from the PATH, or WRK=/path/to/wrk (see benchmark_main)
  int threads = 2;
  int connections = 32;
  int duration_seconds = 3;
  int runs = 5;
};

/// The value after argv[index] (index moves to it), an integer within
/// [minimum, maximum]; std::invalid_argument otherwise.
int parse_number(int argc, char** argv, int& index, int minimum, int maximum);

/// A benchmark's main(): fills `options` from WRK in the environment and
/// from the arguments (--duration, --threads, --connections, --runs, and
/// the options `extra` takes: it gets the index of an argument, moves it past
/// a value it reads with parse_number, and says whether it took the
/// argument); on --help, -h or a bad option prints "<name>: <what>" and the
/// usage (`extra_usage` documents `extra`'s options), exit code 2. Then
/// installs the termination handlers (SIGINT, SIGTERM, ... kill every child:
/// see testing::install_termination_handlers) and returns `run`'s exit code,
/// or 1 after printing an exception.
int benchmark_main(int argc, char** argv, std::string_view name, WrkOptions& options,
                   const std::function<int()>& run, std::string_view extra_usage = {},
                   const std::function<bool(int& index)>& extra = {});

/// The start of a run: std::runtime_error unless wrk, the server binary and
/// the Lua scripts are there; then prints "<name>: wrk -t.. -c.. -d..s
/// --latency; N round(s) per figure, each <rounds>", the server binary and
/// the machine's load.
void begin_run(std::string_view name, const WrkOptions& options, std::string_view rounds);

/// ServerOptions for a benchmark's server: --log-level error, its output on
/// the benchmark's, 15 s to become ready, 3 attempts (a free port may be
/// taken in between); `name` is used in messages ("node a").
testing::ServerOptions server_options(std::string name = "the server");

/// Stops `server` (SIGTERM, then SIGKILL after 60 s) and says how it ended.
std::string stop_server(testing::ServerProcess& server);

// -- wrk -----------------------------------------------------------------------

struct Measurement {
  double requests_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  long requests = 0;
  long non_2xx = 0;
  std::string socket_errors;  ///< wrk's line, empty when none
  std::string script_line;    ///< a line a Lua script's done() printed
};

/// wrk --latency's output → a Measurement; std::runtime_error if the rate
/// or a percentile is missing.
Measurement parse_wrk_output(const std::string& output);

/// The path of a Lua script in benchmarks/scripts/ ("echo.lua").
std::string wrk_script(std::string_view name);

/// One wrk run (bounded: killed if it outlives its duration by 30 s);
/// `script_args` follow the URL after `--` (the script's init(args)).
Measurement run_wrk(const WrkOptions& options, const std::string& url, const std::string& script,
                    const std::vector<std::string>& script_args = {});

/// 0.25 → "250us", 12.3 → "12.30ms".
std::string format_latency(double ms);

/// "1.23x" (value / reference), "-" without a reference.
std::string ratio(double value, double reference);

/// "load average 1.23 (1 min), 2 CPUs", from /proc/loadavg; the figures
/// mean little when other work competes for the CPUs.
std::string machine_load();

// -- rounds: a baseline next to a figure ------------------------------------------

/// What one wrk run measures.
struct WrkTarget {
  std::string name{};  ///< printed with each run
  std::string url{};
  std::string script{};                    ///< a Lua script's path, or empty
  std::vector<std::string> script_args{};  ///< the script's arguments
  std::function<void()> prepare{};         ///< if set, runs before each run
};

struct Figure {
  std::string name;
  Measurement measurement;  ///< the run with the median requests/s
  double ratio = 1.0;       ///< median over rounds of (this run / its baseline run)
  std::string note;
};

double median(std::vector<double> values);

/// The run with the median requests/s (the lower one of an even count).
Measurement median_run(std::vector<Measurement> runs);

void print_run(const std::string& name, const std::string& label, const Measurement& run);

/// The machine is shared, so its speed drifts over seconds: a figure is
/// measured in `options.runs` rounds, each a baseline run right next to a run
/// of the figure (in alternating order), and its ratio to the baseline is the
/// median of the rounds' ratios. Every baseline run is appended to
/// `baseline_runs`.
Figure measure_against(const WrkOptions& options, const WrkTarget& baseline,
                       std::vector<Measurement>& baseline_runs, const WrkTarget& figure);

/// What a figure is compared with: its old baseline, its physical limit...
/// Every run of `target` is appended to `runs`.
struct Reference {
  const WrkTarget* target;
  std::vector<Measurement>* runs;
};

/// A figure next to each of its references.
struct Compared {
  Figure figure;               ///< its ratio: to the first reference
  std::vector<double> ratios;  ///< per reference: median over rounds of figure / reference req/s
  std::vector<double> p50_ratios;  ///< per reference: median over rounds of figure / reference p50
};

/// As measure_against, with several references: each of `options.runs`
/// rounds runs every reference and the figure back to back (the figure last
/// in even rounds, first in odd ones, the references reversed), so that
/// each ratio comes from runs seconds apart.
Compared measure_beside(const WrkOptions& options, const WrkTarget& figure,
                        const std::vector<Reference>& references);

// -- the start/stop cycle (scripts/start_stop.lua) --------------------------------

/// The instances per wrk thread that start_stop.lua needs: one idle
/// instance per connection plus one spare.
inline int start_stop_instances_per_thread(const WrkOptions& options) {
  return options.connections / options.threads + 1;
}

/// start_stop.lua over instances `<prefix>0` .. `<prefix>N-1` (N =
/// per_thread x wrk threads) under `services_path` ("/services/", or
/// "/nodes/<id>/services/" for another node); see the script.
WrkTarget start_stop_target(std::string name, std::string url, const std::string& prefix,
                            int per_thread, const std::string& services_path = "/services/",
                            std::function<void()> prepare = {});

}  // namespace processpype::benchmark
