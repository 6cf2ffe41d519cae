// fuzz_yaml: bytes as the application's YAML file (docs/configuration.md):
// parse_application_config(text, "fuzz") with a few environment variables
// set, so ${VAR} and ${VAR:-default} substitute (fuzz/yaml_harness.hpp). A
// finding: a crash or sanitizer report, any exception other than
// ApplicationConfigError, a loaded configuration outside its documented
// shape.
#include <cstdio>
#include <cstdlib>

#include "yaml_harness.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  processpype::fuzz::set_yaml_environment();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto problem =
      processpype::fuzz::check_application_config({reinterpret_cast<const char*>(data), size});
  if (problem) {
    std::fprintf(stderr, "\n==fuzz_yaml== %s\n", problem->c_str());
    std::abort();
  }
  return 0;
}
