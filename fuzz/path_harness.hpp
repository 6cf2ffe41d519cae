#pragma once

// Path splitting, patterns, the route table and percent-decoding (fuzz_path
// and tests/regression). Input: `pattern NUL path`, the path with an
// optional `?query`. Each function is checked against what its header
// documents, with a small reference model where the documentation is exact.

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "processpype/rest/json_mapping.hpp"
#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/path_pattern.hpp"
#include "processpype/runtime/route_table.hpp"

namespace processpype::fuzz {

namespace path_detail {

inline int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Reference percent-decoding (RFC 3986 escapes; '+' only when asked).
inline std::optional<std::string> decode(std::string_view text, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (text.size() - i < 3 || hex(text[i + 1]) < 0 || hex(text[i + 2]) < 0) return std::nullopt;
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(plus_is_space && text[i] == '+' ? ' ' : text[i]);
    }
  }
  return out;
}

inline std::string encode(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(digits[byte >> 4]);
      out.push_back(digits[byte & 15]);
    }
  }
  return out;
}

/// A pattern segment as path_pattern.hpp documents it.
struct Segment {
  std::string text;
  bool placeholder = false;
  bool rest = false;
};

inline std::vector<Segment> segments_of(std::string_view pattern) {
  std::vector<Segment> out;
  for (auto& text : split_path(pattern)) {
    Segment segment{text};
    if (text.size() > 2 && text.front() == '{' && text.back() == '}') {
      segment.placeholder = true;
      segment.text = text.substr(1, text.size() - 2);
      if (segment.text.size() > 3 && segment.text.ends_with("...")) {
        segment.rest = true;
        segment.text.resize(segment.text.size() - 3);
      }
    }
    out.push_back(std::move(segment));
  }
  return out;
}

/// Whether the documentation says what `segments` means: `{key...}` only
/// last, placeholder names distinct.
inline bool documented(const std::vector<Segment>& pattern) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i].rest && i + 1 != pattern.size()) return false;
    for (std::size_t j = 0; j < i; ++j)
      if (pattern[i].placeholder && pattern[j].placeholder && pattern[i].text == pattern[j].text)
        return false;
  }
  return true;
}

/// Reference match: `{key}` any one segment, a last `{key...}` one or more.
inline bool reference_match(const std::vector<Segment>& pattern,
                            const std::vector<std::string>& path, PathParameters& parameters) {
  bool rest = !pattern.empty() && pattern.back().rest;
  if (rest ? path.size() < pattern.size() : path.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (!pattern[i].placeholder) {
      if (pattern[i].text != path[i]) return false;
      continue;
    }
    auto value = path[i];
    if (pattern[i].rest)
      for (auto j = i + 1; j < path.size(); ++j) value += "/" + path[j];
    parameters.set(pattern[i].text, value);
  }
  return true;
}

}  // namespace path_detail

/// The routes of the REST API and of the store service, as a fixed table.
inline const RouteTable<int>& fixed_routes() {
  static const RouteTable<int> table = [] {
    RouteTable<int> routes;
    int id = 0;
    for (auto [method, pattern] : std::initializer_list<std::pair<const char*, const char*>>{
             {"GET", ""},
             {"GET", "health/live"},
             {"GET", "services"},
             {"POST", "services/register"},
             {"GET", "services/{name}"},
             {"DELETE", "services/{name}"},
             {"POST", "services/{name}/start"},
             {"POST", "services/{name}/configure"},
             {"GET", "ui/{file}"},
             {"GET", "/items"},
             {"PUT", "/items/{key}"},
             {"GET", "/items/{key}"},
             {"DELETE", "/items/{key}"},
             {"GET", "files/{path...}"},
             {"POST", "services/{name}/{path...}"}})
      routes.add(method, pattern, id++);
    return routes;
  }();
  return table;
}

/// What is wrong with how `input` is handled, if anything.
inline std::optional<std::string> check_path(std::string_view input) {
  using namespace path_detail;
  auto nul = input.find('\0');
  std::string_view pattern_text = input.substr(0, nul);
  std::string_view target = nul == std::string_view::npos ? "" : input.substr(nul + 1);
  auto question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query =
      question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

  // split_path: the non-empty pieces between slashes, in order.
  auto segments = split_path(path);
  std::string joined, collapsed;
  for (const auto& segment : segments) {
    if (segment.empty() || segment.find('/') != std::string::npos)
      return "split_path kept an empty segment or a slash";
    joined += joined.empty() ? segment : "/" + segment;
  }
  for (std::size_t i = 0; i < path.size(); ++i)
    if (path[i] != '/' || (!collapsed.empty() && collapsed.back() != '/')) collapsed += path[i];
  while (!collapsed.empty() && collapsed.back() == '/') collapsed.pop_back();
  if (joined != collapsed) return "split_path lost or added characters";

  // PathPattern against the reference.
  PathPattern pattern{pattern_text};
  if (pattern.text().empty() || pattern.text().front() != '/')
    return "PathPattern::text() does not start with '/'";
  if (PathPattern{pattern.text()}.text() != pattern.text())
    return "PathPattern::text() is not a fixed point";
  auto reference = segments_of(pattern_text);
  PathParameters parameters;
  bool matched = pattern.match(segments, &parameters);
  if (matched != pattern.match(segments)) return "match() with and without parameters differ";
  if (documented(reference)) {
    PathParameters expected;
    if (matched != reference_match(reference, segments, expected))
      return std::string{"PathPattern::match differs from the documented rule: "} +
             (matched ? "matched" : "did not match");
    if (matched)
      for (const auto& segment : reference)
        if (segment.placeholder) {
          const auto* value = parameters.find(segment.text);
          if (value == nullptr || *value != expected.at(segment.text))
            return "parameter {" + segment.text + "} differs from the documented value";
        }
  }

  // The route table: the first route whose pattern and method match; else
  // 405 with the methods that would (each once), else 404.
  const auto& table = fixed_routes();
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "PATCH"}) {
    auto match = table.resolve(method, segments);
    const RouteTable<int>::Route* first = nullptr;
    std::vector<std::string> allowed;
    for (const auto& route : table.routes()) {
      if (!route.pattern.match(segments)) continue;
      if (route.info.method == method) {
        first = &route;
        break;
      }
      if (std::find(allowed.begin(), allowed.end(), route.info.method) == allowed.end())
        allowed.push_back(route.info.method);
    }
    if (match.route != first) return std::string{"resolve chose another route for "} + method;
    std::string allow;
    if (!first)
      for (const auto& name : allowed) allow += allow.empty() ? name : ", " + name;
    if (match.allow != allow) return std::string{"resolve's Allow is wrong for "} + method;
    if (match.found() == match.method_not_allowed() && match.found())
      return "found and method_not_allowed at once";
    if (match.found() && !match.route->pattern.match(segments))
      return "resolve returned a route whose pattern does not match";
  }

  // Percent-decoding, as the Api decodes each segment and the query.
  for (bool plus : {false, true}) {
    auto decoded = rest::percent_decode(path, plus);
    if (decoded != decode(path, plus)) return "percent_decode differs from RFC 3986 decoding";
  }
  for (const auto& segment : segments) {
    auto decoded = rest::percent_decode(segment);
    if (!decoded) continue;
    if (rest::percent_decode(encode(*decoded)) != decoded) return "percent_decode(encode(x)) != x";
  }
  try {
    for (const auto& [key, value] : rest::parse_query(query))
      if (key.empty()) return "parse_query kept an empty name";
  } catch (const Error& error) {
    if (error.code() != ErrorCode::bad_request)
      return "parse_query threw something other than bad_request";
    if (decode(query, true)) return "parse_query refused a query without a broken escape";
  }
  try {
    auto list = rest::parse_list_query(query);
    if (list.limit && (*list.limit < 1 || *list.limit > 10000))
      return "parse_list_query accepted a limit outside 1-10000";
  } catch (const Error& error) {
    if (error.code() != ErrorCode::bad_request)
      return "parse_list_query threw something other than bad_request";
  }
  return std::nullopt;
}

}  // namespace processpype::fuzz
