// rr, wrr, lc, wlc, sed, nq, fo, ovf. Expected sequences are worked out by
// hand from IPVS-SEMANTICS.md §1 (and the ip_vs_<name>.c they describe);
// the comments show the reasoning. Servers are named in the order they are
// added; the list is newest first, so adding A, B, C gives the list C, B, A.

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <random>

#include "sched_test_util.h"

namespace dplb::sched {
namespace {

using testing::Bed;
using testing::load;

// ------------------------------------------------------------------ rr

TEST(RrTest, WalksTheListNewestFirst) {
  Bed b("rr");
  b.add("A", 1);
  b.add("B", 1);
  b.add("C", 1);
  // List C B A, cursor at the head: C, B, A, then wrap.
  EXPECT_EQ(b.picks(7), "C B A C B A C");
}

TEST(RrTest, NewServerIsReachedOnlyAfterTheWrap) {
  Bed b("rr");
  b.add("A", 1);
  b.add("B", 1);
  b.add("C", 1);
  EXPECT_EQ(b.picks(2), "C B");  // cursor on B
  b.add("D", 1);                 // list D C B A, cursor still on B
  // After B comes A; then the walk wraps to D, C, B, A.
  EXPECT_EQ(b.picks(5), "A D C B A");
}

TEST(RrTest, DeletingTheCursorMovesItToThePreviousElement) {
  Bed b("rr");
  b.add("A", 1);
  RealServer* bee = b.add("B", 1);
  b.add("C", 1);
  EXPECT_EQ(b.picks(2), "C B");  // cursor on B
  b.del(bee);                    // list C A; cursor moves back to C
  // After C comes A (had the cursor gone to the head, C would come first).
  EXPECT_EQ(b.picks(3), "A C A");
}

TEST(RrTest, DeletingBeforeTheCursorKeepsItsPlace) {
  Bed b("rr");
  b.add("A", 1);
  b.add("B", 1);
  RealServer* c = b.add("C", 1);
  EXPECT_EQ(b.picks(3), "C B A");  // cursor on A, the last element
  b.del(c);                        // list B A, cursor still on A
  EXPECT_EQ(b.picks(3), "B A B");
}

TEST(RrTest, SkipsWeightZeroAndOverloaded) {
  Bed b("rr");
  b.add("A", 1);
  b.add("B", 0);
  b.add("C", 1, /*u=*/1);
  // List C B A. C takes a connection and reaches u=1: overloaded. Next: B has
  // weight 0, A wins. Then the walk wraps: C overloaded, B weight 0, and A
  // (the cursor itself, the last element tried) wins again.
  EXPECT_EQ(b.conns(4), "C A A A");
}

TEST(RrTest, NoServerLeavesTheCursorAlone) {
  Bed b("rr");
  RealServer* a = b.add("A", 0);
  b.add("B", 0);
  EXPECT_EQ(b.picks(2), "none none");
  b.edit(a, 1);
  EXPECT_EQ(b.picks(2), "A A");
}

// ------------------------------------------------------------------ wrr

TEST(WrrTest, Weights432FromTheDoc) {
  Bed b("wrr");
  // add A=4: di=4, mw=4-3=1, cw 0 -> mw = 1.
  b.add("A", 4);
  // add B=3: di=1, mw=4, cw=1 kept (1 <= 4, not 0, di == 1).
  b.add("B", 3);
  // add C=2: di=1, mw=4, cw=1 kept. List C B A, cursor at the head.
  b.add("C", 2);
  // cw=1: C, B, A all >= 1. End of list: cw=0 -> mw=4: A. End: cw=3: B, A.
  // End: cw=2: C, B, A. End: cw=1: C, B, A. End: cw=4: A ...
  EXPECT_EQ(b.picks(3), "C B A");
  EXPECT_EQ(b.picks(9), "A B A C B A C B A");
  EXPECT_EQ(b.picks(9), "A B A C B A C B A");
}

TEST(WrrTest, AnyEditResetsTheCursorToTheHead) {
  Bed b("wrr");
  b.add("A", 4);
  RealServer* bee = b.add("B", 3);
  b.add("C", 2);
  EXPECT_EQ(b.picks(4), "C B A A");  // cw=4, cursor on A
  // Edit that changes nothing: cursor back to the head, di=1, mw=4, cw=4 kept.
  b.edit(bee, 3);
  // From the head at cw=4: C(2) no, B(3) no, A(4) yes. (Without the reset
  // the walk would pass the end, drop to cw=3 and pick B.)
  EXPECT_EQ(b.picks(3), "A B A");
}

TEST(WrrTest, CommonDivisorSteps) {
  Bed b("wrr");
  // add A=4: di=4, mw=1, cw=1. add B=2: di=2, mw=4-1=3; cw=1 <= 3 and di > 1:
  // cw = (1/2)*2+1 = 1. List B A.
  b.add("A", 4);
  b.add("B", 2);
  // cw=1: B, A. End: cw=1-2<=0 -> cw=mw=3: A. End: cw=1: B, A. End: cw=3: A...
  EXPECT_EQ(b.picks(9), "B A A B A A B A A");
}

TEST(WrrTest, OverloadedServersAreSkippedAndAllOverloadedGivesNone) {
  Bed b("wrr");
  b.add("A", 1, /*u=*/1);
  RealServer* bee = b.add("B", 1, /*u=*/1);
  // List B A, mw=1, cw=1. B, then A; each reaches u=1 on its bind.
  // Third pick: after A the end, cw=0 -> 1, restarted; last pass with stop=A:
  // B overloaded, A overloaded and is the stop -> none.
  EXPECT_EQ(b.conns(3), "B A none");
  bee->unbindConn(false);  // B total 0 < 3/4: cleared
  EXPECT_EQ(b.picks(1), "B");
}

TEST(WrrTest, AllWeightsZeroGiveNone) {
  Bed b("wrr");
  RealServer* a = b.add("A", 0);
  b.add("B", 0);
  EXPECT_EQ(b.picks(2), "none none");  // mw = 0
  b.edit(a, 2);                        // di=2, mw=2-1=1, cw 0 -> 1
  EXPECT_EQ(b.picks(2), "A A");
}

// Property: once the sequence is periodic, any window of sum(w)/gcd picks
// gives each server exactly weight/gcd picks (its weight when gcd = 1).
TEST(WrrTest, OneFullCycleGivesEachServerItsWeight) {
  std::mt19937 rng(20240607);
  for (int trial = 0; trial < 50; ++trial) {
    Bed b("wrr");
    const int n = 1 + static_cast<int>(rng() % 8);
    const int scale = trial % 3 == 0 ? 3 : 1;  // some trials with gcd > 1
    std::map<std::string, int> weight;
    int g = 0;
    int sum = 0;
    for (int i = 0; i < n; ++i) {
      const std::string name(1, static_cast<char>('A' + i));
      const int w = scale * (1 + static_cast<int>(rng() % 10));
      b.add(name, w);
      weight[name] = w;
      g = std::gcd(g, w);
      sum += w;
    }
    const int cycle = sum / g;
    for (int i = 0; i < cycle; ++i) {
      b.pick();  // reach the periodic part
    }
    std::map<std::string, int> got;
    for (int i = 0; i < cycle; ++i) {
      ++got[b.name(b.pick())];
    }
    for (const auto& [name, w] : weight) {
      EXPECT_EQ(got[name], w / g) << "trial " << trial << " server " << name;
    }
  }
}

// ------------------------------------------------------------------ lc

TEST(LcTest, FirstMinimumInListOrderWins) {
  Bed b("lc");
  b.add("A", 1);
  b.add("B", 1);
  b.add("C", 1);
  // All 0: C. Then C=1: B (0 < 1), A (0 == 0, not <). Then all 1: C.
  EXPECT_EQ(b.conns(4), "C B A C");
}

TEST(LcTest, ActiveCounts256AndWeightIsIgnored) {
  Bed b("lc");
  RealServer* a = b.add("A", 1);
  RealServer* bee = b.add("B", 5);
  RealServer* c = b.add("C", 1);
  load(c, 1, 0);      // 256
  load(bee, 0, 255);  // 255
  load(a, 0, 256);    // 256
  EXPECT_EQ(b.picks(1), "B");
  load(bee, 0, 1);  // 256: three-way tie, the first (C) wins
  EXPECT_EQ(b.picks(1), "C");
}

TEST(LcTest, SkipsWeightZeroAndOverloaded) {
  Bed b("lc");
  b.add("A", 1);
  RealServer* bee = b.add("B", 1, /*u=*/1);
  b.add("C", 0);
  load(bee, 0, 1);  // B overloaded
  EXPECT_EQ(b.picks(2), "A A");
}

// ------------------------------------------------------------------ wlc

TEST(WlcTest, TiesGoToTheFirstServer) {
  Bed b("wlc");
  RealServer* a = b.add("A", 3);
  RealServer* bee = b.add("B", 2);
  RealServer* c = b.add("C", 1);
  // All idle: C first, B: 0*2 > 0*1 no, A no -> C.
  EXPECT_EQ(b.picks(1), "C");
  load(c, 0, 1);
  // C loh=1; B: 1*2 > 0*1 -> B; A: 0*3 > 0*2 no -> B.
  EXPECT_EQ(b.picks(1), "B");
  load(bee, 0, 2);
  // C 1/1; B: 1*2 > 2*1 no; A: 1*3 > 0*1 -> A.
  EXPECT_EQ(b.picks(1), "A");
  load(a, 0, 3);
  // 1/1, 2/2, 3/3: equal ratios, C stays.
  EXPECT_EQ(b.picks(1), "C");
}

TEST(WlcTest, WeightsScaleTheOverhead) {
  Bed b("wlc");
  RealServer* bee = b.add("B", 2);
  RealServer* c = b.add("C", 1);
  load(c, 1, 0);      // 256 / 1
  load(bee, 0, 300);  // 300 / 2: 256*2 = 512 > 300*1 -> B
  EXPECT_EQ(b.picks(1), "B");
  load(bee, 0, 213);  // 513 / 2: 512 > 513 no -> C
  EXPECT_EQ(b.picks(1), "C");
}

TEST(WlcTest, FirstCandidateNeedsPositiveWeightAndNoOverload) {
  Bed b("wlc");
  b.add("A", 1);
  RealServer* bee = b.add("B", 4, /*u=*/1);
  b.add("C", 0);
  load(bee, 0, 1);  // B overloaded; C weight 0: A
  EXPECT_EQ(b.picks(1), "A");
}

// ------------------------------------------------------------------ sed/nq

TEST(SedNqTest, NqTakesAnIdleServerWhereSedWeighs) {
  for (const char* name : {"sed", "nq"}) {
    Bed b(name);
    RealServer* bee = b.add("B", 4);
    b.add("C", 1);
    load(bee, 1, 0);
    // sed: C (0+1)/1 vs B (1+1)/4: 1*4 > 2*1 -> B.
    // nq: C has no active connection -> C at once.
    EXPECT_EQ(b.picks(1), std::string(name) == "sed" ? "B" : "C") << name;
  }
}

TEST(SedNqTest, InactiveConnectionsAreIgnored) {
  for (const char* name : {"sed", "nq"}) {
    Bed b(name);
    RealServer* bee = b.add("B", 4);
    RealServer* c = b.add("C", 1);
    load(bee, 1, 1000);
    load(c, 1, 0);
    // No idle server: C loh 2 (w 1); B: 2*4 > 2*1 -> B, inactive ignored.
    EXPECT_EQ(b.picks(1), "B") << name;
  }
}

TEST(SedNqTest, NqTakesTheFirstIdleInListOrder) {
  Bed b("nq");
  b.add("A", 1);
  b.add("B", 1);
  RealServer* c = b.add("C", 100);
  RealServer* d = b.add("D", 0);
  load(c, 1, 0);
  // List D C B A: D weight 0 skipped, C busy, B idle -> B (not A).
  EXPECT_EQ(b.picks(1), "B");
  (void)d;
}

// ------------------------------------------------------------------ fo/ovf

TEST(FoTest, HighestWeightFirstOnTies) {
  Bed b("fo");
  RealServer* a = b.add("A", 5);
  RealServer* bee = b.add("B", 5, /*u=*/1);
  RealServer* c = b.add("C", 2);
  // List C B A: B and A tie at 5, B comes first.
  EXPECT_EQ(b.picks(1), "B");
  load(bee, 0, 1);  // B overloaded -> A
  EXPECT_EQ(b.picks(1), "A");
  b.edit(a, 0);
  b.edit(c, 0);
  EXPECT_EQ(b.picks(1), "none");  // weight 0 never chosen
}

TEST(OvfTest, OverflowsWhenActiveExceedsWeight) {
  Bed b("ovf");
  b.add("A", 5);
  RealServer* bee = b.add("B", 5);
  b.add("C", 2);
  load(bee, 6, 0);  // B: 6 active > weight 5 -> skipped; A is next best
  EXPECT_EQ(b.picks(1), "A");
  bee->unbindConn(true);  // 5 active: not > 5, and B precedes A
  EXPECT_EQ(b.picks(1), "B");
}

TEST(OvfTest, SkipsOverloadedAndWeightZero) {
  Bed b("ovf");
  RealServer* a = b.add("A", 0);
  RealServer* bee = b.add("B", 3, /*u=*/1);
  load(bee, 0, 1);
  EXPECT_EQ(b.picks(1), "none");
  (void)a;
}

}  // namespace
}  // namespace dplb::sched
