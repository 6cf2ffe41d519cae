#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace processpype::state {

/// What the store counts, for /metrics. Written by the store's writer thread,
/// read from any thread: every figure is an atomic (relaxed), so a reading
/// may mix two consecutive commits, as Prometheus clients allow.
class StateMetrics {
 public:
  /// Upper bounds of the commit-duration histogram, in seconds: from 500 µs
  /// (a commit that fsyncs nothing) to 1 s (a disk in trouble).
  static constexpr std::array<double, 11> bucket_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1.0};

  /// A transaction that committed: how long from BEGIN to COMMIT, and how
  /// many changes it stored.
  void record_commit(std::chrono::nanoseconds duration, std::uint64_t changes) noexcept;
  /// A write, load, backup or reset that failed (a rolled-back transaction
  /// counts once, however many changes it held).
  void record_error() noexcept;

  /// Committed transactions (the histogram's count).
  std::uint64_t commits() const noexcept { return commits_.load(std::memory_order_relaxed); }
  /// Changes stored by those transactions. commits() < changes() is group
  /// commit at work.
  std::uint64_t changes() const noexcept { return changes_.load(std::memory_order_relaxed); }
  std::uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }
  /// The sum of the commit durations, in seconds.
  double commit_seconds_sum() const noexcept;
  /// Commits that took at most bucket_bounds[i] (cumulative, as Prometheus's
  /// `le` buckets); commits() is the `+Inf` bucket.
  std::uint64_t commits_within(std::size_t bucket) const noexcept;

  /// The two metrics in the Prometheus text format, with HELP and TYPE:
  /// `processpype_state_commit_seconds` (histogram) and
  /// `processpype_state_errors_total` (counter).
  std::string prometheus_text() const;

 private:
  std::array<std::atomic<std::uint64_t>, bucket_bounds.size()> buckets_{};  ///< not cumulative
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> changes_{0};
  std::atomic<std::uint64_t> sum_nanoseconds_{0};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace processpype::state
