// ICMP error builder and echo reply: {what, input, expected output frame or
// refusal}; expected frames are from-scratch builds.

#include "dplb/pkt/icmp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "packet_builder.h"
#include "pkt_test_util.h"

namespace dplb::pkt {
namespace {

using test::Bytes;
using test::FrameBuilder;
using test::ip4;
using test::ParsedFrame;

constexpr uint32_t kClient = ip4(198, 51, 100, 7);
constexpr uint32_t kVip = ip4(203, 0, 113, 10);
constexpr uint32_t kPortAddr = ip4(203, 0, 113, 2);
constexpr test::Mac kRouterMac{0x02, 0, 0, 0, 0, 0x01};
constexpr test::Mac kPortMac{0x02, 0, 0, 0, 0, 0x02};

Bytes prefix(const Bytes& b, size_t n) {
  return Bytes(b.begin(), b.begin() + static_cast<long>(n));
}

IcmpErrorSpec spec(uint8_t type, uint8_t code, uint16_t mtu = 0) {
  return {.type = type,
          .code = code,
          .nextHopMtu = mtu,
          .srcAddr = kPortAddr,
          .dstMac = MacAddr{kRouterMac},
          .srcMac = MacAddr{kPortMac},
          .ipId = 0x4d2,
          .ttl = 64};
}

// The error frame the spec must produce for `origIp` (the offending
// datagram, no L2), built from scratch.
Bytes expectedError(const Bytes& origIp, uint8_t type, uint8_t code, uint32_t rest) {
  const size_t hl = (origIp[0] & 0x0F) * 4u;
  const size_t quote = std::min(origIp.size(), hl + 8);
  return FrameBuilder()
      .eth({.dst = kRouterMac, .src = kPortMac})
      .ipv4({.src = kPortAddr, .dst = test::rd32(origIp, 12), .ttl = 64, .tos = 0xC0, .id = 0x4d2})
      .icmp({.type = type, .code = code, .rest = rest})
      .payload(prefix(origIp, quote))
      .build();
}

struct ErrorCase {
  std::string what;
  FrameBuilder orig;
  IcmpErrorSpec spec;
  uint32_t rest;  // expected second ICMP word
};

TEST(IcmpError, BuildsQuotingHeaderAndEightBytes) {
  const Bytes data(100, 0x5a);
  std::vector<ErrorCase> cases;
  cases.push_back({"time exceeded for a tcp segment",
                   FrameBuilder()
                       .eth({.dst = kPortMac, .src = kRouterMac})
                       .ipv4({.src = kClient, .dst = kVip, .ttl = 1})
                       .tcp({.sport = 4000, .dport = 80})
                       .payload(data),
                   spec(kIcmpTimeExceeded, kIcmpCodeTtlExceeded), 0});
  cases.push_back({"frag needed carries the next-hop MTU",
                   FrameBuilder()
                       .ipv4({.src = kClient, .dst = kVip, .df = true})
                       .udp({.sport = 4000, .dport = 53})
                       .payload(data),
                   spec(kIcmpDestUnreachable, kIcmpCodeFragNeeded, 1480), 1480});
  cases.push_back({"mtu ignored for other codes",
                   FrameBuilder().ipv4({.src = kClient, .dst = kVip}).udp({}).payload(data),
                   spec(kIcmpDestUnreachable, kIcmpCodePortUnreachable, 1480), 0});
  cases.push_back({"options quoted with the header",
                   FrameBuilder()
                       .ipv4({.src = kClient, .dst = kVip, .options = {0x94, 4, 0, 0, 1, 1, 1, 0}})
                       .tcp({})
                       .payload(data),
                   spec(kIcmpTimeExceeded, 0), 0});
  cases.push_back(
      {"first fragment may be answered",
       FrameBuilder().ipv4({.src = kClient, .dst = kVip, .mf = true}).udp({}).payload(data),
       spec(kIcmpTimeExceeded, 0), 0});
  cases.push_back(
      {"echo request may be answered with an error",
       FrameBuilder().ipv4({.src = kClient, .dst = kVip}).icmp({.type = 8}).payload(data),
       spec(kIcmpTimeExceeded, 0), 0});
  cases.push_back({"vlan on the offending frame",
                   FrameBuilder().vlan(7).ipv4({.src = kClient, .dst = kVip}).tcp({}),
                   spec(kIcmpTimeExceeded, 0), 0});
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.what);
    ParsedFrame p(c.orig.build());
    ASSERT_TRUE(p.result.ok);
    ASSERT_TRUE(icmpErrorAllowed(p.view));
    std::vector<uint8_t> out(kIcmpErrorMaxFrameLen);
    const uint32_t n =
        buildIcmpError(p.view, c.spec, out.data(), static_cast<uint32_t>(out.size()));
    out.resize(n);
    const Bytes want = expectedError(c.orig.buildIp(), c.spec.type, c.spec.code, c.rest);
    EXPECT_EQ(test::hexDump(out), test::hexDump(want));
    EXPECT_EQ(test::checksumProblems(out), "");
    // The frame is exactly big enough; one byte less is refused.
    std::vector<uint8_t> small(n - 1);
    EXPECT_EQ(buildIcmpError(p.view, c.spec, small.data(), n - 1), 0u);
  }
}

TEST(IcmpError, RefusedWhereRfc1122ForbidsIt) {
  const Bytes quote = FrameBuilder().ipv4({}).tcp({}).buildIp();
  struct Case {
    std::string what;
    Bytes frame;
  };
  const std::vector<Case> cases = {
      {"about an icmp error", FrameBuilder()
                                  .ipv4({.src = kClient, .dst = kVip})
                                  .icmp({.type = 3, .code = 3})
                                  .payload(prefix(quote, 28))
                                  .build()},
      {"about a time exceeded", FrameBuilder()
                                    .ipv4({.src = kClient, .dst = kVip})
                                    .icmp({.type = 11})
                                    .payload(prefix(quote, 28))
                                    .build()},
      {"about a redirect", FrameBuilder()
                               .ipv4({.src = kClient, .dst = kVip})
                               .icmp({.type = 5})
                               .payload(prefix(quote, 28))
                               .build()},
      {"about a non-first fragment",
       FrameBuilder()
           .ipv4({.src = kClient, .dst = kVip, .fragOffset = 8, .protocol = 17})
           .rawL4(Bytes(16))
           .build()},
      {"to a multicast destination",
       FrameBuilder().ipv4({.src = kClient, .dst = ip4(224, 0, 0, 5)}).udp({}).build()},
      {"to the limited broadcast",
       FrameBuilder().ipv4({.src = kClient, .dst = 0xFFFFFFFF}).udp({}).build()},
      {"from 0.0.0.0", FrameBuilder().ipv4({.src = 0, .dst = kVip}).udp({}).build()},
      {"from loopback",
       FrameBuilder().ipv4({.src = ip4(127, 0, 0, 1), .dst = kVip}).udp({}).build()},
      {"from multicast",
       FrameBuilder().ipv4({.src = ip4(239, 1, 1, 1), .dst = kVip}).udp({}).build()},
      {"from class E",
       FrameBuilder().ipv4({.src = ip4(240, 0, 0, 1), .dst = kVip}).udp({}).build()},
      {"link-layer broadcast", FrameBuilder()
                                   .eth({.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
                                   .ipv4({.src = kClient, .dst = kVip})
                                   .udp({})
                                   .build()},
      {"link-layer multicast", FrameBuilder()
                                   .eth({.dst = {0x01, 0x00, 0x5e, 0, 0, 1}})
                                   .ipv4({.src = kClient, .dst = kVip})
                                   .udp({})
                                   .build()},
      {"arp", FrameBuilder().arp({}).build()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ParsedFrame p(c.frame);
    ASSERT_TRUE(p.result.ok);
    EXPECT_FALSE(icmpErrorAllowed(p.view));
    std::vector<uint8_t> out(kIcmpErrorMaxFrameLen);
    EXPECT_EQ(buildIcmpError(p.view, spec(kIcmpTimeExceeded, 0), out.data(),
                             static_cast<uint32_t>(out.size())),
              0u);
  }
}

// ---- echo reply ---------------------------------------------------------------

Bytes echo(bool reply, uint8_t ttl, bool vlan = false, Bytes options = {}) {
  FrameBuilder f;
  f.eth({.dst = reply ? kRouterMac : kPortMac, .src = reply ? kPortMac : kRouterMac});
  if (vlan) {
    f.vlan(0x10);
  }
  return f
      .ipv4({.src = reply ? kVip : kClient,
             .dst = reply ? kClient : kVip,
             .ttl = ttl,
             .id = 99,
             .df = true,
             .options = std::move(options)})
      .icmp({.type = static_cast<uint8_t>(reply ? 0 : 8), .code = 0, .rest = 0x12340007})
      .payload("abcdefghijklmnopqrstuvwabcdefghi")
      .build();
}

TEST(EchoReply, RepliesInPlace) {
  struct Case {
    std::string what;
    Bytes request;
    Bytes reply;
  };
  const std::vector<Case> cases = {
      {"plain", echo(false, 64), echo(true, 64)},
      {"ttl reset from 3", echo(false, 3), echo(true, 64)},
      {"ttl reset from 1 (an echo for us is not forwarded)", echo(false, 1), echo(true, 64)},
      {"vlan kept", echo(false, 60, true), echo(true, 64, true)},
      {"options kept", echo(false, 60, false, {1, 1, 1, 0}), echo(true, 64, false, {1, 1, 1, 0})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ParsedFrame p(c.request);
    ASSERT_TRUE(p.result.ok);
    EXPECT_EQ(echoReplyInPlace(p.view), Verdict::forward());
    EXPECT_EQ(test::hexDump(p.bytes), test::hexDump(c.reply));
    EXPECT_EQ(test::checksumProblems(p.bytes), "");
    ParsedFrame again(p.bytes);
    EXPECT_EQ(again.view.srcAddr, p.view.srcAddr);
    EXPECT_EQ(again.view.dstAddr, p.view.dstAddr);
    EXPECT_EQ(again.view.ttl, p.view.ttl);
    EXPECT_EQ(again.view.icmpType, p.view.icmpType);
  }
}

TEST(EchoReply, RefusesWhatIsNotAnEchoRequest) {
  struct Case {
    std::string what;
    Bytes frame;
    DropReason reason;
  };
  const std::vector<Case> cases = {
      {"echo reply", echo(true, 64), DropReason::kIcmpUnsupported},
      {"tcp", FrameBuilder().ipv4({}).tcp({}).build(), DropReason::kIcmpUnsupported},
      {"fragmented echo",
       FrameBuilder().ipv4({.mf = true}).icmp({.type = 8}).payload(Bytes(64)).build(),
       DropReason::kIcmpUnsupported},
      {"to broadcast", FrameBuilder().ipv4({.dst = 0xFFFFFFFF}).icmp({.type = 8}).build(),
       DropReason::kIcmpUnsupported},
      {"to multicast", FrameBuilder().ipv4({.dst = ip4(224, 0, 0, 1)}).icmp({.type = 8}).build(),
       DropReason::kIcmpUnsupported},
      {"from 0.0.0.0", FrameBuilder().ipv4({.src = 0}).icmp({.type = 8}).build(),
       DropReason::kMartianSource},
      {"from loopback", FrameBuilder().ipv4({.src = ip4(127, 0, 0, 9)}).icmp({.type = 8}).build(),
       DropReason::kMartianSource},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ParsedFrame p(c.frame);
    ASSERT_TRUE(p.result.ok);
    EXPECT_EQ(echoReplyInPlace(p.view), Verdict::drop(c.reason));
    EXPECT_EQ(p.bytes, c.frame) << "frame must be untouched";
  }
}

}  // namespace
}  // namespace dplb::pkt
