#include "processpype/runtime/logging.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "processpype/runtime/service_status.hpp"

namespace processpype {

namespace {

constexpr const char* text_pattern = "%Y-%m-%dT%H:%M:%S.%e %-5l %n: %v";

/// One JSON object per line: time, level, logger, message (properly escaped).
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& destination) override {
    nlohmann::json line = {
        {"time", format_utc(message.time)},
        // A std::string_view: with an external fmt, to_string_view gives a
        // fmt::string_view, which nlohmann::json would store as an array.
        {"level", std::string_view{spdlog::level::to_string_view(message.level).data(),
                                   spdlog::level::to_string_view(message.level).size()}},
        {"logger", std::string_view{message.logger_name.data(), message.logger_name.size()}},
        {"message", std::string_view{message.payload.data(), message.payload.size()}},
    };
    auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    destination.append(text.data(), text.data() + text.size());
    destination.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

/// The shared sink writes everything it gets; each logger filters by its
/// own level, so that levels can differ per logger.
struct LoggingSettings {
  std::mutex mutex;
  std::shared_ptr<spdlog::sinks::sink> sink = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(text_pattern));
    return sink;
  }();
  spdlog::level::level_enum level = spdlog::level::info;
  std::vector<LoggerLevel> overrides;
  std::vector<std::weak_ptr<spdlog::logger>> loggers;

  spdlog::level::level_enum level_of(std::string_view name) const {
    auto level_found = level;
    std::size_t longest = 0;
    for (const auto& [prefix, override_level] : overrides) {
      bool applies = name == prefix || (name.starts_with(prefix) && name.size() > prefix.size() &&
                                        name[prefix.size()] == '.');
      if (applies && prefix.size() >= longest) {
        longest = prefix.size();
        level_found = override_level;
      }
    }
    return level_found;
  }
};

LoggingSettings& settings() {
  static LoggingSettings instance;
  return instance;
}

}  // namespace

std::optional<LogFormat> log_format_from_string(std::string_view text) noexcept {
  if (text == "text") return LogFormat::text;
  if (text == "json") return LogFormat::json;
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> log_level_from_string(std::string_view text) noexcept {
  std::string lower;
  for (char c : text)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "warning") lower = "warn";
  if (lower == "critical") return spdlog::level::critical;
  auto level = spdlog::level::from_str(lower);
  if (level == spdlog::level::off && lower != "off") return std::nullopt;
  return level;
}

void configure_logging(spdlog::level::level_enum level, LogFormat format,
                       std::vector<LoggerLevel> logger_levels) {
  auto& current = settings();
  std::lock_guard lock{current.mutex};
  if (format == LogFormat::json)
    current.sink->set_formatter(std::make_unique<JsonFormatter>());
  else
    current.sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(text_pattern));
  current.level = level;
  current.overrides = std::move(logger_levels);
  for (const auto& weak : current.loggers)
    if (auto logger = weak.lock()) logger->set_level(current.level_of(logger->name()));
  // A line logged through spdlog's default logger (a library that was given
  // no logger) still comes out in the node's format.
  auto fallback = std::make_shared<spdlog::logger>("processpype", current.sink);
  fallback->set_level(current.level_of(fallback->name()));
  spdlog::set_default_logger(std::move(fallback));
}

std::shared_ptr<spdlog::logger> make_logger(std::string name) {
  auto& current = settings();
  std::lock_guard lock{current.mutex};
  auto logger = std::make_shared<spdlog::logger>(std::move(name), current.sink);
  logger->set_level(current.level_of(logger->name()));
  // Forget loggers that are gone now and then, so the list follows the
  // number of live ones.
  if (current.loggers.size() >= 64 && current.loggers.size() == current.loggers.capacity())
    std::erase_if(current.loggers, [](const auto& weak) { return weak.expired(); });
  current.loggers.push_back(logger);
  return logger;
}

}  // namespace processpype
