// docs/rest-api.md lists exactly the routes of the Api's table: a route
// added, removed or renamed on one side only fails here.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "support/api_harness.hpp"

namespace {

using MethodAndPath = std::pair<std::string, std::string>;

/// The `| METHOD `/path`` rows of the document's tables; a query after
/// '?' is not part of the path; rows for any method or any node's path
/// (`any /nodes/{id}/...`) name no single route.
std::set<MethodAndPath> documented_routes(const std::string& path) {
  std::ifstream file{path};
  REQUIRE(file);
  std::stringstream text;
  text << file.rdbuf();
  static const std::regex row{R"(^\| (GET|POST|PUT|DELETE) `(/[^`?]*))"};
  std::set<MethodAndPath> routes;
  std::string line;
  while (std::getline(text, line)) {
    std::smatch match;
    if (std::regex_search(line, match, row)) routes.emplace(match[1], match[2]);
  }
  return routes;
}

}  // namespace

TEST_CASE("docs/rest-api.md lists exactly the routes of the table") {
  rest_tests::ApiNode node;
  std::set<MethodAndPath> table;
  for (const auto& route : node.api().routes()) table.emplace(route.method, route.pattern);
  auto documented = documented_routes(PROCESSPYPE_SOURCE_DIR "/docs/rest-api.md");
  std::set<MethodAndPath> undocumented, unknown;
  for (const auto& route : table)
    if (documented.count(route) == 0) undocumented.insert(route);
  for (const auto& route : documented)
    if (table.count(route) == 0) unknown.insert(route);
  auto describe = [](const std::set<MethodAndPath>& routes) {
    std::string text;
    for (const auto& [method, path] : routes) text += method + " " + path + "; ";
    return text;
  };
  INFO("in the table, not in the document: " << describe(undocumented));
  INFO("in the document, not in the table: " << describe(unknown));
  CHECK(undocumented.empty());
  CHECK(unknown.empty());
  CHECK(table.size() >= 19);
}
