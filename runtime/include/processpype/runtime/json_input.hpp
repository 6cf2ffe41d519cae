#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace processpype {

/// The deepest nesting any JSON input may have: every tree the runtime keeps
/// stays shallow enough to copy, print and send to another node safely.
inline constexpr std::size_t max_json_depth = 64;

/// Parses JSON that comes from outside (a request body, a message from
/// another node). Only whitespace means `{}`. The depth is checked while
/// parsing, before a deep tree exists. Throws processpype::Error
/// (bad_request): malformed JSON (saying where), nesting deeper than
/// max_json_depth ("JSON nested deeper than 64 levels"), or a number no C++
/// type holds (e.g. `1e400`, named in the message).
nlohmann::json parse_json(std::string_view text);

/// `value` as compact text, invalid UTF-8 in strings replaced by U+FFFD: how
/// every JSON body leaves a node.
std::string json_text(const nlohmann::json& value);

/// Appends `text` as a JSON string, exactly as json_text writes it: for
/// bodies written without building a tree (status_text, event_text).
void append_json_string(std::string& out, std::string_view text);

/// Whether `value` nests at most `limit` levels (for JSON built from other
/// sources, such as YAML). Iterative: safe on any depth.
bool json_depth_within(const nlohmann::json& value, std::size_t limit = max_json_depth);

}  // namespace processpype
