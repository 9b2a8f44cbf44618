// Packet tier for IPv4 reassembly through the real worker code: fragments of
// VIP traffic are reassembled (librte_ip_frag), translated and forwarded,
// re-fragmented to the egress MTU; every fragment that is not forwarded is
// counted. The test fragments and reassembles with its own code.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "dp_harness.h"
#include "packet_builder.h"

namespace dplb::test {
namespace {

using pkt::DropReason;
using namespace std::chrono_literals;

constexpr Mac kClientMac{0x02, 0xc1, 0, 0, 0, 0x05};
constexpr Mac kRsMac{0x02, 0, 0, 0, 0x01, 0x0b};
const uint32_t kClient = ip4(10, 0, 0, 5);
const uint32_t kVip = ip4(10, 0, 0, 100);
const uint32_t kRs = ip4(10, 0, 1, 11);

std::string config(unsigned maxFlows = 8) {
  return R"(
dataplane:
  lcores: "0"
  exception_path: false
  reassembly: { max_flows: )" +
         std::to_string(maxFlows) + R"(, timeout: 2s }
  ports:
    - { name: wan, device: "{WAN}", addresses: [10.0.0.2/24] }
    - { name: lan, device: "{LAN}", addresses: [10.0.1.1/24] }
  neighbours:
    - { ip: 10.0.0.5, mac: "02:c1:00:00:00:05" }
    - { ip: 10.0.1.11, mac: "02:00:00:00:01:0b" }
services:
  - name: dns
    vip: 10.0.0.100
    port: 53
    protocol: udp
    scheduler: rr
    forward: nat
    real_servers:
      - { address: 10.0.1.11, port: 5353 }
  - name: web
    vip: 10.0.0.100
    port: 80
    protocol: tcp
    scheduler: rr
    forward: nat
    real_servers:
      - { address: 10.0.1.11, port: 8080 }
)";
}

Bytes pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) {
    b[i] = static_cast<uint8_t>(i * 7 + 3);
  }
  return b;
}

// Splits the IPv4 datagram `ip` into fragments of at most `chunk` data bytes
// (a multiple of 8) and wraps each in an Ethernet header.
std::vector<Bytes> fragmentFrames(const Bytes& ip, size_t chunk, const Mac& dst, const Mac& src) {
  const size_t hl = (ip[0] & 0x0F) * 4u;
  const size_t dataLen = ip.size() - hl;
  std::vector<Bytes> out;
  for (size_t off = 0; off < dataLen; off += chunk) {
    const size_t n = std::min(chunk, dataLen - off);
    Bytes f(dst.begin(), dst.end());
    f.insert(f.end(), src.begin(), src.end());
    f.push_back(0x08);
    f.push_back(0x00);
    const size_t l3 = f.size();
    f.insert(f.end(), ip.begin(), ip.begin() + static_cast<long>(hl));
    f.insert(f.end(), ip.begin() + static_cast<long>(hl + off),
             ip.begin() + static_cast<long>(hl + off + n));
    wr16(f, l3 + 2, static_cast<uint16_t>(hl + n));
    const bool more = off + n < dataLen;
    wr16(f, l3 + 6, static_cast<uint16_t>((more ? 0x2000 : 0) | (off / 8)));
    wr16(f, l3 + 10, 0);
    wr16(f, l3 + 10, refChecksum(f, l3, hl, l3 + 10));
    out.push_back(f);
  }
  return out;
}

// Puts fragments (frames) back together; "" error on success.
struct Reassembled {
  std::string error;
  Bytes ip;  // the whole datagram
};
Reassembled reassembleFrames(const std::vector<Bytes>& frames) {
  Reassembled r;
  std::map<size_t, Bytes> pieces;
  Bytes header;
  size_t total = 0;
  for (const Bytes& f : frames) {
    DecodedFrame d = decodeFrame(f);
    if (!d.valid) {
      r.error = d.error;
      return r;
    }
    if (std::string p = checksumProblems(f); !p.empty()) {
      r.error = "fragment checksum: " + p;
      return r;
    }
    if (d.ip.fragOffset == 0) {
      header.assign(f.begin() + 14, f.begin() + 14 + d.ip.ihl * 4);
    }
    if (!d.ip.mf) {
      total = d.ip.fragOffset + d.l4Bytes.size();
    }
    pieces[d.ip.fragOffset] = d.l4Bytes;
  }
  Bytes data;
  for (auto& [off, b] : pieces) {
    if (off != data.size()) {
      r.error = "hole or overlap at " + std::to_string(off);
      return r;
    }
    data.insert(data.end(), b.begin(), b.end());
  }
  if (header.empty() || data.size() != total) {
    r.error = "incomplete";
    return r;
  }
  r.ip = header;
  r.ip.insert(r.ip.end(), data.begin(), data.end());
  wr16(r.ip, 2, static_cast<uint16_t>(r.ip.size()));
  wr16(r.ip, 6, static_cast<uint16_t>(rd16(r.ip, 6) & 0x4000));
  wr16(r.ip, 10, 0);
  wr16(r.ip, 10, refChecksum(r.ip, 0, header.size(), 10));
  return r;
}

class ReassemblyPacketTest : public ::testing::Test {
 protected:
  void TearDown() override { h_.stop(); }
  void start(unsigned maxFlows = 8, unsigned workers = 1) {
    h_.start(config(maxFlows), workers);
    wanMac_ = h_.portMac(0);
    lanMac_ = h_.portMac(1);
  }
  Bytes clientUdp(size_t payload, uint16_t id, uint16_t sport = 40000) {
    return FrameBuilder()
        .ipv4({.src = kClient, .dst = kVip, .id = id})
        .udp({.sport = sport, .dport = 53})
        .payload(pattern(payload))
        .buildIp();
  }
  std::vector<Bytes> clientFragments(size_t payload, uint16_t id, size_t chunk) {
    return fragmentFrames(clientUdp(payload, id), chunk, wanMac_, kClientMac);
  }
  uint64_t stat(dp::Counter dp::WorkerStats::*c) {
    uint64_t n = 0;
    for (unsigned w = 0; w < h_.dp().workerCount(); ++w) {
      n += (h_.dp().workerStats(w).*c).get();
    }
    return n;
  }
  // The datagram the real server must receive for a client datagram.
  void expectTranslated(const Bytes& ip, size_t payload, uint16_t id) {
    DecodedFrame d = decodeIp(ip, 0);
    ASSERT_TRUE(d.valid) << d.error;
    EXPECT_EQ(d.ip.src, kClient);
    EXPECT_EQ(d.ip.dst, kRs);
    EXPECT_EQ(d.ip.id, id);
    EXPECT_EQ(d.ip.ttl, 63);
    EXPECT_FALSE(d.ip.mf);
    EXPECT_EQ(d.ip.fragOffset, 0);
    ASSERT_TRUE(d.udp);
    EXPECT_EQ(d.udp->sport, 40000);
    EXPECT_EQ(d.udp->dport, 5353);
    EXPECT_EQ(d.udp->length, payload + 8);
    EXPECT_EQ(d.payload, pattern(payload));
    EXPECT_EQ(ipChecksumProblems(ip, 0), "") << "checksums of the whole datagram";
  }

  DataplaneHarness h_;
  Mac wanMac_{};
  Mac lanMac_{};
};

TEST_F(ReassemblyPacketTest, SmallFragmentedDatagramIsReassembledAndForwardedWhole) {
  start();
  auto frags = clientFragments(200, 0x4001, 64);
  ASSERT_EQ(frags.size(), 4u);
  for (const auto& f : frags) {
    h_.inject(0, f);
  }
  h_.pollAll();
  auto out = h_.collect(1);
  ASSERT_EQ(out.size(), 1u) << h_.dropSummary();
  DecodedFrame d = decodeFrame(out[0]);
  EXPECT_EQ(d.ethDst, kRsMac);
  EXPECT_EQ(d.ethSrc, lanMac_);
  EXPECT_EQ(checksumProblems(out[0]), "");
  expectTranslated(Bytes(out[0].begin() + 14, out[0].end()), 200, 0x4001);
  EXPECT_EQ(stat(&dp::WorkerStats::fragmentsIn), 4u);
  EXPECT_EQ(stat(&dp::WorkerStats::datagramsReassembled), 1u);
  EXPECT_EQ(h_.dp().serviceTotals(kVip, 53, dp::L4Proto::kUdp).inPackets, 1u);
}

TEST_F(ReassemblyPacketTest, LargeDatagramIsReassembledAndRefragmentedToTheMtu) {
  start();
  // 4000 bytes of UDP in 1480-byte fragments: 3 in, 3 out (MTU 1500).
  auto frags = clientFragments(4000, 0x4002, 1480);
  ASSERT_EQ(frags.size(), 3u);
  for (const auto& f : frags) {
    h_.inject(0, f);
  }
  h_.pollAll();
  auto out = h_.collect(1);
  ASSERT_EQ(out.size(), 3u) << h_.dropSummary();
  for (const auto& f : out) {
    EXPECT_LE(f.size() - 14, 1500u);
    EXPECT_EQ(decodeFrame(f).ethDst, kRsMac);
  }
  Reassembled r = reassembleFrames(out);
  ASSERT_EQ(r.error, "");
  expectTranslated(r.ip, 4000, 0x4002);
  EXPECT_EQ(stat(&dp::WorkerStats::datagramsReassembled), 1u);
}

TEST_F(ReassemblyPacketTest, OutOfOrderFragmentsAreReassembled) {
  start();
  auto frags = clientFragments(3000, 0x4003, 1024);
  ASSERT_EQ(frags.size(), 3u);
  for (int i : {2, 0, 1}) {
    h_.inject(0, frags[i]);
  }
  h_.pollAll();
  auto out = h_.collect(1);
  ASSERT_EQ(out.size(), 3u) << h_.dropSummary();  // 3008 bytes: 1480 + 1480 + 48
  Reassembled r = reassembleFrames(out);
  ASSERT_EQ(r.error, "");
  expectTranslated(r.ip, 3000, 0x4003);
}

TEST_F(ReassemblyPacketTest, PaddedShortFragmentsLoseTheirPadding) {
  start();
  // 16 data bytes per fragment: frames below 60 bytes get Ethernet padding,
  // which must not become part of the datagram.
  auto frags = clientFragments(40, 0x4004, 16);
  for (auto& f : frags) {
    f.resize(std::max<size_t>(f.size(), 60), 0xEE);
    h_.inject(0, f);
  }
  h_.pollAll();
  auto out = h_.collect(1);
  ASSERT_EQ(out.size(), 1u) << h_.dropSummary();
  expectTranslated(Bytes(out[0].begin() + 14, out[0].end()), 40, 0x4004);
}

TEST_F(ReassemblyPacketTest, DuplicateFragmentDropsTheDatagramAndCountsEveryFragment) {
  start();
  auto frags = clientFragments(3000, 0x4005, 1024);
  // librte_ip_frag gives up on a datagram with a repeated first fragment:
  // both copies go.
  h_.inject(0, frags[0]);
  h_.inject(0, frags[0]);
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.drops(DropReason::kReassemblyOverlap), 2u);
  // The rest starts a new datagram that never completes: it times out.
  h_.inject(0, frags[1]);
  h_.inject(0, frags[2]);
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  h_.advance(3s);
  h_.pollAll();
  EXPECT_EQ(h_.drops(DropReason::kReassemblyTimeout), 2u) << h_.dropSummary();
  EXPECT_EQ(stat(&dp::WorkerStats::fragmentsIn), 4u);
}

TEST_F(ReassemblyPacketTest, OverlappingFragmentsAreDroppedAndCounted) {
  start();
  Bytes ip = clientUdp(2000, 0x4006);
  auto a = fragmentFrames(ip, 1024, wanMac_, kClientMac);  // [0,1024) [1024,2008)
  auto b = fragmentFrames(ip, 512, wanMac_, kClientMac);   // [0,512) [512,1024) ...
  h_.inject(0, a[0]);
  h_.inject(0, b[1]);  // overlaps [512,1024) again
  h_.inject(0, a[1]);
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  EXPECT_EQ(h_.drops(DropReason::kReassemblyOverlap), 3u) << h_.dropSummary();
  EXPECT_EQ(stat(&dp::WorkerStats::datagramsReassembled), 0u);
}

TEST_F(ReassemblyPacketTest, IncompleteDatagramTimesOutOnTheInjectedClock) {
  start();
  auto frags = clientFragments(3000, 0x4007, 1024);
  h_.inject(0, frags[0]);
  h_.inject(0, frags[1]);
  h_.pollAll();
  h_.advance(1500ms);  // timeout 2s: still waiting
  h_.pollAll();
  EXPECT_EQ(h_.drops(DropReason::kReassemblyTimeout), 0u);
  h_.advance(1s);
  h_.pollAll();
  EXPECT_EQ(h_.drops(DropReason::kReassemblyTimeout), 2u) << h_.dropSummary();
  // The late last fragment starts over alone and is not forwarded.
  h_.inject(0, frags[2]);
  h_.pollAll();
  EXPECT_TRUE(h_.collect(1).empty());
  // Within the timeout, a complete retransmission still goes through.
  auto again = clientFragments(3000, 0x4008, 1024);
  for (const auto& f : again) {
    h_.inject(0, f);
  }
  h_.pollAll();
  EXPECT_EQ(h_.collect(1).size(), 3u) << h_.dropSummary();
}

TEST_F(ReassemblyPacketTest, FullTableDropsNewDatagramsAndCountsThem) {
  start(/*maxFlows=*/2);
  auto d1 = clientFragments(3000, 0x5001, 1024);
  auto d2 = clientFragments(3000, 0x5002, 1024);
  auto d3 = clientFragments(3000, 0x5003, 1024);
  h_.inject(0, d1[0]);
  h_.inject(0, d2[0]);
  h_.inject(0, d3[0]);  // a third datagram in progress: no slot
  h_.pollAll();
  EXPECT_EQ(h_.drops(DropReason::kReassemblyTableFull), 1u) << h_.dropSummary();
  for (auto* d : {&d1, &d2}) {
    h_.inject(0, (*d)[1]);
    h_.inject(0, (*d)[2]);
  }
  h_.pollAll();
  EXPECT_EQ(h_.collect(1).size(), 6u) << h_.dropSummary();
  EXPECT_EQ(stat(&dp::WorkerStats::datagramsReassembled), 2u);
}

TEST_F(ReassemblyPacketTest, BadFragmentsAreCounted) {
  start();
  auto frags = clientFragments(3000, 0x4009, 1024);
  // A non-last fragment whose length is not a multiple of 8.
  Bytes odd = frags[0];
  odd.resize(odd.size() - 3);
  wr16(odd, 16, static_cast<uint16_t>(rd16(odd, 16) - 3));
  wr16(odd, 24, 0);
  wr16(odd, 24, refChecksum(odd, 14, 20, 24));
  h_.inject(0, odd);
  h_.pollAll();
  EXPECT_EQ(h_.drops(DropReason::kReassemblyBadFragment), 1u) << h_.dropSummary();
}

TEST_F(ReassemblyPacketTest, FragmentsArrivingAtDifferentWorkersMeet) {
  start(8, /*workers=*/2);
  for (uint16_t id = 0x6000; id < 0x6008; ++id) {
    auto frags = clientFragments(3000, id, 1024);
    for (size_t i = 0; i < frags.size(); ++i) {
      h_.inject(0, frags[i], static_cast<unsigned>(i % 2));
    }
  }
  h_.pollAll();
  h_.pollAll();
  auto out = h_.collect(1);
  EXPECT_EQ(out.size(), 8u * 3u) << h_.dropSummary();
  EXPECT_EQ(stat(&dp::WorkerStats::datagramsReassembled), 8u);
  std::map<uint16_t, std::vector<Bytes>> byId;
  for (const auto& f : out) {
    byId[decodeFrame(f).ip.id].push_back(f);
  }
  ASSERT_EQ(byId.size(), 8u);
  for (auto& [id, fs] : byId) {
    Reassembled r = reassembleFrames(fs);
    ASSERT_EQ(r.error, "") << "id " << id;
    expectTranslated(r.ip, 3000, id);
  }
}

TEST_F(ReassemblyPacketTest, FragmentedReplyOfAConnectionIsReassembledAndTranslated) {
  start();
  // A TCP connection, then a reply from the real server in fragments.
  Bytes syn = FrameBuilder()
                  .eth({.dst = wanMac_, .src = kClientMac})
                  .ipv4({.src = kClient, .dst = kVip})
                  .tcp({.sport = 40100, .dport = 80, .flags = kTcpSynFlag})
                  .build();
  ASSERT_EQ(decodeFrame(h_.send(0, syn, 1)).ip.dst, kRs);
  Bytes reply = FrameBuilder()
                    .ipv4({.src = kRs, .dst = kClient, .id = 0x7001})
                    .tcp({.sport = 8080, .dport = 40100, .flags = kTcpAckFlag})
                    .payload(pattern(2500))
                    .buildIp();
  for (const auto& f : fragmentFrames(reply, 1480, lanMac_, kRsMac)) {
    h_.inject(1, f);
  }
  h_.pollAll();
  auto out = h_.collect(0);
  ASSERT_EQ(out.size(), 2u) << h_.dropSummary();
  Reassembled r = reassembleFrames(out);
  ASSERT_EQ(r.error, "");
  DecodedFrame d = decodeIp(r.ip, 0);
  EXPECT_EQ(d.ip.src, kVip);
  EXPECT_EQ(d.ip.dst, kClient);
  ASSERT_TRUE(d.tcp);
  EXPECT_EQ(d.tcp->sport, 80);
  EXPECT_EQ(d.tcp->dport, 40100);
  EXPECT_EQ(d.payload, pattern(2500));
  EXPECT_EQ(ipChecksumProblems(r.ip, 0), "");
}

TEST_F(ReassemblyPacketTest, FragmentedEchoRequestToTheVipGetsAFragmentedReply) {
  start();
  Bytes ping = FrameBuilder()
                   .ipv4({.src = kClient, .dst = kVip, .id = 0x7002})
                   .icmp({.type = 8, .rest = 0x00010001})
                   .payload(pattern(3000))
                   .buildIp();
  for (const auto& f : fragmentFrames(ping, 1480, wanMac_, kClientMac)) {
    h_.inject(0, f);
  }
  h_.pollAll();
  auto out = h_.collect(0);
  ASSERT_EQ(out.size(), 3u) << h_.dropSummary();
  Reassembled r = reassembleFrames(out);
  ASSERT_EQ(r.error, "");
  DecodedFrame d = decodeIp(r.ip, 0);
  EXPECT_EQ(d.ip.src, kVip);
  EXPECT_EQ(d.ip.dst, kClient);
  ASSERT_TRUE(d.icmp);
  EXPECT_EQ(d.icmp->type, 0);
  EXPECT_EQ(d.payload, pattern(3000));
  EXPECT_EQ(ipChecksumProblems(r.ip, 0), "");
}

}  // namespace
}  // namespace dplb::test
