#include "dplb/dr/dr.h"

#include "dplb/pkt/rewrite.h"

namespace dplb::dr {

pkt::Verdict forward(pkt::PacketView& v, const DrTarget& t) {
  if (v.kind != pkt::PacketKind::kIpv4) [[unlikely]] {
    return pkt::Verdict::drop(pkt::DropReason::kUnsupportedEthertype);
  }
  if (v.ttl <= 1) [[unlikely]] {
    return pkt::Verdict::timeExceeded();
  }
  pkt::decrementTtl(v);
  pkt::setEthernetAddrs(v, t.rsMac, t.portMac);
  return pkt::Verdict::forward();
}

}  // namespace dplb::dr
