// Rise/fall dampening, retries and warm-up, driven by a fake clock and RNG:
// no sockets, no threads, no sleeps.

#include "dplb/hc/dampener.h"

#include <gtest/gtest.h>

namespace dplb::hc {
namespace {

using namespace std::chrono_literals;

conf::HealthCheck check(uint32_t rise, uint32_t fall, uint32_t retry = 0) {
  conf::HealthCheck c;
  c.interval = 2s;
  c.timeout = 1s;
  c.rise = rise;
  c.fall = fall;
  c.retry = retry;
  c.retryDelay = 500ms;
  c.warmup = 0s;
  return c;
}

ProbeResult ok(std::string why = "status 200") {
  return ProbeResult{true, std::move(why)};
}
ProbeResult bad(std::string why) {
  return ProbeResult{false, std::move(why)};
}

// A fake clock: time moves only when the test says so.
struct FakeClock {
  Clock::time_point t = Clock::time_point(1000s);
  Clock::time_point advanceTo(Clock::time_point to) { return t = std::max(t, to); }
};

const Rng kZeroRng = [](uint64_t) { return uint64_t{0}; };

TEST(Dampener, StartsUpAndFallsAfterFallConsecutiveFailures) {
  FakeClock clk;
  Dampener d(check(2, 3), clk.t, kZeroRng);
  EXPECT_EQ(d.state(), ServerState::Up);
  EXPECT_EQ(d.nextProbeAt(), clk.t);  // no warm-up: probe at once

  EXPECT_FALSE(d.onResult(bad("connection refused"), clk.t));
  EXPECT_EQ(d.nextProbeAt(), clk.t + 2s);
  clk.advanceTo(d.nextProbeAt());
  EXPECT_FALSE(d.onResult(bad("connection refused"), clk.t));
  clk.advanceTo(d.nextProbeAt());
  auto tr = d.onResult(bad("unexpected status 503"), clk.t);
  ASSERT_TRUE(tr);
  EXPECT_EQ(tr->kind, Transition::Kind::Fall);
  EXPECT_EQ(tr->to, ServerState::Down);
  EXPECT_EQ(tr->reason, "unexpected status 503");
  EXPECT_EQ(tr->at, clk.t);
  EXPECT_EQ(d.state(), ServerState::Down);
  EXPECT_EQ(d.since(), clk.t);
  // More failures while down: no repeated transition.
  clk.advanceTo(d.nextProbeAt());
  EXPECT_FALSE(d.onResult(bad("connection refused"), clk.t));
  EXPECT_EQ(d.lastResult()->reason, "connection refused");
}

TEST(Dampener, SuccessResetsTheFailureCount) {
  FakeClock clk;
  Dampener d(check(1, 2), clk.t, kZeroRng);
  EXPECT_FALSE(d.onResult(bad("x"), clk.t));
  EXPECT_EQ(d.consecutiveFailures(), 1u);
  EXPECT_FALSE(d.onResult(ok(), clk.advanceTo(d.nextProbeAt())));
  EXPECT_EQ(d.consecutiveFailures(), 0u);
  EXPECT_FALSE(d.onResult(bad("x"), clk.advanceTo(d.nextProbeAt())));
  EXPECT_EQ(d.state(), ServerState::Up);  // flapping does not take it down
  ASSERT_TRUE(d.onResult(bad("x"), clk.advanceTo(d.nextProbeAt())));
  EXPECT_EQ(d.state(), ServerState::Down);
}

TEST(Dampener, RisesAfterRiseConsecutiveSuccesses) {
  FakeClock clk;
  Dampener d(check(3, 1), clk.t, kZeroRng, Dampener::Options{.initiallyUp = false});
  EXPECT_EQ(d.state(), ServerState::Down);
  EXPECT_FALSE(d.onResult(ok(), clk.t));
  EXPECT_FALSE(d.onResult(ok(), clk.advanceTo(d.nextProbeAt())));
  // A failure in between restarts the count.
  EXPECT_FALSE(d.onResult(bad("timeout"), clk.advanceTo(d.nextProbeAt())));
  EXPECT_FALSE(d.onResult(ok(), clk.advanceTo(d.nextProbeAt())));
  EXPECT_FALSE(d.onResult(ok(), clk.advanceTo(d.nextProbeAt())));
  auto tr = d.onResult(ok("status 204"), clk.advanceTo(d.nextProbeAt()));
  ASSERT_TRUE(tr);
  EXPECT_EQ(tr->kind, Transition::Kind::Rise);
  EXPECT_EQ(tr->to, ServerState::Up);
  EXPECT_EQ(tr->reason, "status 204");
  EXPECT_EQ(d.since(), clk.t);
}

TEST(Dampener, RetriesAfterRetryDelayBeforeCountingAFailure) {
  FakeClock clk;
  Dampener d(check(1, 1, /*retry=*/2), clk.t, kZeroRng);
  EXPECT_FALSE(d.onResult(bad("a"), clk.t));
  EXPECT_EQ(d.nextProbeAt(), clk.t + 500ms);  // retry_delay, not interval
  EXPECT_EQ(d.consecutiveFailures(), 0u);
  EXPECT_FALSE(d.onResult(bad("b"), clk.advanceTo(d.nextProbeAt())));
  EXPECT_EQ(d.nextProbeAt(), clk.t + 500ms);
  auto tr = d.onResult(bad("c"), clk.advanceTo(d.nextProbeAt()));
  ASSERT_TRUE(tr);  // fall = 1: the third failed attempt is the one failure
  EXPECT_EQ(tr->reason, "c");
  EXPECT_EQ(d.nextProbeAt(), clk.t + 2s);
}

TEST(Dampener, RetryCountResetsOnSuccess) {
  FakeClock clk;
  Dampener d(check(1, 1, 1), clk.t, kZeroRng);
  EXPECT_FALSE(d.onResult(bad("a"), clk.t));
  EXPECT_FALSE(d.onResult(ok(), clk.advanceTo(d.nextProbeAt())));
  EXPECT_FALSE(d.onResult(bad("b"), clk.advanceTo(d.nextProbeAt())));  // retried again
  EXPECT_EQ(d.state(), ServerState::Up);
  EXPECT_TRUE(d.onResult(bad("c"), clk.advanceTo(d.nextProbeAt())));
}

TEST(Dampener, WarmupDrawsTheFirstProbeFromTheInjectedRng) {
  FakeClock clk;
  auto c = check(1, 1);
  c.warmup = 1500ms;
  uint64_t seenBound = 0;
  Rng rng = [&](uint64_t bound) {
    seenBound = bound;
    return uint64_t{700};
  };
  Dampener d(c, clk.t, rng);
  EXPECT_EQ(seenBound, 1500u);
  EXPECT_EQ(d.nextProbeAt(), clk.t + 700ms);
  // An out-of-range draw is clamped to the warm-up.
  Rng wild = [](uint64_t) { return uint64_t{999999}; };
  Dampener d2(c, clk.t, wild);
  EXPECT_EQ(d2.nextProbeAt(), clk.t + 1500ms);
}

TEST(Dampener, DynamicWeightChangesAreReported) {
  FakeClock clk;
  Dampener d(check(1, 1), clk.t, kZeroRng);
  ProbeResult w5{true, "exit status 7"};
  w5.weight = 5;
  auto tr = d.onResult(w5, clk.t);
  ASSERT_TRUE(tr);
  EXPECT_EQ(tr->kind, Transition::Kind::Weight);
  EXPECT_EQ(tr->weight, 5u);
  EXPECT_EQ(d.dynamicWeight(), 5u);
  EXPECT_FALSE(d.onResult(w5, clk.advanceTo(d.nextProbeAt())));  // unchanged
  tr = d.onResult(ok("exit status 0"), clk.advanceTo(d.nextProbeAt()));
  ASSERT_TRUE(tr);  // back to the configured weight
  EXPECT_FALSE(tr->weight);
  ASSERT_TRUE(d.onResult(bad("exit status 1"), clk.advanceTo(d.nextProbeAt())));
  EXPECT_FALSE(d.dynamicWeight());
}

TEST(Dampener, LongRunMatchesAReferenceCounter) {
  // A deterministic pseudo-random result sequence checked against a direct
  // restatement of the rule: down after `fall` failures in a row, up after
  // `rise` successes in a row.
  FakeClock clk;
  const uint32_t rise = 2;
  const uint32_t fall = 3;
  Dampener d(check(rise, fall), clk.t, kZeroRng);
  bool up = true;
  uint32_t okRun = 0;
  uint32_t badRun = 0;
  uint32_t x = 12345;
  int transitions = 0;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1103515245u + 12345u;
    bool res = ((x >> 16) & 3) != 0 ? ((x >> 20) & 1) != 0 : false;
    okRun = res ? okRun + 1 : 0;
    badRun = res ? 0 : badRun + 1;
    bool expectChange = (up && badRun >= fall) || (!up && okRun >= rise);
    auto tr = d.onResult(res ? ok() : bad("x"), clk.advanceTo(d.nextProbeAt()));
    EXPECT_EQ(tr.has_value(), expectChange) << "step " << i;
    if (expectChange) {
      up = !up;
      ++transitions;
    }
    EXPECT_EQ(d.state() == ServerState::Up, up) << "step " << i;
  }
  EXPECT_GT(transitions, 10);
}

}  // namespace
}  // namespace dplb::hc
