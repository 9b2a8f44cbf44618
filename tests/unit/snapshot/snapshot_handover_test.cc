// Which services keep their Scheduler instances across a rebuild (reload,
// dplbadm change) and which get fresh ones, for every scheduler.

#include <gtest/gtest.h>

#include <string>

#include "dplb/conf/loader.h"
#include "dplb/dp/snapshot.h"

namespace dplb::dp {
namespace {

conf::Config config(const std::string& scheduler) {
  auto r = conf::loadConfigString(R"(
dataplane:
  ports: [{ name: wan, device: "net_null0", addresses: [10.0.0.2/24] }]
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    scheduler: )" + scheduler + R"(
    forward: nat
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 2 }
      - { address: 10.0.1.12, port: 8080 }
)",
                                  "t.yaml");
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  return *r.config;
}

conf::Service other() {
  conf::Config c = config("rr");
  conf::Service s = c.services[0];
  s.name = "other";
  s.port = 443;
  return s;
}

class Handover : public ::testing::TestWithParam<const char*> {
 protected:
  // Builds `first`, then `second`; true when web's schedulers (both workers)
  // are the same objects in both snapshots.
  bool kept(const conf::Config& first, const conf::Config& second) {
    SnapshotBuilder b(2);
    std::string err;
    auto s1 = b.build(first, {}, &err);
    EXPECT_NE(s1, nullptr) << err;
    auto s2 = b.build(second, {}, &err);
    EXPECT_NE(s2, nullptr) << err;
    if (!s1 || !s2) {
      return false;
    }
    const ServiceRuntime* a = s1->findService(0x0a000064, 80, L4Proto::kTcp);
    const ServiceRuntime* z = s2->findService(0x0a000064, 80, L4Proto::kTcp);
    EXPECT_EQ(a->schedulers.size(), 2u);
    EXPECT_EQ(z->schedulers.size(), 2u);
    EXPECT_NE(a->schedulers[0], a->schedulers[1]) << "one instance per worker";
    const bool same = a->schedulers[0] == z->schedulers[0];
    EXPECT_EQ(same, a->schedulers[1] == z->schedulers[1]);
    // Either way, the new snapshot's instances list the new servers.
    for (const auto& sch : z->schedulers) {
      EXPECT_EQ(sch->servers().size(), z->servers.size());
    }
    return same;
  }
  std::string sched() const { return GetParam(); }
};

TEST_P(Handover, UnchangedServiceKeepsItsSchedulers) {
  conf::Config c = config(sched());
  conf::Config d = c;
  d.services.push_back(other());
  EXPECT_TRUE(kept(c, d));
  EXPECT_TRUE(kept(c, c));
}

TEST_P(Handover, ChangedServerListGetsFreshSchedulers) {
  conf::Config c = config(sched());
  conf::Config d = c;
  d.services[0].realServers.pop_back();
  EXPECT_FALSE(kept(c, d));
  d = c;
  d.services[0].realServers[1].port = 8081;
  EXPECT_FALSE(kept(c, d));
  d = c;
  std::swap(d.services[0].realServers[0], d.services[0].realServers[1]);
  EXPECT_FALSE(kept(c, d)) << "IPVS list order changes";
}

TEST_P(Handover, ChangedSchedulerGetsFreshSchedulers) {
  conf::Config c = config(sched());
  conf::Config d = c;
  d.services[0].scheduler = sched() == "rr" ? conf::Scheduler::Wlc : conf::Scheduler::Rr;
  EXPECT_FALSE(kept(c, d));
}

TEST_P(Handover, WeightChangeKeepsOnlyLiveWeightSchedulers) {
  conf::Config c = config(sched());
  conf::Config d = c;
  d.services[0].realServers[0].weight = 5;
  const bool tables = sched() == "wrr" || sched() == "dh" || sched() == "sh" || sched() == "mh";
  EXPECT_EQ(kept(c, d), !tables);
  d = c;
  d.services[0].realServers[0].uThreshold = 10;  // thresholds are read live by all
  EXPECT_TRUE(kept(c, d));
}

INSTANTIATE_TEST_SUITE_P(AllSchedulers, Handover,
                         ::testing::Values("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh",
                                           "sed", "nq", "mh", "fo", "ovf"));

TEST(HandoverFlags, ChangedFlagsOrTableSizeGetFreshSchedulers) {
  auto build2 = [](const conf::Config& a, const conf::Config& b) {
    SnapshotBuilder builder(1);
    std::string err;
    auto s1 = builder.build(a, {}, &err);
    auto s2 = builder.build(b, {}, &err);
    return s1->services[0]->schedulers[0] == s2->services[0]->schedulers[0];
  };
  conf::Config c = config("mh");
  conf::Config d = c;
  d.services[0].schedulerFlags.mhPort = true;
  EXPECT_FALSE(build2(c, d));
  d = c;
  d.services[0].mhTableSize = 251;
  EXPECT_FALSE(build2(c, d));
  EXPECT_TRUE(build2(c, c));
}

TEST(HandoverFailure, AFailedBuildLeavesTheRunningSetAlone) {
  SnapshotBuilder builder(1);
  std::string err;
  conf::Config c = config("rr");
  auto s1 = builder.build(c, {}, &err);
  ASSERT_NE(s1, nullptr);
  conf::Config bad = c;
  bad.services.push_back(other());
  bad.services.back().mhTableSize = 4;  // not prime: mh refuses it
  bad.services.back().scheduler = conf::Scheduler::Mh;
  EXPECT_EQ(builder.build(bad, {}, &err), nullptr);
  EXPECT_NE(err, "");
  auto s3 = builder.build(c, {}, &err);
  ASSERT_NE(s3, nullptr) << err;
  EXPECT_EQ(s1->services[0]->schedulers[0], s3->services[0]->schedulers[0]);
}

}  // namespace
}  // namespace dplb::dp
