#include "processpype/runtime/logging.hpp"

#include <chrono>
#include <mutex>

#include <fmt/chrono.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <nlohmann/json.hpp>

namespace processpype {

namespace {

constexpr const char* text_pattern = "%Y-%m-%dT%H:%M:%S.%e %-5l %n: %v";

/// One JSON object per line: time, level, logger, message (properly escaped).
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& destination) override {
    nlohmann::json line = {
        {"time",
         fmt::format("{:%Y-%m-%dT%H:%M:%S}Z",
                     std::chrono::time_point_cast<std::chrono::milliseconds>(message.time))},
        {"level", spdlog::level::to_string_view(message.level)},
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

std::shared_ptr<spdlog::sinks::sink> make_default_sink() {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(text_pattern));
  sink->set_level(spdlog::level::info);
  return sink;
}

struct LoggingSettings {
  std::mutex mutex;
  std::shared_ptr<spdlog::sinks::sink> sink = make_default_sink();
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

void configure_logging(spdlog::level::level_enum level, LogFormat format) {
  auto& current = settings();
  std::lock_guard lock{current.mutex};
  if (format == LogFormat::json)
    current.sink->set_formatter(std::make_unique<JsonFormatter>());
  else
    current.sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(text_pattern));
  // Loggers are not in spdlog's registry: the shared sink does the
  // filtering, so one call reaches every logger already made.
  current.sink->set_level(level);
}

std::shared_ptr<spdlog::logger> make_logger(std::string name) {
  auto& current = settings();
  std::lock_guard lock{current.mutex};
  auto logger = std::make_shared<spdlog::logger>(std::move(name), current.sink);
  logger->set_level(spdlog::level::trace);
  return logger;
}

}  // namespace processpype
