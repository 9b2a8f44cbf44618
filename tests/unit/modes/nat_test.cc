// NAT in/out rewrites: table-driven {what, input, binding, expected output,
// expected verdict}. Expected frames are built from scratch by
// packet_builder.h with the translated fields, so every checksum in them is a
// full recomputation; the rewrite (incremental) must produce the same bytes.

#include "dplb/nat/nat.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "mode_test_util.h"
#include "packet_builder.h"
#include "pkt_test_util.h"

namespace dplb::nat {
namespace {

using pkt::DropReason;
using pkt::Verdict;
using test::Bytes;
using test::FrameBuilder;
using test::ip4;
using test::Ipv4Spec;

constexpr uint32_t kClient = ip4(198, 51, 100, 7);
constexpr uint32_t kVip = ip4(203, 0, 113, 10);
constexpr uint32_t kRs = ip4(10, 0, 1, 11);
constexpr NatBinding kSamePort{.vip = kVip, .vport = 80, .rsAddr = kRs, .rsPort = 80};
constexpr NatBinding kMapped{.vip = kVip, .vport = 80, .rsAddr = kRs, .rsPort = 8080};
constexpr NatBinding kDns{.vip = kVip, .vport = 53, .rsAddr = kRs, .rsPort = 5353};

enum class Dir { kIn, kOut };

struct NatCase {
  std::string what;
  Dir dir;
  NatBinding binding;
  Bytes input;
  Bytes expected;  // == input when the verdict leaves the frame untouched
  Verdict verdict;
};

Bytes payload(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) {
    b[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  }
  return b;
}

std::vector<NatCase> natCases() {
  std::vector<NatCase> cases;
  const Bytes data = payload(100, 3);
  auto tcpIn = [&](uint8_t ttl, uint32_t dst, uint16_t dport) {
    return FrameBuilder()
        .ipv4({.src = kClient, .dst = dst, .ttl = ttl, .id = 77, .df = true})
        .tcp({.sport = 40000, .dport = dport, .seq = 1, .flags = test::kTcpSynFlag})
        .build();
  };
  cases.push_back({"inbound syn, same port", Dir::kIn, kSamePort, tcpIn(64, kVip, 80),
                   tcpIn(63, kRs, 80), Verdict::forward()});
  cases.push_back({"inbound syn, port mapping 80 -> 8080", Dir::kIn, kMapped, tcpIn(64, kVip, 80),
                   tcpIn(63, kRs, 8080), Verdict::forward()});
  auto tcpOut = [&](uint8_t ttl, uint32_t src, uint16_t sport) {
    return FrameBuilder()
        .ipv4({.src = src, .dst = kClient, .ttl = ttl, .id = 5})
        .tcp({.sport = sport,
              .dport = 40000,
              .seq = 9,
              .ack = 2,
              .flags = test::kTcpSynFlag | test::kTcpAckFlag})
        .payload(data)
        .build();
  };
  cases.push_back({"outbound syn-ack with data, port mapping 8080 -> 80", Dir::kOut, kMapped,
                   tcpOut(64, kRs, 8080), tcpOut(63, kVip, 80), Verdict::forward()});
  cases.push_back({"ttl 2 leaves with ttl 1", Dir::kIn, kMapped, tcpIn(2, kVip, 80),
                   tcpIn(1, kRs, 8080), Verdict::forward()});
  cases.push_back({"ttl 255", Dir::kOut, kMapped, tcpOut(255, kRs, 8080), tcpOut(254, kVip, 80),
                   Verdict::forward()});
  cases.push_back({"ttl 1 expires, frame untouched", Dir::kIn, kMapped, tcpIn(1, kVip, 80),
                   tcpIn(1, kVip, 80), Verdict::timeExceeded()});
  cases.push_back({"ttl 0 expires", Dir::kOut, kMapped, tcpOut(0, kRs, 8080), tcpOut(0, kRs, 8080),
                   Verdict::timeExceeded()});

  auto udp = [&](uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t ttl,
                 bool zero) {
    return FrameBuilder()
        .ipv4({.src = src, .dst = dst, .ttl = ttl})
        .udp({.sport = sport, .dport = dport, .zeroChecksum = zero})
        .payload(payload(33, 9))
        .build();
  };
  cases.push_back({"inbound udp, 53 -> 5353", Dir::kIn, kDns,
                   udp(kClient, 999, kVip, 53, 30, false), udp(kClient, 999, kRs, 5353, 29, false),
                   Verdict::forward()});
  cases.push_back({"outbound udp, 5353 -> 53", Dir::kOut, kDns,
                   udp(kRs, 5353, kClient, 999, 30, false), udp(kVip, 53, kClient, 999, 29, false),
                   Verdict::forward()});
  cases.push_back({"inbound udp without checksum stays without", Dir::kIn, kDns,
                   udp(kClient, 999, kVip, 53, 30, true), udp(kClient, 999, kRs, 5353, 29, true),
                   Verdict::forward()});
  cases.push_back({"outbound udp without checksum stays without", Dir::kOut, kDns,
                   udp(kRs, 5353, kClient, 999, 30, true), udp(kVip, 53, kClient, 999, 29, true),
                   Verdict::forward()});

  const Bytes opts = {0x94, 0x04, 0x00, 0x00, 0x07, 0x07, 0x04, 0x00};  // router alert, RR
  auto withOptions = [&](uint32_t dst, uint16_t dport, uint8_t ttl) {
    return FrameBuilder()
        .ipv4({.src = kClient, .dst = dst, .ttl = ttl, .options = opts})
        .tcp({.sport = 1234,
              .dport = dport,
              .flags = test::kTcpAckFlag,
              .options = {0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 2}})
        .payload(data)
        .build();
  };
  cases.push_back({"IPv4 and TCP options", Dir::kIn, kMapped, withOptions(kVip, 80, 10),
                   withOptions(kRs, 8080, 9), Verdict::forward()});

  auto vlan = [&](uint32_t src, uint16_t sport, uint8_t ttl) {
    return FrameBuilder()
        .vlan(0x6064)
        .ipv4({.src = src, .dst = kClient, .ttl = ttl})
        .udp({.sport = sport, .dport = 40000})
        .payload(data)
        .build();
  };
  cases.push_back({"vlan tag kept", Dir::kOut, kDns, vlan(kRs, 5353, 64), vlan(kVip, 53, 63),
                   Verdict::forward()});

  auto padded = [&](uint32_t dst, uint16_t dport, uint8_t ttl) {
    return FrameBuilder()
        .ipv4({.src = kClient, .dst = dst, .ttl = ttl})
        .tcp({.sport = 5, .dport = dport, .flags = test::kTcpRstFlag})
        .padTo(60)
        .build();
  };
  cases.push_back({"Ethernet padding left as is", Dir::kIn, kMapped, padded(kVip, 80, 64),
                   padded(kRs, 8080, 63), Verdict::forward()});

  auto firstFrag = [&](uint32_t dst, uint16_t dport, uint8_t ttl) {
    return FrameBuilder()
        .ipv4({.src = kClient, .dst = dst, .ttl = ttl, .id = 4242, .mf = true})
        .udp({.sport = 7000, .dport = dport, .length = 3008})
        .payload(payload(200, 1))
        .build();
  };
  cases.push_back({"first fragment: ports and checksum", Dir::kIn, kDns, firstFrag(kVip, 53, 64),
                   firstFrag(kRs, 5353, 63), Verdict::forward()});
  auto laterFrag = [&](uint32_t dst, uint8_t ttl) {
    return FrameBuilder()
        .ipv4({.src = kClient,
               .dst = dst,
               .ttl = ttl,
               .id = 4242,
               .fragOffset = 208,
               .protocol = pkt::kIpProtoUdp})
        .rawL4(payload(120, 2))
        .build();
  };
  cases.push_back({"non-first fragment: address only", Dir::kIn, kDns, laterFrag(kVip, 64),
                   laterFrag(kRs, 63), Verdict::forward()});

  auto echo = [&](uint32_t dst, uint8_t ttl) {
    return FrameBuilder()
        .ipv4({.src = kClient, .dst = dst, .ttl = ttl})
        .icmp({.type = 8, .rest = 0x00070001})
        .payload(payload(56, 5))
        .build();
  };
  cases.push_back({"icmp: address only, icmp checksum unchanged", Dir::kIn, kMapped, echo(kVip, 64),
                   echo(kRs, 63), Verdict::forward()});

  const Bytes arp = FrameBuilder().arp({}).build();
  cases.push_back(
      {"not ipv4", Dir::kIn, kMapped, arp, arp, Verdict::drop(DropReason::kUnsupportedEthertype)});
  return cases;
}

TEST(Nat, Table) {
  for (const NatCase& c : natCases()) {
    SCOPED_TRACE(c.what);
    auto out = test::applyRewrite(c.input, [&](pkt::PacketView& v) {
      return c.dir == Dir::kIn ? rewriteInbound(v, c.binding) : rewriteOutbound(v, c.binding);
    });
    EXPECT_EQ(out.verdict, c.verdict);
    test::expectFrameEq(out.frame, c.expected);
    if (out.verdict.forwarded() && c.expected.size() > 14 &&
        test::decodeFrame(c.expected).ip.fragOffset == 0 && !test::decodeFrame(c.expected).ip.mf) {
      EXPECT_EQ(test::checksumProblems(out.frame), "");
    }
  }
}

// A computed UDP checksum of 0 must leave as 0xFFFF. Find a payload whose
// translated datagram sums to exactly that case.
TEST(Nat, UdpChecksumThatComputesToZeroIsSentAsAllOnes) {
  int found = 0;
  for (uint32_t x = 0; x < 0x10000 && found == 0; ++x) {
    const Bytes p = {static_cast<uint8_t>(x >> 8), static_cast<uint8_t>(x)};
    auto frame = [&](uint32_t dst, uint16_t dport, uint8_t ttl) {
      return FrameBuilder()
          .ipv4({.src = kClient, .dst = dst, .ttl = ttl})
          .udp({.sport = 999, .dport = dport})
          .payload(p)
          .build();
    };
    Bytes want = frame(kRs, 5353, 63);
    Bytes zeroed = want;
    test::wr16(zeroed, 40, 0);
    if (test::refChecksum(zeroed, 34, 10, 40, test::refPseudo(kClient, kRs, 17, 10)) != 0) {
      continue;
    }
    ++found;
    ASSERT_EQ(test::rd16(want, 40), 0xFFFF);
    auto out = test::applyRewrite(frame(kVip, 53, 64),
                                  [](pkt::PacketView& v) { return rewriteInbound(v, kDns); });
    EXPECT_EQ(out.verdict, Verdict::forward());
    test::expectFrameEq(out.frame, want);
  }
  EXPECT_EQ(found, 1);  // exactly one 16-bit payload word completes the sum
}

TEST(Nat, CorruptL4ChecksumStaysCorrupt) {
  Bytes in = FrameBuilder()
                 .ipv4({.src = kClient, .dst = kVip})
                 .tcp({.sport = 1, .dport = 80, .checksum = 0x1234})
                 .build();
  ASSERT_NE(test::checksumProblems(in), "");
  auto out = test::applyRewrite(in, [](pkt::PacketView& v) { return rewriteInbound(v, kMapped); });
  EXPECT_EQ(out.verdict, Verdict::forward());
  EXPECT_NE(test::checksumProblems(out.frame).find("TCP checksum"), std::string::npos);
  EXPECT_EQ(test::checksumProblems(out.frame).find("IPv4"), std::string::npos);
}

// Seeded random round trips: client -> VIP inbound, then the real server's
// reply outbound; every output equals a from-scratch build.
TEST(Nat, RandomizedAgainstFromScratchBuilds) {
  std::mt19937 rng(20240601);
  for (int iter = 0; iter < 3000; ++iter) {
    const NatBinding b{.vip = static_cast<uint32_t>(rng()),
                       .vport = static_cast<uint16_t>(rng()),
                       .rsAddr = static_cast<uint32_t>(rng()),
                       .rsPort = static_cast<uint16_t>(rng())};
    const uint32_t client = rng();
    const uint16_t cport = static_cast<uint16_t>(rng());
    const uint8_t ttl = static_cast<uint8_t>(2 + rng() % 254);
    const int proto = static_cast<int>(rng() % 3);  // tcp, udp, udp without checksum
    Bytes opts(4 * (rng() % 3), 1);
    const Bytes data = payload(rng() % 300, static_cast<uint8_t>(rng()));
    const bool tagged = rng() % 2;
    auto build = [&](uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t t) {
      FrameBuilder f;
      if (tagged) {
        f.vlan(100);
      }
      f.ipv4({.src = src, .dst = dst, .ttl = t, .tos = 0x28, .options = opts});
      if (proto == 0) {
        f.tcp({.sport = sport, .dport = dport, .seq = 77, .flags = test::kTcpAckFlag});
      } else {
        f.udp({.sport = sport, .dport = dport, .zeroChecksum = proto == 2});
      }
      return f.payload(data).build();
    };
    SCOPED_TRACE("iteration " + std::to_string(iter));
    auto in = test::applyRewrite(build(client, cport, b.vip, b.vport, ttl),
                                 [&](pkt::PacketView& v) { return rewriteInbound(v, b); });
    ASSERT_EQ(in.verdict, Verdict::forward());
    ASSERT_EQ(test::hexDump(in.frame), test::hexDump(build(client, cport, b.rsAddr, b.rsPort,
                                                           static_cast<uint8_t>(ttl - 1))));
    auto out = test::applyRewrite(build(b.rsAddr, b.rsPort, client, cport, ttl),
                                  [&](pkt::PacketView& v) { return rewriteOutbound(v, b); });
    ASSERT_EQ(out.verdict, Verdict::forward());
    ASSERT_EQ(test::hexDump(out.frame),
              test::hexDump(build(b.vip, b.vport, client, cport, static_cast<uint8_t>(ttl - 1))));
  }
}

}  // namespace
}  // namespace dplb::nat
