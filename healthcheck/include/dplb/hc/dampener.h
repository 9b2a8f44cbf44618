#pragma once

// Rise/fall dampening and probe timing for ONE checked real server.
//
// Contract: Dampener is a pure state machine. It owns no thread, socket or
// clock: the caller passes `now` (from whatever clock it injects) and the
// probe results, and asks when the next probe is due. It never blocks and is
// not thread-safe (one owner, normally the health-check loop).
//
// Initial state: a server starts UP, as keepalived's checkers do without
// `alpha`: loading a config must not black-hole a service for rise x interval
// while the first probes run. A dead server is taken out after `fall` failed
// probes. `Options::initiallyUp = false` gives the alpha behaviour (start down,
// need `rise` successes).
//
// Timing: the first probe is due at start + a random delay in [0, warmup]
// (drawn from the injected Rng) so servers are not probed in lock-step. Then a
// probe every `interval`. A failed probe is retried `retry` times, each after
// `retryDelay`, before it counts as one failure (keepalived retry /
// delay_before_retry); any success resets the failure count and vice versa.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "dplb/conf/config.h"
#include "dplb/hc/probe_result.h"

namespace dplb::hc {

using Clock = std::chrono::steady_clock;

// Random source for the warm-up delay: returns a uniformly distributed value
// in [0, bound] (inclusive). Injected so tests are deterministic.
using Rng = std::function<uint64_t(uint64_t bound)>;

enum class ServerState { Up, Down };
std::string_view toString(ServerState s);

// Emitted by onResult when the server's effective state changes.
struct Transition {
  enum class Kind {
    Rise,    // Down -> Up
    Fall,    // Up -> Down
    Weight,  // still up, the dynamic (exec) weight changed
  };
  Kind kind = Kind::Rise;
  ServerState to = ServerState::Up;
  std::string reason;              // the reason of the probe that caused it
  std::optional<uint32_t> weight;  // dynamic weight after the change, if any
  Clock::time_point at{};
};

class Dampener {
 public:
  struct Options {
    bool initiallyUp = true;
  };

  Dampener(const conf::HealthCheck& check, Clock::time_point now, const Rng& rng, Options opts);
  Dampener(const conf::HealthCheck& check, Clock::time_point now, const Rng& rng)
      : Dampener(check, now, rng, Options{}) {}

  // When the next probe must start. Valid while no probe is in flight.
  Clock::time_point nextProbeAt() const { return nextProbeAt_; }

  // Feeds the result of the probe started at nextProbeAt(); `now` is when the
  // result arrived. Schedules the next probe and returns a transition if the
  // state (or the dynamic weight of an up server) changed.
  std::optional<Transition> onResult(const ProbeResult& result, Clock::time_point now);

  ServerState state() const { return state_; }
  // Dynamic weight reported by the last successful exec probe, if any.
  std::optional<uint32_t> dynamicWeight() const { return weight_; }
  const std::optional<ProbeResult>& lastResult() const { return last_; }
  Clock::time_point since() const { return since_; }  // time of the last state change
  uint32_t consecutiveSuccesses() const { return successes_; }
  uint32_t consecutiveFailures() const { return failures_; }

 private:
  Clock::duration interval_;
  Clock::duration retryDelay_;
  uint32_t rise_;
  uint32_t fall_;
  uint32_t retry_;

  ServerState state_;
  Clock::time_point since_;
  Clock::time_point nextProbeAt_;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
  uint32_t retriesUsed_ = 0;
  std::optional<uint32_t> weight_;
  std::optional<ProbeResult> last_;
};

}  // namespace dplb::hc
