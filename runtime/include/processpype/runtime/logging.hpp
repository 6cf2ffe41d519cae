#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/common.h>
#include <spdlog/logger.h>

namespace processpype {

enum class LogFormat { text, json };

std::optional<LogFormat> log_format_from_string(std::string_view text) noexcept;

/// "debug" → spdlog level ("warning" and "critical" too); nullopt when unknown.
std::optional<spdlog::level::level_enum> log_level_from_string(std::string_view text) noexcept;

/// A level for the loggers whose name is `name` or starts with `name.`
/// (the longest such name wins).
using LoggerLevel = std::pair<std::string, spdlog::level::level_enum>;

/// Sets the level and line format of every ProcessPype logger, existing and
/// future. Logs go to stderr; JSON lines carry time, level, logger, message.
void configure_logging(spdlog::level::level_enum level, LogFormat format,
                       std::vector<LoggerLevel> logger_levels = {});

/// A logger named `name` writing to the shared stderr sink.
std::shared_ptr<spdlog::logger> make_logger(std::string name);

}  // namespace processpype
