#include "processpype/runtime/path_pattern.hpp"

namespace processpype {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  while (!path.empty()) {
    auto slash = path.find('/');
    auto segment = path.substr(0, slash);
    if (!segment.empty()) segments.emplace_back(segment);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

PathPattern::PathPattern(std::string_view pattern) {
  for (auto& text : split_path(pattern)) {
    bool placeholder = text.size() > 2 && text.front() == '{' && text.back() == '}';
    if (!placeholder) {
      segments_.push_back({std::move(text), false});
      continue;
    }
    auto name = text.substr(1, text.size() - 2);
    if (name.size() > 3 && name.ends_with("...")) {
      name.resize(name.size() - 3);
      rest_ = true;
    }
    segments_.push_back({std::move(name), true});
  }
}

bool PathPattern::match(const std::vector<std::string>& segments,
                        std::unordered_map<std::string, std::string>* parameters) const {
  if (rest_ ? segments.size() < segments_.size() : segments.size() != segments_.size())
    return false;
  for (std::size_t i = 0; i < segments_.size(); ++i)
    if (!segments_[i].placeholder && segments_[i].text != segments[i]) return false;
  if (parameters == nullptr) return true;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (!segments_[i].placeholder) continue;
    auto& value = (*parameters)[segments_[i].text];
    value = segments[i];
    if (rest_ && i + 1 == segments_.size())
      for (auto j = i + 1; j < segments.size(); ++j) value += "/" + segments[j];
  }
  return true;
}

}  // namespace processpype
