// NAT translation of ICMP errors that quote a connection's datagram, in both
// directions (the kernel's ip_vs_nat_icmp). Expected frames are built from
// scratch: the outer header and ICMP checksum, the quoted IPv4 header and its
// checksum, and the quoted TCP/UDP checksum when quoted, are all full
// recomputations.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dplb/nat/nat.h"
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

constexpr uint32_t kClient = ip4(198, 51, 100, 7);
constexpr uint32_t kVip = ip4(203, 0, 113, 10);
constexpr uint32_t kRs = ip4(10, 0, 1, 11);
constexpr uint32_t kRsSideRouter = ip4(10, 0, 1, 1);
constexpr uint32_t kClientSideRouter = ip4(192, 0, 2, 1);
constexpr NatBinding kWeb{.vip = kVip, .vport = 80, .rsAddr = kRs, .rsPort = 8080};
constexpr NatBinding kDns{.vip = kVip, .vport = 53, .rsAddr = kRs, .rsPort = 5353};

enum class Dir { kIn, kOut };

Bytes data(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) {
    b[i] = static_cast<uint8_t>(0x30 + i);
  }
  return b;
}

Bytes prefix(const Bytes& b, size_t n) {
  return Bytes(b.begin(), b.begin() + static_cast<long>(std::min(n, b.size())));
}

// Client -> server datagram as the real server received it (or as the client
// sent it, with dst = VIP:vport).
Bytes requestTcp(uint32_t dst, uint16_t dport, const Bytes& ipOptions = {}) {
  return FrameBuilder()
      .ipv4({.src = kClient, .dst = dst, .ttl = 63, .id = 321, .df = true, .options = ipOptions})
      .tcp({.sport = 40000,
            .dport = dport,
            .seq = 5,
            .ack = 6,
            .flags = test::kTcpAckFlag | test::kTcpPshFlag})
      .payload(data(64))
      .buildIp();
}

Bytes requestUdp(uint32_t dst, uint16_t dport, bool zero = false) {
  return FrameBuilder()
      .ipv4({.src = kClient, .dst = dst, .ttl = 63, .id = 322})
      .udp({.sport = 40001, .dport = dport, .zeroChecksum = zero})
      .payload(data(40))
      .buildIp();
}

// Server -> client datagram as the client received it (src = VIP:vport) or
// as the real server sent it.
Bytes replyTcp(uint32_t src, uint16_t sport) {
  return FrameBuilder()
      .ipv4({.src = src, .dst = kClient, .ttl = 63, .id = 900, .df = true})
      .tcp({.sport = sport, .dport = 40000, .seq = 7, .ack = 8, .flags = test::kTcpAckFlag})
      .payload(data(1400))
      .buildIp();
}

Bytes replyUdp(uint32_t src, uint16_t sport) {
  return FrameBuilder()
      .ipv4({.src = src, .dst = kClient, .ttl = 63, .id = 901})
      .udp({.sport = sport, .dport = 40001})
      .payload(data(20))
      .buildIp();
}

struct ErrorSpec {
  uint32_t src;
  uint32_t dst;
  uint8_t ttl = 64;
  uint8_t type = 3;
  uint8_t code = 4;
  uint32_t rest = 1400;
  bool vlan = false;
  Bytes outerOptions;
};

Bytes icmpError(const ErrorSpec& s, const Bytes& quote) {
  FrameBuilder f;
  if (s.vlan) {
    f.vlan(42);
  }
  return f.ipv4({.src = s.src, .dst = s.dst, .ttl = s.ttl, .id = 1, .options = s.outerOptions})
      .icmp({.type = s.type, .code = s.code, .rest = s.rest})
      .payload(quote)
      .build();
}

struct IcmpCase {
  std::string what;
  Dir dir;
  NatBinding binding;
  Bytes input;
  Bytes expected;
  Verdict verdict;
};

std::vector<IcmpCase> cases() {
  std::vector<IcmpCase> c;
  // From the real-server side: quotes client -> RS:rport; the client must
  // see VIP:vport quoted and the error coming from the VIP.
  for (size_t quoteLen : {28u, 38u, 36u, 104u}) {
    c.push_back(
        {"outbound frag-needed, tcp, quote of " + std::to_string(quoteLen) + " bytes", Dir::kOut,
         kWeb,
         icmpError({.src = kRsSideRouter, .dst = kClient}, prefix(requestTcp(kRs, 8080), quoteLen)),
         icmpError({.src = kVip, .dst = kClient, .ttl = 63},
                   prefix(requestTcp(kVip, 80), quoteLen)),
         Verdict::forward()});
  }
  c.push_back({"outbound port unreachable from the real server, udp", Dir::kOut, kDns,
               icmpError({.src = kRs, .dst = kClient, .code = 3, .rest = 0},
                         prefix(requestUdp(kRs, 5353), 28)),
               icmpError({.src = kVip, .dst = kClient, .ttl = 63, .code = 3, .rest = 0},
                         prefix(requestUdp(kVip, 53), 28)),
               Verdict::forward()});
  c.push_back(
      {"outbound, quoted udp without checksum keeps 0", Dir::kOut, kDns,
       icmpError({.src = kRs, .dst = kClient, .code = 3, .rest = 0}, requestUdp(kRs, 5353, true)),
       icmpError({.src = kVip, .dst = kClient, .ttl = 63, .code = 3, .rest = 0},
                 requestUdp(kVip, 53, true)),
       Verdict::forward()});
  const Bytes opts = {0x01, 0x01, 0x01, 0x00};
  c.push_back({"outbound, IPv4 options in both headers, vlan", Dir::kOut, kWeb,
               icmpError({.src = kRsSideRouter,
                          .dst = kClient,
                          .type = 11,
                          .code = 0,
                          .rest = 0,
                          .vlan = true,
                          .outerOptions = opts},
                         prefix(requestTcp(kRs, 8080, opts), 32)),
               icmpError({.src = kVip,
                          .dst = kClient,
                          .ttl = 63,
                          .type = 11,
                          .code = 0,
                          .rest = 0,
                          .vlan = true,
                          .outerOptions = opts},
                         prefix(requestTcp(kVip, 80, opts), 32)),
               Verdict::forward()});
  // From the client side: quotes VIP:vport -> client; the real server must
  // see RS:rport quoted, and receives the error.
  c.push_back({"inbound frag-needed for a reply (path MTU discovery), tcp", Dir::kIn, kWeb,
               icmpError({.src = kClientSideRouter, .dst = kVip, .rest = 1280},
                         prefix(replyTcp(kVip, 80), 28)),
               icmpError({.src = kClientSideRouter, .dst = kRs, .ttl = 63, .rest = 1280},
                         prefix(replyTcp(kRs, 8080), 28)),
               Verdict::forward()});
  c.push_back(
      {"inbound time exceeded, whole udp reply quoted", Dir::kIn, kDns,
       icmpError(
           {.src = kClientSideRouter, .dst = kVip, .ttl = 2, .type = 11, .code = 0, .rest = 0},
           replyUdp(kVip, 53)),
       icmpError({.src = kClientSideRouter, .dst = kRs, .ttl = 1, .type = 11, .code = 0, .rest = 0},
                 replyUdp(kRs, 5353)),
       Verdict::forward()});
  c.push_back({"inbound source quench, 548 quoted bytes", Dir::kIn, kWeb,
               icmpError({.src = kClient, .dst = kVip, .type = 4, .code = 0, .rest = 0},
                         prefix(replyTcp(kVip, 80), 548)),
               icmpError({.src = kClient, .dst = kRs, .ttl = 63, .type = 4, .code = 0, .rest = 0},
                         prefix(replyTcp(kRs, 8080), 548)),
               Verdict::forward()});
  const Bytes echoToRs =
      FrameBuilder().ipv4({.src = kClient, .dst = kRs, .ttl = 63}).icmp({.type = 8}).buildIp();
  const Bytes echoToVip =
      FrameBuilder().ipv4({.src = kClient, .dst = kVip, .ttl = 63}).icmp({.type = 8}).buildIp();
  c.push_back({"quoted non-TCP/UDP datagram: addresses only", Dir::kOut, kWeb,
               icmpError({.src = kRs, .dst = kClient, .code = 1}, echoToRs),
               icmpError({.src = kVip, .dst = kClient, .ttl = 63, .code = 1}, echoToVip),
               Verdict::forward()});

  const Bytes ttl1 = icmpError({.src = kRsSideRouter, .dst = kClient, .ttl = 1},
                               prefix(requestTcp(kRs, 8080), 28));
  c.push_back({"ttl 1: dropped, never answered with another ICMP error", Dir::kOut, kWeb, ttl1,
               ttl1, Verdict::drop(DropReason::kTtlExpired)});
  Bytes badSum = icmpError({.src = kClientSideRouter, .dst = kVip}, prefix(replyTcp(kVip, 80), 28));
  badSum.back() ^= 0x01;
  c.push_back({"bad icmp checksum", Dir::kIn, kWeb, badSum, badSum,
               Verdict::drop(DropReason::kBadIcmpChecksum)});
  const Bytes fragQuote =
      FrameBuilder()
          .ipv4({.src = kVip, .dst = kClient, .fragOffset = 1480, .protocol = pkt::kIpProtoTcp})
          .rawL4(data(16))
          .buildIp();
  const Bytes noPorts = icmpError({.src = kClientSideRouter, .dst = kVip}, fragQuote);
  c.push_back({"quoted tcp fragment without ports", Dir::kIn, kWeb, noPorts, noPorts,
               Verdict::drop(DropReason::kIcmpBadEmbedded)});
  return c;
}

TEST(NatIcmp, Table) {
  for (const IcmpCase& c : cases()) {
    SCOPED_TRACE(c.what);
    pkt::IcmpErrorView after;
    auto out = test::applyRewrite(c.input, [&](pkt::PacketView& v) {
      pkt::IcmpErrorView e;
      EXPECT_TRUE(pkt::parseIcmpError(v, e).ok);
      Verdict verdict = c.dir == Dir::kIn ? translateIcmpErrorInbound(v, e, c.binding)
                                          : translateIcmpErrorOutbound(v, e, c.binding);
      after = e;
      return verdict;
    });
    EXPECT_EQ(out.verdict, c.verdict);
    test::expectFrameEq(out.frame, c.expected);
    if (!out.verdict.forwarded()) {
      continue;
    }
    EXPECT_EQ(test::checksumProblems(out.frame), "");
    const test::DecodedFrame d = test::decodeFrame(out.frame);
    const Bytes& quote = d.payload;
    ASSERT_GE(quote.size(), 20u);
    const size_t quotedHeaderLen = (quote[0] & 0x0F) * 4u;
    EXPECT_EQ(test::refSum(quote, 0, quotedHeaderLen), 0xFFFF) << "quoted IPv4 header checksum";
    // The updated IcmpErrorView matches a fresh parse of the output.
    test::ParsedFrame again(out.frame);
    pkt::IcmpErrorView fresh;
    ASSERT_TRUE(pkt::parseIcmpError(again.view, fresh).ok);
    EXPECT_EQ(after.srcAddr, fresh.srcAddr);
    EXPECT_EQ(after.dstAddr, fresh.dstAddr);
    EXPECT_EQ(after.srcPort, fresh.srcPort);
    EXPECT_EQ(after.dstPort, fresh.dstPort);
  }
}

// The quoted IPv4 header checksum is valid after translation; the quoted
// TCP checksum is back to the one the client computed for VIP:vport.
TEST(NatIcmp, QuotedChecksumsAreRestored) {
  const Bytes original = requestTcp(kVip, 80);
  auto out = test::applyRewrite(icmpError({.src = kRs, .dst = kClient}, requestTcp(kRs, 8080)),
                                [](pkt::PacketView& v) {
                                  pkt::IcmpErrorView e;
                                  EXPECT_TRUE(pkt::parseIcmpError(v, e).ok);
                                  return translateIcmpErrorOutbound(v, e, kWeb);
                                });
  ASSERT_EQ(out.verdict, Verdict::forward());
  const Bytes quote = test::decodeFrame(out.frame).payload;
  EXPECT_EQ(test::ipChecksumProblems(quote, 0), "");
  EXPECT_EQ(test::hexDump(quote), test::hexDump(original));
}

}  // namespace
}  // namespace dplb::nat
