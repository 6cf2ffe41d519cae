// order_along: start and stop orders along depends_on, cycles and unknown
// names.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/runtime/dependencies.hpp"

using processpype::describe_cycle;
using processpype::order_along;
using Names = std::vector<std::string>;

namespace {

/// A graph: name → the names it has edges to.
struct Graph {
  std::map<std::string, Names> edges;

  processpype::DependencyEdges lookup() const {
    return [this](const std::string& name) -> const Names* {
      auto found = edges.find(name);
      return found == edges.end() ? nullptr : &found->second;
    };
  }
};

std::ptrdiff_t position(const Names& order, const std::string& name) {
  return std::find(order.begin(), order.end(), name) - order.begin();
}

}  // namespace

TEST_CASE("a chain is ordered dependencies first") {
  Graph graph{{{"app", {"db"}}, {"db", {"disk"}}, {"disk", {}}}};
  auto result = order_along({"app"}, graph.lookup());
  CHECK(result.order == Names{"disk", "db", "app"});
  CHECK_FALSE(result.cycle);
  CHECK(result.unknown.empty());
}

TEST_CASE("a diamond lists each name once, after everything it depends on") {
  Graph graph{{{"top", {"left", "right"}}, {"left", {"base"}}, {"right", {"base"}}, {"base", {}}}};
  auto result = order_along({"top"}, graph.lookup());
  REQUIRE(result.order.size() == 4);
  CHECK(position(result.order, "base") == 0);
  CHECK(position(result.order, "left") < position(result.order, "top"));
  CHECK(position(result.order, "right") < position(result.order, "top"));
  CHECK(result.order.back() == "top");
  CHECK_FALSE(result.cycle);
}

TEST_CASE("several roots share what they reach, each name appears once") {
  Graph graph{{{"a", {"shared"}}, {"b", {"shared"}}, {"shared", {}}}};
  auto result = order_along({"a", "b", "a"}, graph.lookup());
  CHECK(result.order == Names{"shared", "a", "b"});
}

TEST_CASE("a cycle is reported as a path that ends where it starts") {
  Graph graph{{{"a", {"b"}}, {"b", {"a"}}}};
  auto result = order_along({"a"}, graph.lookup());
  REQUIRE(result.cycle);
  CHECK(*result.cycle == Names{"a", "b", "a"});
  CHECK(describe_cycle(*result.cycle) == "a -> b -> a");
}

TEST_CASE("a cycle below the root names only the names on the cycle") {
  Graph graph{{{"root", {"x"}}, {"x", {"y"}}, {"y", {"z"}}, {"z", {"x"}}}};
  auto result = order_along({"root"}, graph.lookup());
  REQUIRE(result.cycle);
  CHECK(*result.cycle == Names{"x", "y", "z", "x"});
  CHECK(describe_cycle(*result.cycle) == "x -> y -> z -> x");
}

TEST_CASE("a name that depends on itself is a cycle of one") {
  Graph graph{{{"self", {"self"}}}};
  auto result = order_along({"self"}, graph.lookup());
  REQUIRE(result.cycle);
  CHECK(describe_cycle(*result.cycle) == "self -> self");
}

TEST_CASE("names the graph does not know are listed once, and not ordered") {
  Graph graph{{{"a", {"ghost", "b"}}, {"b", {"ghost", "phantom"}}}};
  auto result = order_along({"a"}, graph.lookup());
  CHECK(result.unknown == Names{"ghost", "phantom"});
  CHECK(result.order == Names{"b", "a"});
  auto unknown_root = order_along({"nobody"}, graph.lookup());
  CHECK(unknown_root.unknown == Names{"nobody"});
  CHECK(unknown_root.order.empty());
}

TEST_CASE("describe_cycle of nothing or one name") {
  CHECK(describe_cycle({}).empty());
  CHECK(describe_cycle({"a"}) == "a");
}

TEST_CASE("a chain of 100,000 instances is ordered without deep recursion") {
  constexpr std::size_t length = 100000;
  Graph graph;
  for (std::size_t i = 0; i < length; ++i)
    graph.edges["n" + std::to_string(i)] =
        i + 1 < length ? Names{"n" + std::to_string(i + 1)} : Names{};
  auto result = order_along({"n0"}, graph.lookup());
  REQUIRE(result.order.size() == length);
  CHECK(result.order.front() == "n99999");
  CHECK(result.order.back() == "n0");
  CHECK_FALSE(result.cycle);
}
