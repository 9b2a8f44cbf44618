#pragma once
// TUN (LVS IP tunnelling): IPv4-in-IPv4 (RFC 2003, protocol 4) encapsulation
// of a parsed packet into the buffer headroom in front of it, as IPVS's
// ip_vs_tunnel_xmit does.
//
// The mode is the small TunTarget plus `encapsulate`. The inner datagram is a
// router hop: TTL - 1 with its header checksum updated; nothing else of it
// changes. The outer header takes: the given source (a local address of the
// egress port) and destination (the real server), TTL = the inner's new TTL,
// DF = the inner's DF, TOS = the inner's TOS with ECN per RFC 6040 normal
// mode, protocol 4, ID from the caller's counter, no options, a full header
// checksum. A new Ethernet header (given MACs, no VLAN tag: the inner frame's
// tag belonged to the ingress link) goes in front; trailing Ethernet padding
// of the input is dropped.
//
// MTU (the egress IP MTU): inner length + 20 > MTU with DF set answers
// Verdict::fragNeeded(MTU - 20) with the frame untouched (RFC 1191; the
// dataplane sends the error to the client); without DF the packet is
// encapsulated and Verdict::fragment(MTU) tells the caller to split the outer
// datagram with pkt::fragmentIpv4 before transmit. An MTU that leaves less
// than 68 bytes (RFC 791 minimum) inside the tunnel drops the packet
// (mtu_exceeded), as IPVS refuses it.

#include <cstdint>

#include "dplb/pkt/headers.h"
#include "dplb/pkt/parser.h"
#include "dplb/pkt/verdict.h"

namespace dplb::tun {

inline constexpr uint32_t kOuterHeaderLen = pkt::kIpv4MinHeaderLen;
// Bytes from the new frame start to the inner IPv4 header.
inline constexpr uint32_t kEncapPrefixLen = pkt::kEthernetHeaderLen + kOuterHeaderLen;

struct TunTarget {
  uint32_t outerSrc = 0;  // host order
  uint32_t outerDst = 0;  // the real server, host order
  pkt::MacAddr dstMac;    // next hop towards the real server
  pkt::MacAddr srcMac;    // egress port
  uint16_t mtu = 1500;    // egress IP MTU
};

struct EncapResult {
  pkt::Verdict verdict;
  uint8_t* start = nullptr;  // new frame start (kForward / kFragment)
  uint32_t len = 0;          // new frame length
};

// Headroom (bytes before v.frame) that encapsulate needs: the new Ethernet +
// outer IPv4 headers reuse the old L2 header's bytes, so 20 without a VLAN
// tag and 16 with one.
constexpr uint32_t requiredHeadroom(const pkt::PacketView& v) {
  return v.l3Offset >= kEncapPrefixLen ? 0 : kEncapPrefixLen - v.l3Offset;
}

// RFC 6040 4.1 normal mode: the outer ECN field is a copy of the inner one
// (CE included; the RFC 3168 "full functionality" reset of CE to ECT(0),
// still in Linux's INET_ECN_encapsulate, is what RFC 6040 replaced); the
// DSCP is copied as IPVS copies it.
constexpr uint8_t outerTos(uint8_t innerTos) {
  return innerTos;
}

// `headroom` = writable bytes before v.frame (rte_pktmbuf_headroom). On
// kForward / kFragment, [start, start + len) is the new frame and `v`
// describes the outer datagram (proto 4, hasL4 false, the inner datagram at
// v.l4Offset). Otherwise the frame is untouched. Drops: unsupported_ethertype
// (not IPv4), no_headroom, mtu_exceeded (unusable MTU, or an outer datagram
// beyond 65535 bytes).
EncapResult encapsulate(pkt::PacketView& v, uint32_t headroom, const TunTarget& t,
                        uint16_t outerId);

}  // namespace dplb::tun
