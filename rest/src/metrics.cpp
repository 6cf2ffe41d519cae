#include "metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

namespace processpype::rest {

namespace {

/// Upper bounds of the duration histogram, in seconds: from 100 µs (a
/// status read) to 10 s (a slow transition).
constexpr std::array<double, 16> bucket_bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                               0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                               1.0,    2.5,     5.0,    10.0};
constexpr int lowest_status = 100;
constexpr int status_slots = 500;  ///< 100..599

std::atomic<std::uint64_t> next_metrics_id{1};

}  // namespace

struct HttpMetrics::Series {
  std::string method;
  std::string route;
  std::array<std::atomic<std::uint64_t>, status_slots> by_status{};
  std::array<std::atomic<std::uint64_t>, bucket_bounds.size()> buckets{};  ///< not cumulative
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> sum_nanoseconds{0};
};

HttpMetrics::HttpMetrics() : id_(next_metrics_id.fetch_add(1)) {}

HttpMetrics::~HttpMetrics() = default;

namespace {

/// A thread's cache entry key: which HttpMetrics, method and route.
struct SeriesKey {
  std::uint64_t metrics;
  std::string method;
  std::string route;
};

struct SeriesKeyView {
  std::uint64_t metrics;
  std::string_view method;
  std::string_view route;
};

/// Hash and equality that also take a SeriesKeyView, so a lookup builds no
/// string (C++20 heterogeneous lookup).
struct SeriesKeyHash {
  using is_transparent = void;
  std::size_t operator()(const SeriesKeyView& key) const noexcept {
    auto hash = std::hash<std::string_view>{}(key.route);
    hash ^= std::hash<std::string_view>{}(key.method) + 0x9e3779b97f4a7c15ULL + (hash << 6);
    return hash ^ (key.metrics * 0x9e3779b97f4a7c15ULL);
  }
  std::size_t operator()(const SeriesKey& key) const noexcept {
    return (*this)(SeriesKeyView{key.metrics, key.method, key.route});
  }
};

struct SeriesKeyEqual {
  using is_transparent = void;
  static SeriesKeyView view(const SeriesKey& key) { return {key.metrics, key.method, key.route}; }
  static SeriesKeyView view(const SeriesKeyView& key) { return key; }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    auto x = view(a);
    auto y = view(b);
    return x.metrics == y.metrics && x.method == y.method && x.route == y.route;
  }
};

}  // namespace

HttpMetrics::Series& HttpMetrics::series(std::string_view method, std::string_view route) {
  thread_local std::unordered_map<SeriesKey, Series*, SeriesKeyHash, SeriesKeyEqual> cache;
  if (auto found = cache.find(SeriesKeyView{id_, method, route}); found != cache.end())
    return *found->second;
  std::lock_guard lock{mutex_};
  auto& slot = series_[{std::string{method}, std::string{route}}];
  if (!slot) {
    slot = std::make_unique<Series>();
    slot->method = method;
    slot->route = route;
  }
  cache.emplace(SeriesKey{id_, std::string{method}, std::string{route}}, slot.get());
  return *slot;
}

void HttpMetrics::observe(std::string_view method, std::string_view route, int status,
                          std::chrono::nanoseconds duration) {
  auto& target = series(method, route);
  if (status >= lowest_status && status < lowest_status + status_slots)
    target.by_status[static_cast<std::size_t>(status - lowest_status)].fetch_add(
        1, std::memory_order_relaxed);
  double seconds = std::chrono::duration<double>(duration).count();
  for (std::size_t i = 0; i < bucket_bounds.size(); ++i)
    if (seconds <= bucket_bounds[i]) {
      target.buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  target.count.fetch_add(1, std::memory_order_relaxed);
  target.sum_nanoseconds.fetch_add(static_cast<std::uint64_t>(duration.count()),
                                   std::memory_order_relaxed);
}

void HttpMetrics::render(std::string& out) const {
  std::lock_guard lock{mutex_};
  auto into = std::back_inserter(out);
  out +=
      "# HELP processpype_http_requests_total HTTP requests answered, by route template.\n"
      "# TYPE processpype_http_requests_total counter\n";
  for (const auto& [key, series] : series_)
    for (int slot = 0; slot < status_slots; ++slot)
      if (auto count = series->by_status[static_cast<std::size_t>(slot)].load(); count > 0)
        fmt::format_to(into,
                       "processpype_http_requests_total{{method=\"{}\",route=\"{}\",code=\"{}\"}} "
                       "{}\n",
                       series->method, series->route, slot + lowest_status, count);
  out +=
      "# HELP processpype_http_request_duration_seconds Time from receiving a request to "
      "answering it.\n"
      "# TYPE processpype_http_request_duration_seconds histogram\n";
  for (const auto& [key, series] : series_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bucket_bounds.size(); ++i) {
      cumulative += series->buckets[i].load();
      fmt::format_to(into,
                     "processpype_http_request_duration_seconds_bucket{{method=\"{}\",route=\"{}\","
                     "le=\"{}\"}} {}\n",
                     series->method, series->route, bucket_bounds[i], cumulative);
    }
    auto count = series->count.load();
    fmt::format_to(into,
                   "processpype_http_request_duration_seconds_bucket{{method=\"{}\",route=\"{}\","
                   "le=\"+Inf\"}} {}\n",
                   series->method, series->route, count);
    fmt::format_to(into,
                   "processpype_http_request_duration_seconds_sum{{method=\"{}\",route=\"{}\"}} "
                   "{}\n",
                   series->method, series->route, series->sum_nanoseconds.load() / 1e9);
    fmt::format_to(into,
                   "processpype_http_request_duration_seconds_count{{method=\"{}\",route=\"{}\"}} "
                   "{}\n",
                   series->method, series->route, count);
  }
}

// -- the document ---------------------------------------------------------------------

namespace {

constexpr std::array<ServiceState, 7> all_states{
    ServiceState::initialized, ServiceState::configured, ServiceState::starting,
    ServiceState::running,     ServiceState::stopping,   ServiceState::stopped,
    ServiceState::error};

void render_instances(const InstanceTable& table, std::string& out) {
  auto into = std::back_inserter(out);
  auto listing = table.listing();
  out +=
      "# HELP processpype_service_state The current state of each instance (1).\n"
      "# TYPE processpype_service_state gauge\n";
  listing.for_each([&](const InstanceRecord& record) {
    fmt::format_to(into, "processpype_service_state{{service=\"{}\",type=\"{}\",state=\"{}\"}} 1\n",
                   record.name(), record.service_class().key, to_string(record.state()));
    return true;
  });
  out +=
      "# HELP processpype_services Instances of this node in each state.\n"
      "# TYPE processpype_services gauge\n";
  for (auto state : all_states)
    fmt::format_to(into, "processpype_services{{state=\"{}\"}} {}\n", to_string(state),
                   table.counts().by_state[static_cast<std::size_t>(state)].load());
  out +=
      "# HELP processpype_service_transitions_total Entries of each instance into a state.\n"
      "# TYPE processpype_service_transitions_total counter\n";
  listing.for_each([&](const InstanceRecord& record) {
    for (auto state : all_states)
      if (auto count = record.counters().transitions[static_cast<std::size_t>(state)].load())
        fmt::format_to(into,
                       "processpype_service_transitions_total{{service=\"{}\",state=\"{}\"}} {}\n",
                       record.name(), to_string(state), count);
    return true;
  });
  out +=
      "# HELP processpype_service_failures_total Failures of each instance.\n"
      "# TYPE processpype_service_failures_total counter\n";
  listing.for_each([&](const InstanceRecord& record) {
    fmt::format_to(into, "processpype_service_failures_total{{service=\"{}\"}} {}\n", record.name(),
                   record.counters().failures.load());
    return true;
  });
  out +=
      "# HELP processpype_service_restarts_total Automatic restarts of each instance.\n"
      "# TYPE processpype_service_restarts_total counter\n";
  listing.for_each([&](const InstanceRecord& record) {
    fmt::format_to(into, "processpype_service_restarts_total{{service=\"{}\"}} {}\n", record.name(),
                   record.view()->restarts);
    return true;
  });
}

void render_nodes(const NodeDirectory& directory, std::string& out) {
  std::size_t up = 0, down = 0;
  for (const auto& node : directory.nodes()) (node.up ? up : down) += 1;
  fmt::format_to(std::back_inserter(out),
                 "# HELP processpype_nodes Nodes this node knows, by state.\n"
                 "# TYPE processpype_nodes gauge\n"
                 "processpype_nodes{{state=\"up\"}} {}\nprocesspype_nodes{{state=\"down\"}} {}\n",
                 up, down);
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
std::string label_value(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || c == '"') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  return escaped;
}

/// processpype_messages_{sent,dropped,failed}_total, one series per backend.
void render_messages(const communications::Dispatcher& dispatcher, std::string& out) {
  auto backends = dispatcher.counters();
  struct Counter {
    const char* name;
    const char* help;
    std::uint64_t communications::BackendCounters::*value;
  };
  const Counter counters[] = {
      {"processpype_messages_sent_total", "Messages each communications backend delivered.",
       &communications::BackendCounters::sent},
      {"processpype_messages_dropped_total",
       "Messages each communications backend dropped: its queue was full, or they were left "
       "unsent at shutdown.",
       &communications::BackendCounters::dropped},
      {"processpype_messages_failed_total",
       "Messages each communications backend gave up on: a final refusal, or every attempt "
       "failed.",
       &communications::BackendCounters::failed},
  };
  auto into = std::back_inserter(out);
  for (const auto& counter : counters) {
    fmt::format_to(into, "# HELP {} {}\n# TYPE {} counter\n", counter.name, counter.help,
                   counter.name);
    for (const auto& backend : backends)
      fmt::format_to(into, "{}{{backend=\"{}\"}} {}\n", counter.name, label_value(backend.backend),
                     backend.*counter.value);
  }
}

std::string read_text(const char* path) {
  std::ifstream file{path};
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

/// process_* of the Prometheus client conventions, from /proc.
void render_process(std::string& out) {
  auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
  // /proc/self/stat: fields after the command (which may hold spaces).
  auto stat = read_text("/proc/self/stat");
  auto after_command = stat.rfind(')');
  std::istringstream fields{after_command == std::string::npos ? ""
                                                               : stat.substr(after_command + 2)};
  std::vector<std::string> values{std::istream_iterator<std::string>{fields}, {}};
  double cpu = 0, start = 0, resident = 0;
  if (values.size() > 21) {
    cpu = (std::stod(values[11]) + std::stod(values[12])) / ticks;  // utime + stime
    double boot_time = 0;
    std::istringstream system_stat{read_text("/proc/stat")};
    for (std::string line; std::getline(system_stat, line);)
      if (line.rfind("btime ", 0) == 0) boot_time = std::stod(line.substr(6));
    start = boot_time + std::stod(values[19]) / ticks;  // starttime
    resident = std::stod(values[21]) * page;            // rss in pages
  }
  std::size_t fds = 0;
  if (DIR* directory = opendir("/proc/self/fd")) {
    while (auto* entry = readdir(directory))
      if (entry->d_name[0] != '.') ++fds;
    closedir(directory);
    fds -= 1;  // the directory stream itself
  }
  fmt::format_to(std::back_inserter(out),
                 "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                 "# TYPE process_resident_memory_bytes gauge\n"
                 "process_resident_memory_bytes {}\n"
                 "# HELP process_cpu_seconds_total User and system CPU time in seconds.\n"
                 "# TYPE process_cpu_seconds_total counter\n"
                 "process_cpu_seconds_total {}\n"
                 "# HELP process_open_fds Open file descriptors.\n"
                 "# TYPE process_open_fds gauge\n"
                 "process_open_fds {}\n"
                 "# HELP process_start_time_seconds Start time since the Unix epoch in seconds.\n"
                 "# TYPE process_start_time_seconds gauge\n"
                 "process_start_time_seconds {}\n",
                 resident, cpu, fds, start);
}

}  // namespace

std::string render_metrics(const MetricSources& sources) {
  std::string out;
  out.reserve(256 + sources.table.size() * 200);
  render_instances(sources.table, out);
  render_nodes(sources.directory, out);
  if (sources.http) sources.http->render(out);
  if (sources.state) out += sources.state->metrics().prometheus_text();
  if (sources.cluster) out += sources.cluster->prometheus_text();
  if (sources.messages) render_messages(*sources.messages, out);
  render_process(out);
  return out;
}

}  // namespace processpype::rest
