#pragma once
// Wire-format headers: Ethernet, 802.1Q, ARP (Ethernet/IPv4), IPv4, TCP, UDP,
// ICMP.
//
// Contract: each struct is the exact on-the-wire layout (sizes asserted),
// alignment 1, fields in network order behind Be16/Be32 accessors. Code
// points a struct pointer at frame bytes (`reinterpret_cast`, as DPDK's
// rte_*_hdr users do) after checking the length; nothing here checks bounds.
// Variable parts (IPv4 options, TCP options) follow the fixed part and are
// reached through the header length.

#include <array>
#include <cstdint>

#include "dplb/pkt/byte_order.h"

namespace dplb::pkt {

// ---- Ethernet / 802.1Q ----------------------------------------------------

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // IEEE 802.1Q C-tag
inline constexpr uint16_t kEtherTypeQinQ = 0x88A8;  // 802.1ad S-tag (not parsed)
inline constexpr uint16_t kEtherTypeIpv6 = 0x86DD;

inline constexpr uint32_t kEthernetHeaderLen = 14;
inline constexpr uint32_t kVlanTagLen = 4;
// Minimum Ethernet frame without FCS: shorter frames are padded by the sender,
// so parsers must trust the IPv4 total length, not the frame length.
inline constexpr uint32_t kEthernetMinFrameLen = 60;

struct MacAddr {
  std::array<uint8_t, 6> bytes{};

  constexpr bool isBroadcast() const {
    return (bytes[0] & bytes[1] & bytes[2] & bytes[3] & bytes[4] & bytes[5]) == 0xFF;
  }
  // The I/G bit: group (multicast or broadcast) destination.
  constexpr bool isMulticast() const { return (bytes[0] & 0x01) != 0; }
  constexpr bool isZero() const {
    return (bytes[0] | bytes[1] | bytes[2] | bytes[3] | bytes[4] | bytes[5]) == 0;
  }
  friend constexpr bool operator==(const MacAddr&, const MacAddr&) = default;
};

inline constexpr MacAddr kBroadcastMac{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}};

struct EthernetHeader {
  MacAddr dst;
  MacAddr src;
  Be16 etherType;
};

// An 802.1Q tag as it sits after the source MAC: TCI, then the inner ethertype.
struct VlanTag {
  Be16 tci;  // PCP(3) DEI(1) VID(12)
  Be16 etherType;

  constexpr uint16_t vid() const { return tci.get() & 0x0FFF; }
  constexpr uint8_t pcp() const { return static_cast<uint8_t>(tci.get() >> 13); }
};

// ---- ARP (RFC 826), Ethernet hardware + IPv4 protocol only ----------------

inline constexpr uint16_t kArpHwEthernet = 1;
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;
inline constexpr uint32_t kArpPacketLen = 28;

struct ArpPacket {
  Be16 hwType;
  Be16 protoType;
  uint8_t hwLen;
  uint8_t protoLen;
  Be16 op;
  MacAddr sha;  // sender hardware address
  Be32 spa;     // sender protocol address
  MacAddr tha;  // target hardware address
  Be32 tpa;     // target protocol address
};

// ---- IPv4 (RFC 791) ---------------------------------------------------------

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoIpip = 4;  // IPv4-in-IPv4 (RFC 2003)
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;

inline constexpr uint32_t kIpv4MinHeaderLen = 20;
inline constexpr uint32_t kIpv4MaxHeaderLen = 60;
inline constexpr uint16_t kIpv4FlagReserved = 0x8000;
inline constexpr uint16_t kIpv4FlagDf = 0x4000;
inline constexpr uint16_t kIpv4FlagMf = 0x2000;
inline constexpr uint16_t kIpv4FragOffsetMask = 0x1FFF;  // in 8-byte units
inline constexpr uint8_t kIpv4EcnMask = 0x03;
inline constexpr uint8_t kIpv4EcnCe = 0x03;
inline constexpr uint8_t kIpv4EcnEct0 = 0x02;
inline constexpr uint8_t kIpv4EcnEct1 = 0x01;
// RFC 791 option type bit 7: copy the option into every fragment.
inline constexpr uint8_t kIpv4OptCopiedFlag = 0x80;
inline constexpr uint8_t kIpv4OptEnd = 0;
inline constexpr uint8_t kIpv4OptNop = 1;
// Smallest MTU every IPv4 link must carry (RFC 791).
inline constexpr uint32_t kIpv4MinMtu = 68;
inline constexpr uint8_t kDefaultTtl = 64;

struct Ipv4Header {
  uint8_t versionIhl;
  uint8_t tos;  // DSCP(6) ECN(2)
  Be16 totalLength;
  Be16 id;
  Be16 fragment;  // flags(3) offset(13, 8-byte units)
  uint8_t ttl;
  uint8_t protocol;
  Be16 checksum;
  Be32 src;
  Be32 dst;

  constexpr uint8_t version() const { return versionIhl >> 4; }
  constexpr uint8_t ihl() const { return versionIhl & 0x0F; }
  constexpr uint32_t headerLen() const { return ihl() * 4u; }
  constexpr bool dontFragment() const { return (fragment.get() & kIpv4FlagDf) != 0; }
  constexpr bool moreFragments() const { return (fragment.get() & kIpv4FlagMf) != 0; }
  // Fragment offset in bytes.
  constexpr uint32_t fragmentOffset() const { return (fragment.get() & kIpv4FragOffsetMask) * 8u; }
  constexpr bool isFragment() const {
    return (fragment.get() & (kIpv4FlagMf | kIpv4FragOffsetMask)) != 0;
  }
  // The 16-bit word holding TTL and protocol, as the checksum sees it.
  constexpr uint16_t ttlProtoWord() const {
    return static_cast<uint16_t>((static_cast<uint16_t>(ttl) << 8) | protocol);
  }
};

// ---- TCP (RFC 9293) ---------------------------------------------------------

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;
inline constexpr uint32_t kTcpMinHeaderLen = 20;
inline constexpr uint32_t kTcpChecksumOffset = 16;

struct TcpHeader {
  Be16 srcPort;
  Be16 dstPort;
  Be32 seq;
  Be32 ack;
  uint8_t dataOffsetReserved;  // data offset(4) reserved(3) AE/NS(1)
  uint8_t flags;
  Be16 window;
  Be16 checksum;
  Be16 urgentPointer;

  constexpr uint32_t headerLen() const { return (dataOffsetReserved >> 4) * 4u; }
};

// ---- UDP (RFC 768) ----------------------------------------------------------

inline constexpr uint32_t kUdpHeaderLen = 8;
inline constexpr uint32_t kUdpChecksumOffset = 6;

struct UdpHeader {
  Be16 srcPort;
  Be16 dstPort;
  Be16 length;
  Be16 checksum;  // 0 = no checksum (IPv4 only)
};

// ---- ICMP (RFC 792) ---------------------------------------------------------

inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpSourceQuench = 4;
inline constexpr uint8_t kIcmpRedirect = 5;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpParameterProblem = 12;

inline constexpr uint8_t kIcmpCodePortUnreachable = 3;
inline constexpr uint8_t kIcmpCodeFragNeeded = 4;  // with next-hop MTU (RFC 1191)
inline constexpr uint8_t kIcmpCodeTtlExceeded = 0;
inline constexpr uint8_t kIcmpCodeReassemblyExceeded = 1;
inline constexpr uint32_t kIcmpHeaderLen = 8;

struct IcmpHeader {
  uint8_t type;
  uint8_t code;
  Be16 checksum;
  Be32 rest;  // echo: id(16) seq(16); frag needed: unused(16) next-hop MTU(16)

  constexpr uint16_t typeCodeWord() const {
    return static_cast<uint16_t>((static_cast<uint16_t>(type) << 8) | code);
  }
};

// ICMP errors that carry a quoted datagram and that IPVS relates to a
// connection (ip_vs_in_icmp / ip_vs_out_icmp): destination unreachable
// (including fragmentation needed), source quench and time exceeded.
constexpr bool isRelatedIcmpError(uint8_t type) {
  return type == kIcmpDestUnreachable || type == kIcmpSourceQuench || type == kIcmpTimeExceeded;
}

// Every ICMP error message type (RFC 1122 3.2.2: never answer one with
// another ICMP error).
constexpr bool isIcmpErrorType(uint8_t type) {
  return type == kIcmpDestUnreachable || type == kIcmpSourceQuench || type == kIcmpRedirect ||
         type == kIcmpTimeExceeded || type == kIcmpParameterProblem;
}

static_assert(sizeof(MacAddr) == 6 && alignof(MacAddr) == 1);
static_assert(sizeof(EthernetHeader) == kEthernetHeaderLen && alignof(EthernetHeader) == 1);
static_assert(sizeof(VlanTag) == kVlanTagLen);
static_assert(sizeof(ArpPacket) == kArpPacketLen && alignof(ArpPacket) == 1);
static_assert(sizeof(Ipv4Header) == kIpv4MinHeaderLen && alignof(Ipv4Header) == 1);
static_assert(sizeof(TcpHeader) == kTcpMinHeaderLen && alignof(TcpHeader) == 1);
static_assert(sizeof(UdpHeader) == kUdpHeaderLen && alignof(UdpHeader) == 1);
static_assert(sizeof(IcmpHeader) == kIcmpHeaderLen && alignof(IcmpHeader) == 1);

// ---- IPv4 address helpers (host order) ------------------------------------

constexpr uint32_t ipv4Addr(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (static_cast<uint32_t>(a) << 24) | (static_cast<uint32_t>(b) << 16) |
         (static_cast<uint32_t>(c) << 8) | d;
}
constexpr bool isMulticastAddr(uint32_t a) {
  return (a >> 28) == 0xE;
}  // 224/4
constexpr bool isReservedClassE(uint32_t a) {
  return (a >> 28) == 0xF;
}  // 240/4
constexpr bool isLoopbackAddr(uint32_t a) {
  return (a >> 24) == 127;
}
constexpr bool isLimitedBroadcast(uint32_t a) {
  return a == 0xFFFFFFFFu;
}

}  // namespace dplb::pkt
