// communications_benchmark: what emit() costs its caller. A burst of emits
// (10,000 by default) goes to a dispatcher with two webhook backends, one
// pointed at a receiver that accepts and never answers, one at a receiver
// that answers at once; the burst's time on the caller's side is compared
// with a baseline measured in the same round: pushing as many copies of the
// same message into a plain std::vector.
//
//   communications_benchmark [--rounds N] [--emits N]
//
// Two queue capacities: the default (1,000: most of the burst is dropped,
// as it would be in a flood) and one that holds the whole burst (every
// message queued). Each round also times the dispatcher's shutdown with the
// hanging transfer in progress and the queues full. The receivers are
// tests/communications/http_receiver.py (Python 3) on 127.0.0.1.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include "processpype/communications/dispatcher.hpp"
#include "receivers.hpp"

namespace {

using processpype::communications::BackendSettings;
using processpype::communications::Dispatcher;
using processpype::communications::DispatcherOptions;
using processpype::communications::Message;
using processpype::communications::WebhookSettings;
using processpype::testing::Clock;
using processpype::testing::elapsed_ms;
using processpype::testing::HttpReceiver;

struct Arguments {
  int rounds = 5;
  int emits = 10'000;
};

Arguments parse(int argc, char** argv) {
  Arguments arguments;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0)
      arguments.rounds = std::max(1, std::atoi(argv[i + 1]));
    else if (std::strcmp(argv[i], "--emits") == 0)
      arguments.emits = std::max(1, std::atoi(argv[i + 1]));
  }
  return arguments;
}

/// What a Supervisor's alert looks like.
Message sample_message() {
  Message message;
  message.message = "instance store failed: connection refused (restart 3 in 2.0 s)";
  message.label = "default";
  message.source = "store";
  message.severity = "error";
  message.metadata = {{"restarts", 3}, {"node", "node-1"}};
  return message;
}

BackendSettings webhook(std::string name, std::string url) {
  WebhookSettings settings;
  settings.url = std::move(url);
  settings.timeout_seconds = 60;  // the hanging transfer lasts the whole round
  return {std::move(name), {"default"}, true, settings};
}

double vector_baseline(const Message& message, int count) {
  auto started = Clock::now();
  std::vector<Message> messages;
  for (int i = 0; i < count; ++i) messages.push_back(message);
  return elapsed_ms(started);
}

struct BurstTimes {
  double emits_ms = 0;
  double shutdown_ms = 0;
  std::uint64_t dropped = 0;
};

BurstTimes emit_burst(const Message& message, int count, std::size_t capacity,
                      const HttpReceiver& hanging, const HttpReceiver& working) {
  DispatcherOptions options;
  options.node = "node-1";
  options.queue_capacity = capacity;
  // The drops and the messages left at shutdown are logged (once per
  // backend and burst, formatted all the same), not printed over the figures.
  options.logger = std::make_shared<spdlog::logger>(
      "processpype.communications", std::make_shared<spdlog::sinks::null_sink_mt>());
  std::optional<Dispatcher> dispatcher;
  dispatcher.emplace(
      std::vector{webhook("hanging", hanging.url()), webhook("working", working.url())}, options);
  BurstTimes times;
  auto started = Clock::now();
  for (int i = 0; i < count; ++i) dispatcher->emit(message);
  times.emits_ms = elapsed_ms(started);
  for (const auto& counters : dispatcher->counters()) times.dropped += counters.dropped;
  started = Clock::now();
  dispatcher.reset();
  times.shutdown_ms = elapsed_ms(started);
  return times;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double best(const std::vector<double>& values) {
  return *std::min_element(values.begin(), values.end());
}

}  // namespace

int main(int argc, char** argv) {
  processpype::testing::install_termination_handlers();
  auto arguments = parse(argc, argv);
  auto message = sample_message();
  HttpReceiver hanging({.hang = true});
  HttpReceiver working;

  const std::size_t capacities[] = {1000, static_cast<std::size_t>(arguments.emits)};
  std::vector<double> baseline;
  std::vector<double> emits[2];
  std::vector<double> shutdowns[2];
  fmt::print("{} emits per burst, {} rounds; backends: one hanging, one answering\n",
             arguments.emits, arguments.rounds);
  for (int round = 1; round <= arguments.rounds; ++round) {
    baseline.push_back(vector_baseline(message, arguments.emits));
    fmt::print("round {}: vector baseline {:.2f} ms", round, baseline.back());
    for (int which = 0; which < 2; ++which) {
      auto times = emit_burst(message, arguments.emits, capacities[which], hanging, working);
      emits[which].push_back(times.emits_ms);
      shutdowns[which].push_back(times.shutdown_ms);
      fmt::print("; capacity {}: emits {:.2f} ms ({} dropped), shutdown {:.1f} ms",
                 capacities[which], times.emits_ms, times.dropped, times.shutdown_ms);
    }
    fmt::print("\n");
  }

  // The median says what a caller usually sees; the best, what the code
  // costs when nothing else takes the CPU away in the middle of a burst.
  fmt::print("\n{:<44} {:>10} {:>10}\n", fmt::format("over {} rounds", arguments.rounds), "median",
             "best");
  fmt::print("{:<44} {:>7.2f} ms {:>7.2f} ms\n",
             fmt::format("vector baseline ({} push_back)", arguments.emits), median(baseline),
             best(baseline));
  for (int which = 0; which < 2; ++which) {
    fmt::print("{:<44} {:>7.2f} ms {:>7.2f} ms  ({:.1f}x the baseline's median; aim <= 10 ms)\n",
               fmt::format("{} emits, queue capacity {}", arguments.emits, capacities[which]),
               median(emits[which]), best(emits[which]), median(emits[which]) / median(baseline));
    fmt::print("{:<44} {:>7.2f} ms {:>7.2f} ms\n", "  then shutdown, a transfer hanging",
               median(shutdowns[which]), best(shutdowns[which]));
  }
  return 0;
}
