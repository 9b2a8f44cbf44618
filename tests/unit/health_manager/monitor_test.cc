// HealthMonitor: the health state machine of dplbd driven by a fake clock and
// fake probe results (no sockets, no threads, no sleeps). Fall and rise with
// their timing, probes in flight, dynamic weights, base changes that keep,
// start and forget servers, and the status views.

#include <gtest/gtest.h>

#include "dplb/conf/loader.h"
#include "dplb/control/health_manager.h"

namespace dplb::control {
namespace {

using namespace std::chrono_literals;
using hc::Clock;
using hc::ProbeResult;

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

// interval 200ms, timeout 150ms, fall 2, rise 2 (the e2e test's timing).
std::string web(const std::string& extra = "", uint32_t weight2 = 2) {
  return R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    health_check: { type: http, path: /hz, interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 3 }
      - { address: 10.0.1.12, port: 8080, weight: )" +
         std::to_string(weight2) + R"( }
      - { address: 10.0.1.13, port: 8080 }
)" + extra;
}

ProbeResult ok(std::string why = "status 200", std::chrono::microseconds lat = 800us) {
  ProbeResult r;
  r.up = true;
  r.reason = std::move(why);
  r.latency = lat;
  return r;
}
ProbeResult bad(std::string why = "connection refused") {
  ProbeResult r;
  r.reason = std::move(why);
  r.latency = 300us;
  return r;
}

const hc::Rng kZeroRng = [](uint64_t) { return uint64_t{0}; };

// Drives a monitor: a fake clock and the probes it handed out, by server.
struct Harness {
  HealthMonitor mon{kZeroRng};
  Clock::time_point now = Clock::time_point(1000s);
  std::map<std::string, uint64_t> inFlight;  // "addr:port" -> probe id

  explicit Harness(const conf::Config& c) { mon.setBase(c, now); }

  // Takes every due probe; returns how many.
  size_t take() {
    auto due = mon.takeDue(now);
    for (const auto& d : due) {
      inFlight[d.target.address.str() + ":" + std::to_string(d.target.probePort())] = d.id;
    }
    return due.size();
  }
  std::optional<HealthEvent> answer(const std::string& server, const ProbeResult& r) {
    auto it = inFlight.find(server);
    EXPECT_NE(it, inFlight.end()) << server << " has no probe in flight";
    if (it == inFlight.end()) {
      return std::nullopt;
    }
    const uint64_t id = it->second;
    inFlight.erase(it);
    return mon.onResult(id, r, now);
  }
  // One round at `now`: probe every due server, answer each with `result`
  // (the servers listed in `failing` fail), return the events.
  std::vector<HealthEvent> round(const std::vector<std::string>& failing) {
    take();
    std::vector<HealthEvent> events;
    auto servers = inFlight;
    for (const auto& [server, id] : servers) {
      bool fail = std::find(failing.begin(), failing.end(), server) != failing.end();
      if (auto ev = answer(server, fail ? bad() : ok())) {
        events.push_back(*ev);
      }
    }
    return events;
  }
  uint32_t weightOf(const std::string& addr) const {
    conf::Config out = applyHealth(mon.base(), mon.verdicts());
    for (const auto& rs : out.services[0].realServers) {
      if (rs.address.str() == addr) {
        return rs.weight;
      }
    }
    return 999999;  // not published
  }
};

TEST(HealthMonitor, ServersStartUpAndAreProbedAtOnce) {
  Harness h(load(web()));
  EXPECT_EQ(h.mon.checkedServers(), 3u);
  EXPECT_EQ(h.mon.nextDue(), h.now);
  EXPECT_EQ(h.take(), 3u);
  // In flight: not due again, nothing to wait for.
  EXPECT_FALSE(h.mon.nextDue());
  EXPECT_EQ(h.take(), 0u);
  for (const auto& [addr, v] : h.mon.verdicts()) {
    EXPECT_TRUE(v.up) << addr.addr.str();
  }
  EXPECT_EQ(applyHealth(h.mon.base(), h.mon.verdicts()), h.mon.base());
}

TEST(HealthMonitor, FallsAfterFallFailuresAndRisesAfterRiseSuccesses) {
  Harness h(load(web()));
  const Clock::time_point t0 = h.now;
  EXPECT_TRUE(h.round({}).empty());
  // Next probes one interval after each answer.
  EXPECT_EQ(h.mon.nextDue(), t0 + 200ms);

  h.now = t0 + 200ms;
  EXPECT_TRUE(h.round({"10.0.1.12:8080"}).empty());  // 1 failure of 2
  EXPECT_EQ(h.weightOf("10.0.1.12"), 2u);
  h.now = t0 + 400ms;
  auto events = h.round({"10.0.1.12:8080"});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].transition.kind, hc::Transition::Kind::Fall);
  EXPECT_EQ(events[0].count, 2u);
  EXPECT_EQ(events[0].transition.at, t0 + 400ms);
  EXPECT_EQ(describe(events[0]),
            "service web server 10.0.1.12:8080 DOWN after 2 failures: connection refused");
  // Quiesced (on_failure default) within fall x interval of the first failure.
  EXPECT_EQ(h.weightOf("10.0.1.12"), 0u);
  EXPECT_EQ(h.weightOf("10.0.1.11"), 3u);

  // Still failing: no second event.
  h.now = t0 + 600ms;
  EXPECT_TRUE(h.round({"10.0.1.12:8080"}).empty());
  // Comes back: one success is not enough, the second brings it up.
  h.now = t0 + 800ms;
  EXPECT_TRUE(h.round({}).empty());
  EXPECT_EQ(h.weightOf("10.0.1.12"), 0u);
  h.now = t0 + 1000ms;
  events = h.round({});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].transition.kind, hc::Transition::Kind::Rise);
  EXPECT_EQ(describe(events[0]),
            "service web server 10.0.1.12:8080 UP after 2 successes: status 200");
  EXPECT_EQ(h.weightOf("10.0.1.12"), 2u);
}

TEST(HealthMonitor, AFlappingServerNeverReachesFall) {
  Harness h(load(web()));
  for (int i = 0; i < 10; ++i) {
    h.now += 200ms;
    EXPECT_TRUE(h.round(i % 2 == 0 ? std::vector<std::string>{"10.0.1.11:8080"}
                                   : std::vector<std::string>{})
                    .empty());
  }
  EXPECT_EQ(h.weightOf("10.0.1.11"), 3u);
}

TEST(HealthMonitor, RemovePolicyTakesTheServerOut) {
  auto c = load(R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    health_check: { type: tcp, interval: 1s, timeout: 500ms, fall: 1, rise: 1, on_failure: remove }
    real_servers:
      - { address: 10.0.1.11, port: 8080 }
      - { address: 10.0.1.12, port: 8080 }
)");
  Harness h(c);
  h.take();
  ASSERT_TRUE(h.answer("10.0.1.11:8080", bad("connection timed out")));
  EXPECT_EQ(h.weightOf("10.0.1.11"), 999999u);
  auto status = h.mon.serverHealth(h.now);
  ASSERT_EQ(status.size(), 2u);
  EXPECT_TRUE(status[0].removed);
  EXPECT_EQ(status[0].weight, 0u);
  EXPECT_FALSE(status[0].up);
  EXPECT_FALSE(status[1].removed);
}

TEST(HealthMonitor, ExecDynamicWeightIsAnEventAndTheWeight) {
  auto c = load(R"(
  - name: app
    vip: 10.0.0.100
    port: 80
    health_check: { type: exec, command: [/bin/true], dynamic: true, fall: 1, rise: 1 }
    real_servers: [{ address: 10.0.1.11, port: 8080, weight: 10 }]
)");
  Harness h(c);
  h.take();
  ProbeResult r = ok("exit 7");
  r.weight = 5;
  auto ev = h.answer("10.0.1.11:8080", r);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->transition.kind, hc::Transition::Kind::Weight);
  EXPECT_EQ(describe(*ev), "service app server 10.0.1.11:8080 weight 5 (dynamic): exit 7");
  EXPECT_EQ(h.weightOf("10.0.1.11"), 5u);
  EXPECT_EQ(h.mon.serviceHealth()[0].liveWeight, 5u);
}

TEST(HealthMonitor, QuorumAndSorryServerFollowTheVerdicts) {
  Harness h(load(web("    quorum: 2\n    sorry_server: { address: 10.0.1.99, port: 8080 }\n")));
  auto svc = h.mon.serviceHealth();
  ASSERT_EQ(svc.size(), 1u);
  EXPECT_EQ(svc[0].liveWeight, 6u);
  EXPECT_EQ(svc[0].quorum, 2u);
  EXPECT_FALSE(svc[0].sorryActive);
  for (int i = 0; i < 2; ++i) {
    h.now += 200ms;
    h.round({"10.0.1.11:8080", "10.0.1.12:8080", "10.0.1.13:8080"});
  }
  svc = h.mon.serviceHealth();
  EXPECT_EQ(svc[0].liveWeight, 0u);
  EXPECT_TRUE(svc[0].sorryActive);
  EXPECT_EQ(h.weightOf("10.0.1.99"), 1u);
  // The sorry server is not a configured server: not in the server list.
  EXPECT_EQ(h.mon.serverHealth(h.now).size(), 3u);
}

TEST(HealthMonitor, BaseChangeKeepsStateStartsNewServersForgetsRemovedOnes) {
  Harness h(load(web()));
  for (int i = 0; i < 2; ++i) {
    h.now += 200ms;
    h.round({"10.0.1.12:8080"});
  }
  ASSERT_EQ(h.weightOf("10.0.1.12"), 0u);
  const auto before = h.mon.serverHealth(h.now);
  ASSERT_FALSE(before[1].up);

  // A probe of rs3 is in flight when rs3 leaves the config.
  h.now += 200ms;
  h.take();
  ASSERT_EQ(h.inFlight.count("10.0.1.13:8080"), 1u);

  // New base: rs2's weight changed (dplbadm -e), rs3 gone, rs4 new.
  auto next = load(R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    health_check: { type: http, path: /hz, interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 3 }
      - { address: 10.0.1.12, port: 8080, weight: 9 }
      - { address: 10.0.1.14, port: 8080 }
)");
  EXPECT_FALSE(h.mon.setBase(next, h.now));  // same verdicts for the kept servers
  EXPECT_EQ(h.mon.checkedServers(), 3u);
  EXPECT_EQ(h.weightOf("10.0.1.12"), 0u);  // still down: the new weight waits
  EXPECT_EQ(h.weightOf("10.0.1.14"), 1u);  // new: starts up
  auto after = h.mon.serverHealth(h.now);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_FALSE(after[1].up);
  EXPECT_EQ(after[1].configuredWeight, 9u);
  EXPECT_EQ(after[1].transitions, 1u);
  EXPECT_EQ(after[1].probes, before[1].probes);
  // The late result of the forgotten rs3 is dropped.
  EXPECT_FALSE(h.answer("10.0.1.13:8080", bad()));
  // rs4 is due at once; rs1/rs2 still have their probes in flight.
  EXPECT_EQ(h.take(), 1u);
  EXPECT_EQ(h.inFlight.count("10.0.1.14:8080"), 1u);
  // rs2 recovers with its new weight.
  h.answer("10.0.1.12:8080", ok());
  h.now += 200ms;
  h.take();
  ASSERT_TRUE(h.answer("10.0.1.12:8080", ok()));
  EXPECT_EQ(h.weightOf("10.0.1.12"), 9u);
}

TEST(HealthMonitor, AChangedCheckStartsAfresh) {
  Harness h(load(web()));
  for (int i = 0; i < 2; ++i) {
    h.now += 200ms;
    h.round({"10.0.1.12:8080"});
  }
  ASSERT_EQ(h.weightOf("10.0.1.12"), 0u);
  h.now += 200ms;
  h.take();
  const uint64_t oldId = h.inFlight.at("10.0.1.12:8080");
  auto next = load(R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    health_check: { type: http, path: /hz, interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 3 }
      - { address: 10.0.1.12, port: 8080, weight: 2, health_check: { type: tcp } }
      - { address: 10.0.1.13, port: 8080 }
)");
  // Its verdict changes (back to up): the caller must republish.
  EXPECT_TRUE(h.mon.setBase(next, h.now));
  EXPECT_EQ(h.weightOf("10.0.1.12"), 2u);
  EXPECT_FALSE(h.mon.onResult(oldId, bad(), h.now));  // result of the old check: dropped
  auto st = h.mon.serverHealth(h.now);
  EXPECT_EQ(st[1].check, "tcp");
  EXPECT_EQ(st[1].transitions, 0u);
  EXPECT_FALSE(st[1].lastOk);
}

TEST(HealthMonitor, StatusViewsCarryEveryField) {
  auto c = load(web() + R"(
  - name: k8s
    vip: 10.0.0.101
    port: 443
    nodeport: { port: 31443, health_check_node_port: 32000, nodes: [10.0.1.21] }
  - name: plain
    vip: 10.0.0.102
    port: 80
    real_servers: [{ address: 10.0.1.31, port: 80, weight: 4 }]
)");
  Harness h(c);
  const Clock::time_point t0 = h.now;
  h.take();
  h.answer("10.0.1.11:8080", ok("status 200", 1500us));
  ProbeResult np = bad("unexpected status 503 (localEndpoints 0)");
  np.localEndpoints = 0;
  h.answer("10.0.1.21:32000", np);
  h.now = t0 + 5s;
  auto st = h.mon.serverHealth(h.now);
  ASSERT_EQ(st.size(), 5u);

  const ServerHealth& rs1 = st[0];
  EXPECT_EQ(rs1.service, "web");
  EXPECT_EQ(rs1.vip.str(), "10.0.0.100");
  EXPECT_EQ(rs1.vipPort, 80);
  EXPECT_EQ(rs1.protocol, conf::Protocol::Tcp);
  EXPECT_EQ(rs1.addr.str(), "10.0.1.11");
  EXPECT_EQ(rs1.port, 8080);
  EXPECT_TRUE(rs1.checked);
  EXPECT_TRUE(rs1.up);
  EXPECT_EQ(rs1.check, "http");
  EXPECT_EQ(rs1.configuredWeight, 3u);
  EXPECT_EQ(rs1.weight, 3u);
  EXPECT_FALSE(rs1.removed);
  EXPECT_EQ(rs1.lastOk, true);
  EXPECT_EQ(rs1.reason, "status 200");
  EXPECT_DOUBLE_EQ(rs1.lastLatencySeconds, 0.0015);
  EXPECT_DOUBLE_EQ(rs1.sinceChangeSeconds, 5.0);
  EXPECT_EQ(rs1.transitions, 0u);
  EXPECT_EQ(rs1.probes, 1u);
  EXPECT_DOUBLE_EQ(rs1.latencySumSeconds, 0.0015);
  // 1.5 ms: above the 0.5 ms and 1 ms bounds, in every bucket from 2.5 ms on.
  EXPECT_EQ(rs1.latencyBuckets[0], 0u);
  EXPECT_EQ(rs1.latencyBuckets[1], 0u);
  for (size_t i = 2; i < kProbeLatencyBuckets.size(); ++i) {
    EXPECT_EQ(rs1.latencyBuckets[i], 1u) << kProbeLatencyBuckets[i];
  }
  EXPECT_FALSE(rs1.localEndpoints);

  // Probe in flight, never answered: no last result yet.
  EXPECT_TRUE(st[1].checked);
  EXPECT_FALSE(st[1].lastOk);
  EXPECT_EQ(st[1].probes, 0u);

  const ServerHealth& node = st[3];
  EXPECT_EQ(node.service, "k8s");
  EXPECT_EQ(node.port, 31443);
  EXPECT_EQ(node.check, "nodeport");
  EXPECT_TRUE(node.up);  // one failure of 3 (default fall)
  EXPECT_EQ(node.lastOk, false);
  EXPECT_EQ(node.reason, "unexpected status 503 (localEndpoints 0)");
  EXPECT_EQ(node.localEndpoints, 0);

  const ServerHealth& plain = st[4];
  EXPECT_FALSE(plain.checked);
  EXPECT_TRUE(plain.up);
  EXPECT_EQ(plain.check, "");
  EXPECT_EQ(plain.weight, 4u);
  EXPECT_EQ(plain.configuredWeight, 4u);
}

TEST(HealthMonitor, WarmUpSpreadsTheFirstProbes) {
  auto c = load(R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    health_check: { type: tcp, warmup: 1s }
    real_servers:
      - { address: 10.0.1.11, port: 8080 }
      - { address: 10.0.1.12, port: 8080 }
)");
  uint64_t draws = 0;
  HealthMonitor mon([&draws](uint64_t bound) {
    EXPECT_EQ(bound, 1000u);
    return ++draws * 300;
  });
  const Clock::time_point t0 = Clock::time_point(1000s);
  mon.setBase(c, t0);
  EXPECT_EQ(mon.nextDue(), t0 + 300ms);
  EXPECT_EQ(mon.takeDue(t0 + 299ms).size(), 0u);
  EXPECT_EQ(mon.takeDue(t0 + 300ms).size(), 1u);
  EXPECT_EQ(mon.nextDue(), t0 + 600ms);
}

}  // namespace
}  // namespace dplb::control
