// Packet tier for NAT forwarding through the real worker code: every output
// field checked, checksums recomputed independently (packet_builder.h).

#include <gtest/gtest.h>

#include "dp_harness.h"
#include "packet_builder.h"

namespace dplb::test {
namespace {

using pkt::DropReason;
using namespace std::chrono_literals;

constexpr Mac kClientMac{0x02, 0xc1, 0, 0, 0, 0x05};
constexpr Mac kRs11Mac{0x02, 0, 0, 0, 0x01, 0x0b};
constexpr Mac kRs12Mac{0x02, 0, 0, 0, 0x01, 0x0c};
const uint32_t kClient = ip4(10, 0, 0, 5);
const uint32_t kVip = ip4(10, 0, 0, 100);
const uint32_t kRs11 = ip4(10, 0, 1, 11);
const uint32_t kRs12 = ip4(10, 0, 1, 12);

std::string baseConfig(const std::string& scheduler, const std::string& extraService = "",
                       bool staticRs12 = true) {
  std::string neighbours = R"(
  neighbours:
    - { ip: 10.0.0.5, mac: "02:c1:00:00:00:05" }
    - { ip: 10.0.1.11, mac: "02:00:00:00:01:0b" })";
  if (staticRs12) {
    neighbours += R"(
    - { ip: 10.0.1.12, mac: "02:00:00:00:01:0c" })";
  }
  return R"(
dataplane:
  lcores: "0"
  exception_path: false
  ports:
    - { name: wan, device: "{WAN}", addresses: [10.0.0.2/24] }
    - { name: lan, device: "{LAN}", addresses: [10.0.1.1/24] })" +
         neighbours + R"(
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    protocol: tcp
    scheduler: )" +
         scheduler + R"(
    forward: nat)" +
         extraService +
         R"(
    real_servers:
      - { address: 10.0.1.11, port: 8080 }
      - { address: 10.0.1.12, port: 8080 }
  - name: dns
    vip: 10.0.0.100
    port: 53
    protocol: udp
    scheduler: rr
    forward: nat
    real_servers:
      - { address: 10.0.1.11, port: 5353 }
)";
}

// The MACs of the dataplane's ports under test (frames for other MACs are
// dropped as a router does); set after each start.
Mac gWanMac{};
Mac gLanMac{};

Bytes clientTcp(uint16_t sport, uint8_t flags, std::string_view payload = "", uint8_t ttl = 64) {
  return FrameBuilder()
      .eth({.dst = gWanMac, .src = kClientMac})
      .ipv4({.src = kClient, .dst = kVip, .ttl = ttl})
      .tcp({.sport = sport, .dport = 80, .seq = 1000, .flags = flags})
      .payload(payload)
      .build();
}

Bytes serverTcp(uint32_t rs, uint16_t dport, uint8_t flags, std::string_view payload = "") {
  return FrameBuilder()
      .eth({.dst = gLanMac, .src = rs == kRs11 ? kRs11Mac : kRs12Mac})
      .ipv4({.src = rs, .dst = kClient, .ttl = 64})
      .tcp({.sport = 8080, .dport = dport, .seq = 5000, .ack = 1001, .flags = flags})
      .payload(payload)
      .build();
}

class NatPacketTest : public ::testing::Test {
 protected:
  void TearDown() override { h_.stop(); }
  void start(const std::string& cfg, unsigned workers = 1, uint32_t capacity = 0) {
    h_.start(cfg, workers, capacity);
    gWanMac = h_.portMac(0);
    gLanMac = h_.portMac(1);
  }
  DataplaneHarness h_;
};

TEST_F(NatPacketTest, SynToVipIsTranslatedToTheRealServer) {
  start(baseConfig("rr"));
  Bytes in = clientTcp(40001, kTcpSynFlag, "hello");
  Bytes out = h_.send(0, in, 1);
  DecodedFrame d = decodeFrame(out);
  ASSERT_TRUE(d.valid) << d.error;
  // rr walks the IPVS list newest-added first: 10.0.1.12 was added last.
  EXPECT_EQ(d.ethDst, kRs12Mac);
  EXPECT_EQ(d.ethSrc, h_.portMac(1));
  EXPECT_EQ(d.ip.src, kClient) << "the real server must see the client's address";
  EXPECT_EQ(d.ip.dst, kRs12);
  EXPECT_EQ(d.ip.ttl, 63);
  EXPECT_EQ(d.ip.id, 0x1234);
  ASSERT_TRUE(d.tcp);
  EXPECT_EQ(d.tcp->sport, 40001);
  EXPECT_EQ(d.tcp->dport, 8080) << "port mapping 80 -> 8080";
  EXPECT_EQ(d.tcp->seq, 1000u);
  EXPECT_EQ(d.tcp->flags, kTcpSynFlag);
  EXPECT_EQ(std::string(d.payload.begin(), d.payload.end()), "hello");
  EXPECT_EQ(checksumProblems(out), "");
  EXPECT_EQ(h_.dp().connCount(), 1u);
  auto st = h_.dp().serviceTotals(kVip, 80, dp::L4Proto::kTcp);
  EXPECT_EQ(st.conns, 1u);
  EXPECT_EQ(st.inPackets, 1u);
  EXPECT_EQ(st.inBytes, in.size() - 14);
}

TEST_F(NatPacketTest, ReplyIsTranslatedBackToTheVip) {
  start(baseConfig("rr"));
  h_.send(0, clientTcp(40001, kTcpSynFlag), 1);
  Bytes out = h_.send(1, serverTcp(kRs12, 40001, kTcpSynFlag | kTcpAckFlag, "data"), 0);
  DecodedFrame d = decodeFrame(out);
  ASSERT_TRUE(d.valid) << d.error;
  EXPECT_EQ(d.ethDst, kClientMac);
  EXPECT_EQ(d.ethSrc, h_.portMac(0));
  EXPECT_EQ(d.ip.src, kVip);
  EXPECT_EQ(d.ip.dst, kClient);
  EXPECT_EQ(d.ip.ttl, 63);
  ASSERT_TRUE(d.tcp);
  EXPECT_EQ(d.tcp->sport, 80);
  EXPECT_EQ(d.tcp->dport, 40001);
  EXPECT_EQ(d.tcp->seq, 5000u);
  EXPECT_EQ(d.tcp->ack, 1001u);
  EXPECT_EQ(checksumProblems(out), "");
  auto rs = h_.dp().realServerTotals(kVip, 80, dp::L4Proto::kTcp, kRs12, 8080);
  EXPECT_EQ(rs.inPackets, 1u);
  EXPECT_EQ(rs.outPackets, 1u);
}

TEST_F(NatPacketTest, FullConversationKeepsTranslatingBothWays) {
  start(baseConfig("rr"));
  h_.send(0, clientTcp(40002, kTcpSynFlag), 1);
  h_.send(1, serverTcp(kRs12, 40002, kTcpSynFlag | kTcpAckFlag), 0);
  for (int i = 0; i < 3; ++i) {
    Bytes a = h_.send(0, clientTcp(40002, kTcpAckFlag | kTcpPshFlag, "GET /"), 1);
    EXPECT_EQ(decodeFrame(a).ip.dst, kRs12);
    EXPECT_EQ(checksumProblems(a), "");
    Bytes b = h_.send(1, serverTcp(kRs12, 40002, kTcpAckFlag | kTcpPshFlag, "200 OK"), 0);
    EXPECT_EQ(decodeFrame(b).ip.src, kVip);
    EXPECT_EQ(checksumProblems(b), "");
  }
  h_.send(0, clientTcp(40002, kTcpFinFlag | kTcpAckFlag), 1);
  h_.send(1, serverTcp(kRs12, 40002, kTcpFinFlag | kTcpAckFlag), 0);
  auto conns = h_.dp().connections();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_NE(conns[0].state, static_cast<uint8_t>(dp::TcpState::kEstablished));
}

TEST_F(NatPacketTest, PortReuseAfterTimeWaitIsScheduledAfresh) {
  // IPVS conn_reuse_mode 1: a SYN that finds its client port's old
  // connection in TIME_WAIT expires it and is scheduled as a new connection.
  start(baseConfig("rr"));
  EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(40003, kTcpSynFlag), 1)).ip.dst, kRs12);
  h_.send(1, serverTcp(kRs12, 40003, kTcpSynFlag | kTcpAckFlag), 0);
  h_.send(0, clientTcp(40003, kTcpAckFlag), 1);
  h_.send(0, clientTcp(40003, kTcpFinFlag | kTcpAckFlag), 1);
  h_.send(1, serverTcp(kRs12, 40003, kTcpFinFlag | kTcpAckFlag), 0);
  h_.send(0, clientTcp(40003, kTcpAckFlag), 1);
  auto conns = h_.dp().connections();
  ASSERT_EQ(conns.size(), 1u);
  ASSERT_EQ(conns[0].state, static_cast<uint8_t>(dp::TcpState::kTimeWait));

  Bytes syn = h_.send(0, clientTcp(40003, kTcpSynFlag), 1);
  EXPECT_EQ(decodeFrame(syn).ip.dst, kRs11) << "rescheduled: rr moves on";
  EXPECT_EQ(h_.dp().serviceTotals(kVip, 80, dp::L4Proto::kTcp).conns, 2u);
  conns = h_.dp().connections();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].rsAddr, kRs11);
}

TEST_F(NatPacketTest, SynOnALiveConnectionFollowsIt) {
  start(baseConfig("rr"));
  h_.send(0, clientTcp(40004, kTcpSynFlag), 1);
  h_.send(1, serverTcp(kRs12, 40004, kTcpSynFlag | kTcpAckFlag), 0);
  h_.send(0, clientTcp(40004, kTcpAckFlag), 1);
  // A retransmitted or stray SYN on an established connection is not a new
  // connection: it goes to the same server.
  EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(40004, kTcpSynFlag), 1)).ip.dst, kRs12);
  EXPECT_EQ(h_.dp().serviceTotals(kVip, 80, dp::L4Proto::kTcp).conns, 1u);
}

TEST_F(NatPacketTest, PersistentConnectionsAreNotRescheduledOnReuse) {
  start(baseConfig("rr", R"(
    persistence: { timeout: 300s })"));
  const uint32_t first = decodeFrame(h_.send(0, clientTcp(40005, kTcpSynFlag), 1)).ip.dst;
  h_.send(1, serverTcp(first, 40005, kTcpSynFlag | kTcpAckFlag), 0);
  h_.send(0, clientTcp(40005, kTcpFinFlag | kTcpAckFlag), 1);
  h_.send(1, serverTcp(first, 40005, kTcpFinFlag | kTcpAckFlag), 0);
  h_.send(0, clientTcp(40005, kTcpAckFlag), 1);
  EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(40005, kTcpSynFlag), 1)).ip.dst, first);
}

TEST_F(NatPacketTest, RoundRobinFollowsIpvsListOrder) {
  start(baseConfig("rr"));
  std::vector<uint32_t> got;
  for (uint16_t p = 0; p < 4; ++p) {
    got.push_back(decodeFrame(h_.send(0, clientTcp(41000 + p, kTcpSynFlag), 1)).ip.dst);
  }
  EXPECT_EQ(got, (std::vector<uint32_t>{kRs12, kRs11, kRs12, kRs11}));
}

TEST_F(NatPacketTest, NonSynWithoutConnectionIsDroppedAndCounted) {
  start(baseConfig("rr"));
  h_.inject(0, clientTcp(40003, kTcpAckFlag));
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.drops(DropReason::kNotSyn), 1u);
  EXPECT_EQ(h_.dp().connCount(), 0u);
}

TEST_F(NatPacketTest, FramesForAnotherHostsMacAreNotRouted) {
  start(baseConfig("rr"));
  Bytes f = FrameBuilder()
                .eth({.dst = {0x02, 0, 0, 0, 0, 0x99}, .src = kClientMac})
                .ipv4({.src = kClient, .dst = kVip})
                .tcp({.sport = 40010, .dport = 80, .flags = kTcpSynFlag})
                .build();
  h_.inject(0, f);
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.drops(DropReason::kOtherHostMac), 1u);
  EXPECT_EQ(h_.dp().connCount(), 0u);
}

TEST_F(NatPacketTest, TtlOneIsAnsweredWithTimeExceeded) {
  start(baseConfig("rr"));
  Bytes in = clientTcp(40004, kTcpSynFlag, "", 1);
  h_.inject(0, in);
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty()) << "not forwarded";
  EXPECT_EQ(h_.drops(DropReason::kTtlExpired), 1u);
  auto back = h_.collect(0);
  ASSERT_EQ(back.size(), 1u);
  DecodedFrame d = decodeFrame(back[0]);
  ASSERT_TRUE(d.valid) << d.error;
  EXPECT_EQ(d.ethDst, kClientMac);
  EXPECT_EQ(d.ethSrc, h_.portMac(0));
  EXPECT_EQ(d.ip.src, ip4(10, 0, 0, 2)) << "from the address of the ingress port";
  EXPECT_EQ(d.ip.dst, kClient);
  ASSERT_TRUE(d.icmp);
  EXPECT_EQ(d.icmp->type, 11);
  EXPECT_EQ(d.icmp->code, 0);
  // The quote is the original IPv4 header + 8 bytes, as received.
  ASSERT_GE(d.payload.size(), 28u);
  EXPECT_TRUE(std::equal(d.payload.begin(), d.payload.begin() + 28, in.begin() + 14));
  EXPECT_EQ(checksumProblems(back[0]), "");
}

TEST_F(NatPacketTest, IcmpErrorsAreRateLimited) {
  start(baseConfig("rr"));
  for (uint16_t i = 0; i < 80; ++i) {
    h_.inject(0, clientTcp(41100 + i, kTcpSynFlag, "", 1));
    if (i % 16 == 15) {
      h_.pollAll();
    }
  }
  h_.pollAll();
  // A burst of 50 at a frozen clock, the rest limited.
  EXPECT_EQ(h_.collect(0).size(), 50u);
  EXPECT_EQ(h_.dp().workerStats(0).icmpErrorsSuppressed.get(), 30u);
  EXPECT_EQ(h_.drops(DropReason::kTtlExpired), 80u) << "each packet counted once, as a drop";
  h_.advance(1s);
  h_.inject(0, clientTcp(41500, kTcpSynFlag, "", 1));
  h_.pollAll();
  EXPECT_EQ(h_.collect(0).size(), 1u) << "tokens come back with time";
}

// The IPv4 header + 8 bytes of a datagram, as an ICMP error quotes it.
Bytes quote(const Bytes& ipDatagram) {
  return Bytes(ipDatagram.begin(), ipDatagram.begin() + 28);
}

TEST_F(NatPacketTest, FragNeededFromTheServerSideReachesTheClientTranslated) {
  start(baseConfig("rr"));
  h_.send(0, clientTcp(40200, kTcpSynFlag), 1);  // -> 10.0.1.12:8080
  // A router between dplb and the server refuses a 1500-byte client packet.
  Bytes quoted = quote(FrameBuilder()
                           .ipv4({.src = kClient, .dst = kRs12, .ttl = 63, .df = true})
                           .tcp({.sport = 40200, .dport = 8080, .flags = kTcpAckFlag})
                           .payload(std::string(1460, 'x'))
                           .buildIp());
  Bytes icmp = FrameBuilder()
                   .eth({.dst = gLanMac, .src = kRs12Mac})
                   .ipv4({.src = ip4(10, 0, 1, 254), .dst = kClient})
                   .icmp({.type = 3, .code = 4, .rest = 1400})
                   .payload(quoted)
                   .build();
  Bytes out = h_.send(1, icmp, 0);
  DecodedFrame d = decodeFrame(out);
  ASSERT_TRUE(d.valid && d.icmp) << d.error;
  EXPECT_EQ(d.ethDst, kClientMac);
  // As ip_vs_nat_icmp() does on the way out: the outer source becomes the VIP
  // (the client only knows the VIP), whoever generated the error.
  EXPECT_EQ(d.ip.src, kVip);
  EXPECT_EQ(d.ip.dst, kClient);
  EXPECT_EQ(d.icmp->type, 3);
  EXPECT_EQ(d.icmp->code, 4);
  EXPECT_EQ(d.icmp->rest, 1400u) << "next-hop MTU kept";
  // The quote now shows what the client sent: client -> VIP:80.
  DecodedFrame q = decodeIp(d.payload, 0);
  EXPECT_EQ(q.ip.src, kClient);
  EXPECT_EQ(q.ip.dst, kVip);
  EXPECT_EQ(rd16(d.payload, 20), 40200);
  EXPECT_EQ(rd16(d.payload, 22), 80);
  EXPECT_EQ(refSum(d.payload, 0, 20), 0xFFFF) << "quoted IPv4 checksum";
  EXPECT_EQ(checksumProblems(out), "");
}

TEST_F(NatPacketTest, ErrorFromTheClientSideReachesTheServerTranslated) {
  start(baseConfig("rr"));
  h_.send(0, clientTcp(40201, kTcpSynFlag), 1);  // -> 10.0.1.12:8080
  Bytes quoted = quote(FrameBuilder()
                           .ipv4({.src = kVip, .dst = kClient, .ttl = 63})
                           .tcp({.sport = 80, .dport = 40201, .flags = kTcpAckFlag})
                           .buildIp());
  Bytes icmp = FrameBuilder()
                   .eth({.dst = gWanMac, .src = kClientMac})
                   .ipv4({.src = kClient, .dst = kVip})
                   .icmp({.type = 3, .code = 3})
                   .payload(quoted)
                   .build();
  Bytes out = h_.send(0, icmp, 1);
  DecodedFrame d = decodeFrame(out);
  ASSERT_TRUE(d.valid && d.icmp) << d.error;
  EXPECT_EQ(d.ethDst, kRs12Mac);
  EXPECT_EQ(d.ip.src, kClient);
  EXPECT_EQ(d.ip.dst, kRs12);
  DecodedFrame q = decodeIp(d.payload, 0);
  EXPECT_EQ(q.ip.src, kRs12) << "the server recognises its own packet";
  EXPECT_EQ(rd16(d.payload, 20), 8080);
  EXPECT_EQ(rd16(d.payload, 22), 40201);
  EXPECT_EQ(checksumProblems(out), "");
}

TEST_F(NatPacketTest, IcmpErrorAboutNoConnectionIsDropped) {
  start(baseConfig("rr"));
  Bytes quoted = quote(FrameBuilder()
                           .ipv4({.src = kVip, .dst = kClient})
                           .tcp({.sport = 80, .dport = 1, .flags = kTcpAckFlag})
                           .buildIp());
  h_.inject(0, FrameBuilder()
                   .eth({.dst = gWanMac, .src = kClientMac})
                   .ipv4({.src = kClient, .dst = kVip})
                   .icmp({.type = 3, .code = 3})
                   .payload(quoted)
                   .build());
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.drops(DropReason::kIcmpNoConn), 1u);
}

std::string tunConfig(uint16_t lanMtu) {
  std::string cfg = baseConfig("rr");
  DataplaneHarness::replace(cfg, R"(  - name: dns)", R"(  - name: web-tun
    vip: 10.0.0.102
    port: 80
    protocol: tcp
    scheduler: rr
    forward: tun
    real_servers:
      - { address: 10.0.1.11 }
  - name: dns)");
  DataplaneHarness::replace(cfg, "addresses: [10.0.1.1/24] }",
                            "addresses: [10.0.1.1/24], mtu: " + std::to_string(lanMtu) + " }");
  return cfg;
}

Bytes tunClientPacket(size_t payload, bool df, uint8_t tos = 0) {
  return FrameBuilder()
      .eth({.dst = gWanMac, .src = kClientMac})
      .ipv4({.src = kClient, .dst = ip4(10, 0, 0, 102), .ttl = 64, .tos = tos, .df = df})
      .tcp({.sport = 40300, .dport = 80, .flags = kTcpSynFlag})
      .payload(std::string(payload, 'p'))
      .build();
}

TEST_F(NatPacketTest, TunnelEncapsulatesToTheRealServer) {
  start(tunConfig(1500));
  Bytes in = tunClientPacket(100, true, 0x2a);
  Bytes out = h_.send(0, in, 1);
  DecodedFrame d = decodeFrame(out);
  ASSERT_TRUE(d.valid) << d.error;
  EXPECT_EQ(d.ethDst, kRs11Mac);
  EXPECT_EQ(d.ethSrc, h_.portMac(1));
  EXPECT_EQ(d.ip.protocol, kProtoIpip);
  EXPECT_EQ(d.ip.src, ip4(10, 0, 1, 1)) << "our address on the egress port";
  EXPECT_EQ(d.ip.dst, kRs11);
  EXPECT_EQ(d.ip.ttl, 63) << "outer TTL = the inner's new TTL";
  EXPECT_TRUE(d.ip.df) << "DF copied from the inner header";
  EXPECT_EQ(d.ip.tos, 0x2a);
  EXPECT_EQ(refSum(out, 14, 20), 0xFFFF) << "outer header checksum";
  // The inner datagram: unchanged but for its TTL and header checksum.
  Bytes inner(out.begin() + 34, out.end());
  Bytes orig(in.begin() + 14, in.end());
  ASSERT_EQ(inner.size(), orig.size());
  EXPECT_EQ(inner[8], 63);
  EXPECT_EQ(refSum(inner, 0, 20), 0xFFFF) << "inner header checksum";
  for (size_t i = 0; i < orig.size(); ++i) {
    if (i != 8 && i != 10 && i != 11) {
      EXPECT_EQ(inner[i], orig[i]) << "inner byte " << i;
    }
  }
}

TEST_F(NatPacketTest, TunnelAnswersFragNeededWhenDfIsSet) {
  start(tunConfig(600));
  Bytes in = tunClientPacket(700, true);
  h_.inject(0, in);
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.drops(DropReason::kMtuExceeded), 1u);
  auto back = h_.collect(0);
  ASSERT_EQ(back.size(), 1u);
  DecodedFrame d = decodeFrame(back[0]);
  ASSERT_TRUE(d.icmp);
  EXPECT_EQ(d.ip.dst, kClient);
  EXPECT_EQ(d.icmp->type, 3);
  EXPECT_EQ(d.icmp->code, 4);
  EXPECT_EQ(d.icmp->rest & 0xFFFF, 580u) << "next-hop MTU = MTU - 20";
  EXPECT_EQ(checksumProblems(back[0]), "");
}

TEST_F(NatPacketTest, TunnelFragmentsWhenDfIsClear) {
  start(tunConfig(600));
  Bytes in = tunClientPacket(1000, false);
  h_.inject(0, in);
  h_.pollAll();
  auto frags = h_.collect(1);
  ASSERT_GE(frags.size(), 2u);
  // Reassemble the outer datagram from its fragments.
  Bytes payload;
  for (size_t i = 0; i < frags.size(); ++i) {
    DecodedFrame d = decodeFrame(frags[i]);
    ASSERT_TRUE(d.valid) << d.error;
    EXPECT_LE(d.ip.totalLength, 600);
    EXPECT_EQ(d.ip.protocol, kProtoIpip);
    EXPECT_EQ(d.ip.fragOffset, payload.size());
    EXPECT_EQ(d.ip.fragOffset % 8, 0);
    EXPECT_EQ(d.ip.mf, i + 1 < frags.size());
    EXPECT_EQ(refSum(frags[i], 14, 20), 0xFFFF);
    EXPECT_EQ(d.ethDst, kRs11Mac);
    payload.insert(payload.end(), d.l4Bytes.begin(), d.l4Bytes.end());
  }
  Bytes orig(in.begin() + 14, in.end());
  ASSERT_EQ(payload.size(), orig.size());
  EXPECT_EQ(payload[8], 63);
  for (size_t i = 0; i < orig.size(); ++i) {
    if (i != 8 && i != 10 && i != 11) {
      ASSERT_EQ(payload[i], orig[i]) << "inner byte " << i;
    }
  }
}

TEST_F(NatPacketTest, EchoRequestsToVipAndPortAddressAreAnswered) {
  start(baseConfig("rr"));
  for (uint32_t target : {kVip, ip4(10, 0, 0, 2)}) {
    Bytes req = FrameBuilder()
                    .eth({.dst = gWanMac, .src = kClientMac})
                    .ipv4({.src = kClient, .dst = target, .ttl = 9})
                    .icmp({.type = 8, .code = 0, .rest = 0x00420007})
                    .payload("ping-data")
                    .build();
    Bytes rep = h_.send(0, req, 0);
    DecodedFrame d = decodeFrame(rep);
    ASSERT_TRUE(d.valid) << d.error;
    EXPECT_EQ(d.ethDst, kClientMac);
    EXPECT_EQ(d.ip.src, target);
    EXPECT_EQ(d.ip.dst, kClient);
    ASSERT_TRUE(d.icmp);
    EXPECT_EQ(d.icmp->type, 0);
    EXPECT_EQ(d.icmp->rest, 0x00420007u) << "id and sequence kept";
    EXPECT_EQ(std::string(d.payload.begin(), d.payload.end()), "ping-data");
    EXPECT_EQ(checksumProblems(rep), "");
  }
}

TEST_F(NatPacketTest, DirectRoutingChangesOnlyMacsAndTtl) {
  std::string cfg = baseConfig("rr");
  DataplaneHarness::replace(cfg, R"(  - name: dns)", R"(  - name: web-dr
    vip: 10.0.0.101
    port: 80
    protocol: tcp
    scheduler: rr
    forward: dr
    real_servers:
      - { address: 10.0.1.11 }
  - name: dns)");
  start(cfg);
  Bytes in =
      FrameBuilder()
          .eth({.dst = gWanMac, .src = kClientMac})
          .ipv4({.src = kClient, .dst = ip4(10, 0, 0, 101), .ttl = 64, .options = {1, 1, 1, 0}})
          .tcp({.sport = 40100, .dport = 80, .flags = kTcpSynFlag})
          .payload("dr")
          .build();
  Bytes out = h_.send(0, in, 1);
  ASSERT_EQ(out.size(), in.size());
  DecodedFrame d = decodeFrame(out);
  EXPECT_EQ(d.ethDst, kRs11Mac);
  EXPECT_EQ(d.ethSrc, h_.portMac(1));
  EXPECT_EQ(d.ip.dst, ip4(10, 0, 0, 101)) << "DR keeps the VIP as destination";
  EXPECT_EQ(d.ip.ttl, 63);
  EXPECT_EQ(checksumProblems(out), "");
  // Every byte after the Ethernet header is unchanged but the TTL and the
  // header checksum.
  for (size_t i = 14; i < in.size(); ++i) {
    if (i == 14 + 8 || i == 14 + 10 || i == 14 + 11) {
      continue;
    }
    EXPECT_EQ(out[i], in[i]) << "byte " << i;
  }
  // Replies bypass dplb; further client packets keep going to the same server.
  Bytes ack = FrameBuilder()
                  .eth({.dst = gWanMac, .src = kClientMac})
                  .ipv4({.src = kClient, .dst = ip4(10, 0, 0, 101)})
                  .tcp({.sport = 40100, .dport = 80, .flags = kTcpAckFlag})
                  .build();
  EXPECT_EQ(decodeFrame(h_.send(0, ack, 1)).ethDst, kRs11Mac);
}

TEST_F(NatPacketTest, MalformedPacketsAreDroppedByReason) {
  start(baseConfig("rr"));
  Bytes badSum = FrameBuilder()
                     .eth({.dst = gWanMac, .src = kClientMac})
                     .ipv4({.src = kClient, .dst = kVip, .checksum = 0xdead})
                     .tcp({.sport = 1, .dport = 80})
                     .build();
  Bytes truncated = clientTcp(40005, kTcpSynFlag);
  truncated.resize(14 + 10);
  Bytes badIhl = FrameBuilder()
                     .eth({.dst = gWanMac, .src = kClientMac})
                     .ipv4({.src = kClient, .dst = kVip, .ihl = 3})
                     .tcp({.sport = 1, .dport = 80})
                     .build();
  Bytes tiny(6, 0xff);
  for (const Bytes& b : {badSum, truncated, badIhl, tiny}) {
    h_.inject(0, b);
  }
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.drops(DropReason::kBadIpChecksum), 1u);
  EXPECT_EQ(h_.drops(DropReason::kTruncatedIpv4), 1u);
  EXPECT_EQ(h_.drops(DropReason::kBadIhl), 1u);
  EXPECT_EQ(h_.drops(DropReason::kTruncatedEthernet), 1u);
}

TEST_F(NatPacketTest, FullTableDropsNewConnectionsButKeepsOldOnes) {
  start(baseConfig("rr"), 1, /*capacity=*/2);
  h_.send(0, clientTcp(42000, kTcpSynFlag), 1);
  h_.send(0, clientTcp(42001, kTcpSynFlag), 1);
  h_.inject(0, clientTcp(42002, kTcpSynFlag));
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.drops(DropReason::kConnTableFull), 1u);
  // The first connection still forwards.
  Bytes again = h_.send(0, clientTcp(42000, kTcpAckFlag), 1);
  EXPECT_EQ(decodeFrame(again).ip.dst, kRs12);
}

TEST_F(NatPacketTest, ConnectionsExpireWithTheStateTimeout) {
  start(baseConfig("rr"));
  h_.send(0, clientTcp(43000, kTcpSynFlag), 1);
  ASSERT_EQ(h_.dp().connCount(), 1u);
  // SYN seen from the client: SYN_RECV, 60 s by default.
  h_.advance(59s);
  h_.pollAll();
  EXPECT_EQ(h_.dp().connCount(), 1u);
  h_.advance(2s);
  h_.pollAll();
  EXPECT_EQ(h_.dp().connCount(), 0u);
  EXPECT_EQ(h_.dp().workerStats(0).expiredConns.get(), 1u);
  // A reply for the expired connection is no longer translated.
  h_.inject(1, serverTcp(kRs12, 43000, kTcpSynFlag | kTcpAckFlag));
  h_.pollAll();
  EXPECT_TRUE(h_.collect(0).empty());
  EXPECT_EQ(h_.drops(DropReason::kNotForUs), 1u);
}

TEST_F(NatPacketTest, EstablishedConnectionsLiveLonger) {
  start(baseConfig("rr"));
  h_.send(0, clientTcp(43001, kTcpSynFlag), 1);
  h_.send(1, serverTcp(kRs12, 43001, kTcpSynFlag | kTcpAckFlag), 0);
  h_.send(0, clientTcp(43001, kTcpAckFlag), 1);
  auto conns = h_.dp().connections();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].state, static_cast<uint8_t>(dp::TcpState::kEstablished));
  h_.advance(899s);
  h_.pollAll();
  EXPECT_EQ(h_.dp().connCount(), 1u);
  h_.advance(2s);
  h_.pollAll();
  EXPECT_EQ(h_.dp().connCount(), 0u);
}

TEST_F(NatPacketTest, PersistencePinsAClientToOneServer) {
  start(baseConfig("rr", "\n    persistence: { timeout: 300s }"));
  std::vector<uint32_t> got;
  for (uint16_t p = 0; p < 4; ++p) {
    got.push_back(decodeFrame(h_.send(0, clientTcp(44000 + p, kTcpSynFlag), 1)).ip.dst);
  }
  EXPECT_EQ(got, (std::vector<uint32_t>(4, kRs12)));
  // 4 connections + 1 template.
  EXPECT_EQ(h_.dp().connCount(), 5u);
}

TEST_F(NatPacketTest, UdpFirstDatagramCreatesAConnection) {
  start(baseConfig("rr"));
  Bytes q = FrameBuilder()
                .eth({.dst = gWanMac, .src = kClientMac})
                .ipv4({.src = kClient, .dst = kVip})
                .udp({.sport = 5000, .dport = 53})
                .payload("query")
                .build();
  Bytes out = h_.send(0, q, 1);
  DecodedFrame d = decodeFrame(out);
  ASSERT_TRUE(d.udp);
  EXPECT_EQ(d.ip.dst, kRs11);
  EXPECT_EQ(d.udp->dport, 5353);
  EXPECT_EQ(checksumProblems(out), "");
  Bytes r = FrameBuilder()
                .eth({.dst = gLanMac, .src = kRs11Mac})
                .ipv4({.src = kRs11, .dst = kClient})
                .udp({.sport = 5353, .dport = 5000})
                .payload("answer")
                .build();
  Bytes back = h_.send(1, r, 0);
  DecodedFrame b = decodeFrame(back);
  ASSERT_TRUE(b.udp);
  EXPECT_EQ(b.ip.src, kVip);
  EXPECT_EQ(b.udp->sport, 53);
  EXPECT_EQ(checksumProblems(back), "");
}

TEST_F(NatPacketTest, AnswersArpForTheVipAndLocalAddresses) {
  start(baseConfig("rr"));
  for (uint32_t target : {kVip, ip4(10, 0, 0, 2)}) {
    Bytes req = FrameBuilder()
                    .eth({.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, .src = kClientMac})
                    .arp({.op = 1, .sha = kClientMac, .spa = kClient, .tpa = target})
                    .build();
    Bytes rep = h_.send(0, req, 0);
    ASSERT_GE(rep.size(), 42u);
    Mac dst, src, sha, tha;
    std::copy(rep.begin(), rep.begin() + 6, dst.begin());
    std::copy(rep.begin() + 6, rep.begin() + 12, src.begin());
    EXPECT_EQ(dst, kClientMac);
    EXPECT_EQ(src, h_.portMac(0));
    EXPECT_EQ(rd16(rep, 12), 0x0806);
    EXPECT_EQ(rd16(rep, 20), 2) << "ARP reply";
    std::copy(rep.begin() + 22, rep.begin() + 28, sha.begin());
    EXPECT_EQ(sha, h_.portMac(0));
    EXPECT_EQ(rd32(rep, 28), target);
    std::copy(rep.begin() + 32, rep.begin() + 38, tha.begin());
    EXPECT_EQ(tha, kClientMac);
    EXPECT_EQ(rd32(rep, 38), kClient);
  }
  // Not ours: no answer.
  Bytes other = FrameBuilder()
                    .eth({.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, .src = kClientMac})
                    .arp({.op = 1, .sha = kClientMac, .spa = kClient, .tpa = ip4(10, 0, 0, 77)})
                    .build();
  h_.inject(0, other);
  h_.pollAll();
  EXPECT_TRUE(h_.collect(0).empty());
}

TEST_F(NatPacketTest, ResolvesNextHopsByArpAndFlushesWaitingPackets) {
  start(baseConfig("rr", "", /*staticRs12=*/false));
  // First SYN goes to 10.0.1.12, which has no static neighbour.
  h_.inject(0, clientTcp(45000, kTcpSynFlag));
  h_.pollAll();
  auto out = h_.collect(1);
  ASSERT_EQ(out.size(), 1u);
  Bytes req = out[0];
  EXPECT_EQ(rd16(req, 12), 0x0806);
  EXPECT_EQ(rd16(req, 20), 1) << "ARP request";
  EXPECT_EQ(rd32(req, 28), ip4(10, 0, 1, 1)) << "sender: the port's own address";
  EXPECT_EQ(rd32(req, 38), kRs12);
  Bytes reply = FrameBuilder()
                    .eth({.dst = h_.portMac(1), .src = kRs12Mac})
                    .arp({.op = 2,
                          .sha = kRs12Mac,
                          .spa = kRs12,
                          .tha = h_.portMac(1),
                          .tpa = ip4(10, 0, 1, 1)})
                    .build();
  h_.inject(1, reply);
  h_.pollAll();
  out = h_.collect(1);
  ASSERT_EQ(out.size(), 1u);
  DecodedFrame d = decodeFrame(out[0]);
  EXPECT_EQ(d.ip.dst, kRs12);
  EXPECT_EQ(d.ethDst, kRs12Mac);
  EXPECT_EQ(checksumProblems(out[0]), "");
}

TEST_F(NatPacketTest, UnansweredArpTimesOutAndDropsWaitingPackets) {
  start(baseConfig("rr", "", /*staticRs12=*/false));
  h_.inject(0, clientTcp(45001, kTcpSynFlag));
  h_.pollAll();
  EXPECT_EQ(h_.collect(1).size(), 1u);  // the first request
  for (int i = 0; i < 5; ++i) {
    h_.advance(1100ms);
    h_.pollAll();
  }
  auto retries = h_.collect(1);
  EXPECT_EQ(retries.size(), 3u) << "three retries, then give up";
  EXPECT_EQ(h_.drops(DropReason::kArpTimeout), 1u);
}

TEST_F(NatPacketTest, RemovedServerConnectionsAreDroppedSilently) {
  start(baseConfig("rr"));
  h_.send(0, clientTcp(46000, kTcpSynFlag), 1);  // -> .12
  conf::Config c = h_.config();
  auto& servers = c.services[0].realServers;
  servers.erase(servers.begin() + 1);  // drop 10.0.1.12
  ASSERT_EQ(h_.dp().publish(c), "");
  h_.inject(0, clientTcp(46000, kTcpAckFlag));
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.drops(DropReason::kDestRemoved), 1u);
  // New connections go to the remaining server.
  EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(46001, kTcpSynFlag), 1)).ip.dst, kRs11);
}

TEST_F(NatPacketTest, UnchangedServersKeepTheirConnectionsAcrossPublish) {
  start(baseConfig("rr"));
  h_.send(0, clientTcp(47000, kTcpSynFlag), 1);  // -> .12
  conf::Config c = h_.config();
  c.services[0].realServers[0].weight = 5;  // edit the other one
  ASSERT_EQ(h_.dp().publish(c), "");
  Bytes out = h_.send(0, clientTcp(47000, kTcpAckFlag), 1);
  EXPECT_EQ(decodeFrame(out).ip.dst, kRs12);
}

TEST_F(NatPacketTest, SynToAQuiescedServerIsRescheduledWithExpireNodestConn) {
  for (bool expireNodest : {false, true}) {
    SCOPED_TRACE(expireNodest ? "expire_nodest_conn: true" : "expire_nodest_conn: false");
    std::string cfg = baseConfig("rr");
    if (expireNodest) {
      DataplaneHarness::replace(cfg, "  exception_path: false",
                                "  exception_path: false\n  expire_nodest_conn: true");
    }
    start(cfg);
    h_.send(0, clientTcp(48100, kTcpSynFlag), 1);  // -> .12
    h_.send(1, serverTcp(kRs12, 48100, kTcpSynFlag | kTcpAckFlag), 0);
    conf::Config c = h_.config();
    c.services[0].realServers[1].weight = 0;  // quiesce .12
    ASSERT_EQ(h_.dp().publish(c), "");
    // The established connection keeps flowing to its server either way.
    EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(48100, kTcpAckFlag), 1)).ip.dst, kRs12);
    // A SYN reusing the port: rescheduled only with expire_nodest_conn.
    EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(48100, kTcpSynFlag), 1)).ip.dst,
              expireNodest ? kRs11 : kRs12);
    h_.stop();
  }
}

TEST_F(NatPacketTest, ExpireNodestConnExpiresOnNextPacket) {
  std::string cfg = baseConfig("rr");
  DataplaneHarness::replace(cfg, "  exception_path: false",
                            "  exception_path: false\n  expire_nodest_conn: true");
  start(cfg);
  h_.send(0, clientTcp(48000, kTcpSynFlag), 1);  // -> .12
  conf::Config c = h_.config();
  c.services[0].realServers.erase(c.services[0].realServers.begin() + 1);
  ASSERT_EQ(h_.dp().publish(c), "");
  h_.inject(0, clientTcp(48000, kTcpAckFlag));
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.dp().connCount(), 0u) << "expired at once, not left to time out";
  // A new SYN from the same client port is scheduled afresh.
  EXPECT_EQ(decodeFrame(h_.send(0, clientTcp(48000, kTcpSynFlag), 1)).ip.dst, kRs11);
}

TEST_F(NatPacketTest, GratuitousArpForVipsAtStart) {
  // The harness discards start-up output; look at it before that.
  ensureEal();
  RingPort wan, lan;
  wan.create("gw", 1);
  lan.create("gl", 1);
  std::string yaml = baseConfig("rr");
  DataplaneHarness::replace(yaml, "{WAN}", wan.name);
  DataplaneHarness::replace(yaml, "{LAN}", lan.name);
  auto lr = conf::loadConfigString(yaml, "t.yaml");
  ASSERT_TRUE(lr.ok());
  dp::Dataplane d;
  ASSERT_EQ(d.start(*lr.config, {}), "");
  d.worker(0).pollOnce();
  void* v;
  ASSERT_EQ(rte_ring_dequeue(wan.tx[0], &v), 0);
  auto* m = static_cast<rte_mbuf*>(v);
  Bytes f(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_mtod(m, uint8_t*) + rte_pktmbuf_data_len(m));
  rte_pktmbuf_free(m);
  EXPECT_EQ(rd16(f, 12), 0x0806);
  EXPECT_EQ(rd32(f, 28), kVip) << "sender = VIP";
  EXPECT_EQ(rd32(f, 38), kVip) << "target = VIP (gratuitous)";
  wan.drain();
  lan.drain();
  d.stop();
  wan.destroy();
  lan.destroy();
}

// Two workers: a flow whose packets arrive on the other worker's queue is
// handed to its owner; results equal those of one worker.
TEST_F(NatPacketTest, TwoWorkersGiveTheSameResultsAsOne) {
  auto run = [](unsigned workers) {
    DataplaneHarness h;
    h.start(baseConfig("sh"), workers);
    gWanMac = h.portMac(0);
    gLanMac = h.portMac(1);
    std::vector<std::pair<uint32_t, uint16_t>> out;
    for (uint16_t p = 0; p < 16; ++p) {
      // Alternate arrival queues independently of ownership.
      unsigned q = workers > 1 ? (p % 2) : 0;
      DecodedFrame d = decodeFrame(h.send(0, clientTcp(50000 + p * 7, kTcpSynFlag), 1, q));
      out.emplace_back(d.ip.dst, d.tcp ? d.tcp->dport : 0);
      // The reply arrives on the other queue.
      unsigned rq = workers > 1 ? ((p + 1) % 2) : 0;
      DecodedFrame r = decodeFrame(
          h.send(1, serverTcp(d.ip.dst, 50000 + p * 7, kTcpSynFlag | kTcpAckFlag), 0, rq));
      out.emplace_back(r.ip.src, r.tcp ? r.tcp->sport : 0);
    }
    uint64_t handoffs = 0;
    for (unsigned w = 0; w < workers; ++w) {
      handoffs += h.dp().workerStats(w).handoffOut.get();
    }
    uint32_t conns = h.dp().connCount();
    h.stop();
    return std::make_tuple(out, handoffs, conns);
  };
  auto [one, h1, c1] = run(1);
  auto [two, h2, c2] = run(2);
  EXPECT_EQ(one, two);
  EXPECT_EQ(h1, 0u);
  EXPECT_GT(h2, 0u) << "some packets must have crossed workers";
  EXPECT_EQ(c1, 16u);
  EXPECT_EQ(c2, 16u);
}

}  // namespace
}  // namespace dplb::test
