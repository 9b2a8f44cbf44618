// lblc and lblcr (IPVS-SEMANTICS.md §1, ip_vs_lblc.c, ip_vs_lblcr.c).
// Time is injected; the garbage-collection timer fires every 60 s from the
// service's creation (t = 0) and every 30th firing (t = 1800 s, 3600 s, ...)
// is the full check that drops entries unused for 24 h (86400 s).

#include <gtest/gtest.h>

#include <map>

#include "dplb/sched/hash.h"
#include "sched_test_util.h"

namespace dplb::sched {
namespace {

using namespace std::chrono_literals;
using testing::Bed;
using testing::ip;
using testing::load;

constexpr uint32_t kD1 = ip(10, 0, 0, 101);
constexpr uint32_t kD2 = ip(10, 0, 0, 102);

RealServer* at(Bed& b, uint32_t dst, Nanos now) {
  return b.sched().pick(PickKey{ip(192, 168, 1, 1), 33333, dst, kProtoTcp}, now);
}

// A new TCP connection that reaches ESTABLISHED.
RealServer* established(Bed& b, uint32_t dst, Nanos now) {
  RealServer* s = at(b, dst, now);
  if (s != nullptr) {
    s->bindConn();
    s->connActivated();
  }
  return s;
}

// ------------------------------------------------------------------ lblc

TEST(LblcTest, CachedServerSticksWhileWlcWouldMoveOn) {
  Bed b("lblc");
  b.add("A", 1);
  b.add("B", 1);
  // List B A. D1 misses: wlc takes B (first, both idle) and caches it.
  RealServer* s = at(b, kD1, 0s);
  EXPECT_EQ(b.name(s), "B");
  s->bindConn();
  // Hit: B (active 0 <= weight 1) although wlc would now choose A.
  EXPECT_EQ(b.name(at(b, kD1, 1s)), "B");
  // Another destination misses and gets wlc's choice.
  EXPECT_EQ(b.name(at(b, kD2, 1s)), "A");
  EXPECT_EQ(b.sched().cacheEntries(), 2u);
}

TEST(LblcTest, OwnOverloadRuleReschedules) {
  Bed b("lblc");
  RealServer* a = b.add("A", 4);
  RealServer* bee = b.add("B", 1);
  EXPECT_EQ(b.name(at(b, kD1, 0s)), "B");  // list B A, both idle: B
  load(bee, 2, 0);
  // B: active 2 > weight 1, and A has 0 * 2 < 4: "overloaded" -> wlc:
  // B 512 / 1 vs A 0 / 4 -> A, and the entry now says A.
  EXPECT_EQ(b.name(at(b, kD1, 1s)), "A");
  EXPECT_EQ(b.name(at(b, kD1, 2s)), "A");
  (void)a;
}

TEST(LblcTest, ActiveAboveWeightAloneIsNotOverload) {
  Bed b("lblc");
  RealServer* a = b.add("A", 4);
  RealServer* bee = b.add("B", 1);
  EXPECT_EQ(b.name(at(b, kD1, 0s)), "B");
  load(a, 2, 0);    // A: 2 * 2 < 4 is false
  load(bee, 2, 0);  // B: 2 > 1, but 2 * 2 < 1 is false too: nobody is light
  EXPECT_EQ(b.name(at(b, kD1, 1s)), "B");
}

TEST(LblcTest, ThresholdFlagIsNotConsultedForTheCachedServer) {
  Bed b("lblc");
  b.add("A", 1);
  RealServer* bee = b.add("B", 1, /*u=*/1);
  EXPECT_EQ(b.name(at(b, kD1, 0s)), "B");
  load(bee, 0, 1);  // OVERLOAD set
  ASSERT_TRUE(bee->overloaded());
  EXPECT_EQ(b.name(at(b, kD1, 1s)), "B");  // cached, flag ignored
  EXPECT_EQ(b.name(at(b, kD2, 1s)), "A");  // wlc skips the flagged B
}

TEST(LblcTest, WeightZeroReschedules) {
  Bed b("lblc");
  b.add("A", 1);
  RealServer* bee = b.add("B", 1);
  EXPECT_EQ(b.name(at(b, kD1, 0s)), "B");
  b.edit(bee, 0);
  EXPECT_EQ(b.name(at(b, kD1, 1s)), "A");
  b.edit(bee, 1);
  EXPECT_EQ(b.name(at(b, kD1, 2s)), "A");  // the entry was replaced
}

TEST(LblcTest, EntryOutlivesItsServerAndRevivesWithIt) {
  Bed b("lblc");
  b.add("A", 1);
  RealServer* bee = b.add("B", 1);
  EXPECT_EQ(b.name(at(b, kD1, 0s)), "B");
  b.del(bee);
  b.add("B", 1);  // same address and port: IPVS revives the trashed dest
  b.add("C", 1);  // list C B A: wlc would take C
  EXPECT_EQ(b.name(at(b, kD1, 1s)), "B");
}

TEST(LblcTest, DeletedServerIsNotUsed) {
  Bed b("lblc");
  b.add("A", 1);
  RealServer* bee = b.add("B", 1);
  EXPECT_EQ(b.name(at(b, kD1, 0s)), "B");
  b.del(bee);
  EXPECT_EQ(b.name(at(b, kD1, 1s)), "A");
  b.add("B", 1);
  EXPECT_EQ(b.name(at(b, kD1, 2s)), "A");  // entry now names A
}

// The entry was used at t0 and a connection keeps B loaded, so after expiry
// wlc (list B A) picks A. Returns the decision for D1 at t.
std::string lblcAfter(Nanos t0, Nanos t) {
  Bed b("lblc");
  b.add("A", 1);
  b.add("B", 1);
  at(b, kD1, Nanos(0));            // miss at 0: wlc takes B (list B A), cached
  RealServer* s = at(b, kD1, t0);  // hit at t0 (last use t0); B gets a connection
  s->bindConn();
  return b.name(at(b, kD1, t));
}

TEST(LblcTest, FullCheckEveryThirtyMinutesDropsEntriesUnusedForADay) {
  // Last use at 0: the full check at 86400 s drops it (86400 >= 0 + 86400).
  EXPECT_EQ(lblcAfter(0s, 86399s), "B");
  EXPECT_EQ(lblcAfter(0s, 86400s), "A");
  // Last use at 60 s: expired from 86460 s on, but only the next full check
  // (88200 s = 49 * 1800) drops it.
  EXPECT_EQ(lblcAfter(60s, 88199s), "B");
  EXPECT_EQ(lblcAfter(60s, 88200s), "A");
}

TEST(LblcTest, ExpireRunsTheTimerWithoutAPick) {
  Bed b("lblc");
  b.add("A", 1);
  at(b, kD1, 0s);
  at(b, kD2, 1000s);
  b.sched().expire(86400s);  // D1 (last use 0) goes, D2 (1000 s) stays
  EXPECT_EQ(b.sched().cacheEntries(), 1u);
  b.sched().expire(88200s);  // 88200 >= 1000 + 86400
  EXPECT_EQ(b.sched().cacheEntries(), 0u);
  // A ten-year jump is handled without walking every minute.
  b.sched().expire(std::chrono::hours(24 * 3650));
  EXPECT_EQ(b.name(at(b, kD1, std::chrono::hours(24 * 3650))), "A");
}

TEST(LblcTest, AboveMaxSizeTheTimerTrimsEntriesIdleForSixMinutes) {
  // 20 destinations in each of the 1024 buckets (hash_32(dst, 10)): 20480
  // entries, above max_size 16384. Firings at 60..300 s find nothing idle for
  // 6 minutes. At 360 s: goal = (20480 - 16384) * 4 / 3 = 5461; buckets are
  // swept from rover + 1 = 1, 20 entries each, until the goal is met:
  // 274 buckets (5480 entries), leaving 15000, the rover at bucket 274.
  Bed b("lblc");
  b.add("A", 1);
  std::vector<uint32_t> perBucket(1024, 0);
  std::vector<uint32_t> firstInBucket(1024, 0);
  uint32_t placed = 0;
  for (uint32_t x = ip(10, 8, 0, 0); placed < 20480; ++x) {
    const uint32_t bucket = hash32(x, 10);
    if (perBucket[bucket] < 20) {
      if (perBucket[bucket] == 0) {
        firstInBucket[bucket] = x;
      }
      ++perBucket[bucket];
      ++placed;
      ASSERT_NE(at(b, x, 0s), nullptr);
    }
  }
  EXPECT_EQ(b.sched().cacheEntries(), 20480u);
  b.sched().expire(359s);
  EXPECT_EQ(b.sched().cacheEntries(), 20480u);
  b.sched().expire(360s);
  EXPECT_EQ(b.sched().cacheEntries(), 15000u);
  // Bucket 0 was not swept (a hit), bucket 1 was (a miss creates an entry).
  at(b, firstInBucket[0], 400s);
  EXPECT_EQ(b.sched().cacheEntries(), 15000u);
  at(b, firstInBucket[1], 400s);
  EXPECT_EQ(b.sched().cacheEntries(), 15001u);
}

TEST(LblcTest, ReplacementsInflateTheEntryCountAsInIpvs) {
  // ip_vs_lblc_new replaces an entry with ip_vs_lblc_del (no decrement) and
  // a counted insert, so each replacement adds one to tbl->entries.
  Bed b("lblc");
  RealServer* a = b.add("A", 1);
  RealServer* bee = b.add("B", 1);
  ASSERT_EQ(b.name(at(b, kD1, 0s)), "B");  // count 1
  // Quiesce the cached server each time: the entry is replaced by the other.
  for (int i = 0; i < 16385; ++i) {
    b.edit(i % 2 == 0 ? bee : a, 0);
    b.edit(i % 2 == 0 ? a : bee, 1);
    ASSERT_EQ(b.name(at(b, kD1, 0s)), i % 2 == 0 ? "A" : "B") << i;
  }
  // One entry, but IPVS counts 1 + 16385 = 16386 > max_size 16384: every
  // firing runs the partial check (goal (16386 - 16384) * 4 / 3 = 2), which
  // drops entries idle for 6 minutes: ours (last use 0) at t = 360 s.
  EXPECT_EQ(b.sched().cacheEntries(), 1u);
  b.sched().expire(359s);
  EXPECT_EQ(b.sched().cacheEntries(), 1u);
  b.sched().expire(360s);
  EXPECT_EQ(b.sched().cacheEntries(), 0u);
  // Without replacements the count stays 1 and the entry lives for a day.
  Bed plain("lblc");
  plain.add("A", 1);
  at(plain, kD1, 0s);
  plain.sched().expire(86399s);
  EXPECT_EQ(plain.sched().cacheEntries(), 1u);
}

TEST(LblcTest, FullPoolMeansNotCachedButStillScheduled) {
  SchedulerOptions o;
  o.lblcCapacity = 2;
  Bed b("lblc", o);
  b.add("A", 1);
  EXPECT_EQ(b.name(at(b, ip(10, 9, 0, 1), 0s)), "A");
  EXPECT_EQ(b.name(at(b, ip(10, 9, 0, 2), 0s)), "A");
  EXPECT_EQ(b.name(at(b, ip(10, 9, 0, 3), 0s)), "A");
  EXPECT_EQ(b.sched().cacheEntries(), 2u);
}

TEST(LblcTest, NoServerGivesNone) {
  Bed b("lblc");
  EXPECT_EQ(at(b, kD1, 0s), nullptr);
  EXPECT_EQ(b.sched().cacheEntries(), 0u);
}

// ------------------------------------------------------------------ lblcr

// Grows the set for D1 to {B, A} at t = 0 (see SetGrowsWhenTheMemberIsOverloaded).
struct LblcrGrown {
  Bed b{"lblcr"};
  RealServer* a;
  RealServer* bee;
  RealServer* c1;
  RealServer* c2;
  RealServer* c3;
  RealServer* c4;
  LblcrGrown() {
    bee = b.add("B", 4);
    a = b.add("A", 1);
    // List A B. c1: miss, wlc takes A (first, idle): set {A}. Established.
    c1 = established(b, kD1, 0s);
    // c2: hit, A active 1 is not > weight 1: A. Established: A active 2.
    c2 = established(b, kD1, 0s);
    // c3: hit, A active 2 > 1 and B has 0 * 2 < 4: overloaded. wlc over the
    // service: A 512/1 vs B 0/4 -> B, which joins the set: {B, A}.
    c3 = at(b, kD1, 0s);
    c3->bindConn();
    // c4: set_min over {B, A}: B 1/4 vs A 512/1 -> B.
    c4 = at(b, kD1, 0s);
    c4->bindConn();
  }
};

TEST(LblcrTest, SetGrowsWhenTheMemberIsOverloaded) {
  LblcrGrown g;
  EXPECT_EQ(g.b.name(g.c1), "A");
  EXPECT_EQ(g.b.name(g.c2), "A");
  EXPECT_EQ(g.b.name(g.c3), "B");
  EXPECT_EQ(g.b.name(g.c4), "B");
  // A is still a member: with A idle, set_min prefers it (B 2/4 vs A 0/1).
  g.a->unbindConn(true);
  g.a->unbindConn(true);
  EXPECT_EQ(g.b.name(at(g.b, kD1, 1s)), "A");
}

// After LblcrGrown, a hit at 12 h keeps the entry alive, a hit at `t` may
// shrink the set; then A goes idle and the next pick tells whether A is
// still a member.
std::string lblcrAfterShrinkAt(Nanos t) {
  LblcrGrown g;
  // 12 h: set_min B 2/4 vs A 512/1 -> B; 43200 > 0 + 86400 is false: no shrink.
  RealServer* c5 = at(g.b, kD1, 12h);
  EXPECT_EQ(g.b.name(c5), "B");
  c5->bindConn();  // B 3 inactive
  // At t: set_min B 3/4 vs A 512/1 -> B. If t > lastmod (0) + 86400: set_max,
  // first member with weight > 0 is B (3), A: 3*1 < 512*4 -> A is the most
  // loaded and leaves the set. B is returned either way.
  RealServer* c6 = at(g.b, kD1, t);
  EXPECT_EQ(g.b.name(c6), "B");
  c6->bindConn();  // B 4 inactive
  g.a->unbindConn(true);
  g.a->unbindConn(true);
  // With A in the set: B 4/4 vs A 0/1 -> A. Without: B.
  return g.b.name(at(g.b, kD1, t));
}

TEST(LblcrTest, SetShrinksOnlyAfterTheExpirationSinceLastModified) {
  EXPECT_EQ(lblcrAfterShrinkAt(86400s), "A");  // not after lastmod + 24 h
  EXPECT_EQ(lblcrAfterShrinkAt(86401s), "B");  // A removed
}

// A member whose server was deleted is weighed by set_max with the weight and
// the connection counts it had when deleted (its connections vanish without
// being unbound from it). Set {A, B}, A deleted (a "ghost") holding
// `ghostConns` inactive connections, B holding `bConns`.
std::string lblcrGhost(int32_t ghostWeight, int ghostConns, int bConns) {
  Bed b("lblcr");
  RealServer* a = b.add("A", 1);
  RealServer* bee = b.add("B", 1);
  // List B A. c1, c2 -> B (established: B active 2). c3: B 2 > 1 and A is
  // light (0 < 1): wlc -> A joins: set {A, B}.
  established(b, kD1, 0s);
  established(b, kD1, 0s);
  EXPECT_EQ(b.name(at(b, kD1, 0s)), "A");
  bee->unbindConn(true);
  bee->unbindConn(true);
  load(a, 0, ghostConns);
  load(bee, 0, bConns);
  if (ghostWeight != 1) {
    b.edit(a, ghostWeight);
  }
  b.del(a);
  b.add("C", 1);  // list C B
  // 12 h: set_min {A (gone), B} -> B; no shrink yet. Keeps the entry alive.
  EXPECT_EQ(b.name(at(b, kD1, 12h)), "B");
  // 86401 s: set_min -> B. Shrink: set_max starts from the first member with
  // weight > 0 (A if its weight is > 0, else B); B replaces A when
  // oh(A) * 1 < oh(B) * 1. The most loaded leaves; B is returned anyway.
  EXPECT_EQ(b.name(at(b, kD1, 86401s)), "B");
  // {B}: B. {A gone}: no member fits, wlc over C B -> C (C idle, first).
  return b.name(at(b, kD1, 86401s));
}

TEST(LblcrTest, DeletedMemberKeepsItsLastWeightForSetMax) {
  EXPECT_EQ(lblcrGhost(1, 0, 0), "B");  // A first, B 0 < 0 false: A leaves
  EXPECT_EQ(lblcrGhost(0, 0, 0), "C");  // A weight 0 skipped: B leaves
}

TEST(LblcrTest, DeletedMemberKeepsItsFrozenCountsForSetMax) {
  EXPECT_EQ(lblcrGhost(1, 0, 1), "C");  // 0 < 1: B is the most loaded, leaves
  EXPECT_EQ(lblcrGhost(1, 2, 1), "B");  // 2 < 1 false: A (frozen at 2) leaves
}

TEST(LblcrTest, MemberRevivesWithItsServer) {
  Bed b("lblcr");
  b.add("A", 1);
  RealServer* bee = b.add("B", 1);
  EXPECT_EQ(b.name(at(b, kD1, 0s)), "B");  // set {B}
  b.del(bee);
  b.add("B", 1);
  b.add("C", 1);  // wlc would take C
  EXPECT_EQ(b.name(at(b, kD1, 1s)), "B");
}

TEST(LblcrTest, UnusedEntryIsDroppedByTheFullCheck) {
  Bed b("lblcr");
  b.add("A", 1);
  at(b, kD1, 0s);
  b.sched().expire(86399s);
  EXPECT_EQ(b.sched().cacheEntries(), 1u);
  b.sched().expire(86400s);
  EXPECT_EQ(b.sched().cacheEntries(), 0u);
}

TEST(LblcrTest, FullMemberPoolStillSchedules) {
  SchedulerOptions o;
  o.lblcrMemberCapacity = 1;
  Bed b("lblcr", o);
  b.add("A", 1);
  EXPECT_EQ(b.name(at(b, kD1, 0s)), "A");  // entry {A}: the only member slot
  EXPECT_EQ(b.name(at(b, kD2, 0s)), "A");  // entry with an empty set
  EXPECT_EQ(b.name(at(b, kD2, 1s)), "A");  // no member fits: wlc, not added
  EXPECT_EQ(b.sched().cacheEntries(), 2u);
}

}  // namespace
}  // namespace dplb::sched
