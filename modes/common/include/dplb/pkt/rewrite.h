#pragma once
// Small in-place edits shared by the mode rewrites; each keeps the bytes, the
// checksums and the PacketView in agreement.

#include "dplb/pkt/checksum.h"
#include "dplb/pkt/headers.h"
#include "dplb/pkt/parser.h"

namespace dplb::pkt {

// A router hop: TTL - 1 with the IPv4 header checksum updated incrementally.
// Precondition: v.kind == kIpv4 and v.ttl > 1 (callers answer TTL <= 1 with
// Verdict::timeExceeded() before touching the frame).
inline void decrementTtl(PacketView& v) {
  Ipv4Header* ip = v.ipv4();
  const uint16_t oldWord = ip->ttlProtoWord();
  ip->ttl = static_cast<uint8_t>(ip->ttl - 1);
  ip->checksum.set(checksumReplace16(ip->checksum.get(), oldWord, ip->ttlProtoWord()));
  v.ttl = ip->ttl;
}

inline void setEthernetAddrs(PacketView& v, const MacAddr& dst, const MacAddr& src) {
  EthernetHeader* eth = v.eth();
  eth->dst = dst;
  eth->src = src;
}

}  // namespace dplb::pkt
