#include "processpype/runtime/json_input.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "processpype/runtime/errors.hpp"

namespace processpype {

namespace {

using nlohmann::json;

/// nlohmann's DOM builder with a depth limit and a range check on numbers.
/// Throwing from a SAX event aborts the parse before the next byte is read.
class CheckedBuilder {
 public:
  explicit CheckedBuilder(json& result) : builder_(result, true) {}

  bool null() { return builder_.null(); }
  bool boolean(bool value) { return builder_.boolean(value); }
  bool number_integer(json::number_integer_t value) { return builder_.number_integer(value); }
  bool number_unsigned(json::number_unsigned_t value) { return builder_.number_unsigned(value); }
  bool number_float(json::number_float_t value, const std::string& text) {
    if (!std::isfinite(value))
      throw Error(ErrorCode::bad_request,
                  "Number " + text + " is out of range: no 64-bit number type holds it");
    return builder_.number_float(value, text);
  }
  bool string(std::string& value) { return builder_.string(value); }
  bool binary(json::binary_t& value) { return builder_.binary(value); }
  bool start_object(std::size_t size) {
    enter();
    return builder_.start_object(size);
  }
  bool key(std::string& value) { return builder_.key(value); }
  bool end_object() {
    --depth_;
    return builder_.end_object();
  }
  bool start_array(std::size_t size) {
    enter();
    return builder_.start_array(size);
  }
  bool end_array() {
    --depth_;
    return builder_.end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& error) {
    throw Error(ErrorCode::bad_request, std::string{"Malformed JSON: "} + error.what());
  }

 private:
  void enter() {
    if (++depth_ > max_json_depth)
      throw Error(ErrorCode::bad_request,
                  "JSON nested deeper than " + std::to_string(max_json_depth) + " levels");
  }

  nlohmann::detail::json_sax_dom_parser<json> builder_;
  std::size_t depth_ = 0;
};

}  // namespace

std::string json_text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void append_json_string(std::string& out, std::string_view text) {
  // Printable ASCII is copied; anything else (escapes, UTF-8, invalid
  // bytes) goes through nlohmann, so the text stays what json_text writes.
  bool plain = std::all_of(text.begin(), text.end(),
                           [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
  if (!plain) {
    out += json_text(json(text));
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

json parse_json(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object();
  json result;
  CheckedBuilder builder{result};
  json::sax_parse(text.begin(), text.end(), &builder);
  return result;
}

bool json_depth_within(const json& value, std::size_t limit) {
  std::vector<std::pair<const json*, std::size_t>> pending{{&value, 0}};
  while (!pending.empty()) {
    auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    if (depth + 1 > limit) return false;
    for (const auto& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return true;
}

}  // namespace processpype
