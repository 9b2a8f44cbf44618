#pragma once
// ICMP messages the appliance originates: errors about a packet it cannot
// forward (time exceeded, fragmentation needed), and echo replies for VIPs and
// local addresses.
//
// Contract: pure functions over caller buffers; no allocation. The error
// builder writes a complete Ethernet + IPv4 + ICMP frame quoting the
// offending datagram's IPv4 header (options included) and the first 8 bytes
// of its payload (RFC 792; RFC 1191 puts the next-hop MTU in the low 16 bits
// of the second word of a "fragmentation needed"). It refuses (returns 0)
// where RFC 1122 3.2.2 and RFC 1812 4.3.2.7 forbid an error: about an ICMP
// error, a non-first fragment, a broadcast or multicast destination (IPv4 or
// link layer), or a source that is not a unicast host (0/8 "this network"
// only as 0.0.0.0, 127/8, 224/4, 240/4, 255.255.255.255). Rate limiting is
// the caller's (icmp_rate_limited).

#include <cstdint>

#include "dplb/pkt/headers.h"
#include "dplb/pkt/parser.h"
#include "dplb/pkt/verdict.h"

namespace dplb::pkt {

struct IcmpErrorSpec {
  uint8_t type = kIcmpTimeExceeded;
  uint8_t code = kIcmpCodeTtlExceeded;
  uint16_t nextHopMtu = 0;  // written for type 3 code 4 only
  uint32_t srcAddr = 0;     // appliance address the error comes from, host order
  MacAddr dstMac;           // usually the offending frame's source MAC
  MacAddr srcMac;           // the port's MAC
  uint16_t ipId = 0;
  uint8_t ttl = kDefaultTtl;
};

// The largest frame buildIcmpError writes: Ethernet + IPv4 + ICMP + a quoted
// 60-byte header + 8 bytes.
inline constexpr uint32_t kIcmpErrorMaxFrameLen =
    kEthernetHeaderLen + kIpv4MinHeaderLen + kIcmpHeaderLen + kIpv4MaxHeaderLen + 8;

// Whether RFC 1122/1812 allow an ICMP error about `orig` (kind == kIpv4).
bool icmpErrorAllowed(const PacketView& orig);

// Writes the error frame to `out` (must not overlap orig's frame) and
// returns its length, or 0 when not allowed or `cap` is too small. The frame
// goes to orig's source address; IPv4 TOS 0xC0 (internetwork control, as
// Linux sends errors), DF clear, no VLAN tag (the dataplane tags on egress).
uint32_t buildIcmpError(const PacketView& orig, const IcmpErrorSpec& spec, uint8_t* out,
                        uint32_t cap);

// Turns an echo request (type 8) into its reply in place: Ethernet and IPv4
// addresses swapped, type 0, TTL := `ttl` (a new datagram), both checksums
// updated incrementally; id, sequence, data, options and VLAN tag kept.
// Drops: icmp_unsupported (not an unfragmented echo request, or addressed to
// a broadcast/multicast address), martian_source (source not a unicast host).
Verdict echoReplyInPlace(PacketView& v, uint8_t ttl = kDefaultTtl);

}  // namespace dplb::pkt
