// TUN encapsulation: {what, input, expected output, expected verdict}. The
// expected frame is a from-scratch build of Ethernet + outer IPv4 (protocol
// 4) + the inner datagram with only its TTL (and checksum) changed. Frames sit
// at the end of an exact-size buffer with the stated headroom in front, so
// ASan catches a write past the headroom.

#include "dplb/tun/tun.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "dplb/pkt/fragment.h"
#include "mode_test_util.h"
#include "packet_builder.h"
#include "pkt_test_util.h"

namespace dplb::tun {
namespace {

using pkt::DropReason;
using pkt::Verdict;
using test::Bytes;
using test::FrameBuilder;
using test::ip4;

constexpr uint32_t kClient = ip4(198, 51, 100, 7);
constexpr uint32_t kVip = ip4(203, 0, 113, 10);
constexpr uint32_t kLocal = ip4(10, 0, 1, 2);
constexpr uint32_t kRs = ip4(10, 0, 2, 11);
constexpr test::Mac kNextHopMac{0x02, 0, 0, 0, 2, 0x0b};
constexpr test::Mac kPortMac{0x02, 0, 0, 0, 1, 0x02};
constexpr uint16_t kOuterId = 0x7001;

TunTarget target(uint16_t mtu = 1500) {
  return {.outerSrc = kLocal,
          .outerDst = kRs,
          .dstMac = pkt::MacAddr{kNextHopMac},
          .srcMac = pkt::MacAddr{kPortMac},
          .mtu = mtu};
}

struct Inner {
  uint8_t ttl = 64;
  uint8_t tos = 0;
  bool df = true;
  size_t payload = 100;
  bool vlan = false;
  size_t padTo = 0;
  bool udp = false;
};

FrameBuilder innerBuilder(const Inner& in, uint8_t ttl) {
  Bytes data(in.payload);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<uint8_t>(i);
  }
  FrameBuilder f;
  f.eth({.dst = {0x02, 0, 0, 0, 0, 0x02}, .src = {0x02, 0, 0, 0, 0, 0x01}});
  if (in.vlan) {
    f.vlan(0x0055);
  }
  f.ipv4({.src = kClient, .dst = kVip, .ttl = ttl, .tos = in.tos, .id = 0x0abc, .df = in.df});
  if (in.udp) {
    f.udp({.sport = 5000, .dport = 53});
  } else {
    f.tcp({.sport = 40000, .dport = 80, .flags = test::kTcpAckFlag});
  }
  return f.payload(data).padTo(in.padTo);
}

Bytes input(const Inner& in) {
  return innerBuilder(in, in.ttl).build();
}

Bytes encapsulated(const Inner& in, uint16_t outerIdValue = kOuterId) {
  const uint8_t ttl = static_cast<uint8_t>(in.ttl - 1);
  return FrameBuilder()
      .eth({.dst = kNextHopMac, .src = kPortMac})
      .ipv4({.src = kLocal,
             .dst = kRs,
             .ttl = ttl,
             .tos = in.tos,
             .id = outerIdValue,
             .df = in.df,
             .protocol = test::kProtoIpip})
      .rawL4(innerBuilder(in, ttl).buildIp())
      .build();
}

struct Outcome {
  EncapResult result;
  Bytes buffer;  // whole buffer (headroom + frame) after the call
  Bytes frame;   // [start, start + len) on success, else the original frame region
  pkt::PacketView view;
};

Outcome run(const Bytes& frame, uint32_t headroom, const TunTarget& t) {
  Outcome o;
  o.buffer.assign(headroom, 0xEE);
  o.buffer.insert(o.buffer.end(), frame.begin(), frame.end());
  o.buffer.shrink_to_fit();
  uint8_t* f = o.buffer.data() + headroom;
  EXPECT_TRUE(pkt::parsePacket(f, static_cast<uint32_t>(frame.size()), o.view).ok);
  o.result = encapsulate(o.view, headroom, t, kOuterId);
  if (o.result.verdict.forwarded()) {
    o.frame.assign(o.result.start, o.result.start + o.result.len);
  } else {
    o.frame.assign(f, f + frame.size());
  }
  return o;
}

struct TunCase {
  std::string what;
  Inner inner;
  uint32_t headroom;
  uint16_t mtu;
  Verdict verdict;
};

TEST(Tun, Table) {
  const std::vector<TunCase> cases = {
      {"tcp, DF, default tos", {}, 128, 1500, Verdict::forward()},
      {"udp without DF", {.df = false, .udp = true}, 128, 1500, Verdict::forward()},
      {"DSCP EF copied", {.tos = 0xb8}, 128, 1500, Verdict::forward()},
      {"ECT(0) copied", {.tos = 0x02}, 128, 1500, Verdict::forward()},
      {"ECT(1) copied", {.tos = 0x01}, 128, 1500, Verdict::forward()},
      {"CE stays CE (RFC 6040 normal mode)", {.tos = 0x03}, 128, 1500, Verdict::forward()},
      {"DSCP + CE", {.tos = 0xbb}, 128, 1500, Verdict::forward()},
      {"ttl 2: inner and outer leave with 1", {.ttl = 2}, 128, 1500, Verdict::forward()},
      {"ttl 255", {.ttl = 255}, 128, 1500, Verdict::forward()},
      {"vlan tag not carried into the tunnel", {.vlan = true}, 128, 1500, Verdict::forward()},
      {"Ethernet padding dropped", {.payload = 0, .padTo = 60}, 128, 1500, Verdict::forward()},
      {"exactly the MTU with DF", {.payload = 1440}, 128, 1500, Verdict::forward()},
      {"one byte over the MTU with DF", {.payload = 1441}, 128, 1500, Verdict::fragNeeded(1480)},
      {"far over a small MTU with DF", {.payload = 1000}, 128, 576, Verdict::fragNeeded(556)},
      {"over the MTU without DF: fragment after encapsulation",
       {.df = false, .payload = 1441},
       128,
       1500,
       Verdict::fragment(1500)},
      {"jumbo MTU", {.payload = 8000}, 128, 9000, Verdict::forward()},
      {"exact headroom without vlan", {}, 20, 1500, Verdict::forward()},
      {"one byte short of headroom", {}, 19, 1500, Verdict::drop(DropReason::kNoHeadroom)},
      {"exact headroom with vlan", {.vlan = true}, 16, 1500, Verdict::forward()},
      {"short headroom with vlan",
       {.vlan = true},
       15,
       1500,
       Verdict::drop(DropReason::kNoHeadroom)},
      {"ttl 1 expires", {.ttl = 1}, 128, 1500, Verdict::timeExceeded()},
      {"ttl 0 expires", {.ttl = 0}, 128, 1500, Verdict::timeExceeded()},
      {"tunnel MTU below 68", {.payload = 10}, 128, 87, Verdict::drop(DropReason::kMtuExceeded)},
      {"smallest usable MTU", {.payload = 10}, 128, 88, Verdict::forward()},
  };
  for (const TunCase& c : cases) {
    SCOPED_TRACE(c.what);
    const Bytes in = input(c.inner);
    Outcome o = run(in, c.headroom, target(c.mtu));
    EXPECT_EQ(o.result.verdict, c.verdict);
    if (!c.verdict.forwarded()) {
      EXPECT_EQ(test::hexDump(o.frame), test::hexDump(in)) << "frame must be untouched";
      continue;
    }
    const Bytes want = encapsulated(c.inner);
    test::expectFrameEq(o.frame, want);
    // Outer header checksum, then the inner datagram's own checksums.
    EXPECT_EQ(test::checksumProblems(o.frame), "");
    EXPECT_EQ(test::ipChecksumProblems(o.frame, 34), "");
    // The new frame starts exactly 34 bytes before the inner header.
    EXPECT_EQ(o.result.start + kEncapPrefixLen,
              o.buffer.data() + c.headroom + (c.inner.vlan ? 18 : 14));
    // The view describes the outer datagram.
    EXPECT_EQ(o.view.frame, o.result.start);
    EXPECT_EQ(o.view.frameLen, o.result.len);
    EXPECT_EQ(o.view.proto, pkt::kIpProtoIpip);
    EXPECT_EQ(o.view.srcAddr, kLocal);
    EXPECT_EQ(o.view.dstAddr, kRs);
    EXPECT_EQ(o.view.ttl, c.inner.ttl - 1);
    EXPECT_EQ(o.view.tos, c.inner.tos);
    EXPECT_EQ(o.view.dontFragment, c.inner.df);
    EXPECT_EQ(o.view.ipTotalLen + 14u, o.result.len);
    EXPECT_EQ(o.view.l4Offset, kEncapPrefixLen);
    EXPECT_FALSE(o.view.hasL4);
    EXPECT_FALSE(o.view.hasVlan);
    pkt::PacketView fresh;
    pkt::parsePacket(o.frame.data(), static_cast<uint32_t>(o.frame.size()), fresh);
    EXPECT_EQ(fresh.ipTotalLen, o.view.ipTotalLen);
    EXPECT_EQ(fresh.ipId, o.view.ipId);
  }
}

TEST(Tun, RequiredHeadroom) {
  pkt::PacketView v;
  v.l3Offset = 14;
  EXPECT_EQ(requiredHeadroom(v), 20u);
  v.l3Offset = 18;
  EXPECT_EQ(requiredHeadroom(v), 16u);
  static_assert(outerTos(0x03) == 0x03, "CE is copied in RFC 6040 normal mode");
}

TEST(Tun, OuterDatagramAbove64KiBIsDropped) {
  const Inner big{.df = false, .payload = 65500, .udp = true};  // inner 65528, outer 65548
  const Bytes in = input(big);
  Outcome o = run(in, 64, target(1500));
  EXPECT_EQ(o.result.verdict, Verdict::drop(DropReason::kMtuExceeded));
  EXPECT_EQ(o.frame, in);
  // The largest inner datagram that still fits is encapsulated.
  const Inner fits{.df = false, .payload = 65487, .udp = true};  // inner 65515, outer 65535
  Outcome ok = run(input(fits), 64, target(1500));
  EXPECT_EQ(ok.result.verdict, Verdict::fragment(1500));
  EXPECT_EQ(ok.view.ipTotalLen, 65535);
}

// DF clear and too big: encapsulate, fragment the outer datagram to the MTU,
// reassemble, decapsulate: the inner datagram is the original but for TTL.
TEST(Tun, FragmentedEncapsulationReassemblesToTheOriginal) {
  for (size_t payload : {1441u, 2000u, 2961u, 5000u}) {
    for (uint16_t mtu : {uint16_t{576}, uint16_t{1280}, uint16_t{1500}}) {
      SCOPED_TRACE("payload " + std::to_string(payload) + " mtu " + std::to_string(mtu));
      const Inner in{.df = false, .payload = payload};
      Outcome o = run(input(in), 128, target(mtu));
      ASSERT_EQ(o.result.verdict, Verdict::fragment(mtu));
      ASSERT_EQ(test::hexDump(o.frame), test::hexDump(encapsulated(in)));

      std::vector<Bytes> storage(16, Bytes(2048));
      std::vector<pkt::FragmentSlot> slots;
      for (auto& s : storage) {
        slots.push_back({s.data(), static_cast<uint32_t>(s.size()), 0});
      }
      const uint32_t n =
          pkt::fragmentIpv4(o.frame.data(), 14, static_cast<uint32_t>(o.frame.size()), mtu, slots);
      ASSERT_GE(n, 2u);
      std::map<uint16_t, Bytes> pieces;
      for (uint32_t i = 0; i < n; ++i) {
        const Bytes frag(storage[i].begin(), storage[i].begin() + slots[i].len);
        const test::DecodedFrame d = test::decodeFrame(frag);
        ASSERT_TRUE(d.valid);
        EXPECT_LE(d.ip.totalLength, mtu);
        EXPECT_EQ(d.ip.protocol, test::kProtoIpip);
        EXPECT_EQ(d.ip.id, kOuterId);
        EXPECT_EQ(d.ip.mf, i + 1 < n);
        EXPECT_EQ(test::checksumProblems(frag), "");
        EXPECT_EQ(test::macStr(d.ethDst), test::macStr(kNextHopMac));
        pieces[d.ip.fragOffset] = d.l4Bytes;
      }
      Bytes innerIp;
      for (const auto& [off, bytes] : pieces) {
        ASSERT_EQ(off, innerIp.size());
        innerIp.insert(innerIp.end(), bytes.begin(), bytes.end());
      }
      const uint8_t ttl = static_cast<uint8_t>(in.ttl - 1);
      EXPECT_EQ(test::hexDump(innerIp), test::hexDump(innerBuilder(in, ttl).buildIp()));
    }
  }
}

TEST(Tun, NotIpv4IsDropped) {
  Outcome o = run(FrameBuilder().arp({}).build(), 64, target());
  EXPECT_EQ(o.result.verdict, Verdict::drop(DropReason::kUnsupportedEthertype));
}

}  // namespace
}  // namespace dplb::tun
