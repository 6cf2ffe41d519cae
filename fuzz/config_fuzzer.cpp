// fuzz_config: bytes as a service configuration in JSON (a configure body):
// parse_json, then load into the configuration of every example class, and
// to_json → load round trips (fuzz/config_harness.hpp). A finding: a crash
// or sanitizer report, an exception other than processpype::Error, a
// configuration that does not survive its own round trip.
#include <cstdio>
#include <cstdlib>

#include "config_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const processpype::fuzz::ConfigurationHarness harness;
  auto problem = harness.check({reinterpret_cast<const char*>(data), size});
  if (problem) {
    std::fprintf(stderr, "\n==fuzz_config== %s\n", problem->c_str());
    std::abort();
  }
  return 0;
}
