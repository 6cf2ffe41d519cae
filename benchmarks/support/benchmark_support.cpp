#include "benchmark_support.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#ifndef PROCESSPYPE_BENCHMARK_SCRIPTS_DIR
#error "PROCESSPYPE_BENCHMARK_SCRIPTS_DIR must name benchmarks/scripts"
#endif

namespace processpype::benchmark {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// "250.00us" → 0.25 (milliseconds).
std::optional<double> to_milliseconds(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  if (digits == 0) return std::nullopt;
  double value = std::strtod(std::string{text.substr(0, digits)}.c_str(), nullptr);
  auto unit = text.substr(digits);
  if (unit == "us") return value / 1000.0;
  if (unit == "ms") return value;
  if (unit == "s") return value * 1000.0;
  if (unit == "m") return value * 60'000.0;
  if (unit == "h") return value * 3'600'000.0;
  return std::nullopt;
}

std::string trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(" \t\r");
  return std::string{text.substr(first, last - first + 1)};
}

}  // namespace

// -- options -------------------------------------------------------------------

int parse_number(int argc, char** argv, int& index, int minimum, int maximum) {
  if (index + 1 >= argc) throw std::invalid_argument(std::string{argv[index]} + " needs a value");
  int value = std::atoi(argv[++index]);
  if (value < minimum || value > maximum)
    throw std::invalid_argument(
        fmt::format("{} must be within [{}, {}]", argv[index - 1], minimum, maximum));
  return value;
}

namespace {

void parse_arguments(int argc, char** argv, WrkOptions& options,
                     const std::function<bool(int& index)>& extra) {
  if (const char* wrk = std::getenv("WRK"); wrk != nullptr && *wrk != '\0') options.wrk = wrk;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--duration")
      options.duration_seconds = parse_number(argc, argv, i, 1, 600);
    else if (arg == "--threads")
      options.threads = parse_number(argc, argv, i, 1, 64);
    else if (arg == "--connections")
      options.connections = parse_number(argc, argv, i, 1, 1000);
    else if (arg == "--runs")
      options.runs = parse_number(argc, argv, i, 1, 21);
    else if (arg == "--help" || arg == "-h")
      throw std::invalid_argument("");
    else if (!extra || !extra(i))
      throw std::invalid_argument("unknown option " + std::string{arg});
  }
  if (options.connections < options.threads)
    throw std::invalid_argument("--connections must be at least --threads");
}

}  // namespace

int benchmark_main(int argc, char** argv, std::string_view name, WrkOptions& options,
                   const std::function<int()>& run, std::string_view extra_usage,
                   const std::function<bool(int& index)>& extra) {
  try {
    parse_arguments(argc, argv, options, extra);
  } catch (const std::invalid_argument& error) {
    if (*error.what() != '\0') std::cerr << name << ": " << error.what() << "\n";
    std::cerr << fmt::format(
        "usage: {} [--duration S (3)] [--runs ROUNDS (5)] [--threads N (2)]\n"
        "{:{}}[--connections N (32)]{}{}\n"
        "(wrk from the PATH, or WRK=/path/to/wrk)\n",
        name, "", name.size() + 8, extra_usage.empty() ? "" : " ", extra_usage);
    return 2;
  }
  testing::install_termination_handlers();
  try {
    return run();
  } catch (const std::exception& error) {
    std::cerr << name << ": " << error.what() << "\n";
  }
  return 1;
}

void begin_run(std::string_view name, const WrkOptions& options, std::string_view rounds) {
  if (!testing::find_program(options.wrk))
    throw std::runtime_error("cannot find wrk ('" + options.wrk +
                             "'): apt-get install -y wrk, or set WRK=/path/to/wrk");
  auto server = testing::server_binary();
  if (!testing::find_program(server))
    throw std::runtime_error("cannot find the server binary " + server +
                             ": build the processpype_server target");
  for (auto script : {"echo.lua", "start_stop.lua"})
    if (std::ifstream file{wrk_script(script)}; !file)
      throw std::runtime_error("cannot read the wrk script " + wrk_script(script));
  std::cout << fmt::format(
                   "{}: wrk -t{} -c{} -d{}s --latency; {} round(s) per figure, each {}\n"
                   "server: {}\nmachine: {}\n",
                   name, options.threads, options.connections, options.duration_seconds,
                   options.runs, rounds, server, machine_load())
            << std::flush;
}

testing::ServerOptions server_options(std::string name) {
  testing::ServerOptions options;
  options.args = {"--log-level", "error"};
  options.name = std::move(name);
  options.output = testing::Output::inherit;
  options.ready_timeout = 15s;
  options.attempts = 3;
  return options;
}

std::string stop_server(testing::ServerProcess& server) {
  auto begin = Clock::now();
  auto status = server.stop(SIGTERM, 60s);
  if (status.timed_out()) return "did not stop within 60 s of SIGTERM: killed";
  return fmt::format("{}, {:.2f} s after SIGTERM", status.describe(),
                     std::chrono::duration<double>(Clock::now() - begin).count());
}

// -- wrk -----------------------------------------------------------------------

Measurement parse_wrk_output(const std::string& output) {
  Measurement result;
  bool have_rate = false, have_p50 = false, have_p99 = false;
  std::istringstream lines{output};
  std::string raw;
  while (std::getline(lines, raw)) {
    auto line = trim(raw);
    auto value_after = [&line](std::string_view prefix) -> std::optional<std::string> {
      if (!line.starts_with(prefix)) return std::nullopt;
      return trim(std::string_view{line}.substr(prefix.size()));
    };
    if (auto value = value_after("Requests/sec:")) {
      result.requests_per_second = std::strtod(value->c_str(), nullptr);
      have_rate = true;
    } else if (auto value = value_after("50%")) {
      if (auto ms = to_milliseconds(*value)) result.p50_ms = *ms, have_p50 = true;
    } else if (auto value = value_after("99%")) {
      if (auto ms = to_milliseconds(*value)) result.p99_ms = *ms, have_p99 = true;
    } else if (auto value = value_after("Non-2xx or 3xx responses:")) {
      result.non_2xx = std::strtol(value->c_str(), nullptr, 10);
    } else if (line.starts_with("Socket errors:")) {
      result.socket_errors = line;
    } else if (line.starts_with("script:")) {
      result.script_line = line;
    } else if (auto position = line.find(" requests in "); position != std::string::npos) {
      result.requests = std::strtol(line.c_str(), nullptr, 10);
    }
  }
  if (!have_rate || !have_p50 || !have_p99)
    throw std::runtime_error("cannot parse wrk's output:\n" + output);
  return result;
}

std::string wrk_script(std::string_view name) {
  return std::string{PROCESSPYPE_BENCHMARK_SCRIPTS_DIR} + "/" + std::string{name};
}

Measurement run_wrk(const WrkOptions& options, const std::string& url, const std::string& script,
                    const std::vector<std::string>& script_args) {
  std::vector<std::string> args{"-t" + std::to_string(options.threads),
                                "-c" + std::to_string(options.connections),
                                "-d" + std::to_string(options.duration_seconds) + "s",
                                "--latency",
                                "--timeout",
                                "10s"};
  if (!script.empty()) args.insert(args.end(), {"-s", script});
  args.push_back(url);
  if (!script_args.empty()) {
    args.push_back("--");
    args.insert(args.end(), script_args.begin(), script_args.end());
  }
  testing::ChildProcess wrk{options.wrk, args};
  auto status = wrk.wait(std::chrono::seconds(options.duration_seconds + 30));
  if (status.timed_out()) wrk.kill();
  auto output = wrk.stdout_text() + wrk.stderr_text();
  if (status.timed_out()) throw std::runtime_error("wrk did not finish in time:\n" + output);
  if (status.exited && status.code == 127)
    throw std::runtime_error("cannot run " + options.wrk + ": " + output);
  if (!status.exited || status.code != 0)
    throw std::runtime_error("wrk " + status.describe() + ":\n" + output);
  return parse_wrk_output(output);
}

std::string format_latency(double ms) {
  if (ms < 1.0) return fmt::format("{:.0f}us", ms * 1000.0);
  if (ms < 100.0) return fmt::format("{:.2f}ms", ms);
  return fmt::format("{:.0f}ms", ms);
}

std::string ratio(double value, double reference) {
  return reference > 0 ? fmt::format("{:.2f}x", value / reference) : "-";
}

std::string machine_load() {
  std::ifstream file{"/proc/loadavg"};
  double one_minute = -1;
  file >> one_minute;
  auto cpus = std::thread::hardware_concurrency();
  if (one_minute < 0) return fmt::format("{} CPUs", cpus);
  return fmt::format("load average {:.2f} (1 min) on {} CPUs{}", one_minute, cpus,
                     one_minute > cpus ? ": busy, expect noisy figures" : "");
}

// -- rounds ----------------------------------------------------------------------

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  auto middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

Measurement median_run(std::vector<Measurement> runs) {
  std::sort(runs.begin(), runs.end(), [](const Measurement& a, const Measurement& b) {
    return a.requests_per_second < b.requests_per_second;
  });
  return runs[(runs.size() - 1) / 2];
}

void print_run(const std::string& name, const std::string& label, const Measurement& run) {
  std::cout << fmt::format("  {:<46} {:<10} {:>9.0f} req/s  p50 {:>8}  p99 {:>8}", name, label,
                           run.requests_per_second, format_latency(run.p50_ms),
                           format_latency(run.p99_ms));
  if (run.non_2xx > 0) std::cout << fmt::format("  non-2xx {}", run.non_2xx);
  if (!run.socket_errors.empty()) std::cout << "  " << run.socket_errors;
  if (!run.script_line.empty()) std::cout << "  " << run.script_line;
  std::cout << std::endl;
}

Figure measure_against(const WrkOptions& options, const WrkTarget& baseline,
                       std::vector<Measurement>& baseline_runs, const WrkTarget& figure) {
  return measure_beside(options, figure, {{&baseline, &baseline_runs}}).figure;
}

Compared measure_beside(const WrkOptions& options, const WrkTarget& figure,
                        const std::vector<Reference>& references) {
  std::vector<Measurement> runs;
  std::vector<std::vector<double>> ratios(references.size()), p50_ratios(references.size());
  auto measure = [&options](const WrkTarget& target, const std::string& label) {
    if (target.prepare) target.prepare();
    auto run = run_wrk(options, target.url, target.script, target.script_args);
    print_run(target.name, label, run);
    return run;
  };
  for (int round = 0; round < options.runs; ++round) {
    auto label = fmt::format("{}/{}", round + 1, options.runs);
    std::vector<Measurement> round_runs(references.size());
    auto measure_references = [&](bool reversed) {
      for (std::size_t k = 0; k < references.size(); ++k) {
        auto i = reversed ? references.size() - 1 - k : k;
        round_runs[i] = measure(*references[i].target, label);
        references[i].runs->push_back(round_runs[i]);
      }
    };
    if (round % 2 == 0) {
      measure_references(false);
      runs.push_back(measure(figure, label));
    } else {
      runs.push_back(measure(figure, label));
      measure_references(true);
    }
    for (std::size_t i = 0; i < references.size(); ++i) {
      ratios[i].push_back(runs.back().requests_per_second / round_runs[i].requests_per_second);
      p50_ratios[i].push_back(runs.back().p50_ms / round_runs[i].p50_ms);
    }
  }
  Compared compared{Figure{figure.name, median_run(runs), 1.0, {}}, {}, {}};
  for (std::size_t i = 0; i < references.size(); ++i) {
    compared.ratios.push_back(median(ratios[i]));
    compared.p50_ratios.push_back(median(p50_ratios[i]));
  }
  if (!compared.ratios.empty()) compared.figure.ratio = compared.ratios.front();
  return compared;
}

WrkTarget start_stop_target(std::string name, std::string url, const std::string& prefix,
                            int per_thread, const std::string& services_path,
                            std::function<void()> prepare) {
  return WrkTarget{std::move(name),
                   std::move(url),
                   wrk_script("start_stop.lua"),
                   {prefix, std::to_string(per_thread), services_path},
                   std::move(prepare)};
}

}  // namespace processpype::benchmark
