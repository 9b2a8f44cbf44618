#pragma once
// What a mode rewrite tells the dataplane to do with a packet.
//
// Contract: a rewrite either changes the frame and answers kForward (or
// kFragment), or leaves the frame byte-for-byte untouched and answers one of
// the others, so an ICMP error built afterwards quotes the datagram as it was
// received. `reason` is meaningful for every action except kForward and
// kFragment: it is the counter the dataplane bumps for the dropped original
// (ttl_expired for kIcmpTimeExceeded, mtu_exceeded for kIcmpFragNeeded).

#include <cstdint>
#include <string_view>

#include "dplb/pkt/drop_reason.h"

namespace dplb::pkt {

enum class Action : uint8_t {
  kForward,           // transmit the rewritten frame
  kDrop,              // drop; count `reason`
  kIcmpTimeExceeded,  // drop; send ICMP time exceeded (11/0) to the sender
  kIcmpFragNeeded,    // drop; send ICMP frag needed (3/4) carrying `mtu`
  kFragment,          // rewritten, but larger than `mtu`: fragment, then transmit
};

struct Verdict {
  Action action = Action::kForward;
  DropReason reason = DropReason::kTruncatedEthernet;  // unused for kForward/kFragment
  uint16_t mtu = 0;  // kIcmpFragNeeded: next-hop MTU to report; kFragment: MTU to split to

  static constexpr Verdict forward() { return {}; }
  static constexpr Verdict drop(DropReason r) { return {Action::kDrop, r, 0}; }
  static constexpr Verdict timeExceeded() {
    return {Action::kIcmpTimeExceeded, DropReason::kTtlExpired, 0};
  }
  static constexpr Verdict fragNeeded(uint16_t nextHopMtu) {
    return {Action::kIcmpFragNeeded, DropReason::kMtuExceeded, nextHopMtu};
  }
  static constexpr Verdict fragment(uint16_t mtu) {
    return {Action::kFragment, DropReason::kTruncatedEthernet, mtu};
  }

  constexpr bool forwarded() const {
    return action == Action::kForward || action == Action::kFragment;
  }
  friend constexpr bool operator==(const Verdict& a, const Verdict& b) {
    return a.action == b.action && (a.forwarded() || a.reason == b.reason) && a.mtu == b.mtu;
  }
};

constexpr std::string_view actionName(Action a) {
  switch (a) {
    case Action::kForward:
      return "forward";
    case Action::kDrop:
      return "drop";
    case Action::kIcmpTimeExceeded:
      return "icmp_time_exceeded";
    case Action::kIcmpFragNeeded:
      return "icmp_frag_needed";
    case Action::kFragment:
      return "fragment";
  }
  return "unknown";
}

}  // namespace dplb::pkt
