// The --rate estimator against IPVS's arithmetic (ip_vs_est.c): samples fed
// by hand, expected values worked out from the kernel's formulas.

#include <gtest/gtest.h>

#include "dplb/control/rate_estimator.h"

namespace dplb::control {
namespace {

// Cumulative counters after a steady rate per second over `seconds`.
RateCounters steady(uint64_t cps, uint64_t pps, uint64_t bps, uint64_t seconds) {
  return {cps * seconds, pps * seconds, pps * seconds / 2, bps * seconds, bps * seconds / 2};
}

// The kernel's steps for one counter, written out independently: scaled
// rate, EWMA with weight 1/4 (s64 arithmetic shift), rounded unscale.
uint64_t kernelRate(const std::vector<uint64_t>& cumulative, bool bytes) {
  const unsigned up = bytes ? 4 : 9;
  const unsigned down = bytes ? 5 : 10;
  const int64_t half = bytes ? 0xF : 0x1FF;
  int64_t avg = 0;
  uint64_t last = cumulative.front();
  for (size_t i = 1; i < cumulative.size(); ++i) {
    int64_t rate = static_cast<int64_t>((cumulative[i] - last) << up);
    last = cumulative[i];
    avg += (rate - avg) / 4 - ((rate - avg) % 4 < 0 ? 1 : 0);  // floor division, as >> 2
  }
  return static_cast<uint64_t>((avg + half) >> down);
}

TEST(RateEstimator, FirstSampleIsAQuarterOfTheRate) {
  RateEstimator e(steady(0, 0, 0, 0));
  e.sample(steady(100, 1000, 800000, 2));  // 2 s at 100 conns/s
  // avg = (100 << 10) / 4 = 25600 -> (25600 + 511) >> 10 = 25
  EXPECT_EQ(e.read(), (Rates{25, 250, 125, 200000, 100000}));
}

TEST(RateEstimator, ConvergesToASteadyRate) {
  RateEstimator e;
  for (uint64_t t = 2; t <= 200; t += 2) {  // (3/4)^100: the byte EWMA too
    e.sample(steady(100, 1000, 800000, t));
  }
  EXPECT_EQ(e.read(), (Rates{100, 1000, 500, 800000, 400000}));
}

TEST(RateEstimator, MatchesTheKernelFormulaOnAnIrregularSeries) {
  const std::vector<uint64_t> conns = {0, 7, 7, 30, 31, 200, 205, 205, 206};
  const std::vector<uint64_t> bytes = {0, 1500, 1500, 90000, 91000, 5000000, 5000001, 5000001, 0};
  RateEstimator e;
  for (size_t i = 1; i < conns.size() - 1; ++i) {
    e.sample({conns[i], conns[i], 0, bytes[i], 0});
  }
  const std::vector<uint64_t> c(conns.begin(), conns.end() - 1);
  const std::vector<uint64_t> b(bytes.begin(), bytes.end() - 1);
  const Rates r = e.read();
  EXPECT_EQ(r.cps, kernelRate(c, false));
  EXPECT_EQ(r.inpps, kernelRate(c, false));
  EXPECT_EQ(r.inbps, kernelRate(b, true));
  EXPECT_EQ(r.outpps, 0u);
  EXPECT_NE(r.cps, 0u) << "a test that cannot fail proves nothing";
}

TEST(RateEstimator, DecaysWhenTrafficStops) {
  RateEstimator e;
  for (uint64_t t = 2; t <= 40; t += 2) {
    e.sample(steady(10, 10, 10, t));
  }
  const RateCounters stopped = steady(10, 10, 10, 40);
  Rates prev = e.read();
  for (int i = 0; i < 5; ++i) {
    e.sample(stopped);
    EXPECT_LT(e.read().cps, prev.cps + 1);
    prev = e.read();
  }
  EXPECT_LT(prev.cps, 3u);
  for (int i = 0; i < 30; ++i) {
    e.sample(stopped);
  }
  EXPECT_EQ(e.read(), Rates{});
}

TEST(RateEstimator, ZeroRestartsFromTheCurrentCounters) {
  RateEstimator e;
  e.sample(steady(100, 100, 100, 2));
  e.zero(steady(100, 100, 100, 2));
  EXPECT_EQ(e.read(), Rates{});
  // Only what comes after the zero counts: another 2 s at 100/s.
  e.sample(steady(100, 100, 100, 4));
  EXPECT_EQ(e.read().cps, 25u);
}

TEST(RateEstimator, CountersGoingBackwardsRestart) {
  RateEstimator e(steady(5, 5, 5, 100));
  e.sample(steady(5, 5, 5, 1));  // a reused slot started again from 0
  EXPECT_EQ(e.read(), Rates{});
  e.sample(steady(5, 5, 5, 3));
  EXPECT_EQ(e.read().cps, 1u) << "(10 << 9) / 4 = 1280 -> (1280 + 511) >> 10 = 1";
}

TEST(RateTable, TracksKeysAndForgetsVanishedOnes) {
  RateTable t;
  StatsKey svc{6, 0x0a000064, 80};
  StatsKey rs = svc;
  rs.server = true;
  rs.rsAddr = 0x0a00010b;
  rs.rsPort = 8080;
  t.tick({{svc, steady(0, 0, 0, 0)}, {rs, steady(0, 0, 0, 0)}});
  t.tick({{svc, steady(40, 40, 40, 2)}, {rs, steady(20, 20, 20, 2)}});
  EXPECT_EQ(t.rates(svc).cps, 10u);
  EXPECT_EQ(t.rates(rs).cps, 5u);
  t.zero(svc, steady(40, 40, 40, 2));
  EXPECT_EQ(t.rates(svc), Rates{});
  EXPECT_EQ(t.rates(rs).cps, 5u) << "zeroing one key leaves the others";
  t.tick({{svc, steady(40, 40, 40, 4)}});
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.rates(rs), Rates{});
  t.retain({});
  EXPECT_EQ(t.size(), 0u);
}

}  // namespace
}  // namespace dplb::control
