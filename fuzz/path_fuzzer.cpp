// fuzz_path: `pattern NUL path[?query]` through split_path, PathPattern,
// RouteTable::resolve (a fixed table of the API's and the store's routes),
// percent_decode, parse_query and parse_list_query, each checked against
// what its header documents (fuzz/path_harness.hpp).
#include <cstdio>
#include <cstdlib>

#include "path_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto problem = processpype::fuzz::check_path({reinterpret_cast<const char*>(data), size});
  if (problem) {
    std::fprintf(stderr, "\n==fuzz_path== %s\n", problem->c_str());
    std::abort();
  }
  return 0;
}
