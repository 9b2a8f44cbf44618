#include "dplb/pkt/parser.h"

#include "dplb/pkt/checksum.h"

namespace dplb::pkt {
namespace {

constexpr ParseResult fail(DropReason r) {
  return ParseResult::drop(r);
}

ParseResult parseArp(const uint8_t* frame, uint32_t len, uint32_t off, PacketView& out) {
  if (len - off < kArpPacketLen) [[unlikely]] {
    return fail(DropReason::kTruncatedArp);
  }
  const auto* arp = reinterpret_cast<const ArpPacket*>(frame + off);
  if (arp->hwType.get() != kArpHwEthernet || arp->protoType.get() != kEtherTypeIpv4 ||
      arp->hwLen != 6 || arp->protoLen != 4) [[unlikely]] {
    return fail(DropReason::kUnsupportedArp);
  }
  out.kind = PacketKind::kArp;
  out.arpOp = arp->op.get();
  out.arpSha = arp->sha;
  out.arpSpa = arp->spa.get();
  out.arpTha = arp->tha;
  out.arpTpa = arp->tpa.get();
  return ParseResult::accept();
}

ParseResult parseTcp(const uint8_t* l4, uint32_t l4Len, PacketView& out) {
  if (l4Len < kTcpMinHeaderLen) [[unlikely]] {
    return fail(DropReason::kTruncatedTcp);
  }
  const auto* tcp = reinterpret_cast<const TcpHeader*>(l4);
  const uint32_t hl = tcp->headerLen();
  if (hl < kTcpMinHeaderLen || hl > l4Len) [[unlikely]] {
    return fail(DropReason::kBadTcpDataOffset);
  }
  out.srcPort = tcp->srcPort.get();
  out.dstPort = tcp->dstPort.get();
  out.tcpFlags = tcp->flags;
  out.payloadOffset = static_cast<uint16_t>(out.l4Offset + hl);
  out.payloadLen = static_cast<uint16_t>(l4Len - hl);
  out.hasL4 = true;
  return ParseResult::accept();
}

ParseResult parseUdp(const uint8_t* l4, uint32_t l4Len, PacketView& out) {
  if (l4Len < kUdpHeaderLen) [[unlikely]] {
    return fail(DropReason::kTruncatedUdp);
  }
  const auto* udp = reinterpret_cast<const UdpHeader*>(l4);
  const uint32_t udpLen = udp->length.get();
  // A first fragment carries only part of the datagram the UDP length
  // describes; an unfragmented one must hold all of it. A UDP length shorter
  // than the IP payload is accepted (the kernel trims the surplus).
  const bool whole = !out.moreFragments;
  if (udpLen < kUdpHeaderLen || (whole && udpLen > l4Len)) [[unlikely]] {
    return fail(DropReason::kBadUdpLength);
  }
  out.srcPort = udp->srcPort.get();
  out.dstPort = udp->dstPort.get();
  out.payloadOffset = static_cast<uint16_t>(out.l4Offset + kUdpHeaderLen);
  out.payloadLen = static_cast<uint16_t>((whole ? udpLen : l4Len) - kUdpHeaderLen);
  out.hasL4 = true;
  return ParseResult::accept();
}

ParseResult parseIcmp(const uint8_t* l4, uint32_t l4Len, PacketView& out) {
  if (l4Len < kIcmpHeaderLen) [[unlikely]] {
    return fail(DropReason::kTruncatedIcmp);
  }
  const auto* icmp = reinterpret_cast<const IcmpHeader*>(l4);
  out.icmpType = icmp->type;
  out.icmpCode = icmp->code;
  out.icmpRest = icmp->rest.get();
  out.payloadOffset = static_cast<uint16_t>(out.l4Offset + kIcmpHeaderLen);
  out.payloadLen = static_cast<uint16_t>(l4Len - kIcmpHeaderLen);
  out.hasL4 = true;
  return ParseResult::accept();
}

ParseResult parseIpv4(const uint8_t* frame, uint32_t len, uint32_t off, PacketView& out,
                      const ParseOptions& opts) {
  const uint32_t avail = len - off;
  if (avail < kIpv4MinHeaderLen) [[unlikely]] {
    return fail(DropReason::kTruncatedIpv4);
  }
  const uint8_t* l3 = frame + off;
  const auto* ip = reinterpret_cast<const Ipv4Header*>(l3);
  if (ip->version() != 4) [[unlikely]] {
    return fail(DropReason::kBadIpVersion);
  }
  const uint32_t hl = ip->headerLen();
  if (hl < kIpv4MinHeaderLen) [[unlikely]] {
    return fail(DropReason::kBadIhl);
  }
  if (avail < hl) [[unlikely]] {
    return fail(DropReason::kTruncatedIpv4);
  }
  const uint32_t total = ip->totalLength.get();
  if (total < hl) [[unlikely]] {
    return fail(DropReason::kBadIpTotalLength);
  }
  if (total > avail) [[unlikely]] {
    return fail(DropReason::kTruncatedIpv4);
  }
  if (opts.verifyIpChecksum && !checksumValid(l3, hl)) [[unlikely]] {
    return fail(DropReason::kBadIpChecksum);
  }

  const uint16_t frag = ip->fragment.get();
  out.kind = PacketKind::kIpv4;
  out.ipHeaderLen = static_cast<uint8_t>(hl);
  out.tos = ip->tos;
  out.ttl = ip->ttl;
  out.proto = ip->protocol;
  out.ipTotalLen = static_cast<uint16_t>(total);
  out.ipId = ip->id.get();
  out.fragOffset = static_cast<uint16_t>((frag & kIpv4FragOffsetMask) * 8u);
  out.dontFragment = (frag & kIpv4FlagDf) != 0;
  out.moreFragments = (frag & kIpv4FlagMf) != 0;
  out.srcAddr = ip->src.get();
  out.dstAddr = ip->dst.get();
  out.l4Offset = static_cast<uint16_t>(off + hl);
  // Until an L4 header is parsed, the whole IP payload is payload.
  out.payloadOffset = out.l4Offset;
  out.payloadLen = static_cast<uint16_t>(total - hl);

  const uint8_t proto = ip->protocol;
  if (proto != kIpProtoTcp && proto != kIpProtoUdp && proto != kIpProtoIcmp) [[unlikely]] {
    return fail(DropReason::kUnsupportedIpProtocol);
  }
  if (out.fragOffset != 0) {
    return ParseResult::accept();  // non-first fragment: no L4 header here
  }
  const uint8_t* l4 = l3 + hl;
  const uint32_t l4Len = total - hl;
  if (proto == kIpProtoTcp) [[likely]] {
    return parseTcp(l4, l4Len, out);
  }
  if (proto == kIpProtoUdp) {
    return parseUdp(l4, l4Len, out);
  }
  return parseIcmp(l4, l4Len, out);
}

}  // namespace

ParseResult parsePacket(uint8_t* frame, uint32_t len, PacketView& out) {
  return parsePacket(frame, len, out, ParseOptions{});
}

ParseResult parsePacket(uint8_t* frame, uint32_t len, PacketView& out, const ParseOptions& opts) {
  out = PacketView{};
  out.frame = frame;
  out.frameLen = len;
  if (len < kEthernetHeaderLen) [[unlikely]] {
    return fail(DropReason::kTruncatedEthernet);
  }
  uint16_t etherType = loadBe16(frame + 12);
  uint32_t off = kEthernetHeaderLen;
  if (etherType == kEtherTypeVlan) {
    if (len < off + kVlanTagLen) [[unlikely]] {
      return fail(DropReason::kTruncatedVlan);
    }
    out.hasVlan = true;
    out.vlanTci = loadBe16(frame + off);
    etherType = loadBe16(frame + off + 2);
    off += kVlanTagLen;
  }
  out.etherType = etherType;
  out.l3Offset = static_cast<uint16_t>(off);
  if (etherType == kEtherTypeIpv4) [[likely]] {
    return parseIpv4(frame, len, off, out, opts);
  }
  if (etherType == kEtherTypeArp) {
    return parseArp(frame, len, off, out);
  }
  return fail(DropReason::kUnsupportedEthertype);
}

ParseResult parseIcmpError(const PacketView& v, IcmpErrorView& out) {
  out = IcmpErrorView{};
  if (v.kind != PacketKind::kIpv4 || v.proto != kIpProtoIcmp || !v.hasL4 ||
      !isRelatedIcmpError(v.icmpType) || v.isFragment()) [[unlikely]] {
    return fail(DropReason::kIcmpUnsupported);
  }
  const uint32_t innerOff = static_cast<uint32_t>(v.l4Offset) + kIcmpHeaderLen;
  const uint32_t quoted = v.ipEnd() - innerOff;  // parser guarantees ipEnd >= innerOff
  if (quoted < kIpv4MinHeaderLen) [[unlikely]] {
    return fail(DropReason::kIcmpBadEmbedded);
  }
  const auto* inner = reinterpret_cast<const Ipv4Header*>(v.frame + innerOff);
  const uint32_t hl = inner->headerLen();
  if (inner->version() != 4 || hl < kIpv4MinHeaderLen || hl > quoted) [[unlikely]] {
    return fail(DropReason::kIcmpBadEmbedded);
  }
  out.innerL3Offset = static_cast<uint16_t>(innerOff);
  out.innerL4Offset = static_cast<uint16_t>(innerOff + hl);
  out.quotedLen = static_cast<uint16_t>(quoted);
  out.innerHeaderLen = static_cast<uint8_t>(hl);
  out.proto = inner->protocol;
  out.srcAddr = inner->src.get();
  out.dstAddr = inner->dst.get();
  if (inner->protocol != kIpProtoTcp && inner->protocol != kIpProtoUdp) {
    return ParseResult::accept();
  }
  if (inner->fragmentOffset() != 0) {
    return ParseResult::accept();  // quoted non-first fragment: no ports to relate
  }
  // RFC 792 quotes 8 L4 bytes: both ports, and the whole UDP header.
  if (quoted - hl < 8) [[unlikely]] {
    return fail(DropReason::kIcmpBadEmbedded);
  }
  const uint8_t* l4 = v.frame + out.innerL4Offset;
  out.srcPort = loadBe16(l4);
  out.dstPort = loadBe16(l4 + 2);
  out.hasPorts = true;
  return ParseResult::accept();
}

}  // namespace dplb::pkt
