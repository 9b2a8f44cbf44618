#include "dplb/nat/nat.h"

#include "dplb/pkt/checksum.h"
#include "dplb/pkt/headers.h"

namespace dplb::nat {
namespace {

using pkt::ChecksumDelta;
using pkt::DropReason;
using pkt::PacketView;
using pkt::Verdict;

// Which side of the datagram a rewrite changes: the destination on the way
// in (client -> VIP becomes client -> RS), the source on the way out.
enum class Side { kDst, kSrc };

// Source address at IPv4 offset 12, destination at 16; source port at L4
// offset 0, destination port at 2.
constexpr uint32_t addrOffset(Side s) {
  return s == Side::kSrc ? 12 : 16;
}
constexpr uint32_t portOffset(Side s) {
  return s == Side::kSrc ? 0 : 2;
}

// Router hop + address change under one IPv4 header checksum update.
template <Side S>
void rewriteOuterHeader(PacketView& v, uint32_t newAddr) {
  pkt::Ipv4Header* ip = v.ipv4();
  uint8_t* addr = v.l3() + addrOffset(S);
  const uint32_t oldAddr = pkt::loadBe32(addr);
  const uint16_t oldTtlWord = ip->ttlProtoWord();
  ip->ttl = static_cast<uint8_t>(ip->ttl - 1);
  pkt::storeBe32(addr, newAddr);
  ChecksumDelta delta;
  delta.replace16(oldTtlWord, ip->ttlProtoWord());
  delta.replace32(oldAddr, newAddr);
  ip->checksum.set(delta.apply(ip->checksum.get()));
  v.ttl = ip->ttl;
  (S == Side::kSrc ? v.srcAddr : v.dstAddr) = newAddr;
}

template <Side S>
Verdict rewrite(PacketView& v, uint32_t newAddr, uint16_t newPort) {
  if (v.kind != pkt::PacketKind::kIpv4) [[unlikely]] {
    return Verdict::drop(DropReason::kUnsupportedEthertype);
  }
  if (v.ttl <= 1) [[unlikely]] {
    return Verdict::timeExceeded();
  }
  const uint32_t oldAddr = S == Side::kSrc ? v.srcAddr : v.dstAddr;
  rewriteOuterHeader<S>(v, newAddr);
  if (!v.hasL4 || (!v.isTcp() && !v.isUdp())) {
    return Verdict::forward();
  }
  uint8_t* l4 = v.l4();
  const uint16_t oldPort = pkt::loadBe16(l4 + portOffset(S));
  pkt::storeBe16(l4 + portOffset(S), newPort);
  (S == Side::kSrc ? v.srcPort : v.dstPort) = newPort;

  ChecksumDelta delta;  // the pseudo header's address and the port
  delta.replace32(oldAddr, newAddr);
  delta.replace16(oldPort, newPort);
  if (v.isTcp()) {
    pkt::TcpHeader* tcp = v.tcp();
    tcp->checksum.set(delta.apply(tcp->checksum.get()));
  } else {
    pkt::UdpHeader* udp = v.udp();
    const uint16_t csum = udp->checksum.get();
    if (csum != 0) {  // 0 = the sender sent no checksum; keep it that way
      udp->checksum.set(pkt::udpChecksumFixup(delta.apply(csum)));
    }
  }
  return Verdict::forward();
}

// `QuotedSide` is the side of the quoted datagram that changes; the outer
// header changes on the opposite side (the error travels the other way).
template <Side QuotedSide>
Verdict translateIcmp(PacketView& v, pkt::IcmpErrorView& e, uint32_t newAddr, uint16_t newPort) {
  constexpr Side kOuterSide = QuotedSide == Side::kSrc ? Side::kDst : Side::kSrc;
  if (v.kind != pkt::PacketKind::kIpv4 || !v.isIcmp() || !v.hasL4 || v.isFragment()) [[unlikely]] {
    return Verdict::drop(DropReason::kIcmpUnsupported);
  }
  // `e` must describe this frame's quote.
  if (e.innerL3Offset != v.l4Offset + pkt::kIcmpHeaderLen ||
      static_cast<uint32_t>(e.innerL3Offset) + e.quotedLen != v.ipEnd() ||
      e.innerHeaderLen < pkt::kIpv4MinHeaderLen || e.innerHeaderLen > e.quotedLen) [[unlikely]] {
    return Verdict::drop(DropReason::kIcmpBadEmbedded);
  }
  // RFC 1122 3.2.2 / RFC 1812 4.3.2.7: no ICMP error about an ICMP error.
  if (v.ttl <= 1) [[unlikely]] {
    return Verdict::drop(DropReason::kTtlExpired);
  }
  const bool tcp = e.proto == pkt::kIpProtoTcp;
  const bool udp = e.proto == pkt::kIpProtoUdp;
  if ((tcp || udp) && !e.hasPorts) [[unlikely]] {
    return Verdict::drop(DropReason::kIcmpBadEmbedded);
  }
  // Checked before any change, as ip_vs_in_icmp/handle_response_icmp do; the
  // updates below are then exact.
  if (!pkt::checksumValid(v.l4(), v.l4Len())) [[unlikely]] {
    return Verdict::drop(DropReason::kBadIcmpChecksum);
  }

  // Every word changed inside the ICMP message sits at an even offset from
  // its start (the quote begins at ICMP + 8, its L4 header at a multiple of
  // 4 after that), so the ICMP checksum takes the same 16-bit deltas.
  ChecksumDelta icmpDelta;
  uint8_t* inner = v.frame + e.innerL3Offset;
  uint8_t* quotedAddr = inner + addrOffset(QuotedSide);
  const uint32_t oldQuotedAddr = pkt::loadBe32(quotedAddr);
  pkt::storeBe32(quotedAddr, newAddr);
  icmpDelta.replace32(oldQuotedAddr, newAddr);

  ChecksumDelta innerIpDelta;
  innerIpDelta.replace32(oldQuotedAddr, newAddr);
  const uint16_t oldInnerCsum = pkt::loadBe16(inner + 10);
  const uint16_t newInnerCsum = innerIpDelta.apply(oldInnerCsum);
  pkt::storeBe16(inner + 10, newInnerCsum);
  icmpDelta.replace16(oldInnerCsum, newInnerCsum);
  (QuotedSide == Side::kSrc ? e.srcAddr : e.dstAddr) = newAddr;

  if (tcp || udp) {
    uint8_t* ql4 = v.frame + e.innerL4Offset;
    const uint16_t oldPort = pkt::loadBe16(ql4 + portOffset(QuotedSide));
    pkt::storeBe16(ql4 + portOffset(QuotedSide), newPort);
    icmpDelta.replace16(oldPort, newPort);
    (QuotedSide == Side::kSrc ? e.srcPort : e.dstPort) = newPort;

    const uint32_t csumOffset = tcp ? pkt::kTcpChecksumOffset : pkt::kUdpChecksumOffset;
    if (e.quotedL4Len() >= csumOffset + 2) {
      const uint16_t oldL4Csum = pkt::loadBe16(ql4 + csumOffset);
      if (tcp || oldL4Csum != 0) {
        ChecksumDelta l4Delta;
        l4Delta.replace32(oldQuotedAddr, newAddr);
        l4Delta.replace16(oldPort, newPort);
        uint16_t newL4Csum = l4Delta.apply(oldL4Csum);
        if (udp) {
          newL4Csum = pkt::udpChecksumFixup(newL4Csum);
        }
        pkt::storeBe16(ql4 + csumOffset, newL4Csum);
        icmpDelta.replace16(oldL4Csum, newL4Csum);
      }
    }
  }
  pkt::IcmpHeader* icmp = v.icmp();
  icmp->checksum.set(icmpDelta.apply(icmp->checksum.get()));
  rewriteOuterHeader<kOuterSide>(v, newAddr);
  return Verdict::forward();
}

}  // namespace

Verdict rewriteInbound(PacketView& v, const NatBinding& b) {
  return rewrite<Side::kDst>(v, b.rsAddr, b.rsPort);
}

Verdict rewriteOutbound(PacketView& v, const NatBinding& b) {
  return rewrite<Side::kSrc>(v, b.vip, b.vport);
}

Verdict translateIcmpErrorOutbound(PacketView& v, pkt::IcmpErrorView& e, const NatBinding& b) {
  // Quote: client -> RS:rport. Client sees VIP:vport quoted, error from VIP.
  return translateIcmp<Side::kDst>(v, e, b.vip, b.vport);
}

Verdict translateIcmpErrorInbound(PacketView& v, pkt::IcmpErrorView& e, const NatBinding& b) {
  // Quote: VIP:vport -> client. RS sees RS:rport quoted, error to RS.
  return translateIcmp<Side::kSrc>(v, e, b.rsAddr, b.rsPort);
}

}  // namespace dplb::nat
