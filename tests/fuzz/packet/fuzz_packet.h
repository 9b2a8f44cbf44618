#pragma once
// The packet fuzz entry point (LLVMFuzzerTestOneInput, defined in
// fuzz_packet.cc) and counters that show which paths an input run reached,
// so the deterministic replay test can assert it exercised them.

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace dplb::fuzz {

struct Stats {
  uint64_t inputs = 0;
  uint64_t parsedIpv4 = 0;
  uint64_t parsedArp = 0;
  uint64_t natForwarded = 0;
  uint64_t drForwarded = 0;
  uint64_t tunForwarded = 0;
  uint64_t tunFragmented = 0;
  uint64_t icmpErrorsBuilt = 0;
  uint64_t echoReplies = 0;
  uint64_t icmpTranslated = 0;
  uint64_t fragmented = 0;
};

Stats& stats();

}  // namespace dplb::fuzz
