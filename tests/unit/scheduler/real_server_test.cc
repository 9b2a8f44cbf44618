// The per-server connection counts and the OVERLOAD flag: IPVS-SEMANTICS.md
// §1 "OVERLOAD flag", i.e. ip_vs_bind_dest / ip_vs_unbind_dest /
// __ip_vs_update_dest. Every expectation below is derived from those rules.

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "dplb/sched/real_server.h"
#include "sched_test_util.h"

namespace dplb::sched {
namespace {

using testing::ip;

TEST(RealServerTest, NewServerHasNoConnectionsAndNoOverload) {
  RealServer s(ip(10, 0, 1, 1), 8080, ServerParams{3, 0, 0});
  EXPECT_EQ(s.addr(), ip(10, 0, 1, 1));
  EXPECT_EQ(s.port(), 8080);
  EXPECT_EQ(s.key(), (uint64_t{ip(10, 0, 1, 1)} << 16) | 8080);
  EXPECT_EQ(s.weight(), 3);
  EXPECT_EQ(s.lastWeight(), 3);
  EXPECT_EQ(s.activeConns(), 0);
  EXPECT_EQ(s.inactiveConns(), 0);
  EXPECT_FALSE(s.overloaded());
}

TEST(RealServerTest, CountsFollowConnectionStates) {
  RealServer s(1, 80, ServerParams{});
  s.bindConn();  // new connections start inactive
  EXPECT_EQ(s.inactiveConns(), 1);
  s.connActivated();  // TCP entered ESTABLISHED
  EXPECT_EQ(s.activeConns(), 1);
  EXPECT_EQ(s.inactiveConns(), 0);
  // overhead = active * 256 + inactive
  s.bindConn();
  EXPECT_EQ(s.overhead(), 256 + 1);
  s.connDeactivated();  // left ESTABLISHED (FIN)
  EXPECT_EQ(s.activeConns(), 0);
  EXPECT_EQ(s.inactiveConns(), 2);
  s.unbindConn(false);
  s.unbindConn(false);
  EXPECT_EQ(s.overhead(), 0);
}

TEST(RealServerTest, UpperThresholdSetsOverloadOnBind) {
  // u = 3: set when a bind makes total >= 3.
  RealServer s(1, 80, ServerParams{1, 3, 0});
  s.bindConn();
  s.bindConn();
  EXPECT_FALSE(s.overloaded());  // total 2 < 3
  s.bindConn();
  EXPECT_TRUE(s.overloaded());  // total 3 >= 3
}

TEST(RealServerTest, WithoutLowerThresholdClearsBelowThreeQuarters) {
  // u = 4, l = 0: cleared on unbind when total * 4 < 4 * 3 = 12.
  RealServer s(1, 80, ServerParams{1, 4, 0});
  testing::load(&s, 0, 4);
  EXPECT_TRUE(s.overloaded());
  s.unbindConn(false);  // total 3: 12 < 12 is false
  EXPECT_TRUE(s.overloaded());
  s.unbindConn(false);  // total 2: 8 < 12
  EXPECT_FALSE(s.overloaded());
}

TEST(RealServerTest, ActiveConnectionsCountTowardsTheTotal) {
  // u = 2, one active + one inactive = 2 >= 2.
  RealServer s(1, 80, ServerParams{1, 2, 0});
  s.bindConn();
  s.connActivated();
  EXPECT_FALSE(s.overloaded());
  s.bindConn();
  EXPECT_TRUE(s.overloaded());
  // Unbinding the active one: total 1, 4 < 6 -> cleared.
  s.unbindConn(true);
  EXPECT_FALSE(s.overloaded());
}

TEST(RealServerTest, LowerThresholdClearsStrictlyBelowIt) {
  // u = 4, l = 2: cleared only when total < 2.
  RealServer s(1, 80, ServerParams{1, 4, 2});
  testing::load(&s, 0, 4);
  ASSERT_TRUE(s.overloaded());
  s.unbindConn(false);  // 3
  s.unbindConn(false);  // 2: not < 2
  EXPECT_TRUE(s.overloaded());
  s.unbindConn(false);  // 1 < 2
  EXPECT_FALSE(s.overloaded());
}

TEST(RealServerTest, NoThresholdNeverOverloads) {
  RealServer s(1, 80, ServerParams{1, 0, 0});
  testing::load(&s, 5, 100);
  EXPECT_FALSE(s.overloaded());
}

TEST(RealServerTest, TemplatesAreNotCountedButReevaluate) {
  // u = 2: five templates leave total at 1 (the one connection).
  RealServer s(1, 80, ServerParams{1, 2, 0});
  s.bindConn();
  for (int i = 0; i < 5; ++i) {
    s.bindTemplate();
  }
  EXPECT_EQ(s.persistentConns(), 5);
  EXPECT_FALSE(s.overloaded());
  s.bindConn();  // total 2
  EXPECT_TRUE(s.overloaded());
  // Unbinding a template re-runs the clear rule on total 2: 8 < 6 false.
  s.unbindTemplate();
  EXPECT_TRUE(s.overloaded());
  s.unbindConn(false);  // total 1: 4 < 6
  EXPECT_FALSE(s.overloaded());
}

TEST(RealServerTest, EditClearsOverloadOnlyWhenUpperRisesOrIsRemoved) {
  RealServer s(1, 80, ServerParams{1, 4, 0});
  testing::load(&s, 0, 4);
  ASSERT_TRUE(s.overloaded());
  // Lower u (4 -> 3): flag kept, not re-evaluated.
  EXPECT_EQ(s.edit(ServerParams{1, 3, 0}), ParamError::kNone);
  EXPECT_TRUE(s.overloaded());
  // Same u: kept.
  EXPECT_EQ(s.edit(ServerParams{2, 3, 0}), ParamError::kNone);
  EXPECT_TRUE(s.overloaded());
  // Higher u (3 -> 10): cleared even though nothing is re-evaluated.
  EXPECT_EQ(s.edit(ServerParams{2, 10, 0}), ParamError::kNone);
  EXPECT_FALSE(s.overloaded());
  // Lower u again (10 -> 2) with total 4: not re-evaluated, stays clear...
  EXPECT_EQ(s.edit(ServerParams{2, 2, 0}), ParamError::kNone);
  EXPECT_FALSE(s.overloaded());
  // ...until the next bind: 5 >= 2.
  s.bindConn();
  EXPECT_TRUE(s.overloaded());
  // u = 0: cleared.
  EXPECT_EQ(s.edit(ServerParams{2, 0, 0}), ParamError::kNone);
  EXPECT_FALSE(s.overloaded());
}

TEST(RealServerTest, RefusedParamsChangeNothing) {
  RealServer s(1, 80, ServerParams{5, 4, 1});
  EXPECT_EQ(RealServer::validate(ServerParams{1, 0, 1}), ParamError::kLowerAboveUpper);
  EXPECT_EQ(RealServer::validate(ServerParams{-1, 0, 0}), ParamError::kNegativeWeight);
  EXPECT_EQ(RealServer::validate(ServerParams{0, 5, 5}), ParamError::kNone);
  EXPECT_EQ(s.edit(ServerParams{7, 3, 4}), ParamError::kLowerAboveUpper);
  EXPECT_EQ(s.weight(), 5);
  EXPECT_EQ(s.uThreshold(), 4u);
  EXPECT_EQ(s.lThreshold(), 1u);
}

TEST(RealServerTest, LastWeightKeepsTheLatestNonZeroWeight) {
  RealServer s(1, 80, ServerParams{3, 0, 0});
  s.edit(ServerParams{0, 0, 0});
  EXPECT_EQ(s.weight(), 0);
  EXPECT_EQ(s.lastWeight(), 3);
  s.edit(ServerParams{5, 0, 0});
  EXPECT_EQ(s.lastWeight(), 5);
  // Added with weight 0: last weight is 0 (set at add time regardless).
  RealServer z(2, 80, ServerParams{0, 0, 0});
  EXPECT_EQ(z.lastWeight(), 0);
}

TEST(RealServerTest, ConcurrentBindUnbindKeepsCountsExact) {
  RealServer s(1, 80, ServerParams{1, 0, 0});
  constexpr int kThreads = 4;
  constexpr int kRounds = 20000;
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&s] {
      for (int i = 0; i < kRounds; ++i) {
        s.bindConn();
        s.connActivated();
        s.connDeactivated();
        s.unbindConn(false);
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  EXPECT_EQ(s.activeConns(), 0);
  EXPECT_EQ(s.inactiveConns(), 0);
  EXPECT_FALSE(s.overloaded());
}

}  // namespace
}  // namespace dplb::sched
