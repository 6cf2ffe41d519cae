// The seed corpus of fuzz_state_row (fuzz/corpus/state_row), replayed in
// the normal build through the fuzzer's own harness: every row decodes into
// an instance or a problem, and clean rows survive being stored again.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "state_row_harness.hpp"

TEST_CASE("every seed row of fuzz_state_row decodes or names its problem, without a crash") {
  std::vector<std::filesystem::path> inputs;
  for (const auto& entry : std::filesystem::directory_iterator{PROCESSPYPE_STATE_ROW_CORPUS})
    inputs.push_back(entry.path());
  std::sort(inputs.begin(), inputs.end());
  REQUIRE(inputs.size() >= 10);
  processpype::fuzz::StateRowHarness harness;
  for (const auto& input : inputs) {
    std::ifstream file{input, std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>{file}, std::istreambuf_iterator<char>{}};
    INFO(input.filename().string());
    CHECK(harness.check(bytes).value_or("") == "");
  }
}
