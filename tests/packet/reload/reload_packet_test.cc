// Packet tier for publication: what a reload or a dplbadm change keeps
// (connections, counters, scheduler state of unchanged services) and what it
// changes (weights for new connections, connection timeouts at the next state
// change), through the real worker code.

#include <gtest/gtest.h>

#include <map>

#include "dp_harness.h"
#include "packet_builder.h"

namespace dplb::test {
namespace {

using namespace std::chrono_literals;

constexpr Mac kClientMac{0x02, 0xc1, 0, 0, 0, 0x05};
constexpr Mac kRs11Mac{0x02, 0, 0, 0, 0x01, 0x0b};
constexpr Mac kRs12Mac{0x02, 0, 0, 0, 0x01, 0x0c};
const uint32_t kClient = ip4(10, 0, 0, 5);
const uint32_t kVip = ip4(10, 0, 0, 100);
const uint32_t kRs11 = ip4(10, 0, 1, 11);
const uint32_t kRs12 = ip4(10, 0, 1, 12);

std::string config(const std::string& scheduler) {
  return R"(
dataplane:
  lcores: "0"
  exception_path: false
  ports:
    - { name: wan, device: "{WAN}", addresses: [10.0.0.2/24] }
    - { name: lan, device: "{LAN}", addresses: [10.0.1.1/24] }
  neighbours:
    - { ip: 10.0.0.5, mac: "02:c1:00:00:00:05" }
    - { ip: 10.0.1.11, mac: "02:00:00:00:01:0b" }
    - { ip: 10.0.1.12, mac: "02:00:00:00:01:0c" }
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    protocol: tcp
    scheduler: )" +
         scheduler + R"(
    forward: nat
    real_servers:
      - { address: 10.0.1.11, port: 8080 }
      - { address: 10.0.1.12, port: 8080 }
)";
}

// An unrelated service, as a reload that adds one would bring.
conf::Service otherService() {
  conf::Service s;
  s.name = "other";
  s.vip = conf::Ipv4(ip4(10, 0, 0, 101));
  s.port = 443;
  s.protocol = conf::Protocol::Tcp;
  s.scheduler = conf::Scheduler::Rr;
  s.forward = conf::Forward::Nat;
  conf::RealServer rs;
  rs.address = conf::Ipv4(kRs11);
  rs.port = 8443;
  rs.forward = conf::Forward::Nat;
  s.realServers.push_back(rs);
  return s;
}

class ReloadPacketTest : public ::testing::Test {
 protected:
  void TearDown() override { h_.stop(); }
  void start(const std::string& cfg, unsigned workers = 1) {
    h_.start(cfg, workers);
    wanMac_ = h_.portMac(0);
    lanMac_ = h_.portMac(1);
  }
  Bytes clientTcp(uint16_t sport, uint8_t flags, std::string_view payload = "") {
    return FrameBuilder()
        .eth({.dst = wanMac_, .src = kClientMac})
        .ipv4({.src = kClient, .dst = kVip, .ttl = 64})
        .tcp({.sport = sport, .dport = 80, .seq = 1000, .flags = flags})
        .payload(payload)
        .build();
  }
  Bytes serverTcp(uint32_t rs, uint16_t dport, uint8_t flags) {
    return FrameBuilder()
        .eth({.dst = lanMac_, .src = rs == kRs11 ? kRs11Mac : kRs12Mac})
        .ipv4({.src = rs, .dst = kClient, .ttl = 64})
        .tcp({.sport = 8080, .dport = dport, .seq = 5000, .ack = 1001, .flags = flags})
        .build();
  }
  // The real server a new connection from `sport` goes to.
  uint32_t pick(uint16_t sport) {
    Bytes out = h_.send(0, clientTcp(sport, kTcpSynFlag), 1);
    DecodedFrame d = decodeFrame(out);
    EXPECT_TRUE(d.valid) << d.error;
    return d.ip.dst;
  }
  std::string publish(const conf::Config& c) {
    std::string err = h_.dp().publish(c);
    h_.pollAll();  // workers pick up the snapshot
    return err;
  }
  std::chrono::nanoseconds remaining(uint16_t sport) {
    for (const auto& c : h_.dp().connections()) {
      if (c.clientPort == sport) {
        return c.remaining;
      }
    }
    ADD_FAILURE() << "no connection from port " << sport;
    return {};
  }

  DataplaneHarness h_;
  Mac wanMac_{};
  Mac lanMac_{};
};

TEST_F(ReloadPacketTest, RrCursorContinuesAcrossAPublishThatAddsAnUnrelatedService) {
  start(config("rr"));
  // rr walks the IPVS list newest first: .12, .11, .12, ...
  ASSERT_EQ(pick(41000), kRs12);
  conf::Config c = h_.config();
  c.services.push_back(otherService());
  ASSERT_EQ(publish(c), "");
  EXPECT_EQ(pick(41001), kRs11) << "a fresh scheduler would start again at .12";
  EXPECT_EQ(pick(41002), kRs12);
  // The first connection and the service's counters are still there.
  EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(41000, kTcpAckFlag), 1)).ip.dst, kRs12);
  EXPECT_EQ(h_.dp().serviceTotals(kVip, 80, dp::L4Proto::kTcp).conns, 3u);
}

TEST_F(ReloadPacketTest, EachWorkerKeepsItsOwnSchedulerAcrossAPublish) {
  start(config("rr"), 2);
  // Client ports owned by worker 0 and by worker 1 (the owner schedules).
  std::vector<uint16_t> ports[2];
  for (uint16_t p = 49000; ports[0].size() < 3 || ports[1].size() < 3; ++p) {
    ports[dp::ownerOf(kClient, p, 2)].push_back(p);
  }
  ASSERT_EQ(pick(ports[0][0]), kRs12);
  ASSERT_EQ(pick(ports[1][0]), kRs12) << "worker 1 runs its own rr cycle";
  ASSERT_EQ(pick(ports[1][1]), kRs11);
  conf::Config c = h_.config();
  c.services.push_back(otherService());
  ASSERT_EQ(publish(c), "");
  EXPECT_EQ(pick(ports[0][1]), kRs11) << "worker 0's cursor";
  EXPECT_EQ(pick(ports[1][2]), kRs12) << "worker 1's cursor";
  EXPECT_EQ(pick(ports[0][2]), kRs12);
}

TEST_F(ReloadPacketTest, AChangedSchedulerStartsFresh) {
  start(config("rr"));
  ASSERT_EQ(pick(42000), kRs12);
  conf::Config c = h_.config();
  c.services[0].scheduler = conf::Scheduler::Wrr;  // equal weights: .12 first
  ASSERT_EQ(publish(c), "");
  EXPECT_EQ(pick(42001), kRs12);
  EXPECT_EQ(pick(42002), kRs11);
}

TEST_F(ReloadPacketTest, AChangedServerListStartsFresh) {
  start(config("rr"));
  ASSERT_EQ(pick(43000), kRs12);
  conf::Config c = h_.config();
  std::swap(c.services[0].realServers[0], c.services[0].realServers[1]);  // new order
  ASSERT_EQ(publish(c), "");
  EXPECT_EQ(pick(43001), kRs11) << "the newest (last listed) server comes first";
  EXPECT_EQ(pick(43002), kRs12);
}

TEST_F(ReloadPacketTest, RrKeepsItsCursorAndSeesANewWeightAtOnce) {
  start(config("rr"));
  ASSERT_EQ(pick(44000), kRs12);
  conf::Config c = h_.config();
  c.services[0].realServers[1].weight = 0;  // quiesce .12
  ASSERT_EQ(publish(c), "");
  EXPECT_EQ(pick(44001), kRs11);
  EXPECT_EQ(pick(44002), kRs11) << "weight 0 gets no new connection";
  // Its existing connection stays on it.
  EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(44000, kTcpAckFlag), 1)).ip.dst, kRs12);
}

TEST_F(ReloadPacketTest, WrrWeightChangeAppliesToNewConnectionsOnly) {
  start(config("wrr"));
  ASSERT_EQ(pick(45000), kRs12);
  conf::Config c = h_.config();
  c.services[0].realServers[0].weight = 3;  // .11: 3, .12: 1
  ASSERT_EQ(publish(c), "");
  std::map<uint32_t, int> count;
  for (uint16_t p = 1; p <= 8; ++p) {
    ++count[pick(static_cast<uint16_t>(45000 + p))];
  }
  EXPECT_EQ(count[kRs11], 6);
  EXPECT_EQ(count[kRs12], 2);
  EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(45000, kTcpAckFlag), 1)).ip.dst, kRs12);
}

TEST_F(ReloadPacketTest, NewTimeoutsApplyAtTheNextStateChange) {
  start(config("rr"));
  ASSERT_EQ(pick(46000), kRs12);
  h_.send(1, serverTcp(kRs12, 46000, kTcpSynFlag | kTcpAckFlag), 0);
  h_.send(0, clientTcp(46000, kTcpAckFlag), 1);  // ESTABLISHED, 900 s
  ASSERT_GT(remaining(46000), 800s);
  conf::Config c = h_.config();
  c.dataplane.timeouts.tcpEstablished = 30s;  // dplbadm --set 30 0 0
  ASSERT_EQ(publish(c), "");
  EXPECT_GT(remaining(46000), 800s) << "as in IPVS, a running timer is not touched";
  h_.send(0, clientTcp(46000, kTcpAckFlag, "more"), 1);
  EXPECT_LE(remaining(46000), 30s + 200ms) << "30 s, rounded up to the 100 ms tick";
  EXPECT_GT(remaining(46000), 29s);
  h_.advance(31s);  // at most two ticks late
  h_.pollAll();
  EXPECT_EQ(h_.dp().connCount(), 0u);
}

TEST_F(ReloadPacketTest, OtherDataplaneChangesAreStillRefused) {
  start(config("rr"));
  conf::Config c = h_.config();
  c.dataplane.ports[0].mtu = 1400;
  EXPECT_EQ(publish(c), "the dataplane section changed; that needs a restart");
  c = h_.config();
  c.dataplane.timeouts.udp = 10s;
  c.dataplane.connTable.capacity = 17;
  EXPECT_NE(publish(c), "") << "a timeout change does not carry other changes through";
}

}  // namespace
}  // namespace dplb::test
