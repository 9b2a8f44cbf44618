#include "dplb/pkt/icmp.h"

#include <cstring>
#include <utility>

#include "dplb/pkt/checksum.h"

namespace dplb::pkt {
namespace {

// RFC 1122 3.2.2: a source that does not define a single host.
constexpr bool isMartianSource(uint32_t a) {
  return a == 0 || isLoopbackAddr(a) || isMulticastAddr(a) || isReservedClassE(a);
}

constexpr bool isGroupDestination(uint32_t a) {
  return isMulticastAddr(a) || isLimitedBroadcast(a);
}

}  // namespace

bool icmpErrorAllowed(const PacketView& orig) {
  if (orig.kind != PacketKind::kIpv4 || orig.fragOffset != 0) {
    return false;
  }
  if (orig.proto == kIpProtoIcmp && (!orig.hasL4 || isIcmpErrorType(orig.icmpType))) {
    return false;
  }
  if (isGroupDestination(orig.dstAddr) || isMartianSource(orig.srcAddr) ||
      orig.eth()->dst.isMulticast()) {
    return false;
  }
  return true;
}

uint32_t buildIcmpError(const PacketView& orig, const IcmpErrorSpec& spec, uint8_t* out,
                        uint32_t cap) {
  if (!icmpErrorAllowed(orig)) {
    return 0;
  }
  const uint32_t quoteLen = orig.ipHeaderLen + (orig.l4Len() < 8 ? orig.l4Len() : 8u);
  const uint32_t ipLen = kIpv4MinHeaderLen + kIcmpHeaderLen + quoteLen;
  const uint32_t frameLen = kEthernetHeaderLen + ipLen;
  if (cap < frameLen) {
    return 0;
  }
  auto* eth = reinterpret_cast<EthernetHeader*>(out);
  eth->dst = spec.dstMac;
  eth->src = spec.srcMac;
  eth->etherType.set(kEtherTypeIpv4);

  auto* ip = reinterpret_cast<Ipv4Header*>(out + kEthernetHeaderLen);
  ip->versionIhl = 0x45;
  ip->tos = 0xC0;
  ip->totalLength.set(static_cast<uint16_t>(ipLen));
  ip->id.set(spec.ipId);
  ip->fragment.set(0);
  ip->ttl = spec.ttl;
  ip->protocol = kIpProtoIcmp;
  ip->src.set(spec.srcAddr);
  ip->dst.set(orig.srcAddr);
  ip->checksum.set(ipv4HeaderChecksum(out + kEthernetHeaderLen, kIpv4MinHeaderLen));

  uint8_t* icmpStart = out + kEthernetHeaderLen + kIpv4MinHeaderLen;
  auto* icmp = reinterpret_cast<IcmpHeader*>(icmpStart);
  icmp->type = spec.type;
  icmp->code = spec.code;
  icmp->checksum.set(0);
  const bool fragNeeded = spec.type == kIcmpDestUnreachable && spec.code == kIcmpCodeFragNeeded;
  icmp->rest.set(fragNeeded ? spec.nextHopMtu : 0u);
  std::memcpy(icmpStart + kIcmpHeaderLen, orig.l3(), quoteLen);
  icmp->checksum.set(internetChecksum(icmpStart, kIcmpHeaderLen + quoteLen));
  return frameLen;
}

Verdict echoReplyInPlace(PacketView& v, uint8_t ttl) {
  if (v.kind != PacketKind::kIpv4 || !v.isIcmp() || !v.hasL4 || v.isFragment() ||
      v.icmpType != kIcmpEchoRequest || isGroupDestination(v.dstAddr)) {
    return Verdict::drop(DropReason::kIcmpUnsupported);
  }
  if (isMartianSource(v.srcAddr)) {
    return Verdict::drop(DropReason::kMartianSource);
  }
  EthernetHeader* eth = v.eth();
  std::swap(eth->dst, eth->src);

  // Swapping the addresses leaves the header sum unchanged; only the TTL
  // word changes.
  Ipv4Header* ip = v.ipv4();
  ip->src.set(v.dstAddr);
  ip->dst.set(v.srcAddr);
  std::swap(v.srcAddr, v.dstAddr);
  const uint16_t oldTtlWord = ip->ttlProtoWord();
  ip->ttl = ttl;
  ip->checksum.set(checksumReplace16(ip->checksum.get(), oldTtlWord, ip->ttlProtoWord()));
  v.ttl = ttl;

  IcmpHeader* icmp = v.icmp();
  const uint16_t oldTypeWord = icmp->typeCodeWord();
  icmp->type = kIcmpEchoReply;
  icmp->checksum.set(checksumReplace16(icmp->checksum.get(), oldTypeWord, icmp->typeCodeWord()));
  v.icmpType = kIcmpEchoReply;
  return Verdict::forward();
}

}  // namespace dplb::pkt
