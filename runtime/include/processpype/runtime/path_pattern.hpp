#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace processpype {

/// `/a/b/` → {"a", "b"}: empty segments are dropped.
std::vector<std::string> split_path(std::string_view path);

/// The values of a matched pattern's `{placeholders}`, in pattern order.
class PathParameters {
 public:
  /// The value of `{name}`; throws std::out_of_range when the pattern has none.
  const std::string& at(std::string_view name) const;
  const std::string* find(std::string_view name) const noexcept;
  void set(std::string name, std::string value);
  bool empty() const noexcept { return values_.empty(); }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

/// A path pattern of `/`-separated segments. `{key}` matches any one
/// segment; a last segment `{key...}` matches one or more remaining
/// segments (joined with `/`).
class PathPattern {
 public:
  explicit PathPattern(std::string_view pattern);

  /// Whether `segments` match; fills `parameters` (if given) when they do.
  bool match(const std::vector<std::string>& segments, PathParameters* parameters = nullptr) const;

  /// The pattern as written, with one leading `/` (`/services/{name}`).
  const std::string& text() const noexcept { return text_; }

 private:
  struct Segment {
    std::string text;  ///< literal text or placeholder name
    bool placeholder = false;
  };
  std::string text_;
  std::vector<Segment> segments_;
  bool rest_ = false;  ///< the last placeholder takes the remaining segments
};

}  // namespace processpype
