// The health overlay (applyHealth) as a pure function: quiesce vs remove,
// dynamic weights, quorum with and without a sorry server. Every result must
// still pass the config validator (it is published as is).

#include <gtest/gtest.h>

#include "dplb/conf/loader.h"
#include "dplb/control/health_manager.h"

namespace dplb::control {
namespace {

using conf::Ipv4;

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

// web: three checked servers (weights 3, 2, 1) + one unchecked (weight 1).
const char* kWeb = R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    scheduler: wrr
    forward: nat
    health_check: { type: http, on_failure: quiesce }
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 3 }
      - { address: 10.0.1.12, port: 8080, weight: 2 }
      - { address: 10.0.1.13, port: 8080, weight: 1, health_check: { on_failure: remove } }
)";

ServerKey key(const conf::Config& c, size_t svc, size_t rs) {
  return serverKey(c.services[svc], c.services[svc].realServers[rs]);
}

struct Expect {
  std::string addr;
  uint16_t port;
  uint32_t weight;
  conf::Forward forward = conf::Forward::Nat;
};

void expectServers(const conf::Service& svc, const std::vector<Expect>& want) {
  ASSERT_EQ(svc.realServers.size(), want.size()) << svc.name;
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].addr);
    EXPECT_EQ(svc.realServers[i].address.str(), want[i].addr);
    EXPECT_EQ(svc.realServers[i].port, want[i].port);
    EXPECT_EQ(svc.realServers[i].weight, want[i].weight);
    EXPECT_EQ(svc.realServers[i].forward, want[i].forward);
  }
}

void expectValid(const conf::Config& c) {
  auto errors = conf::validateConfig(c);
  EXPECT_TRUE(errors.empty()) << errors.front().str();
}

TEST(HealthOverlay, NoVerdictsChangeNothing) {
  const conf::Config base = load(kWeb);
  EXPECT_EQ(applyHealth(base, {}), base);
  HealthVerdicts allUp;
  for (size_t i = 0; i < 3; ++i) {
    allUp[key(base, 0, i)] = ServerVerdict{true, std::nullopt};
  }
  EXPECT_EQ(applyHealth(base, allUp), base);
}

TEST(HealthOverlay, QuiesceKeepsTheServerAtWeightZeroRemoveTakesItOut) {
  const conf::Config base = load(kWeb);
  HealthVerdicts v;
  v[key(base, 0, 0)] = ServerVerdict{false, std::nullopt};  // quiesce
  v[key(base, 0, 2)] = ServerVerdict{false, std::nullopt};  // remove
  const conf::Config out = applyHealth(base, v);
  expectServers(out.services[0], {{"10.0.1.11", 8080, 0}, {"10.0.1.12", 8080, 2}});
  expectValid(out);
  // The base itself is untouched (the overlay is a pure function).
  EXPECT_EQ(base.services[0].realServers[0].weight, 3u);
  // It returns: the configured weight is back.
  v[key(base, 0, 0)].up = true;
  v[key(base, 0, 2)].up = true;
  EXPECT_EQ(applyHealth(base, v), base);
}

TEST(HealthOverlay, DynamicWeightReplacesTheConfiguredOneWhileUp) {
  const conf::Config base = load(kWeb);
  HealthVerdicts v;
  v[key(base, 0, 1)] = ServerVerdict{true, 7};
  v[key(base, 0, 2)] = ServerVerdict{true, 0};  // exit 2: up with weight 0
  conf::Config out = applyHealth(base, v);
  expectServers(out.services[0],
                {{"10.0.1.11", 8080, 3}, {"10.0.1.12", 8080, 7}, {"10.0.1.13", 8080, 0}});
  EXPECT_EQ(liveWeight(base.services[0], v), 3u + 7u + 0u);
  // A down server's dynamic weight is meaningless: quiesced.
  v[key(base, 0, 1)] = ServerVerdict{false, 7};
  out = applyHealth(base, v);
  EXPECT_EQ(out.services[0].realServers[1].weight, 0u);
  EXPECT_EQ(liveWeight(base.services[0], v), 3u);
}

TEST(HealthOverlay, ServersWithoutACheckAreAlwaysUp) {
  const conf::Config base = load(R"(
  - name: mixed
    vip: 10.0.0.100
    port: 80
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 4 }
      - { address: 10.0.1.12, port: 8080, weight: 2, health_check: { type: tcp } }
)");
  ASSERT_FALSE(base.services[0].realServers[0].healthCheck);
  HealthVerdicts v;
  // A stray verdict for the unchecked server (e.g. a stale entry) is ignored.
  v[key(base, 0, 0)] = ServerVerdict{false, std::nullopt};
  v[key(base, 0, 1)] = ServerVerdict{false, std::nullopt};
  const conf::Config out = applyHealth(base, v);
  expectServers(out.services[0], {{"10.0.1.11", 8080, 4}, {"10.0.1.12", 8080, 0}});
  EXPECT_EQ(liveWeight(base.services[0], v), 4u);
}

TEST(HealthOverlay, BelowQuorumWithoutSorryServerNothingElseChanges) {
  const conf::Config base = load(std::string(kWeb) + "    quorum: 4\n");
  HealthVerdicts v;
  v[key(base, 0, 0)] = ServerVerdict{false, std::nullopt};  // live 2 + 1 = 3 < 4
  EXPECT_FALSE(sorryActive(base.services[0], v));
  const conf::Config out = applyHealth(base, v);
  expectServers(out.services[0],
                {{"10.0.1.11", 8080, 0}, {"10.0.1.12", 8080, 2}, {"10.0.1.13", 8080, 1}});
}

TEST(HealthOverlay, BelowQuorumTheSorryServerTakesNewConnections) {
  const conf::Config base =
      load(std::string(kWeb) + "    quorum: 4\n    sorry_server: { address: 10.0.1.99 }\n");
  HealthVerdicts v;
  // Live weight 3 + 2 + 1 = 6 >= 4: no sorry server.
  EXPECT_FALSE(sorryActive(base.services[0], v));
  EXPECT_EQ(applyHealth(base, v), base);

  // rs1 down: live 3 < 4. Every live server is quiesced (existing connections
  // continue), the removed one stays out, the sorry server (service port,
  // service forward mode, weight 1) takes all new connections.
  v[key(base, 0, 0)] = ServerVerdict{false, std::nullopt};
  EXPECT_TRUE(sorryActive(base.services[0], v));
  conf::Config out = applyHealth(base, v);
  expectServers(out.services[0], {{"10.0.1.11", 8080, 0},
                                  {"10.0.1.12", 8080, 0},
                                  {"10.0.1.13", 8080, 0},
                                  {"10.0.1.99", 80, 1}});
  EXPECT_FALSE(out.services[0].realServers[3].healthCheck);
  expectValid(out);

  v[key(base, 0, 2)] = ServerVerdict{false, std::nullopt};
  out = applyHealth(base, v);
  expectServers(out.services[0],
                {{"10.0.1.11", 8080, 0}, {"10.0.1.12", 8080, 0}, {"10.0.1.99", 80, 1}});

  // Quorum returns (a dynamic weight counts): the sorry server leaves.
  v[key(base, 0, 1)] = ServerVerdict{true, 4};
  EXPECT_FALSE(sorryActive(base.services[0], v));
  out = applyHealth(base, v);
  expectServers(out.services[0], {{"10.0.1.11", 8080, 0}, {"10.0.1.12", 8080, 4}});
}

TEST(HealthOverlay, NothingLiveBringsTheSorryServerEvenWithQuorumZero) {
  // keepalived: "!weight_sum || weight_sum < quorum" loses quorum.
  const conf::Config base = load(R"(
  - name: dns
    vip: 10.0.0.100
    port: 53
    protocol: udp
    forward: dr
    quorum: 0
    sorry_server: { address: 10.0.1.99 }
    health_check: { type: udp }
    real_servers:
      - { address: 10.0.1.11 }
)");
  HealthVerdicts v;
  EXPECT_EQ(applyHealth(base, v), base);
  v[key(base, 0, 0)] = ServerVerdict{false, std::nullopt};
  const conf::Config out = applyHealth(base, v);
  expectServers(out.services[0],
                {{"10.0.1.11", 53, 0, conf::Forward::Dr}, {"10.0.1.99", 53, 1, conf::Forward::Dr}});
  expectValid(out);
}

TEST(HealthOverlay, ASorryServerThatIsAlsoARealServerIsNotDuplicated) {
  const conf::Config base = load(R"(
  - name: web
    vip: 10.0.0.100
    port: 80
    quorum: 3
    sorry_server: { address: 10.0.1.12, port: 8080 }
    real_servers:
      - { address: 10.0.1.11, port: 8080, weight: 2, health_check: { type: tcp } }
      - { address: 10.0.1.12, port: 8080, weight: 1 }
)");
  HealthVerdicts v;
  v[key(base, 0, 0)] = ServerVerdict{false, std::nullopt};
  const conf::Config out = applyHealth(base, v);
  expectServers(out.services[0], {{"10.0.1.11", 8080, 0}, {"10.0.1.12", 8080, 1}});
  expectValid(out);
}

TEST(HealthOverlay, VerdictsAreKeyedByServiceNotOnlyByServer) {
  // The same server behind two services, checked in each: one verdict does
  // not leak into the other service.
  const conf::Config base = load(R"(
  - name: a
    vip: 10.0.0.100
    port: 80
    health_check: { type: tcp }
    real_servers: [{ address: 10.0.1.11, port: 8080, weight: 5 }]
  - name: b
    vip: 10.0.0.100
    port: 81
    health_check: { type: tcp }
    real_servers: [{ address: 10.0.1.11, port: 8080, weight: 5 }]
)");
  HealthVerdicts v;
  v[key(base, 0, 0)] = ServerVerdict{false, std::nullopt};
  const conf::Config out = applyHealth(base, v);
  EXPECT_EQ(out.services[0].realServers[0].weight, 0u);
  EXPECT_EQ(out.services[1].realServers[0].weight, 5u);
}

}  // namespace
}  // namespace dplb::control
