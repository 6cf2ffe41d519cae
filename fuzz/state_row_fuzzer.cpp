// fuzz_state_row: one row of the state file, its columns of any SQLite type,
// written into a real in-memory `instances` table and loaded through the
// store's own path (fuzz/state_row_harness.hpp). A finding: a crash, a
// sanitizer report, any exception, a clean row holding what no request could
// give, or a clean row that does not survive being stored again.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "state_row_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static processpype::fuzz::StateRowHarness harness;
  auto problem = harness.check({reinterpret_cast<const char*>(data), size});
  if (problem) {
    std::fprintf(stderr, "\n==fuzz_state_row== %s\n", problem->c_str());
    std::abort();
  }
  return 0;
}
