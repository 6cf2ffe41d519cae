// fuzz_http: raw bytes of one HTTP connection through the server's parser,
// parser callbacks and limits, then the routing table and handlers of the
// REST API with the example services (echo, counter, ticker, faulty, store)
// registered (fuzz/http_harness.hpp).
//
// Input: one control byte, then the bytes the client sends.
//   bit 0     0: the open Api (no tokens); 1: the secured one
//             (Authorization: Bearer admin / Bearer read)
//   bits 1-3  how the client writes: all at once, or in pieces of
//             1, 2, 3, 5, 16, 100 or 4096 bytes
//   bit 6     0: the server's default limits (body 1 MiB, headers 64 KiB,
//             URL 8 KiB); 1: small ones (1 KiB, 2 KiB, 512 B), so that
//             short inputs reach the 413/414/431 refusals
// The seeds start with '0' (open, all at once, default limits), '1'
// (secured) or '@' (open, small limits).
// FUZZ_HTTP_VERBOSE=1 prints every reply (to replay an input by hand).
//
// A finding: a crash or sanitizer report, an exception escaping, a request
// without a response within 5 s, a second response, a non-2xx JSON reply
// without a string "detail", a 405 without Allow, a JSON reply that is not
// JSON.
#include <cstdio>
#include <cstdlib>

#include "http_harness.hpp"

namespace {

using processpype::fuzz::HttpHarness;

HttpHarness& harness() {
  static HttpHarness instance{HttpHarness::Options{.is_static = true}};
  return instance;
}

[[noreturn]] void report(const char* what, const std::string& detail) {
  std::fprintf(stderr, "\n==fuzz_http== %s: %s\n", what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

/// Every this many inputs, all instances go (the node's state stays small;
/// the harness also refuses registrations beyond 32 instances).
constexpr std::uint64_t clear_every = 250;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::uint64_t executions = 0;
  if (size < 1) return 0;
  static constexpr std::size_t read_sizes[] = {0, 1, 2, 3, 5, 16, 100, 4096};
  bool secured = (data[0] & 1) != 0;
  std::size_t read_size = read_sizes[(data[0] >> 1) & 7];
  auto& fixture = harness();
  bool small_limits = (data[0] & 0x40) != 0;
  auto outcome =
      fixture.connection(std::string_view{reinterpret_cast<const char*>(data) + 1, size - 1},
                         secured, read_size, small_limits);
  static const bool verbose = std::getenv("FUZZ_HTTP_VERBOSE") != nullptr;
  if (verbose)
    for (const auto& reply : outcome.replies)
      std::fprintf(stderr, "%s -> %d %s\n", reply.request.c_str(), reply.status,
                   reply.body.substr(0, 300).c_str());
  if (outcome.hang) report("no response within 5 s (a hang)", *outcome.hang);
  for (const auto& reply : outcome.replies)
    if (auto problem = processpype::fuzz::reply_problem(reply))
      report("broken reply", reply.request + " -> " + *problem);
  for (const auto& violation : fixture.take_violations()) report("contract", violation);
  if (++executions % clear_every == 0) fixture.clear_instances();
  return 0;
}
