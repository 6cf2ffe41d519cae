#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace processpype {

/// `/a/b/` → {"a", "b"}: empty segments are dropped.
std::vector<std::string> split_path(std::string_view path);

/// A path pattern of `/`-separated segments. `{key}` matches any one
/// segment; a last segment `{key...}` matches one or more remaining
/// segments (joined with `/`). Used by the REST routing table and by
/// service routes alike.
class PathPattern {
 public:
  explicit PathPattern(std::string_view pattern);

  /// Whether `segments` match; fills `parameters` (if given) when they do.
  bool match(const std::vector<std::string>& segments,
             std::unordered_map<std::string, std::string>* parameters = nullptr) const;

 private:
  struct Segment {
    std::string text;  ///< literal text or placeholder name
    bool placeholder = false;
  };
  std::vector<Segment> segments_;
  bool rest_ = false;  ///< the last placeholder takes the remaining segments
};

}  // namespace processpype
