#include "processpype/state/state_metrics.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

namespace processpype::state {

void StateMetrics::record_commit(std::chrono::nanoseconds duration,
                                 std::uint64_t changes) noexcept {
  auto seconds = std::chrono::duration<double>(duration).count();
  for (std::size_t i = 0; i < bucket_bounds.size(); ++i)
    if (seconds <= bucket_bounds[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  sum_nanoseconds_.fetch_add(static_cast<std::uint64_t>(duration.count()),
                             std::memory_order_relaxed);
  changes_.fetch_add(changes, std::memory_order_relaxed);
  commits_.fetch_add(1, std::memory_order_relaxed);
}

void StateMetrics::record_error() noexcept {
  errors_.fetch_add(1, std::memory_order_relaxed);
}

double StateMetrics::commit_seconds_sum() const noexcept {
  return static_cast<double>(sum_nanoseconds_.load(std::memory_order_relaxed)) / 1e9;
}

std::uint64_t StateMetrics::commits_within(std::size_t bucket) const noexcept {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bucket && i < buckets_.size(); ++i)
    cumulative += buckets_[i].load(std::memory_order_relaxed);
  return cumulative;
}

std::string StateMetrics::prometheus_text() const {
  std::string out;
  auto into = std::back_inserter(out);
  out +=
      "# HELP processpype_state_commit_seconds Time to write one transaction of the state file "
      "(one group commit).\n"
      "# TYPE processpype_state_commit_seconds histogram\n";
  // Read once each; a commit recorded meanwhile may show in a bucket and
  // not yet in the count, so the count is at least every bucket.
  std::array<std::uint64_t, bucket_bounds.size()> within{};
  for (std::size_t i = 0; i < bucket_bounds.size(); ++i) within[i] = commits_within(i);
  auto count = std::max(commits(), within.back());
  for (std::size_t i = 0; i < bucket_bounds.size(); ++i)
    fmt::format_to(into, "processpype_state_commit_seconds_bucket{{le=\"{}\"}} {}\n",
                   bucket_bounds[i], within[i]);
  fmt::format_to(into, "processpype_state_commit_seconds_bucket{{le=\"+Inf\"}} {}\n", count);
  fmt::format_to(into, "processpype_state_commit_seconds_sum {}\n", commit_seconds_sum());
  fmt::format_to(into, "processpype_state_commit_seconds_count {}\n", count);
  out +=
      "# HELP processpype_state_errors_total Writes, loads, backups and resets of the state "
      "file that failed.\n"
      "# TYPE processpype_state_errors_total counter\n";
  fmt::format_to(into, "processpype_state_errors_total {}\n", errors());
  return out;
}

}  // namespace processpype::state
