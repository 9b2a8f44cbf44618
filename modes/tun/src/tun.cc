#include "dplb/tun/tun.h"

#include "dplb/pkt/checksum.h"
#include "dplb/pkt/rewrite.h"

namespace dplb::tun {

using pkt::DropReason;
using pkt::Verdict;

EncapResult encapsulate(pkt::PacketView& v, uint32_t headroom, const TunTarget& t,
                        uint16_t outerId) {
  if (v.kind != pkt::PacketKind::kIpv4) [[unlikely]] {
    return {Verdict::drop(DropReason::kUnsupportedEthertype)};
  }
  if (v.ttl <= 1) [[unlikely]] {
    return {Verdict::timeExceeded()};
  }
  if (t.mtu < pkt::kIpv4MinMtu + kOuterHeaderLen) [[unlikely]] {
    return {Verdict::drop(DropReason::kMtuExceeded)};
  }
  const uint32_t innerLen = v.ipTotalLen;
  const uint32_t outerLen = innerLen + kOuterHeaderLen;
  bool split = false;
  if (outerLen > t.mtu) {
    if (v.dontFragment) {
      return {Verdict::fragNeeded(static_cast<uint16_t>(t.mtu - kOuterHeaderLen))};
    }
    split = true;
  }
  if (outerLen > 0xFFFF) [[unlikely]] {
    return {Verdict::drop(DropReason::kMtuExceeded)};
  }
  if (headroom + v.l3Offset < kEncapPrefixLen) [[unlikely]] {
    return {Verdict::drop(DropReason::kNoHeadroom)};
  }

  pkt::decrementTtl(v);
  uint8_t* inner = v.l3();
  uint8_t* start = inner - kEncapPrefixLen;

  auto* eth = reinterpret_cast<pkt::EthernetHeader*>(start);
  eth->dst = t.dstMac;
  eth->src = t.srcMac;
  eth->etherType.set(pkt::kEtherTypeIpv4);

  uint8_t* outerBytes = start + pkt::kEthernetHeaderLen;
  auto* outer = reinterpret_cast<pkt::Ipv4Header*>(outerBytes);
  outer->versionIhl = 0x45;
  outer->tos = outerTos(v.tos);
  outer->totalLength.set(static_cast<uint16_t>(outerLen));
  outer->id.set(outerId);
  outer->fragment.set(v.dontFragment ? pkt::kIpv4FlagDf : 0);
  outer->ttl = v.ttl;
  outer->protocol = pkt::kIpProtoIpip;
  outer->src.set(t.outerSrc);
  outer->dst.set(t.outerDst);
  outer->checksum.set(pkt::ipv4HeaderChecksum(outerBytes, kOuterHeaderLen));

  const bool df = v.dontFragment;
  const uint8_t ttl = v.ttl;
  const uint8_t tos = outer->tos;
  v = pkt::PacketView{};
  v.frame = start;
  v.frameLen = kEncapPrefixLen + innerLen;
  v.etherType = pkt::kEtherTypeIpv4;
  v.kind = pkt::PacketKind::kIpv4;
  v.l3Offset = pkt::kEthernetHeaderLen;
  v.ipHeaderLen = kOuterHeaderLen;
  v.tos = tos;
  v.ttl = ttl;
  v.proto = pkt::kIpProtoIpip;
  v.ipTotalLen = static_cast<uint16_t>(outerLen);
  v.ipId = outerId;
  v.dontFragment = df;
  v.srcAddr = t.outerSrc;
  v.dstAddr = t.outerDst;
  v.l4Offset = kEncapPrefixLen;
  v.payloadOffset = kEncapPrefixLen;
  v.payloadLen = static_cast<uint16_t>(innerLen);

  return {split ? Verdict::fragment(t.mtu) : Verdict::forward(), start, v.frameLen};
}

}  // namespace dplb::tun
