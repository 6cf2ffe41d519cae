// state_benchmark: what the durable state store (state/, docs/state.md)
// costs, on a real file, each figure against a baseline of the same run:
//
//   - group commit: commands per second (a registration with its configure:
//     2 changes) with 1, 8 and 64 threads committing at once, for sync normal
//     and full; baseline: the same work on a tmpfs, where syncing is free
//   - pipelined: desired-state changes per second with 1,000 submissions in
//     flight through submit(), as actors submit; same baseline
//   - one commit's latency, p50 and p99 (one committer); same baseline
//   - load() of 100,000 configured instances (a typical 10-field
//     configuration), PRAGMA quick_check on that file; baseline: parsing the
//     same configurations' JSON alone
//   - the file's size per registered, configured instance (aim: <= 1 KiB)
//
//   state_benchmark [--quick] [--dir DIR] [--seconds S] [--rounds N]
//
// --dir: where the real files go (default: $TMPDIR or /tmp); the baseline
// uses /dev/shm. Rounds alternate baseline and figure; a ratio is the median
// of the rounds' ratios. --quick: one round of 0.3 s, 10,000 instances.
#include <linux/magic.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sqlite3.h>

#include "processpype/runtime/json_input.hpp"
#include "processpype/state/state_store.hpp"

namespace {

using namespace processpype::state;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  bool quick = false;
  std::filesystem::path disk;
  std::filesystem::path memory = "/dev/shm";
  double seconds = 1.0;
  int rounds = 3;
  std::size_t instances = 100000;
};

/// Ends the benchmark when a step did not do what it measures.
void require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "state_benchmark: %s\n", what);
  std::exit(1);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

double percentile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  return values.empty() ? 0 : values[index];
}

bool is_tmpfs(const std::filesystem::path& folder) {
  struct statfs info {};
  return ::statfs(folder.c_str(), &info) == 0 && info.f_type == TMPFS_MAGIC;
}

/// A folder of its own under `base`, removed at the end.
class ScratchFolder {
 public:
  explicit ScratchFolder(const std::filesystem::path& base) {
    auto pattern = (base / "state-benchmark.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("cannot create a folder in " + base.string());
    path_ = pattern;
  }
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void remove_database(const std::filesystem::path& file) {
  for (const auto* suffix : {"", "-wal", "-shm", ".lock"})
    std::filesystem::remove(file.string() + suffix);
}

/// A typical configure body: ten fields of the usual kinds (~250 bytes).
json typical_configuration(std::size_t n) {
  return {{"enabled", true},
          {"autostart", false},
          {"start_timeout_seconds", 60},
          {"stop_timeout_seconds", 30},
          {"host", "10.0.0." + std::to_string(n % 250)},
          {"port", 8000 + static_cast<int>(n % 1000)},
          {"interval_seconds", 2.5},
          {"tags", {"blue", "production"}},
          {"message", "hello from instance " + std::to_string(n)},
          {"depends_on", {"database"}}};
}

std::vector<Change> registration(const std::string& name, std::size_t n) {
  return {Registered{name, "worker", Origin::request}, Configured{name, typical_configuration(n)}};
}

// -- group commit -----------------------------------------------------------------

struct Throughput {
  double commands_per_second = 0;
  double changes_per_transaction = 0;
};

/// `committers` threads commit registrations (blocking, as REST handlers
/// wait for their command) for `seconds`.
Throughput group_commit(const std::filesystem::path& folder, SyncMode sync, int committers,
                        double seconds) {
  auto file = folder / "throughput.db";
  Throughput result;
  {
    auto store = StateStore::open({file, sync});
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> commands{0};
    std::vector<std::thread> threads;
    auto start = Clock::now();
    for (int thread = 0; thread < committers; ++thread)
      threads.emplace_back([&, thread] {
        for (std::size_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
          auto name = "c" + std::to_string(thread) + "-" + std::to_string(n);
          require(store->commit(registration(name, n)).saved, "a commit failed");
          commands.fetch_add(1, std::memory_order_relaxed);
        }
      });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measurement
    stop = true;
    for (auto& thread : threads) thread.join();
    auto elapsed = seconds_since(start);
    result.commands_per_second = static_cast<double>(commands.load()) / elapsed;
    result.changes_per_transaction =
        static_cast<double>(store->metrics().changes()) /
        static_cast<double>(std::max<std::uint64_t>(1, store->metrics().commits()));
  }
  remove_database(file);
  return result;
}

void print_group_commit(const Options& options, const std::filesystem::path& disk,
                        const std::filesystem::path& memory) {
  fmt::print(
      "\n== group commit: commands/s, one command = a registration with its configure "
      "(2 changes),\n   committers blocking on commit(); {} round(s) of {:.1f} s; baseline: "
      "the same on tmpfs\n",
      options.rounds, options.seconds);
  fmt::print("{:<7} {:>10} {:>13} {:>13} {:>13} {:>9}\n", "sync", "committers", "commands/s",
             "changes/tx", "tmpfs cmd/s", "ratio");
  for (auto sync : {SyncMode::normal, SyncMode::full})
    for (int committers : {1, 8, 64}) {
      std::vector<double> figures, baselines, ratios, grouping;
      for (int round = 0; round < options.rounds; ++round) {
        auto baseline = group_commit(memory, sync, committers, options.seconds);
        auto figure = group_commit(disk, sync, committers, options.seconds);
        figures.push_back(figure.commands_per_second);
        baselines.push_back(baseline.commands_per_second);
        ratios.push_back(figure.commands_per_second / baseline.commands_per_second);
        grouping.push_back(figure.changes_per_transaction);
      }
      fmt::print("{:<7} {:>10} {:>13.0f} {:>13.1f} {:>13.0f} {:>8.2f}x\n", to_string(sync),
                 committers, median(figures), median(grouping), median(baselines), median(ratios));
      std::fflush(stdout);
    }
}

// -- pipelined submissions -------------------------------------------------------------

/// Desired-state changes per second with `in_flight` submissions queued at
/// once through submit() (as actors do: no thread waits for its answer), on
/// 1,000 registered instances.
double pipelined(const std::filesystem::path& folder, SyncMode sync, std::ptrdiff_t in_flight,
                 double seconds) {
  auto file = folder / "pipelined.db";
  constexpr std::size_t instances = 1000;
  double per_second = 0;
  {
    auto store = StateStore::open({file, sync});
    std::vector<Change> registrations;
    for (std::size_t n = 0; n < instances; ++n)
      registrations.push_back(Registered{"p" + std::to_string(n), "worker", Origin::request});
    require(store->commit(std::move(registrations)).saved, "a commit failed");
    std::counting_semaphore<> slots{in_flight};
    std::atomic<std::uint64_t> stored{0};
    auto start = Clock::now();
    auto deadline = start + std::chrono::duration<double>(seconds);
    for (std::size_t n = 0; Clock::now() < deadline; ++n) {
      slots.acquire();
      auto desired = n / instances % 2 == 0 ? DesiredState::running : DesiredState::stopped;
      store->submit(DesiredChanged{"p" + std::to_string(n % instances), desired},
                    [&](const CommitResult& result) {
                      require(result.saved, "a commit failed");
                      stored.fetch_add(1, std::memory_order_relaxed);
                      slots.release();
                    });
    }
    for (std::ptrdiff_t slot = 0; slot < in_flight; ++slot) slots.acquire();  // all answered
    per_second = static_cast<double>(stored.load()) / seconds_since(start);
  }
  remove_database(file);
  return per_second;
}

void print_pipelined(const Options& options, const std::filesystem::path& disk,
                     const std::filesystem::path& memory) {
  fmt::print(
      "\n== pipelined: desired-state changes/s with 1,000 submissions in flight "
      "(submit() and callbacks)\n");
  fmt::print("{:<7} {:>13} {:>13} {:>9}\n", "sync", "changes/s", "tmpfs", "ratio");
  for (auto sync : {SyncMode::normal, SyncMode::full}) {
    std::vector<double> figures, baselines, ratios;
    for (int round = 0; round < options.rounds; ++round) {
      baselines.push_back(pipelined(memory, sync, 1000, options.seconds));
      figures.push_back(pipelined(disk, sync, 1000, options.seconds));
      ratios.push_back(figures.back() / baselines.back());
    }
    fmt::print("{:<7} {:>13.0f} {:>13.0f} {:>8.2f}x\n", to_string(sync), median(figures),
               median(baselines), median(ratios));
    std::fflush(stdout);
  }
}

// -- one commit's latency -----------------------------------------------------------

/// Microseconds of `samples` commits one after the other, each a configure.
std::vector<double> commit_latencies(const std::filesystem::path& folder, SyncMode sync,
                                     int samples) {
  auto file = folder / "latency.db";
  std::vector<double> latencies;
  {
    auto store = StateStore::open({file, sync});
    require(store->commit(registration("probe", 0)).saved, "a commit failed");
    for (int n = 0; n < samples; ++n) {
      Change change = Configured{"probe", typical_configuration(static_cast<std::size_t>(n))};
      auto start = Clock::now();
      require(store->commit(std::move(change)).saved, "a commit failed");
      latencies.push_back(seconds_since(start) * 1e6);
    }
  }
  remove_database(file);
  return latencies;
}

void print_latency(const Options& options, const std::filesystem::path& disk,
                   const std::filesystem::path& memory) {
  int samples = options.quick ? 200 : 2000;
  fmt::print("\n== one commit's latency (a configure, one committer, {} commits): µs\n", samples);
  fmt::print("{:<7} {:>9} {:>9} {:>11} {:>11} {:>9}\n", "sync", "p50", "p99", "tmpfs p50",
             "tmpfs p99", "p50 ratio");
  for (auto sync : {SyncMode::normal, SyncMode::full}) {
    auto baseline = commit_latencies(memory, sync, samples);
    auto figure = commit_latencies(disk, sync, samples);
    fmt::print("{:<7} {:>9.0f} {:>9.0f} {:>11.0f} {:>11.0f} {:>8.2f}x\n", to_string(sync),
               percentile(figure, 0.5), percentile(figure, 0.99), percentile(baseline, 0.5),
               percentile(baseline, 0.99), percentile(figure, 0.5) / percentile(baseline, 0.5));
  }
}

// -- load, quick_check and size -----------------------------------------------------------

/// Writes `count` registered, configured instances, 1,000 per commit.
void fill_store(const std::filesystem::path& file, std::size_t count) {
  auto store = StateStore::open({file});
  constexpr std::size_t per_commit = 1000;
  for (std::size_t first = 0; first < count; first += per_commit) {
    std::vector<Change> changes;
    for (std::size_t n = first; n < std::min(count, first + per_commit); ++n) {
      auto more = registration("instance-" + std::to_string(n), n);
      changes.insert(changes.end(), more.begin(), more.end());
    }
    require(store->commit(std::move(changes)).saved, "a commit failed");
  }
}

void quick_check(const std::filesystem::path& file) {
  sqlite3* connection = nullptr;
  sqlite3_open_v2(file.c_str(), &connection, SQLITE_OPEN_READONLY, nullptr);
  std::string verdict = "failed";
  sqlite3_exec(
      connection, "PRAGMA quick_check;",
      [](void* out, int, char** values, char**) {
        *static_cast<std::string*>(out) = values[0] != nullptr ? values[0] : "";
        return 0;
      },
      &verdict, nullptr);
  sqlite3_close(connection);
  require(verdict == "ok", "quick_check did not answer ok");
}

/// Wall-clock and CPU time (of the whole process: the store works on its
/// writer thread) of one step. On a busy machine the CPU time is the steadier.
struct Timing {
  double wall = 0;
  double cpu = 0;
};

double process_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

template <class Step>
Timing timed(Step&& step) {
  auto wall = Clock::now();
  auto cpu = process_cpu_seconds();
  step();
  return {seconds_since(wall), process_cpu_seconds() - cpu};
}

struct Timings {
  std::vector<double> wall;
  std::vector<double> cpu;
  void add(Timing timing) {
    wall.push_back(timing.wall);
    cpu.push_back(timing.cpu);
  }
  std::string describe() const {
    return fmt::format("{:.0f} ms ({:.0f} ms CPU)", median(wall) * 1e3, median(cpu) * 1e3);
  }
};

void print_load(const Options& options, const std::filesystem::path& disk) {
  auto file = disk / "load.db";
  auto count = options.instances;
  fmt::print(
      "\n== {} registered, configured instances (10-field configuration, ~{} bytes of "
      "JSON)\n",
      count, processpype::json_text(typical_configuration(12345)).size());
  auto written = timed([&] { fill_store(file, count); });
  fmt::print("written in commits of 1,000 instances: {:.2f} s\n", written.wall);
  auto size = std::filesystem::file_size(file);
  fmt::print("file size: {:.1f} MiB, {:.0f} bytes per instance (aim: <= 1024)\n",
             static_cast<double>(size) / (1 << 20),
             static_cast<double>(size) / static_cast<double>(count));

  std::vector<std::string> texts;
  for (std::size_t n = 0; n < count; ++n)
    texts.push_back(processpype::json_text(typical_configuration(n)));
  Timings opens, loads, checks, parses;
  for (int round = 0; round < options.rounds; ++round) {
    parses.add(timed([&] {
      std::vector<json> parsed;
      parsed.reserve(count);
      for (const auto& text : texts) parsed.push_back(processpype::parse_json(text));
    }));
    std::unique_ptr<StateStore> store;
    opens.add(timed([&] { store = StateStore::open({file}); }));
    loads.add(timed([&] {
      auto instances = store->load();
      require(instances.size() == count && instances.back().problem.empty(),
              "load() did not return every instance cleanly");
    }));
    store.reset();
    checks.add(timed([&] { quick_check(file); }));
  }
  fmt::print("load(), and freeing what it returned: {}, {:.2f} µs per instance\n", loads.describe(),
             median(loads.wall) * 1e6 / static_cast<double>(count));
  fmt::print(
      "baseline, parse_json of the same configurations (and freeing them): {}; load / "
      "baseline: {:.2f}x ({:.2f}x in CPU time)\n",
      parses.describe(), median(loads.wall) / median(parses.wall),
      median(loads.cpu) / median(parses.cpu));
  fmt::print("open (includes PRAGMA quick_check): {}; quick_check alone: {}\n", opens.describe(),
             checks.describe());
  remove_database(file);
}

Options parse_options(int argc, char** argv) {
  Options options;
  const char* tmpdir = std::getenv("TMPDIR");
  options.disk = tmpdir != nullptr ? tmpdir : "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      options.quick = true;
      options.rounds = 1;
      options.seconds = 0.3;
      options.instances = 10000;
    } else if (arg == "--dir" && has_value) {
      options.disk = argv[++i];
    } else if (arg == "--seconds" && has_value) {
      options.seconds = std::stod(argv[++i]);
    } else if (arg == "--rounds" && has_value) {
      options.rounds = std::max(1, std::stoi(argv[++i]));
    } else {
      std::fprintf(stderr,
                   "usage: state_benchmark [--quick] [--dir DIR] [--seconds S] [--rounds N]\n");
      std::exit(2);
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  if (!is_tmpfs(options.memory)) {
    std::fprintf(stderr, "state_benchmark: %s is not a tmpfs; the baseline needs one\n",
                 options.memory.c_str());
    return 2;
  }
  ScratchFolder disk{options.disk};
  ScratchFolder memory{options.memory};
  fmt::print("state_benchmark: SQLite {}, {} cores; files in {}{}; baseline in {} (tmpfs)\n",
             sqlite3_libversion(), std::thread::hardware_concurrency(), disk.path().string(),
             is_tmpfs(disk.path()) ? " (a tmpfs too: the ratios mean little)" : "",
             memory.path().string());
  print_group_commit(options, disk.path(), memory.path());
  print_pipelined(options, disk.path(), memory.path());
  print_latency(options, disk.path(), memory.path());
  print_load(options, disk.path());
  return 0;
}
