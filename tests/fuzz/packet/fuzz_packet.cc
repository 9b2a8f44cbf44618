// Fuzz entry point over the packet parser and every mode rewrite.
//
// For any input it asserts memory safety (the frame sits at the end of an
// exact-size allocation; ASan watches both ends) and these properties:
//   - a parse, accepted or not, leaves offsets inside the frame; an accepted
//     IPv4 view is consistent with its own header bytes;
//   - every rewrite that forwards produces a frame that parses again with a
//     valid IPv4 header checksum, and keeps a valid TCP/UDP/ICMP checksum
//     valid (and an invalid one invalid: incremental updates must not
//     launder corruption);
//   - verdicts other than forward/fragment leave the frame untouched;
//   - fragments fit the MTU and reassemble to the datagram.
// A violated property prints what failed and aborts.

#include "fuzz_packet.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "dplb/dr/dr.h"
#include "dplb/nat/nat.h"
#include "dplb/pkt/checksum.h"
#include "dplb/pkt/fragment.h"
#include "dplb/pkt/icmp.h"
#include "dplb/pkt/parser.h"
#include "dplb/tun/tun.h"

namespace dplb::fuzz {

Stats& stats() {
  static Stats s;
  return s;
}

namespace {

using pkt::PacketView;

constexpr uint32_t kHeadroom = 64;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "packet fuzz property violated: %s\n", what);
    std::abort();
  }
}

// Deterministic per-input parameters (addresses, ports, MTU) so that libFuzzer
// and the replay test explore the rewrites with varied values.
struct Params {
  uint64_t h;
  explicit Params(const uint8_t* data, size_t size) : h(1469598103934665603ull) {
    for (size_t i = 0; i < size; ++i) {
      h = (h ^ data[i]) * 1099511628211ull;
    }
  }
  uint32_t next() {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return static_cast<uint32_t>(h);
  }
};

// A frame copy at the end of its own allocation, with headroom in front.
struct Buffer {
  std::vector<uint8_t> bytes;
  uint8_t* frame;
  uint32_t len;
  Buffer(const uint8_t* data, size_t size)
      : bytes(kHeadroom + size), frame(bytes.data() + kHeadroom), len(static_cast<uint32_t>(size)) {
    if (size != 0) {
      std::memcpy(frame, data, size);
    }
  }
};

void checkView(const PacketView& v, uint32_t len, bool accepted) {
  require(v.frameLen == len, "frameLen");
  require(v.l3Offset <= len, "l3Offset inside the frame");
  if (v.kind == pkt::PacketKind::kArp) {
    require(v.l3Offset + pkt::kArpPacketLen <= len, "ARP inside the frame");
    return;
  }
  if (v.kind != pkt::PacketKind::kIpv4) {
    require(!accepted, "accepted a frame that is neither IPv4 nor ARP");
    return;
  }
  require(v.ipEnd() <= len, "IPv4 datagram inside the frame");
  require(v.ipHeaderLen >= 20 && v.ipHeaderLen <= 60 && v.ipHeaderLen % 4 == 0, "header length");
  require(v.l4Offset == v.l3Offset + v.ipHeaderLen, "l4Offset");
  require(v.payloadOffset >= v.l4Offset, "payload after L4");
  require(static_cast<uint32_t>(v.payloadOffset) + v.payloadLen <= v.ipEnd(),
          "payload inside the datagram");
  const pkt::Ipv4Header* ip = v.ipv4();
  require(ip->src.get() == v.srcAddr && ip->dst.get() == v.dstAddr, "addresses match bytes");
  require(ip->ttl == v.ttl && ip->protocol == v.proto && ip->totalLength.get() == v.ipTotalLen,
          "header fields match bytes");
  if (accepted) {
    require(v.hasL4 == (v.fragOffset == 0), "hasL4 iff not a non-first fragment");
  }
  if (v.hasL4 && (v.isTcp() || v.isUdp())) {
    const uint8_t* l4 = v.l4();
    require(pkt::loadBe16(l4) == v.srcPort && pkt::loadBe16(l4 + 2) == v.dstPort,
            "ports match bytes");
  }
}

// 1 valid, 0 invalid, -1 not checkable (fragment, no L4, UDP without checksum).
int l4ChecksumState(const PacketView& v) {
  if (!v.hasL4 || v.isFragment()) {
    return -1;
  }
  const uint8_t* l4 = v.l4();
  const uint32_t len = v.l4Len();
  if (v.isIcmp()) {
    return pkt::checksumValid(l4, len) ? 1 : 0;
  }
  if (v.isUdp() && pkt::loadBe16(l4 + 6) == 0) {
    return -1;
  }
  const uint32_t pseudo =
      pkt::pseudoHeaderSum(v.srcAddr, v.dstAddr, v.proto, static_cast<uint16_t>(len));
  return pkt::checksumValid(l4, len, pseudo) ? 1 : 0;
}

// After a forwarding rewrite: the frame parses with a verified header
// checksum, the view matches a fresh parse, and L4 checksum validity is kept.
void checkRewritten(const PacketView& after, int l4Before, const char* what) {
  PacketView fresh;
  const pkt::ParseResult r = pkt::parsePacket(after.frame, after.frameLen, fresh);
  require(r.ok, what);
  checkView(fresh, after.frameLen, true);
  require(fresh.srcAddr == after.srcAddr && fresh.dstAddr == after.dstAddr &&
              fresh.srcPort == after.srcPort && fresh.dstPort == after.dstPort &&
              fresh.ttl == after.ttl,
          "rewritten view matches a fresh parse");
  const int l4After = l4ChecksumState(fresh);
  require(l4Before == -1 || l4After == l4Before, "L4 checksum validity kept");
}

void checkUntouched(const Buffer& b, const uint8_t* data, const char* what) {
  require(b.len == 0 || std::memcmp(b.frame, data, b.len) == 0, what);
}

void fragmentAndReassemble(const uint8_t* frame, uint32_t l3, uint32_t len, uint32_t mtu) {
  const uint32_t n = pkt::fragmentCount(frame, l3, len, mtu);
  if (n == 0 || n > 64) {
    return;
  }
  std::vector<std::vector<uint8_t>> storage(n);
  std::vector<pkt::FragmentSlot> slots(n);
  for (uint32_t i = 0; i < n; ++i) {
    storage[i].resize(l3 + mtu);
    slots[i] = {storage[i].data(), l3 + mtu, 0};
  }
  require(pkt::fragmentIpv4(frame, l3, len, mtu, slots) == n, "fragmentIpv4 == fragmentCount");
  ++stats().fragmented;
  const auto* ip = reinterpret_cast<const pkt::Ipv4Header*>(frame + l3);
  const uint32_t hl = ip->headerLen();
  std::map<uint32_t, std::vector<uint8_t>> pieces;
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t* f = storage[i].data() + l3;
    const auto* fip = reinterpret_cast<const pkt::Ipv4Header*>(f);
    require(slots[i].len <= l3 + mtu, "fragment fits the MTU");
    require(fip->totalLength.get() + l3 == slots[i].len, "fragment length");
    require(pkt::checksumValid(f, fip->headerLen()), "fragment header checksum");
    pieces[fip->fragmentOffset()].assign(f + fip->headerLen(), f + fip->totalLength.get());
  }
  std::vector<uint8_t> data;
  uint32_t next = ip->fragmentOffset();
  for (const auto& [off, bytes] : pieces) {
    require(off == next, "fragments tile the datagram");
    data.insert(data.end(), bytes.begin(), bytes.end());
    next += static_cast<uint32_t>(bytes.size());
  }
  const uint32_t total = ip->totalLength.get();
  require(data.size() == total - hl && std::memcmp(data.data(), frame + l3 + hl, data.size()) == 0,
          "fragments reassemble to the datagram");
}

void runNat(const uint8_t* data, size_t size, Params& p, bool inbound, int l4Before) {
  Buffer b(data, size);
  PacketView v;
  pkt::parsePacket(b.frame, b.len, v);
  const nat::NatBinding binding{.vip = p.next(),
                                .vport = static_cast<uint16_t>(p.next()),
                                .rsAddr = p.next(),
                                .rsPort = static_cast<uint16_t>(p.next())};
  const bool udpSum = v.hasL4 && v.isUdp() && v.udp()->checksum.get() != 0;
  const pkt::Verdict verdict =
      inbound ? nat::rewriteInbound(v, binding) : nat::rewriteOutbound(v, binding);
  if (verdict.action == pkt::Action::kForward) {
    ++stats().natForwarded;
    checkRewritten(v, l4Before, "NAT output parses");
    // 0 would tell the receiver "no checksum" (RFC 768).
    require(!udpSum || v.udp()->checksum.get() != 0, "a UDP checksum never becomes 0");
    if (v.hasL4 && (v.isTcp() || v.isUdp())) {
      require(inbound ? (v.dstAddr == binding.rsAddr && v.dstPort == binding.rsPort)
                      : (v.srcAddr == binding.vip && v.srcPort == binding.vport),
              "NAT addresses and ports");
    }
  } else {
    require(verdict.action == pkt::Action::kIcmpTimeExceeded, "NAT verdict");
    checkUntouched(b, data, "NAT time exceeded leaves the frame");
  }
}

void runIcmpTranslation(const uint8_t* data, size_t size, Params& p, bool inbound) {
  Buffer b(data, size);
  PacketView v;
  pkt::parsePacket(b.frame, b.len, v);
  pkt::IcmpErrorView e;
  if (!pkt::parseIcmpError(v, e).ok) {
    return;
  }
  require(static_cast<uint32_t>(e.innerL3Offset) + e.quotedLen == v.ipEnd(), "quote bounds");
  require(e.innerL4Offset <= v.ipEnd(), "quoted L4 inside");
  const nat::NatBinding binding{.vip = p.next(),
                                .vport = static_cast<uint16_t>(p.next()),
                                .rsAddr = p.next(),
                                .rsPort = static_cast<uint16_t>(p.next())};
  const pkt::Verdict verdict = inbound ? nat::translateIcmpErrorInbound(v, e, binding)
                                       : nat::translateIcmpErrorOutbound(v, e, binding);
  if (!verdict.forwarded()) {
    checkUntouched(b, data, "ICMP translation drop leaves the frame");
    return;
  }
  ++stats().icmpTranslated;
  checkRewritten(v, 1, "translated ICMP parses");  // checksum was verified before
  pkt::IcmpErrorView again;
  require(pkt::parseIcmpError(v, again).ok, "translated quote parses");
  require(again.srcAddr == e.srcAddr && again.dstAddr == e.dstAddr && again.srcPort == e.srcPort &&
              again.dstPort == e.dstPort,
          "IcmpErrorView matches a fresh parse");
  const uint8_t* inner = v.frame + again.innerL3Offset;
  require(pkt::checksumValid(inner, again.innerHeaderLen) ||
              !pkt::checksumValid(data + again.innerL3Offset, again.innerHeaderLen),
          "quoted header checksum kept valid");
}

void runDr(const uint8_t* data, size_t size, int l4Before) {
  Buffer b(data, size);
  PacketView v;
  pkt::parsePacket(b.frame, b.len, v);
  const dr::DrTarget t{pkt::MacAddr{{2, 0, 0, 0, 0, 9}}, pkt::MacAddr{{2, 0, 0, 0, 0, 8}}};
  const pkt::Verdict verdict = dr::forward(v, t);
  if (verdict.action != pkt::Action::kForward) {
    checkUntouched(b, data, "DR time exceeded leaves the frame");
    return;
  }
  ++stats().drForwarded;
  checkRewritten(v, l4Before, "DR output parses");
  // Only the MACs, the TTL and the header checksum change.
  const uint32_t l3 = v.l3Offset;
  for (uint32_t i = 12; i < b.len; ++i) {
    if (i != l3 + 8 && i != l3 + 10 && i != l3 + 11) {
      require(b.frame[i] == data[i], "DR changes nothing else");
    }
  }
}

void runTun(const uint8_t* data, size_t size, Params& p) {
  Buffer b(data, size);
  PacketView v;
  pkt::parsePacket(b.frame, b.len, v);
  const uint16_t innerLen = v.ipTotalLen;
  const uint8_t innerTtl = v.ttl;
  const uint16_t mtu = static_cast<uint16_t>(68 + p.next() % 1500);
  const tun::TunTarget t{.outerSrc = p.next(),
                         .outerDst = p.next(),
                         .dstMac = pkt::MacAddr{{2, 0, 0, 0, 0, 7}},
                         .srcMac = pkt::MacAddr{{2, 0, 0, 0, 0, 6}},
                         .mtu = mtu};
  const uint32_t headroom = p.next() % (kHeadroom + 1);
  const tun::EncapResult r = tun::encapsulate(v, headroom, t, 0x5151);
  if (!r.verdict.forwarded()) {
    checkUntouched(b, data, "TUN refusal leaves the frame");
    if (r.verdict.action == pkt::Action::kIcmpFragNeeded) {
      require(r.verdict.mtu == mtu - 20 && innerLen + 20u > mtu, "frag needed MTU");
    }
    return;
  }
  require(r.start >= b.frame - headroom, "TUN stays within the headroom");
  require(r.start + r.len <= b.frame + b.len, "TUN stays within the frame");
  require(r.len == 34u + innerLen, "TUN length");
  PacketView outer;
  const pkt::ParseResult pr = pkt::parsePacket(r.start, r.len, outer);
  require(!pr.ok && pr.reason == pkt::DropReason::kUnsupportedIpProtocol &&
              outer.proto == pkt::kIpProtoIpip,
          "TUN output is IPv4 protocol 4 with a valid header");
  require(outer.ttl == innerTtl - 1 && outer.ipTotalLen == innerLen + 20u, "outer header");
  const uint8_t* inner = r.start + 34;
  require(inner[8] == innerTtl - 1, "inner TTL decremented");
  require(pkt::checksumValid(inner, (inner[0] & 0x0F) * 4u), "inner header checksum");
  if (r.verdict.action == pkt::Action::kFragment) {
    ++stats().tunFragmented;
    require(!outer.dontFragment && outer.ipTotalLen > mtu, "fragment verdict");
    fragmentAndReassemble(r.start, 14, r.len, mtu);
  } else {
    ++stats().tunForwarded;
  }
}

void runIcmpBuilders(const uint8_t* data, size_t size, Params& p) {
  Buffer b(data, size);
  PacketView v;
  pkt::parsePacket(b.frame, b.len, v);
  uint8_t out[pkt::kIcmpErrorMaxFrameLen];
  const pkt::IcmpErrorSpec spec{.type = pkt::kIcmpDestUnreachable,
                                .code = pkt::kIcmpCodeFragNeeded,
                                .nextHopMtu = static_cast<uint16_t>(p.next()),
                                .srcAddr = p.next()};
  const uint32_t n = pkt::buildIcmpError(v, spec, out, sizeof(out));
  require((n != 0) == pkt::icmpErrorAllowed(v), "builder follows icmpErrorAllowed");
  if (n != 0) {
    ++stats().icmpErrorsBuilt;
    PacketView e;
    require(pkt::parsePacket(out, n, e).ok, "ICMP error parses");
    require(pkt::checksumValid(e.l4(), e.l4Len()), "ICMP error checksum");
    pkt::IcmpErrorView q;
    require(pkt::parseIcmpError(e, q).ok || v.ipHeaderLen + 8u > v.ipTotalLen,
            "ICMP error quote parses");
  }
  const int before = l4ChecksumState(v);
  if (pkt::echoReplyInPlace(v).action == pkt::Action::kForward) {
    ++stats().echoReplies;
    checkRewritten(v, before, "echo reply parses");
  } else {
    checkUntouched(b, data, "refused echo leaves the frame");
  }
}

}  // namespace
}  // namespace dplb::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dplb;
  using namespace dplb::fuzz;
  if (size > 0xFFFF + 64) {
    return 0;
  }
  ++stats().inputs;
  Params params(data, size);
  Buffer b(data, size);
  pkt::PacketView v;
  const pkt::ParseResult r = pkt::parsePacket(b.frame, b.len, v);
  checkView(v, b.len, r.ok);
  checkUntouched(b, data, "the parser does not write");
  pkt::PacketView unchecked;
  const pkt::ParseResult r2 =
      pkt::parsePacket(b.frame, b.len, unchecked, pkt::ParseOptions{.verifyIpChecksum = false});
  require(!r.ok || r2.ok, "skipping checksum verification accepts a superset");
  if (r2.ok && !r.ok) {
    require(r.reason == pkt::DropReason::kBadIpChecksum, "only the checksum differs");
  }
  if (!r.ok) {
    return 0;
  }
  if (v.kind == pkt::PacketKind::kArp) {
    ++stats().parsedArp;
    return 0;
  }
  ++stats().parsedIpv4;
  const int l4Before = l4ChecksumState(v);
  runNat(data, size, params, true, l4Before);
  runNat(data, size, params, false, l4Before);
  runDr(data, size, l4Before);
  runTun(data, size, params);
  runIcmpBuilders(data, size, params);
  runIcmpTranslation(data, size, params, true);
  runIcmpTranslation(data, size, params, false);
  fragmentAndReassemble(b.frame, v.l3Offset, b.len, 68 + params.next() % 1500);
  return 0;
}
