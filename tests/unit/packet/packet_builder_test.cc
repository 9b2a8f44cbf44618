// The test helper itself: byte-exact frames against expectations computed
// with a third, independent implementation (Python's struct module, recorded
// below), and the checkers catching what they must catch.

#include "packet_builder.h"

#include <gtest/gtest.h>

#include <string>

namespace dplb::test {
namespace {

Bytes fromHex(const std::string& hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

TEST(PacketBuilder, TcpSynIsByteExact) {
  const Bytes f = FrameBuilder().ipv4({}).tcp({}).build();
  EXPECT_EQ(hexDump(f),
            hexDump(fromHex("02000000000202000000000108004500002812340000400654380a000001"
                            "0a0000649c400050000003e8000000005002fffffb050000")));
}

TEST(PacketBuilder, UdpIsByteExact) {
  const Bytes f = FrameBuilder().ipv4({}).udp({}).payload("abc").build();
  EXPECT_EQ(hexDump(f),
            hexDump(fromHex("02000000000202000000000108004500001f12340000401154360a000001"
                            "0a0000649c400035000b8a9b616263")));
}

TEST(PacketBuilder, DecodeReadsBackEveryField) {
  const Bytes f = FrameBuilder()
                      .eth({.dst = {1, 2, 3, 4, 5, 6}, .src = {7, 8, 9, 10, 11, 12}})
                      .vlan(0x3005)
                      .ipv4({.src = ip4(1, 2, 3, 4),
                             .dst = ip4(5, 6, 7, 8),
                             .ttl = 3,
                             .tos = 0x11,
                             .id = 77,
                             .df = true,
                             .options = {7, 3, 4}})
                      .tcp({.sport = 11,
                            .dport = 22,
                            .seq = 33,
                            .ack = 44,
                            .flags = 0x12,
                            .window = 55,
                            .urgent = 66})
                      .payload("hi")
                      .padTo(100)
                      .build();
  const DecodedFrame d = decodeFrame(f);
  ASSERT_TRUE(d.valid) << d.error;
  EXPECT_EQ(macStr(d.ethDst), "01:02:03:04:05:06");
  EXPECT_EQ(macStr(d.ethSrc), "07:08:09:0a:0b:0c");
  EXPECT_EQ(d.vlanTci, 0x3005);
  EXPECT_EQ(d.etherType, 0x0800);
  EXPECT_EQ(d.ip.ihl, 6);
  EXPECT_EQ(d.ip.tos, 0x11);
  EXPECT_EQ(d.ip.totalLength, 24 + 20 + 2);
  EXPECT_EQ(d.ip.id, 77);
  EXPECT_TRUE(d.ip.df);
  EXPECT_FALSE(d.ip.mf);
  EXPECT_EQ(d.ip.ttl, 3);
  EXPECT_EQ(d.ip.protocol, kProtoTcp);
  EXPECT_EQ(ip4Str(d.ip.src), "1.2.3.4");
  EXPECT_EQ(ip4Str(d.ip.dst), "5.6.7.8");
  EXPECT_EQ(d.ip.options, (Bytes{7, 3, 4, 0}));
  ASSERT_TRUE(d.tcp.has_value());
  EXPECT_EQ(d.tcp->sport, 11);
  EXPECT_EQ(d.tcp->dport, 22);
  EXPECT_EQ(d.tcp->seq, 33u);
  EXPECT_EQ(d.tcp->ack, 44u);
  EXPECT_EQ(d.tcp->flags, 0x12);
  EXPECT_EQ(d.tcp->window, 55);
  EXPECT_EQ(d.tcp->urgent, 66);
  EXPECT_EQ(d.payload, (Bytes{'h', 'i'}));
  EXPECT_EQ(f.size(), 100u);
  EXPECT_EQ(checksumProblems(f), "");
}

TEST(PacketBuilder, ChecksumProblemsCatchesEachBrokenChecksum) {
  Bytes tcp = FrameBuilder().ipv4({}).tcp({}).payload("data").build();
  ASSERT_EQ(checksumProblems(tcp), "");
  Bytes badIp = tcp;
  badIp[14 + 8] ^= 1;  // TTL
  EXPECT_NE(checksumProblems(badIp).find("IPv4 header checksum"), std::string::npos);
  Bytes badTcp = tcp;
  badTcp.back() ^= 0x40;
  EXPECT_NE(checksumProblems(badTcp).find("TCP checksum"), std::string::npos);

  Bytes udp = FrameBuilder().ipv4({}).udp({}).payload("x").build();
  ASSERT_EQ(checksumProblems(udp), "");
  udp.back() ^= 1;
  EXPECT_NE(checksumProblems(udp).find("UDP checksum"), std::string::npos);
  // "No checksum" passes whatever the payload.
  Bytes none = FrameBuilder().ipv4({}).udp({.zeroChecksum = true}).payload("x").build();
  none.back() ^= 1;
  EXPECT_EQ(checksumProblems(none), "");

  Bytes icmp = FrameBuilder().ipv4({}).icmp({}).payload("ping").build();
  ASSERT_EQ(checksumProblems(icmp), "");
  icmp.back() ^= 1;
  EXPECT_NE(checksumProblems(icmp).find("ICMP checksum"), std::string::npos);
}

TEST(PacketBuilder, UdpChecksumZeroIsSentAsAllOnes) {
  // Search a payload whose UDP checksum computes to 0; the builder must send
  // it as 0xFFFF (RFC 768).
  bool found = false;
  for (uint32_t x = 0; x < 0x10000 && !found; ++x) {
    const Bytes f = FrameBuilder()
                        .ipv4({})
                        .udp({})
                        .payload(Bytes{static_cast<uint8_t>(x >> 8), static_cast<uint8_t>(x)})
                        .build();
    Bytes zeroed = f;
    wr16(zeroed, 14 + 20 + 6, 0);
    if (refChecksum(zeroed, 34, 10, 34 + 6,
                    refPseudo(ip4(10, 0, 0, 1), ip4(10, 0, 0, 100), 17, 10)) == 0) {
      found = true;
      EXPECT_EQ(rd16(f, 14 + 20 + 6), 0xFFFF);
      EXPECT_EQ(checksumProblems(f), "");
    }
  }
  EXPECT_TRUE(found);
}

TEST(PacketBuilder, BuildIpIsTheFrameWithoutL2) {
  FrameBuilder b;
  b.vlan(1).ipv4({}).udp({}).payload("abc");
  const Bytes f = b.build();
  const Bytes ip = b.buildIp();
  EXPECT_EQ(Bytes(f.begin() + 18, f.end()), ip);
  EXPECT_EQ(ipChecksumProblems(ip, 0), "");
}

}  // namespace
}  // namespace dplb::test
