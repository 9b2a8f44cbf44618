// dh and sh: 256-bucket tables indexed with hash_32 (IPVS-SEMANTICS.md §1).
// Bucket numbers below are computed by hand:
//   hash_32(v, 8) = (v * 0x61C88647 mod 2^32) >> 24
//   v = 0: 0                           -> bucket 0
//   v = 1: 0x61C88647                  -> bucket 0x61 = 97
//   v = 2: 0xC3910C8E                  -> bucket 0xC3 = 195
//   v = 3: 0x1255992D5 mod 2^32 = 0x255992D5 -> bucket 0x25 = 37
// With list C B A and weight 1 each, bucket i holds [C, B, A][i % 3]:
//   97 % 3 = 1 (B), 195 % 3 = 0 (C), 37 % 3 = 1 (B).

#include <gtest/gtest.h>

#include "dplb/sched/hash.h"
#include "sched_test_util.h"

namespace dplb::sched {
namespace {

using testing::Bed;
using testing::ip;
using testing::load;

RealServer* pickFrom(Bed& b, uint32_t client, uint16_t port = 0, uint32_t dst = testing::kVip,
                     uint8_t proto = kProtoTcp) {
  return b.sched().pick(PickKey{client, port, dst, proto}, Nanos{0});
}

TEST(Hash32Test, MatchesHandComputedValues) {
  EXPECT_EQ(hash32(0, 8), 0u);
  EXPECT_EQ(hash32(1, 8), 97u);
  EXPECT_EQ(hash32(2, 8), 195u);
  EXPECT_EQ(hash32(3, 8), 37u);
  // 10.0.0.100 = 0x0A000064. Mod 2^32: 0x0A000000 * G = (0x0A * 0x47) << 24
  // = 0x2C6 << 24 -> 0xC6000000; 0x64 * G = 0x26325473BC -> 0x325473BC; sum
  // 0xF85473BC -> bucket 0xF8 = 248.
  EXPECT_EQ(hash32(ip(10, 0, 0, 100), 8), 248u);
  // 10 bits (lblc/lblcr): 0x61C88647 >> 22 = 0b0110000111 = 391.
  EXPECT_EQ(hash32(1, 10), 391u);
}

// ------------------------------------------------------------------ dh

TEST(DhTest, BucketsRoundRobinOverTheListWeightIgnored) {
  Bed b("dh");
  b.add("A", 5);  // weight ignored by dh
  b.add("B", 1);
  b.add("C", 1);
  const uint32_t client = ip(192, 168, 7, 7);
  EXPECT_EQ(b.name(pickFrom(b, client, 0, 0)), "C");  // bucket 0
  EXPECT_EQ(b.name(pickFrom(b, client, 0, 1)), "B");  // bucket 97
  EXPECT_EQ(b.name(pickFrom(b, client, 0, 2)), "C");  // bucket 195
  EXPECT_EQ(b.name(pickFrom(b, client, 0, 3)), "B");  // bucket 37
  // 10.0.0.100 -> bucket 248, 248 % 3 = 2 -> A
  EXPECT_EQ(b.name(pickFrom(b, client, 0, ip(10, 0, 0, 100))), "A");
  // The key is the destination: another client, same destination, same server.
  EXPECT_EQ(b.name(pickFrom(b, ip(172, 16, 0, 9), 0, 1)), "B");
}

TEST(DhTest, UnavailableBucketGivesNoServer) {
  Bed b("dh");
  b.add("A", 1);
  RealServer* bee = b.add("B", 1, /*u=*/1);
  b.add("C", 1);
  load(bee, 0, 1);                                  // overloaded
  EXPECT_EQ(b.name(pickFrom(b, 1, 0, 1)), "none");  // bucket 97 -> B; no fallback
  b.edit(bee, 0);                                   // u=0 clears, weight 0 now
  EXPECT_EQ(b.name(pickFrom(b, 1, 0, 1)), "none");
}

TEST(DhTest, DeleteRebuildsTheTable) {
  Bed b("dh");
  b.add("A", 1);
  RealServer* bee = b.add("B", 1);
  b.add("C", 1);
  b.del(bee);                                    // list C A: bucket i -> [C, A][i % 2]
  EXPECT_EQ(b.name(pickFrom(b, 1, 0, 0)), "C");  // bucket 0
  EXPECT_EQ(b.name(pickFrom(b, 1, 0, 1)), "A");  // bucket 97, odd
  EXPECT_EQ(b.name(pickFrom(b, 1, 0, 2)), "A");  // bucket 195, odd
}

TEST(DhTest, EmptyServiceGivesNone) {
  Bed b("dh");
  EXPECT_EQ(b.name(pickFrom(b, 1, 0, 1)), "none");
}

// ------------------------------------------------------------------ sh

TEST(ShTest, BucketsFollowTheSourceAddress) {
  Bed b("sh");
  b.add("A", 1);
  b.add("B", 1);
  b.add("C", 1);
  EXPECT_EQ(b.name(pickFrom(b, 0)), "C");  // bucket 0
  EXPECT_EQ(b.name(pickFrom(b, 1)), "B");  // bucket 97
  EXPECT_EQ(b.name(pickFrom(b, 2)), "C");  // bucket 195
  EXPECT_EQ(b.name(pickFrom(b, 3)), "B");  // bucket 37
  // Port and destination are not part of the key without sh-port.
  EXPECT_EQ(b.name(pickFrom(b, 1, 5555, ip(10, 9, 9, 9))), "B");
}

TEST(ShTest, WeightedBucketsWrapAroundTheList) {
  Bed b("sh");
  RealServer* a = b.add("A", 2);
  b.add("B", 1);
  // List B A. Bucket 0: B (1 of 1, move on); 1: A; 2: A (2 of 2, wrap); 3: B...
  // so bucket i is B when i % 3 == 0, else A.
  EXPECT_EQ(b.name(pickFrom(b, 0)), "B");  // 0
  EXPECT_EQ(b.name(pickFrom(b, 1)), "A");  // 97 % 3 = 1
  EXPECT_EQ(b.name(pickFrom(b, 2)), "B");  // 195 % 3 = 0
  EXPECT_EQ(b.name(pickFrom(b, 3)), "A");  // 37 % 3 = 1
  // An edit rebuilds: A weight 1 -> bucket i is [B, A][i % 2].
  b.edit(a, 1);
  EXPECT_EQ(b.name(pickFrom(b, 2)), "A");  // 195 odd
  EXPECT_EQ(b.name(pickFrom(b, 0)), "B");
}

TEST(ShTest, WeightZeroServerWithoutFallbackGivesNone) {
  Bed b("sh");
  b.add("A", 1);
  b.add("B", 0);  // still fills one bucket
  b.add("C", 1);
  EXPECT_EQ(b.name(pickFrom(b, 1)), "none");  // bucket 97 -> B, weight 0
  EXPECT_EQ(b.name(pickFrom(b, 0)), "C");     // bucket 0 unaffected
}

TEST(ShTest, WeightZeroServerWithFallbackProbesFromTwiceTheHash) {
  SchedulerOptions o;
  o.flags = kSchedFlagFallback;
  Bed b("sh", o);
  RealServer* a = b.add("A", 1);
  b.add("B", 0);
  b.add("C", 1);
  // h = 97 -> B unavailable. Probe k = 0: (0 + 2*97) mod 256 = 194, 194 % 3 = 2 -> A.
  EXPECT_EQ(b.name(pickFrom(b, 1)), "A");
  // A also unavailable: k = 0 -> 194 (A), k = 1 -> 195, 195 % 3 = 0 -> C.
  b.edit(a, 0);
  EXPECT_EQ(b.name(pickFrom(b, 1)), "C");
  // Available first choice: no probing.
  EXPECT_EQ(b.name(pickFrom(b, 0)), "C");
}

TEST(ShTest, FallbackStartsAtTwiceTheHash) {
  SchedulerOptions o;
  o.flags = kSchedFlagFallback;
  Bed b("sh", o);
  b.add("A", 0);
  b.add("B", 1);
  b.add("C", 1);
  // List C B A, bucket i -> [C, B, A][i % 3]. Client 0.0.0.8:
  // 8 * 0x61C88647 = 0x30E443238 -> 0x0E443238 -> bucket 0x0E = 14, 14 % 3 = 2
  // -> A, weight 0. Probe k = 0: (0 + 2 * 14) mod 256 = 28, 28 % 3 = 1 -> B.
  // (Probing from 14 itself would meet A, then 15 % 3 = 0 -> C.)
  EXPECT_EQ(b.name(pickFrom(b, 8)), "B");
}

TEST(ShTest, FallbackSkipsOverloadedAndEndsWithNone) {
  SchedulerOptions o;
  o.flags = kSchedFlagFallback;
  Bed b("sh", o);
  RealServer* a = b.add("A", 1, /*u=*/1);
  load(a, 0, 1);
  // Only server overloaded: every probe lands on A.
  EXPECT_EQ(b.name(pickFrom(b, 1)), "none");
}

TEST(ShTest, ShPortAddsTheSourcePort) {
  SchedulerOptions o;
  o.flags = kSchedFlagPort;
  Bed b("sh", o);
  b.add("A", 2);
  b.add("B", 1);                              // bucket i: B when i % 3 == 0, else A (see above)
  EXPECT_EQ(b.name(pickFrom(b, 0, 0)), "B");  // key 0 -> bucket 0
  EXPECT_EQ(b.name(pickFrom(b, 0, 1)), "A");  // key 0 + 1 -> bucket 97
  EXPECT_EQ(b.name(pickFrom(b, 1, 2)), "A");  // key 1 + 2 = 3 -> bucket 37
  // Protocols without ports hash port 0 (ICMP = 1): key 0 -> B.
  EXPECT_EQ(b.name(pickFrom(b, 0, 1, testing::kVip, 1)), "B");
  // The port wraps around in 32 bits: 0xFFFFFFFF + 1 = 0 -> bucket 0 -> B.
  EXPECT_EQ(b.name(pickFrom(b, 0xFFFFFFFFu, 1)), "B");
}

TEST(ShTest, WithoutShPortThePortIsIgnored) {
  Bed b("sh");
  b.add("A", 2);
  b.add("B", 1);
  EXPECT_EQ(b.name(pickFrom(b, 0, 1)), "B");  // key 0
}

TEST(ShTest, EmptyServiceGivesNone) {
  SchedulerOptions o;
  o.flags = kSchedFlagFallback;
  Bed b("sh", o);
  EXPECT_EQ(b.name(pickFrom(b, 1)), "none");
}

}  // namespace
}  // namespace dplb::sched
