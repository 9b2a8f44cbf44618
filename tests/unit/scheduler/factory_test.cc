// The factory, names, ipvsadm -b flags and the server-list bookkeeping
// shared by every scheduler.

#include <gtest/gtest.h>

#include "dplb/sched/scheduler.h"
#include "sched_test_util.h"

namespace dplb::sched {
namespace {

using testing::ip;

TEST(FactoryTest, EveryNameBuildsItsScheduler) {
  const std::vector<std::string_view> expected = {"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh",
                                                  "sh", "sed", "nq", "mh",  "fo",   "ovf"};
  const auto names = schedulerNames();
  ASSERT_EQ(std::vector<std::string_view>(names.begin(), names.end()), expected);
  for (std::string_view name : expected) {
    SchedulerResult r = makeScheduler(name);
    ASSERT_TRUE(r) << name << ": " << r.error;
    EXPECT_EQ(r.scheduler->name(), name);
    EXPECT_EQ(toString(r.scheduler->kind()), name);
    EXPECT_EQ(schedKindFromName(name), r.scheduler->kind());
    // An empty service has no destination.
    EXPECT_EQ(r.scheduler->pick(PickKey{}, Nanos{0}), nullptr) << name;
  }
}

TEST(FactoryTest, UnknownNameIsAnErrorNotAnException) {
  SchedulerResult r = makeScheduler("wlcc");
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("unknown scheduler 'wlcc'"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("ovf"), std::string::npos);  // lists the known ones
  EXPECT_FALSE(schedKindFromName("RR"));              // case-sensitive, as ipvsadm
  EXPECT_FALSE(schedKindFromName(""));
}

TEST(FactoryTest, MhTableSizeMustBePrime) {
  SchedulerOptions o;
  o.mhTableSize = 65536;
  SchedulerResult r = makeScheduler("mh", o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("65536"), std::string::npos);
  o.mhTableSize = 251;
  EXPECT_TRUE(makeScheduler("mh", o));
  o.mhTableSize = 1;
  EXPECT_FALSE(makeScheduler("mh", o));
  // Other schedulers ignore the mh size.
  o.mhTableSize = 4;
  EXPECT_TRUE(makeScheduler("rr", o));
}

TEST(FactoryTest, LocalityBoundsMustBePositive) {
  SchedulerOptions o;
  o.lblcCapacity = 0;
  EXPECT_FALSE(makeScheduler("lblc", o));
  o = {};
  o.lblcrMemberCapacity = 0;
  EXPECT_FALSE(makeScheduler("lblcr", o));
  o = {};
  o.lblcExpiration = Nanos{0};
  EXPECT_FALSE(makeScheduler("lblc", o));
}

TEST(FactoryTest, UnknownFlagBitsAreRefused) {
  SchedulerOptions o;
  o.flags = 1u << 7;
  EXPECT_FALSE(makeScheduler("sh", o));
}

TEST(SchedFlagsTest, IpvsadmNames) {
  uint32_t flags = 0;
  std::string error;
  ASSERT_TRUE(parseSchedFlags(SchedKind::kSh, "sh-fallback,sh-port", &flags, &error)) << error;
  EXPECT_EQ(flags, kSchedFlagFallback | kSchedFlagPort);
  ASSERT_TRUE(parseSchedFlags(SchedKind::kMh, "mh-port", &flags, &error)) << error;
  EXPECT_EQ(flags, kSchedFlagPort);
  // The same bits: sh-fallback and mh-fallback are IP_VS_SVC_F_SCHED1.
  EXPECT_EQ(kSchedFlagFallback, kSchedFlag1);
  EXPECT_EQ(kSchedFlagPort, kSchedFlag2);
  ASSERT_TRUE(parseSchedFlags(SchedKind::kWlc, "flag-1,flag-3", &flags, &error)) << error;
  EXPECT_EQ(flags, kSchedFlag1 | kSchedFlag3);
}

TEST(SchedFlagsTest, Errors) {
  uint32_t flags = 99;
  std::string error;
  EXPECT_FALSE(parseSchedFlags(SchedKind::kMh, "sh-port", &flags, &error));
  EXPECT_NE(error.find("incompatible"), std::string::npos) << error;
  EXPECT_FALSE(parseSchedFlags(SchedKind::kSh, "sh-port,bogus", &flags, &error));
  EXPECT_NE(error.find("bogus"), std::string::npos) << error;
  EXPECT_FALSE(parseSchedFlags(SchedKind::kSh, "", &flags, &error));
  EXPECT_FALSE(parseSchedFlags(SchedKind::kSh, "sh-port,", &flags, &error));
  EXPECT_EQ(flags, 99u);  // untouched on error
}

TEST(ServerListTest, NewestFirstAndIdentityByAddressAndPort) {
  SchedulerResult r = makeScheduler("rr");
  ASSERT_TRUE(r);
  Scheduler& s = *r.scheduler;
  RealServer a(ip(10, 0, 0, 1), 80, ServerParams{});
  RealServer b(ip(10, 0, 0, 2), 80, ServerParams{});
  RealServer a2(ip(10, 0, 0, 1), 80, ServerParams{});  // same identity as a
  RealServer a8080(ip(10, 0, 0, 1), 8080, ServerParams{});
  EXPECT_TRUE(s.addServer(&a));
  EXPECT_TRUE(s.addServer(&b));
  EXPECT_FALSE(s.addServer(&a2));  // IPVS: -EEXIST
  EXPECT_TRUE(s.addServer(&a8080));
  ASSERT_EQ(s.servers().size(), 3u);
  EXPECT_EQ(s.servers()[0], &a8080);
  EXPECT_EQ(s.servers()[1], &b);
  EXPECT_EQ(s.servers()[2], &a);
  EXPECT_EQ(s.findServer(ip(10, 0, 0, 1), 80), &a);
  EXPECT_EQ(s.findServer(ip(10, 0, 0, 3), 80), nullptr);
  EXPECT_FALSE(s.updateServer(&a2));  // not listed: -ENOENT
  EXPECT_FALSE(s.removeServer(&a2));
  EXPECT_TRUE(s.removeServer(&b));
  EXPECT_FALSE(s.removeServer(&b));
  EXPECT_EQ(s.servers().size(), 2u);
  EXPECT_FALSE(s.addServer(nullptr));
}

}  // namespace
}  // namespace dplb::sched
