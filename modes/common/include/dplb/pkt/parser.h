#pragma once
// The packet parser: Ethernet (+ one 802.1Q tag), ARP, IPv4 (+ options),
// TCP, UDP, ICMP, over a mutable byte span (an mbuf's data).
//
// Contract: `parsePacket` never reads outside [frame, frame + len), never
// allocates, throws or logs, and resets `out` before filling it. On success
// `out` describes the frame: offsets are from `frame`, numbers are host order.
// On failure it returns the drop reason and `out` keeps what was parsed before
// the failing check (e.g. for unsupported_ethertype / unsupported_ip_protocol
// the ethertype, or the whole IPv4 header, so the dataplane may hand the frame
// to the exception path instead of dropping it).
//
// Lengths: bytes after the IPv4 total length are Ethernet padding (or
// trailer) and are ignored; `ipEnd()` is where the datagram stops. A
// non-first fragment (offset != 0) has no L4 header: it is accepted with
// hasL4 == false and the whole IP payload as payload; what to do with it is
// the dataplane's decision. A first fragment (MF set, offset 0) has its L4
// header parsed from the bytes present; its UDP length is not compared with
// the fragment's size.

#include <cstdint>

#include "dplb/pkt/drop_reason.h"
#include "dplb/pkt/headers.h"

namespace dplb::pkt {

enum class PacketKind : uint8_t { kNone, kArp, kIpv4 };

struct PacketView {
  uint8_t* frame = nullptr;  // what was parsed (start of the Ethernet header)
  uint32_t frameLen = 0;     // bytes available at `frame`, padding included

  // ---- L2
  uint16_t etherType = 0;  // after the VLAN tag if any
  uint16_t vlanTci = 0;    // valid when hasVlan
  bool hasVlan = false;
  PacketKind kind = PacketKind::kNone;
  uint16_t l3Offset = 0;  // 14, or 18 with a VLAN tag

  // ---- IPv4 (kind == kIpv4)
  uint8_t ipHeaderLen = 0;  // bytes (IHL * 4), options included
  uint8_t tos = 0;
  uint8_t ttl = 0;
  uint8_t proto = 0;
  uint16_t ipTotalLen = 0;
  uint16_t ipId = 0;
  uint16_t fragOffset = 0;  // bytes
  bool dontFragment = false;
  bool moreFragments = false;
  bool hasL4 = false;  // TCP/UDP/ICMP header parsed (false for non-first fragments)
  uint32_t srcAddr = 0;
  uint32_t dstAddr = 0;

  // ---- L4 (hasL4)
  uint16_t l4Offset = 0;       // first byte after the IPv4 header (set for every IPv4 packet)
  uint16_t payloadOffset = 0;  // after the TCP (incl. options) / UDP / ICMP header
  uint16_t payloadLen = 0;     // L4 payload bytes of this datagram (padding excluded)
  uint16_t srcPort = 0;        // TCP/UDP
  uint16_t dstPort = 0;        // TCP/UDP
  uint8_t tcpFlags = 0;        // FIN SYN RST PSH ACK URG ECE CWR bits
  uint8_t icmpType = 0;
  uint8_t icmpCode = 0;
  uint32_t icmpRest = 0;  // ICMP bytes 4..7 (echo id/seq, next-hop MTU, ...)

  // ---- ARP (kind == kArp)
  uint16_t arpOp = 0;
  uint32_t arpSpa = 0;
  uint32_t arpTpa = 0;
  MacAddr arpSha;
  MacAddr arpTha;

  EthernetHeader* eth() const { return reinterpret_cast<EthernetHeader*>(frame); }
  uint8_t* l3() const { return frame + l3Offset; }
  uint8_t* l4() const { return frame + l4Offset; }
  uint8_t* payload() const { return frame + payloadOffset; }
  Ipv4Header* ipv4() const { return reinterpret_cast<Ipv4Header*>(frame + l3Offset); }
  ArpPacket* arp() const { return reinterpret_cast<ArpPacket*>(frame + l3Offset); }
  TcpHeader* tcp() const { return reinterpret_cast<TcpHeader*>(frame + l4Offset); }
  UdpHeader* udp() const { return reinterpret_cast<UdpHeader*>(frame + l4Offset); }
  IcmpHeader* icmp() const { return reinterpret_cast<IcmpHeader*>(frame + l4Offset); }

  // Offset one past the datagram; trim the frame here before transmit.
  uint32_t ipEnd() const { return static_cast<uint32_t>(l3Offset) + ipTotalLen; }
  // Bytes after the IPv4 header up to the total length (this fragment's share).
  uint32_t l4Len() const { return static_cast<uint32_t>(ipTotalLen) - ipHeaderLen; }
  bool isFragment() const { return moreFragments || fragOffset != 0; }
  bool isTcp() const { return proto == kIpProtoTcp; }
  bool isUdp() const { return proto == kIpProtoUdp; }
  bool isIcmp() const { return proto == kIpProtoIcmp; }
};

struct ParseResult {
  bool ok = true;
  DropReason reason = DropReason::kTruncatedEthernet;  // meaningful only when !ok

  static constexpr ParseResult accept() { return {}; }
  static constexpr ParseResult drop(DropReason r) { return {false, r}; }
  explicit constexpr operator bool() const { return ok; }
};

struct ParseOptions {
  // Off when the NIC already verified it (RTE_MBUF_F_RX_IP_CKSUM_GOOD).
  bool verifyIpChecksum = true;
};

ParseResult parsePacket(uint8_t* frame, uint32_t len, PacketView& out);
ParseResult parsePacket(uint8_t* frame, uint32_t len, PacketView& out, const ParseOptions& opts);

// The datagram quoted by an ICMP error (RFC 792: its IPv4 header + at least
// 8 bytes), for connection lookup and NAT translation. Offsets from the
// frame; addresses and ports host order, as quoted (the quoted packet travelled
// the other way, so a client's error about a reply quotes VIP:vport -> client).
struct IcmpErrorView {
  uint16_t innerL3Offset = 0;  // quoted IPv4 header
  uint16_t innerL4Offset = 0;  // quoted L4 header
  uint16_t quotedLen = 0;      // bytes from innerL3Offset to the outer ipEnd()
  uint8_t innerHeaderLen = 0;
  uint8_t proto = 0;
  bool hasPorts = false;  // TCP/UDP, not a non-first fragment, 8 L4 bytes quoted
  uint32_t srcAddr = 0;
  uint32_t dstAddr = 0;
  uint16_t srcPort = 0;
  uint16_t dstPort = 0;

  uint32_t quotedL4Len() const { return static_cast<uint32_t>(quotedLen) - innerHeaderLen; }
};

// For an accepted, unfragmented ICMP packet of a related error type
// (isRelatedIcmpError). Fails with icmp_unsupported for other types or a
// fragmented message, icmp_bad_embedded for a quote that is not an IPv4
// header (+ 8 L4 bytes for TCP/UDP, which IPVS needs for the ports).
ParseResult parseIcmpError(const PacketView& v, IcmpErrorView& out);

}  // namespace dplb::pkt
