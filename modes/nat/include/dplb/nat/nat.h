#pragma once
// NAT (LVS masquerade) rewrites over a parsed IPv4 packet, as IPVS does them.
//
// The mode is the small NatBinding (one connection's VIP:vport and real
// server RS:rport) plus the functions below that apply it to a PacketView:
//   inbound   client -> VIP:vport    becomes  client -> RS:rport
//   outbound  RS:rport -> client     becomes  VIP:vport -> client
// Every forwarded packet is a router hop: TTL <= 1 answers
// Verdict::timeExceeded() with the frame untouched (so the ICMP error quotes
// it as received); otherwise the TTL is decremented. IPv4 and TCP/UDP
// checksums are updated incrementally (RFC 1624), so a corrupt L4 checksum
// stays corrupt and the end host still drops it; UDP checksum 0 ("none")
// stays 0 and a computed 0 goes out as 0xFFFF. Ethernet addresses are not
// touched: the dataplane sets them after the route and neighbour lookup.
// A non-first fragment has no ports: only its address changes (the L4
// checksum, which covers the pseudo header, travels in the first fragment
// and is updated there). ICMP echo and other non-TCP/UDP payloads get the
// address change only (their checksums do not cover the IP header).
//
// ICMP errors (destination unreachable incl. fragmentation needed, source
// quench, time exceeded) that quote a NAT connection's datagram are
// translated as the kernel's ip_vs_nat_icmp() does, so path-MTU discovery
// works through dplb:
//   from the real-server side (the quote is client -> RS:rport, on its way
//   out to the client): outer source := VIP, quoted destination := VIP:vport;
//   from the client side (the quote is VIP:vport -> client, on its way in to
//   the real server): outer destination := RS, quoted source := RS:rport.
// The quoted IPv4 checksum, the quoted port, the quoted TCP/UDP checksum when
// it lies inside the quote (IPVS leaves it stale; updating it gives the
// receiver back the exact header it sent), the ICMP checksum and the outer
// header (address, TTL, checksum) are all updated. Like IPVS, the ICMP
// checksum is verified first (bad -> drop, bad_icmp_checksum).

#include <cstdint>

#include "dplb/pkt/parser.h"
#include "dplb/pkt/verdict.h"

namespace dplb::nat {

// One NAT connection's translation, host order.
struct NatBinding {
  uint32_t vip = 0;
  uint16_t vport = 0;
  uint32_t rsAddr = 0;
  uint16_t rsPort = 0;  // may differ from vport (port mapping)
};

// Client -> VIP:vport becomes client -> RS:rport. Precondition: v was
// accepted by parsePacket with kind == kIpv4 (other packets: drop,
// unsupported_ethertype). On kForward `v` describes the rewritten frame.
pkt::Verdict rewriteInbound(pkt::PacketView& v, const NatBinding& b);

// RS:rport -> client becomes VIP:vport -> client. Same contract.
pkt::Verdict rewriteOutbound(pkt::PacketView& v, const NatBinding& b);

// An ICMP error from the real-server side about a client -> RS datagram,
// forwarded to the client. `e` comes from parseIcmpError(v, e); both `v` and
// `e` describe the translated packet on kForward. Drops: ttl_expired (an
// ICMP error is never answered with another), bad_icmp_checksum,
// icmp_bad_embedded (TCP/UDP quote without ports).
pkt::Verdict translateIcmpErrorOutbound(pkt::PacketView& v, pkt::IcmpErrorView& e,
                                        const NatBinding& b);

// An ICMP error from the client side about a VIP -> client datagram,
// forwarded to the real server. Same contract.
pkt::Verdict translateIcmpErrorInbound(pkt::PacketView& v, pkt::IcmpErrorView& e,
                                       const NatBinding& b);

}  // namespace dplb::nat
