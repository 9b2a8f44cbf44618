// parsePacket / parseIcmpError: table-driven {what, input frame, expected view
// or drop reason}. Frames come from packet_builder.h; every parse runs on an
// exact-size heap copy so the ASan twin catches any read past the frame.

#include "dplb/pkt/parser.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "packet_builder.h"
#include "pkt_test_util.h"

namespace dplb::pkt {
namespace {

using test::ArpSpec;
using test::Bytes;
using test::FrameBuilder;
using test::IcmpSpec;
using test::ip4;
using test::Ipv4Spec;
using test::ParsedFrame;
using test::TcpSpec;
using test::UdpSpec;

constexpr uint32_t kClient = ip4(198, 51, 100, 7);
constexpr uint32_t kVip = ip4(203, 0, 113, 10);
constexpr test::Mac kMacA{0x02, 0xaa, 0, 0, 0, 1};
constexpr test::Mac kMacB{0x02, 0xbb, 0, 0, 0, 2};

MacAddr mac(const test::Mac& m) {
  return MacAddr{m};
}

Bytes seq(size_t n, uint8_t start = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) {
    b[i] = static_cast<uint8_t>(start + i);
  }
  return b;
}

// Compares every field but `frame` (checked separately against the buffer).
void expectViewEq(const PacketView& got, const PacketView& want) {
#define DPLB_EXPECT_FIELD(f) EXPECT_EQ(got.f, want.f) << #f
  DPLB_EXPECT_FIELD(frameLen);
  DPLB_EXPECT_FIELD(etherType);
  DPLB_EXPECT_FIELD(vlanTci);
  DPLB_EXPECT_FIELD(hasVlan);
  DPLB_EXPECT_FIELD(kind);
  DPLB_EXPECT_FIELD(l3Offset);
  DPLB_EXPECT_FIELD(ipHeaderLen);
  DPLB_EXPECT_FIELD(tos);
  DPLB_EXPECT_FIELD(ttl);
  DPLB_EXPECT_FIELD(proto);
  DPLB_EXPECT_FIELD(ipTotalLen);
  DPLB_EXPECT_FIELD(ipId);
  DPLB_EXPECT_FIELD(fragOffset);
  DPLB_EXPECT_FIELD(dontFragment);
  DPLB_EXPECT_FIELD(moreFragments);
  DPLB_EXPECT_FIELD(hasL4);
  DPLB_EXPECT_FIELD(srcAddr);
  DPLB_EXPECT_FIELD(dstAddr);
  DPLB_EXPECT_FIELD(l4Offset);
  DPLB_EXPECT_FIELD(payloadOffset);
  DPLB_EXPECT_FIELD(payloadLen);
  DPLB_EXPECT_FIELD(srcPort);
  DPLB_EXPECT_FIELD(dstPort);
  DPLB_EXPECT_FIELD(tcpFlags);
  DPLB_EXPECT_FIELD(icmpType);
  DPLB_EXPECT_FIELD(icmpCode);
  DPLB_EXPECT_FIELD(icmpRest);
  DPLB_EXPECT_FIELD(arpOp);
  DPLB_EXPECT_FIELD(arpSpa);
  DPLB_EXPECT_FIELD(arpTpa);
  DPLB_EXPECT_FIELD(arpSha);
  DPLB_EXPECT_FIELD(arpTha);
#undef DPLB_EXPECT_FIELD
}

struct AcceptCase {
  std::string what;
  Bytes frame;
  PacketView want;
};

std::vector<AcceptCase> acceptCases() {
  std::vector<AcceptCase> cases;
  cases.push_back({"tcp syn, padded to the Ethernet minimum",
                   FrameBuilder()
                       .ipv4({.src = kClient, .dst = kVip, .ttl = 64, .id = 0x1234, .df = true})
                       .tcp({.sport = 40000, .dport = 80, .flags = test::kTcpSynFlag})
                       .padTo(60)
                       .build(),
                   {.frameLen = 60,
                    .etherType = kEtherTypeIpv4,
                    .kind = PacketKind::kIpv4,
                    .l3Offset = 14,
                    .ipHeaderLen = 20,
                    .ttl = 64,
                    .proto = kIpProtoTcp,
                    .ipTotalLen = 40,
                    .ipId = 0x1234,
                    .dontFragment = true,
                    .hasL4 = true,
                    .srcAddr = kClient,
                    .dstAddr = kVip,
                    .l4Offset = 34,
                    .payloadOffset = 54,
                    .payloadLen = 0,
                    .srcPort = 40000,
                    .dstPort = 80,
                    .tcpFlags = kTcpSyn}});
  cases.push_back({"vlan, tcp options and payload",
                   FrameBuilder()
                       .vlan(0x2007)
                       .ipv4({.src = kClient, .dst = kVip, .ttl = 17, .tos = 0xb8, .id = 7})
                       .tcp({.sport = 1,
                             .dport = 65535,
                             .flags = kTcpAck | kTcpPsh,
                             .options = {0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02}})
                       .payload("GET / HTTP/1.0\r\n\r\n")
                       .build(),
                   {.frameLen = 18 + 20 + 28 + 18,
                    .etherType = kEtherTypeIpv4,
                    .vlanTci = 0x2007,
                    .hasVlan = true,
                    .kind = PacketKind::kIpv4,
                    .l3Offset = 18,
                    .ipHeaderLen = 20,
                    .tos = 0xb8,
                    .ttl = 17,
                    .proto = kIpProtoTcp,
                    .ipTotalLen = 66,
                    .ipId = 7,
                    .hasL4 = true,
                    .srcAddr = kClient,
                    .dstAddr = kVip,
                    .l4Offset = 38,
                    .payloadOffset = 66,
                    .payloadLen = 18,
                    .srcPort = 1,
                    .dstPort = 65535,
                    .tcpFlags = kTcpAck | kTcpPsh}});
  cases.push_back(
      {"udp after IPv4 options",
       FrameBuilder()
           .ipv4({.src = kClient, .dst = kVip, .options = {0x94, 0x04, 0, 0, 1, 1, 1, 0}})
           .udp({.sport = 5353, .dport = 53})
           .payload(seq(10))
           .build(),
       {.frameLen = 14 + 28 + 8 + 10,
        .etherType = kEtherTypeIpv4,
        .kind = PacketKind::kIpv4,
        .l3Offset = 14,
        .ipHeaderLen = 28,
        .ttl = 64,
        .proto = kIpProtoUdp,
        .ipTotalLen = 46,
        .ipId = 0x1234,
        .hasL4 = true,
        .srcAddr = kClient,
        .dstAddr = kVip,
        .l4Offset = 42,
        .payloadOffset = 50,
        .payloadLen = 10,
        .srcPort = 5353,
        .dstPort = 53}});
  cases.push_back({"largest IHL (40 option bytes), icmp echo",
                   FrameBuilder()
                       .ipv4({.src = kClient, .dst = kVip, .options = Bytes(40, 1)})
                       .icmp({.type = 8, .code = 0, .rest = 0x00010002})
                       .payload(seq(56))
                       .build(),
                   {.frameLen = 14 + 60 + 8 + 56,
                    .etherType = kEtherTypeIpv4,
                    .kind = PacketKind::kIpv4,
                    .l3Offset = 14,
                    .ipHeaderLen = 60,
                    .ttl = 64,
                    .proto = kIpProtoIcmp,
                    .ipTotalLen = 124,
                    .ipId = 0x1234,
                    .hasL4 = true,
                    .srcAddr = kClient,
                    .dstAddr = kVip,
                    .l4Offset = 74,
                    .payloadOffset = 82,
                    .payloadLen = 56,
                    .icmpType = 8,
                    .icmpRest = 0x00010002}});
  cases.push_back({"udp without checksum",
                   FrameBuilder()
                       .ipv4({.src = kClient, .dst = kVip})
                       .udp({.sport = 1000, .dport = 2000, .zeroChecksum = true})
                       .payload(seq(3))
                       .build(),
                   {.frameLen = 14 + 20 + 8 + 3,
                    .etherType = kEtherTypeIpv4,
                    .kind = PacketKind::kIpv4,
                    .l3Offset = 14,
                    .ipHeaderLen = 20,
                    .ttl = 64,
                    .proto = kIpProtoUdp,
                    .ipTotalLen = 31,
                    .ipId = 0x1234,
                    .hasL4 = true,
                    .srcAddr = kClient,
                    .dstAddr = kVip,
                    .l4Offset = 34,
                    .payloadOffset = 42,
                    .payloadLen = 3,
                    .srcPort = 1000,
                    .dstPort = 2000}});
  cases.push_back({"udp length shorter than the IP payload (surplus ignored)",
                   FrameBuilder()
                       .ipv4({.src = kClient, .dst = kVip})
                       .udp({.sport = 1000, .dport = 2000, .length = 12})
                       .payload(seq(10))
                       .build(),
                   {.frameLen = 14 + 20 + 18,
                    .etherType = kEtherTypeIpv4,
                    .kind = PacketKind::kIpv4,
                    .l3Offset = 14,
                    .ipHeaderLen = 20,
                    .ttl = 64,
                    .proto = kIpProtoUdp,
                    .ipTotalLen = 38,
                    .ipId = 0x1234,
                    .hasL4 = true,
                    .srcAddr = kClient,
                    .dstAddr = kVip,
                    .l4Offset = 34,
                    .payloadOffset = 42,
                    .payloadLen = 4,
                    .srcPort = 1000,
                    .dstPort = 2000}});
  const Bytes quoted = FrameBuilder()
                           .ipv4({.src = kVip, .dst = kClient, .df = true})
                           .tcp({.sport = 80, .dport = 40000})
                           .buildIp();
  cases.push_back({"icmp frag needed quoting a datagram",
                   FrameBuilder()
                       .ipv4({.src = ip4(192, 0, 2, 1), .dst = kVip})
                       .icmp({.type = 3, .code = 4, .rest = 1400})
                       .payload(Bytes(quoted.begin(), quoted.begin() + 28))
                       .build(),
                   {.frameLen = 14 + 20 + 8 + 28,
                    .etherType = kEtherTypeIpv4,
                    .kind = PacketKind::kIpv4,
                    .l3Offset = 14,
                    .ipHeaderLen = 20,
                    .ttl = 64,
                    .proto = kIpProtoIcmp,
                    .ipTotalLen = 56,
                    .ipId = 0x1234,
                    .hasL4 = true,
                    .srcAddr = ip4(192, 0, 2, 1),
                    .dstAddr = kVip,
                    .l4Offset = 34,
                    .payloadOffset = 42,
                    .payloadLen = 28,
                    .icmpType = 3,
                    .icmpCode = 4,
                    .icmpRest = 1400}});
  cases.push_back({"first fragment keeps its tcp header",
                   FrameBuilder()
                       .ipv4({.src = kClient, .dst = kVip, .mf = true})
                       .tcp({.sport = 3333, .dport = 80, .flags = kTcpAck})
                       .payload(seq(100))
                       .build(),
                   {.frameLen = 14 + 20 + 20 + 100,
                    .etherType = kEtherTypeIpv4,
                    .kind = PacketKind::kIpv4,
                    .l3Offset = 14,
                    .ipHeaderLen = 20,
                    .ttl = 64,
                    .proto = kIpProtoTcp,
                    .ipTotalLen = 140,
                    .ipId = 0x1234,
                    .moreFragments = true,
                    .hasL4 = true,
                    .srcAddr = kClient,
                    .dstAddr = kVip,
                    .l4Offset = 34,
                    .payloadOffset = 54,
                    .payloadLen = 100,
                    .srcPort = 3333,
                    .dstPort = 80,
                    .tcpFlags = kTcpAck}});
  cases.push_back({"first udp fragment: udp length covers the whole datagram",
                   FrameBuilder()
                       .ipv4({.src = kClient, .dst = kVip, .mf = true})
                       .udp({.sport = 7, .dport = 9, .length = 3000})
                       .payload(seq(100))
                       .build(),
                   {.frameLen = 14 + 20 + 8 + 100,
                    .etherType = kEtherTypeIpv4,
                    .kind = PacketKind::kIpv4,
                    .l3Offset = 14,
                    .ipHeaderLen = 20,
                    .ttl = 64,
                    .proto = kIpProtoUdp,
                    .ipTotalLen = 128,
                    .ipId = 0x1234,
                    .moreFragments = true,
                    .hasL4 = true,
                    .srcAddr = kClient,
                    .dstAddr = kVip,
                    .l4Offset = 34,
                    .payloadOffset = 42,
                    .payloadLen = 100,
                    .srcPort = 7,
                    .dstPort = 9}});
  cases.push_back(
      {"non-first fragment has no L4 header",
       FrameBuilder()
           .ipv4(
               {.src = kClient, .dst = kVip, .id = 99, .fragOffset = 1480, .protocol = kIpProtoUdp})
           .rawL4(seq(100, 0x40))
           .build(),
       {.frameLen = 14 + 20 + 100,
        .etherType = kEtherTypeIpv4,
        .kind = PacketKind::kIpv4,
        .l3Offset = 14,
        .ipHeaderLen = 20,
        .ttl = 64,
        .proto = kIpProtoUdp,
        .ipTotalLen = 120,
        .ipId = 99,
        .fragOffset = 1480,
        .hasL4 = false,
        .srcAddr = kClient,
        .dstAddr = kVip,
        .l4Offset = 34,
        .payloadOffset = 34,
        .payloadLen = 100}});
  cases.push_back({"bytes after the datagram are ignored",
                   FrameBuilder()
                       .ipv4({.src = kClient, .dst = kVip, .ttl = 1})
                       .udp({.sport = 1, .dport = 2})
                       .payload(seq(4))
                       .trailer(Bytes(30, 0xAA))
                       .build(),
                   {.frameLen = 14 + 20 + 12 + 30,
                    .etherType = kEtherTypeIpv4,
                    .kind = PacketKind::kIpv4,
                    .l3Offset = 14,
                    .ipHeaderLen = 20,
                    .ttl = 1,
                    .proto = kIpProtoUdp,
                    .ipTotalLen = 32,
                    .ipId = 0x1234,
                    .hasL4 = true,
                    .srcAddr = kClient,
                    .dstAddr = kVip,
                    .l4Offset = 34,
                    .payloadOffset = 42,
                    .payloadLen = 4,
                    .srcPort = 1,
                    .dstPort = 2}});
  cases.push_back({"arp request",
                   FrameBuilder()
                       .eth({.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, .src = kMacA})
                       .arp({.op = 1, .sha = kMacA, .spa = kClient, .tha = {}, .tpa = kVip})
                       .padTo(60)
                       .build(),
                   {.frameLen = 60,
                    .etherType = kEtherTypeArp,
                    .kind = PacketKind::kArp,
                    .l3Offset = 14,
                    .arpOp = 1,
                    .arpSpa = kClient,
                    .arpTpa = kVip,
                    .arpSha = mac(kMacA),
                    .arpTha = MacAddr{}}});
  cases.push_back({"arp reply behind a vlan tag",
                   FrameBuilder()
                       .vlan(12)
                       .arp({.op = 2, .sha = kMacB, .spa = kVip, .tha = kMacA, .tpa = kClient})
                       .build(),
                   {.frameLen = 18 + 28,
                    .etherType = kEtherTypeArp,
                    .vlanTci = 12,
                    .hasVlan = true,
                    .kind = PacketKind::kArp,
                    .l3Offset = 18,
                    .arpOp = 2,
                    .arpSpa = kVip,
                    .arpTpa = kClient,
                    .arpSha = mac(kMacB),
                    .arpTha = mac(kMacA)}});
  return cases;
}

TEST(Parser, AcceptsWellFormedFrames) {
  for (const AcceptCase& c : acceptCases()) {
    SCOPED_TRACE(c.what);
    ParsedFrame p(c.frame);
    ASSERT_EQ(p.result, ParseResult::accept());
    EXPECT_EQ(p.view.frame, p.bytes.data());
    expectViewEq(p.view, c.want);
    // Offsets stay within the frame and the datagram.
    if (p.view.kind == PacketKind::kIpv4) {
      EXPECT_LE(p.view.ipEnd(), p.view.frameLen);
      EXPECT_LE(static_cast<uint32_t>(p.view.payloadOffset) + p.view.payloadLen, p.view.ipEnd());
    }
  }
}

TEST(Parser, ViewAccessorsPointIntoTheFrame) {
  Bytes f = FrameBuilder()
                .vlan(5)
                .ipv4({.src = kClient, .dst = kVip, .options = {1, 1, 1, 1}})
                .tcp({.sport = 1234, .dport = 80})
                .payload("xyz")
                .build();
  ParsedFrame p(f);
  ASSERT_TRUE(p.result.ok);
  const PacketView& v = p.view;
  EXPECT_EQ(v.ipv4()->src.get(), kClient);
  EXPECT_EQ(v.ipv4()->headerLen(), 24u);
  EXPECT_EQ(v.tcp()->srcPort.get(), 1234);
  EXPECT_EQ(v.payload()[0], 'x');
  EXPECT_EQ(v.l4Len(), 23u);
  EXPECT_EQ(v.eth()->src, mac(test::EthSpec{}.src));
  EXPECT_FALSE(v.isFragment());
}

struct DropCase {
  std::string what;
  Bytes frame;
  DropReason reason;
};

Bytes tcpFrame() {
  return FrameBuilder().ipv4({.src = kClient, .dst = kVip}).tcp({}).build();
}

std::vector<DropCase> dropCases() {
  std::vector<DropCase> cases;
  auto with = [](Bytes f, size_t off, uint8_t value) {
    f.at(off) = value;
    return f;
  };
  auto cut = [](Bytes f, size_t len) {
    f.resize(len);
    return f;
  };
  const Bytes vlanTcp = FrameBuilder().vlan(1).ipv4({}).tcp({}).build();
  const Bytes arp = FrameBuilder().arp({}).build();
  cases.push_back({"empty frame", {}, DropReason::kTruncatedEthernet});
  cases.push_back({"13 bytes", cut(tcpFrame(), 13), DropReason::kTruncatedEthernet});
  cases.push_back({"frame ends inside the vlan tag", cut(vlanTcp, 17), DropReason::kTruncatedVlan});
  cases.push_back({"ipv6",
                   FrameBuilder().eth({.etherType = kEtherTypeIpv6}).payload(seq(40)).build(),
                   DropReason::kUnsupportedEthertype});
  cases.push_back({"802.1ad outer tag",
                   FrameBuilder().eth({.etherType = kEtherTypeQinQ}).payload(seq(40)).build(),
                   DropReason::kUnsupportedEthertype});
  cases.push_back(
      {"second 802.1Q tag",
       FrameBuilder().vlan(1).eth({.etherType = kEtherTypeVlan}).payload(seq(40)).build(),
       DropReason::kUnsupportedEthertype});
  cases.push_back({"arp cut to 27 bytes", cut(arp, 14 + 27), DropReason::kTruncatedArp});
  cases.push_back({"arp over token ring", FrameBuilder().arp({.hwType = 6}).build(),
                   DropReason::kUnsupportedArp});
  cases.push_back({"arp for ipv6-sized addresses", FrameBuilder().arp({.protoLen = 16}).build(),
                   DropReason::kUnsupportedArp});
  cases.push_back({"arp for another protocol", FrameBuilder().arp({.protoType = 0x86DD}).build(),
                   DropReason::kUnsupportedArp});
  cases.push_back({"19 bytes of ipv4", cut(tcpFrame(), 14 + 19), DropReason::kTruncatedIpv4});
  cases.push_back({"options cut off",
                   cut(FrameBuilder().ipv4({.options = Bytes(8, 1)}).tcp({}).build(), 14 + 24),
                   DropReason::kTruncatedIpv4});
  cases.push_back({"total length beyond the frame",
                   FrameBuilder().ipv4({.totalLength = 41}).tcp({}).build(),
                   DropReason::kTruncatedIpv4});
  cases.push_back({"version 6 under ethertype 0x0800",
                   FrameBuilder().ipv4({.version = 6}).tcp({}).build(), DropReason::kBadIpVersion});
  cases.push_back({"version 0", FrameBuilder().ipv4({.version = 0}).tcp({}).build(),
                   DropReason::kBadIpVersion});
  cases.push_back({"ihl 4", FrameBuilder().ipv4({.ihl = 4}).tcp({}).build(), DropReason::kBadIhl});
  cases.push_back({"ihl 0", FrameBuilder().ipv4({.ihl = 0}).tcp({}).build(), DropReason::kBadIhl});
  cases.push_back({"total length below the header",
                   FrameBuilder().ipv4({.totalLength = 19}).tcp({}).build(),
                   DropReason::kBadIpTotalLength});
  cases.push_back({"total length below the header with options",
                   FrameBuilder().ipv4({.options = Bytes(4, 1), .totalLength = 20}).tcp({}).build(),
                   DropReason::kBadIpTotalLength});
  cases.push_back({"header checksum off by one",
                   FrameBuilder().ipv4({.checksum = 0x1234}).tcp({}).build(),
                   DropReason::kBadIpChecksum});
  cases.push_back(
      {"ttl changed after the checksum", with(tcpFrame(), 14 + 8, 63), DropReason::kBadIpChecksum});
  cases.push_back({"gre", FrameBuilder().ipv4({.protocol = 47}).rawL4(seq(24)).build(),
                   DropReason::kUnsupportedIpProtocol});
  cases.push_back({"ipip", FrameBuilder().ipv4({.protocol = kIpProtoIpip}).rawL4(seq(40)).build(),
                   DropReason::kUnsupportedIpProtocol});
  cases.push_back({"non-first fragment of sctp",
                   FrameBuilder().ipv4({.fragOffset = 8, .protocol = 132}).rawL4(seq(24)).build(),
                   DropReason::kUnsupportedIpProtocol});
  cases.push_back({"tcp header of 19 bytes",
                   FrameBuilder().ipv4({.protocol = kIpProtoTcp}).rawL4(seq(19)).build(),
                   DropReason::kTruncatedTcp});
  cases.push_back({"tcp header outside the total length (padding does not count)",
                   FrameBuilder().ipv4({.protocol = kIpProtoTcp}).rawL4(seq(10)).padTo(60).build(),
                   DropReason::kTruncatedTcp});
  cases.push_back({"tiny first fragment",
                   FrameBuilder().ipv4({.mf = true, .protocol = kIpProtoTcp}).rawL4(seq(8)).build(),
                   DropReason::kTruncatedTcp});
  cases.push_back({"tcp data offset 4", FrameBuilder().ipv4({}).tcp({.dataOffset = 4}).build(),
                   DropReason::kBadTcpDataOffset});
  cases.push_back({"tcp data offset 0", FrameBuilder().ipv4({}).tcp({.dataOffset = 0}).build(),
                   DropReason::kBadTcpDataOffset});
  cases.push_back({"tcp options beyond the datagram",
                   FrameBuilder().ipv4({}).tcp({.dataOffset = 15}).payload(seq(20)).build(),
                   DropReason::kBadTcpDataOffset});
  cases.push_back({"udp header of 7 bytes",
                   FrameBuilder().ipv4({.protocol = kIpProtoUdp}).rawL4(seq(7)).build(),
                   DropReason::kTruncatedUdp});
  cases.push_back({"udp length 7", FrameBuilder().ipv4({}).udp({.length = 7}).build(),
                   DropReason::kBadUdpLength});
  cases.push_back({"udp length beyond the datagram",
                   FrameBuilder().ipv4({}).udp({.length = 30}).payload(seq(10)).padTo(100).build(),
                   DropReason::kBadUdpLength});
  cases.push_back({"first udp fragment with udp length 4",
                   FrameBuilder().ipv4({.mf = true}).udp({.length = 4}).payload(seq(16)).build(),
                   DropReason::kBadUdpLength});
  cases.push_back({"icmp header of 7 bytes",
                   FrameBuilder().ipv4({.protocol = kIpProtoIcmp}).rawL4(seq(7)).build(),
                   DropReason::kTruncatedIcmp});
  return cases;
}

TEST(Parser, DropsMalformedFramesWithTheirReason) {
  for (const DropCase& c : dropCases()) {
    SCOPED_TRACE(c.what);
    ParsedFrame p(c.frame);
    EXPECT_EQ(p.result, ParseResult::drop(c.reason));
  }
}

// Every parser reason of the shared list has at least one case above.
TEST(Parser, DropTableCoversEveryParserReason) {
  std::set<DropReason> covered;
  for (const DropCase& c : dropCases()) {
    covered.insert(c.reason);
  }
  const std::set<DropReason> parserReasons = {
      DropReason::kTruncatedEthernet,     DropReason::kTruncatedVlan,
      DropReason::kUnsupportedEthertype,  DropReason::kTruncatedArp,
      DropReason::kUnsupportedArp,        DropReason::kTruncatedIpv4,
      DropReason::kBadIpVersion,          DropReason::kBadIhl,
      DropReason::kBadIpTotalLength,      DropReason::kBadIpChecksum,
      DropReason::kUnsupportedIpProtocol, DropReason::kTruncatedTcp,
      DropReason::kBadTcpDataOffset,      DropReason::kTruncatedUdp,
      DropReason::kBadUdpLength,          DropReason::kTruncatedIcmp};
  EXPECT_EQ(covered, parserReasons);
}

// Every prefix of valid frames parses without reading past its end; a prefix
// shorter than the datagram never parses as the full frame.
TEST(Parser, EveryTruncationIsSafe) {
  for (const AcceptCase& c : acceptCases()) {
    SCOPED_TRACE(c.what);
    for (size_t len = 0; len <= c.frame.size(); ++len) {
      ParsedFrame p(Bytes(c.frame.begin(), c.frame.begin() + static_cast<long>(len)));
      if (p.result.ok && p.view.kind == PacketKind::kIpv4) {
        EXPECT_LE(p.view.ipEnd(), len);
        EXPECT_EQ(p.view.ipTotalLen, c.want.ipTotalLen) << "len " << len;
      }
    }
  }
}

TEST(Parser, UnsupportedProtocolKeepsTheIpv4Fields) {
  ParsedFrame p(FrameBuilder()
                    .ipv4({.src = kClient, .dst = kVip, .ttl = 9, .protocol = 47})
                    .rawL4(seq(24))
                    .build());
  EXPECT_EQ(p.result, ParseResult::drop(DropReason::kUnsupportedIpProtocol));
  EXPECT_EQ(p.view.kind, PacketKind::kIpv4);
  EXPECT_EQ(p.view.proto, 47);
  EXPECT_EQ(p.view.srcAddr, kClient);
  EXPECT_EQ(p.view.dstAddr, kVip);
  EXPECT_EQ(p.view.ttl, 9);
  EXPECT_FALSE(p.view.hasL4);
}

TEST(Parser, UnsupportedEthertypeKeepsTheEthertype) {
  ParsedFrame p(FrameBuilder().vlan(3).eth({.etherType = kEtherTypeIpv6}).payload(seq(40)).build());
  EXPECT_EQ(p.result, ParseResult::drop(DropReason::kUnsupportedEthertype));
  EXPECT_EQ(p.view.etherType, kEtherTypeIpv6);
  EXPECT_EQ(p.view.vlanTci, 3);
  EXPECT_EQ(p.view.l3Offset, 18);
}

TEST(Parser, ChecksumVerificationCanBeLeftToTheNic) {
  const Bytes f = FrameBuilder().ipv4({.checksum = 0xdead}).tcp({}).build();
  ParsedFrame checked(f);
  EXPECT_EQ(checked.result, ParseResult::drop(DropReason::kBadIpChecksum));
  ParsedFrame unchecked(f, ParseOptions{.verifyIpChecksum = false});
  EXPECT_EQ(unchecked.result, ParseResult::accept());
}

TEST(Parser, ResetsTheViewBetweenPackets) {
  PacketView v;
  Bytes tcp = FrameBuilder().vlan(9).ipv4({}).tcp({.sport = 5, .dport = 6}).build();
  ASSERT_TRUE(parsePacket(tcp.data(), static_cast<uint32_t>(tcp.size()), v).ok);
  Bytes arp = FrameBuilder().arp({}).build();
  ASSERT_TRUE(parsePacket(arp.data(), static_cast<uint32_t>(arp.size()), v).ok);
  EXPECT_FALSE(v.hasVlan);
  EXPECT_EQ(v.srcPort, 0);
  EXPECT_EQ(v.kind, PacketKind::kArp);
}

// ---- parseIcmpError --------------------------------------------------------

Bytes icmpError(uint8_t type, uint8_t code, const Bytes& quote, uint32_t rest = 0) {
  return FrameBuilder()
      .ipv4({.src = ip4(192, 0, 2, 1), .dst = kVip})
      .icmp({.type = type, .code = code, .rest = rest})
      .payload(quote)
      .build();
}

Bytes prefix(const Bytes& b, size_t n) {
  return Bytes(b.begin(), b.begin() + static_cast<long>(n));
}

TEST(ParseIcmpError, ExtractsTheQuotedTuple) {
  const Bytes inner = FrameBuilder()
                          .ipv4({.src = kVip, .dst = kClient, .options = {1, 1, 1, 1}})
                          .udp({.sport = 53, .dport = 40001})
                          .payload(seq(30))
                          .buildIp();
  ParsedFrame p(icmpError(3, 4, prefix(inner, 24 + 8), 1400));
  ASSERT_TRUE(p.result.ok);
  IcmpErrorView e;
  ASSERT_EQ(parseIcmpError(p.view, e), ParseResult::accept());
  EXPECT_EQ(e.innerL3Offset, 14 + 20 + 8);
  EXPECT_EQ(e.innerL4Offset, 14 + 20 + 8 + 24);
  EXPECT_EQ(e.innerHeaderLen, 24);
  EXPECT_EQ(e.quotedLen, 32);
  EXPECT_EQ(e.quotedL4Len(), 8u);
  EXPECT_EQ(e.proto, kIpProtoUdp);
  EXPECT_TRUE(e.hasPorts);
  EXPECT_EQ(e.srcAddr, kVip);
  EXPECT_EQ(e.dstAddr, kClient);
  EXPECT_EQ(e.srcPort, 53);
  EXPECT_EQ(e.dstPort, 40001);
}

struct IcmpErrorCase {
  std::string what;
  Bytes frame;
  ParseResult result;
  bool hasPorts;
};

TEST(ParseIcmpError, Table) {
  const Bytes tcpInner =
      FrameBuilder().ipv4({.src = kClient, .dst = kVip}).tcp({.sport = 1, .dport = 2}).buildIp();
  const Bytes fragInner =
      FrameBuilder()
          .ipv4({.src = kClient, .dst = kVip, .fragOffset = 8, .protocol = kIpProtoTcp})
          .rawL4(seq(16))
          .buildIp();
  const Bytes icmpInner = FrameBuilder().ipv4({}).icmp({.type = 8}).buildIp();
  Bytes v6Inner = tcpInner;
  v6Inner[0] = 0x65;
  Bytes ihl4Inner = tcpInner;
  ihl4Inner[0] = 0x44;
  const std::vector<IcmpErrorCase> cases = {
      {"time exceeded, whole tcp datagram quoted", icmpError(11, 0, tcpInner),
       ParseResult::accept(), true},
      {"port unreachable, 8 bytes of tcp", icmpError(3, 3, prefix(tcpInner, 28)),
       ParseResult::accept(), true},
      {"source quench", icmpError(4, 0, prefix(tcpInner, 28)), ParseResult::accept(), true},
      {"quoted non-first fragment: no ports", icmpError(3, 1, fragInner), ParseResult::accept(),
       false},
      {"quoted icmp: no ports", icmpError(11, 0, icmpInner), ParseResult::accept(), false},
      {"echo request is not an error", icmpError(8, 0, tcpInner),
       ParseResult::drop(DropReason::kIcmpUnsupported), false},
      {"redirect is not related by IPVS", icmpError(5, 1, tcpInner),
       ParseResult::drop(DropReason::kIcmpUnsupported), false},
      {"parameter problem is not related by IPVS", icmpError(12, 0, tcpInner),
       ParseResult::drop(DropReason::kIcmpUnsupported), false},
      {"quote shorter than an IPv4 header", icmpError(3, 3, prefix(tcpInner, 19)),
       ParseResult::drop(DropReason::kIcmpBadEmbedded), false},
      {"quote without the 8 tcp bytes", icmpError(3, 3, prefix(tcpInner, 27)),
       ParseResult::drop(DropReason::kIcmpBadEmbedded), false},
      {"quoted version 6", icmpError(3, 3, v6Inner),
       ParseResult::drop(DropReason::kIcmpBadEmbedded), false},
      {"quoted ihl 4", icmpError(3, 3, ihl4Inner), ParseResult::drop(DropReason::kIcmpBadEmbedded),
       false},
      {"fragmented icmp error",
       FrameBuilder().ipv4({.mf = true}).icmp({.type = 3, .code = 3}).payload(tcpInner).build(),
       ParseResult::drop(DropReason::kIcmpUnsupported), false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    ParsedFrame p(c.frame);
    ASSERT_TRUE(p.result.ok);
    IcmpErrorView e;
    EXPECT_EQ(parseIcmpError(p.view, e), c.result);
    EXPECT_EQ(e.hasPorts, c.hasPorts);
    if (c.result.ok && c.hasPorts) {
      EXPECT_EQ(e.srcAddr, kClient);
      EXPECT_EQ(e.srcPort, 1);
      EXPECT_EQ(e.dstPort, 2);
    }
  }
}

TEST(ParseIcmpError, RefusesNonIcmp) {
  ParsedFrame p(tcpFrame());
  IcmpErrorView e;
  EXPECT_EQ(parseIcmpError(p.view, e), ParseResult::drop(DropReason::kIcmpUnsupported));
}

}  // namespace
}  // namespace dplb::pkt
