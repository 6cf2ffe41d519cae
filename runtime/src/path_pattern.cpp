#include "processpype/runtime/path_pattern.hpp"

#include <stdexcept>

namespace processpype {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  segments.reserve(4);  // /services/{name}/{command}, and /nodes/{id} before it
  while (!path.empty()) {
    auto slash = path.find('/');
    auto segment = path.substr(0, slash);
    if (!segment.empty()) segments.emplace_back(segment);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

const std::string* PathParameters::find(std::string_view name) const noexcept {
  for (const auto& [key, value] : values_)
    if (key == name) return &value;
  return nullptr;
}

const std::string& PathParameters::at(std::string_view name) const {
  if (const auto* value = find(name)) return *value;
  throw std::out_of_range("no path parameter " + std::string{name});
}

void PathParameters::set(std::string name, std::string value) {
  for (auto& [key, existing] : values_)
    if (key == name) {
      existing = std::move(value);
      return;
    }
  values_.emplace_back(std::move(name), std::move(value));
}

PathPattern::PathPattern(std::string_view pattern) {
  for (auto& text : split_path(pattern)) {
    text_ += "/" + text;
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
  if (text_.empty()) text_ = "/";
}

bool PathPattern::match(const std::vector<std::string>& segments,
                        PathParameters* parameters) const {
  if (rest_ ? segments.size() < segments_.size() : segments.size() != segments_.size())
    return false;
  for (std::size_t i = 0; i < segments_.size(); ++i)
    if (!segments_[i].placeholder && segments_[i].text != segments[i]) return false;
  if (parameters == nullptr) return true;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (!segments_[i].placeholder) continue;
    auto value = segments[i];
    if (rest_ && i + 1 == segments_.size())
      for (auto j = i + 1; j < segments.size(); ++j) value += "/" + segments[j];
    parameters->set(segments_[i].text, std::move(value));
  }
  return true;
}

}  // namespace processpype
