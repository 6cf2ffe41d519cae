#include "processpype/runtime/dependencies.hpp"

#include <algorithm>
#include <unordered_map>

namespace processpype {

DependencyOrder order_along(const std::vector<std::string>& roots, const DependencyEdges& edges) {
  enum class Mark { on_path, done };
  std::unordered_map<std::string, Mark> marks;
  DependencyOrder result;
  struct Frame {
    std::string name;
    const std::vector<std::string>* edges;
    std::size_t next = 0;
  };
  std::vector<Frame> path;

  auto enter = [&](const std::string& name) {
    const auto* out = edges(name);
    if (out == nullptr) {
      if (std::find(result.unknown.begin(), result.unknown.end(), name) == result.unknown.end())
        result.unknown.push_back(name);
      marks[name] = Mark::done;
      return;
    }
    marks[name] = Mark::on_path;
    path.push_back({name, out});
  };

  for (const auto& root : roots) {
    if (marks.count(root) != 0) continue;
    enter(root);
    while (!path.empty()) {
      auto& frame = path.back();
      if (frame.next == frame.edges->size()) {
        marks[frame.name] = Mark::done;
        result.order.push_back(std::move(frame.name));
        path.pop_back();
        continue;
      }
      const auto& next = (*frame.edges)[frame.next++];
      auto mark = marks.find(next);
      if (mark == marks.end()) {
        enter(next);
      } else if (mark->second == Mark::on_path && !result.cycle) {
        auto start = std::find_if(path.begin(), path.end(),
                                  [&](const Frame& frame) { return frame.name == next; });
        std::vector<std::string> cycle;
        for (auto it = start; it != path.end(); ++it) cycle.push_back(it->name);
        cycle.push_back(next);
        result.cycle = std::move(cycle);
      }
    }
  }
  return result;
}

std::string describe_cycle(const std::vector<std::string>& cycle) {
  std::string text;
  for (const auto& name : cycle) text += (text.empty() ? "" : " -> ") + name;
  return text;
}

}  // namespace processpype
