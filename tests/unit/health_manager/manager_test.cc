// HealthManager: the threads around HealthMonitor. Probes go to a fake
// submitter that answers at once from a per-server "failing" flag, so the
// test needs no sockets; waits are bounded polling loops.

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "dplb/conf/loader.h"
#include "dplb/control/health_manager.h"

namespace dplb::control {
namespace {

using namespace std::chrono_literals;

conf::Config load(const std::string& services) {
  auto r = conf::loadConfigString(R"(
dataplane:
  ports: [{ name: wan, device: "net_null0", addresses: [10.0.0.2/24, 10.0.1.2/24] }]
services:
)" + services,
                                  "t.yaml");
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  return r.ok() ? *r.config : conf::Config{};
}

const char* kWeb = R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    health_check: { type: tcp, interval: 20ms, timeout: 10ms, rise: 2, fall: 2 }
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 3 }
      - { address: 10.0.1.12, port: 8080, weight: 2 }
)";

// Polls `cond` every 5 ms for at most 5 s.
template <typename F>
bool eventually(F cond) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

struct FakeProbes {
  std::mutex mu;
  std::set<std::string> failing;
  std::atomic<uint64_t> submitted{0};

  HealthManager::Submit submit() {
    return [this](hc::ProbeTarget t, hc::Prober::Callback done) {
      ++submitted;
      hc::ProbeResult r;
      {
        std::lock_guard lock(mu);
        r.up = failing.count(t.address.str()) == 0;
      }
      r.reason = r.up ? "connected" : "connection refused";
      r.latency = 100us;
      done(r);  // inline, on the manager's thread, as a quick prober would
    };
  }
  void setFailing(const std::string& addr, bool fail) {
    std::lock_guard lock(mu);
    if (fail) {
      failing.insert(addr);
    } else {
      failing.erase(addr);
    }
  }
};

uint32_t weightIn(const conf::Config& c, const std::string& addr) {
  for (const auto& rs : c.services.at(0).realServers) {
    if (rs.address.str() == addr) {
      return rs.weight;
    }
  }
  return 999999;
}

TEST(HealthManager, TransitionsRepublishFromTheManagerThread) {
  const conf::Config base = load(kWeb);
  FakeProbes probes;
  std::atomic<int> republished{0};
  std::atomic<uint32_t> publishedWeight{999};
  HealthManager* self = nullptr;
  HealthManager::Options o;
  o.submit = probes.submit();
  o.republish = [&] {
    // What the Daemon does: recompute base + overlay (calls back into the
    // manager, which must not hold its lock here).
    publishedWeight = weightIn(self->overlay(base), "10.0.1.12");
    ++republished;
    return true;
  };
  HealthManager mgr(base, std::move(o));
  self = &mgr;
  mgr.start();
  ASSERT_TRUE(eventually([&] { return probes.submitted >= 4; }));
  EXPECT_EQ(republished, 0);

  probes.setFailing("10.0.1.12", true);
  ASSERT_TRUE(eventually([&] { return publishedWeight == 0; }));
  EXPECT_EQ(weightIn(mgr.overlay(base), "10.0.1.11"), 3u);
  auto st = mgr.serverHealth();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_FALSE(st[1].up);
  EXPECT_EQ(st[1].reason, "connection refused");

  probes.setFailing("10.0.1.12", false);
  ASSERT_TRUE(eventually([&] { return publishedWeight == 2; }));
  EXPECT_EQ(republished, 2);
  mgr.stop();
  const uint64_t after = probes.submitted;
  mgr.stop();  // idempotent
  EXPECT_EQ(probes.submitted, after);
}

TEST(HealthManager, ABaseChangeWakesTheSchedulerAndNeedsNoCallback) {
  // Nothing checked at first: the scheduler sleeps without a deadline.
  const conf::Config empty = load(R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    real_servers: [{ address: 10.0.1.11, port: 8080 }]
)");
  FakeProbes probes;
  std::atomic<int> republished{0};
  HealthManager::Options o;
  o.submit = probes.submit();
  o.republish = [&] {
    ++republished;
    return true;
  };
  HealthManager mgr(empty, std::move(o));
  mgr.start();
  EXPECT_EQ(probes.submitted, 0u);
  // setBase is called with the Daemon's mutex held: it must return without
  // waiting for the scheduler or calling republish itself.
  mgr.setBase(load(kWeb));
  ASSERT_TRUE(eventually([&] { return probes.submitted >= 2; }));
  EXPECT_EQ(republished, 0);  // new servers start up: nothing to republish
  EXPECT_EQ(mgr.serviceHealth().at(0).liveWeight, 5u);
  mgr.stop();
}

TEST(HealthManager, StopsPromptlyWithProbesFarInTheFuture) {
  const conf::Config base = load(R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    health_check: { type: tcp, interval: 1h, timeout: 1s }
    real_servers: [{ address: 10.0.1.11, port: 8080 }]
)");
  FakeProbes probes;
  HealthManager::Options o;
  o.submit = probes.submit();
  HealthManager mgr(base, std::move(o));
  mgr.start();
  ASSERT_TRUE(eventually([&] { return probes.submitted == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  mgr.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST(HealthManager, ARefusedRepublishIsRetriedUntilItSucceeds) {
  const conf::Config base = load(kWeb);
  FakeProbes probes;
  std::atomic<int> attempts{0};
  std::atomic<int> refuse{2};  // the dataplane refuses the first two
  std::atomic<uint32_t> publishedWeight{999};
  HealthManager* self = nullptr;
  HealthManager::Options o;
  o.submit = probes.submit();
  o.republish = [&] {
    ++attempts;
    if (refuse > 0) {
      --refuse;
      return false;
    }
    publishedWeight = weightIn(self->overlay(base), "10.0.1.12");
    return true;
  };
  HealthManager mgr(base, std::move(o));
  self = &mgr;
  mgr.start();
  probes.setFailing("10.0.1.12", true);
  // No further transition happens: only the retries can publish weight 0.
  ASSERT_TRUE(eventually([&] { return publishedWeight == 0; }));
  EXPECT_EQ(attempts, 3);
  mgr.stop();
}

TEST(HealthManager, AReloadThatDropsAnActiveSorryServerIsSafe) {
  const char* withSorry = R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    quorum: 1
    sorry_server: { address: 10.0.1.99, port: 8080 }
    health_check: { type: tcp, interval: 20ms, timeout: 10ms, rise: 2, fall: 2 }
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 1 }
)";
  const char* withoutSorry = R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    quorum: 1
    health_check: { type: tcp, interval: 20ms, timeout: 10ms, rise: 2, fall: 2 }
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 1 }
)";
  FakeProbes probes;
  probes.setFailing("10.0.1.11", true);
  HealthManager::Options o;
  o.submit = probes.submit();
  o.republish = [] { return true; };
  HealthManager mgr(load(withSorry), std::move(o));
  mgr.start();
  ASSERT_TRUE(eventually([&] { return mgr.serviceHealth().at(0).sorryActive; }));
  mgr.setBase(load(withoutSorry));  // logs the change without a sorry server to name
  EXPECT_FALSE(mgr.serviceHealth().at(0).sorryActive);
  EXPECT_EQ(mgr.overlay(load(withoutSorry)).services.at(0).realServers.size(), 1u);
  mgr.stop();
}

}  // namespace
}  // namespace dplb::control
