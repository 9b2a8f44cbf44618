#pragma once
// DR (direct routing, LVS "gatewaying") over a parsed IPv4 packet.
//
// The mode is the small DrTarget (the real server's MAC, resolved by ARP or a
// static neighbour, and the egress port's MAC) plus `forward`, which applies
// it as IPVS's ip_vs_dr_xmit does: Ethernet destination := real server,
// Ethernet source := port, TTL - 1 with the IPv4 header checksum updated
// incrementally; nothing else changes (addresses, ports, L4 checksums, VLAN
// tag, options, padding). The real server holds the VIP on a non-ARPing
// interface, so the packet is addressed to it unchanged, and its replies go
// straight to the client. TTL <= 1 answers Verdict::timeExceeded() with the
// frame untouched.

#include "dplb/pkt/headers.h"
#include "dplb/pkt/parser.h"
#include "dplb/pkt/verdict.h"

namespace dplb::dr {

struct DrTarget {
  pkt::MacAddr rsMac;
  pkt::MacAddr portMac;
};

// Precondition: v accepted by parsePacket with kind == kIpv4 (other kinds:
// drop, unsupported_ethertype). Fragments are forwarded like any packet.
pkt::Verdict forward(pkt::PacketView& v, const DrTarget& t);

}  // namespace dplb::dr
