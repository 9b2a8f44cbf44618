#pragma once

// What one health probe found out about one real server.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace dplb::hc {

struct ProbeResult {
  bool up = false;
  // Why the probe failed ("connection refused", "TLS certificate verification
  // failed: certificate has expired", "unexpected status 503", ...), or a short
  // note on success ("status 200"). Meant for logs and `dplbadm --status`.
  std::string reason;
  // From the start of the probe to its verdict (connect + answer).
  std::chrono::microseconds latency{0};
  // exec with `dynamic: true`: exit code 2..255 => up with weight (code - 2).
  std::optional<uint32_t> weight;
  // nodeport: kube-proxy's `localEndpoints` from the JSON body, when present.
  std::optional<int64_t> localEndpoints;
};

}  // namespace dplb::hc
