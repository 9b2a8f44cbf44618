#pragma once
// Test helper: builds frames as bytes and checks them independently of the
// code under test (STYLE 14, after Katran's packet fixtures and DPDK's
// test_cksum).
//
// Build:   Bytes f = FrameBuilder().eth({}).vlan(7).ipv4({.src = ..., .dst = ...})
//                       .tcp({.sport = 1234, .dport = 80, .flags = kTcpSynFlag})
//                       .payload("hello").padTo(60).build();
// Every length and checksum is computed from scratch unless a spec field
// overrides it (to build malformed frames on purpose).
//
// Check:   DecodedFrame d = decodeFrame(f);        // field-by-field view
//          std::string why = checksumProblems(f);  // "" when all checksums hold
//
// This header deliberately shares no code with dplb::pkt: sums are plain
// 16-bit big-endian word loops, decoding is byte arithmetic. It depends on
// the standard library only, so any test tier (unit, packet with EAL, e2e
// tools) can include it.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dplb::test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

inline constexpr uint8_t kTcpFinFlag = 0x01;
inline constexpr uint8_t kTcpSynFlag = 0x02;
inline constexpr uint8_t kTcpRstFlag = 0x04;
inline constexpr uint8_t kTcpPshFlag = 0x08;
inline constexpr uint8_t kTcpAckFlag = 0x10;

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoIpip = 4;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;

constexpr uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

inline std::string ip4Str(uint32_t a) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xFF, (a >> 8) & 0xFF,
                a & 0xFF);
  return buf;
}

inline std::string macStr(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

inline std::string hexDump(const Bytes& b) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < b.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", b[i]);
    out += buf;
    out += (i % 16 == 15) ? '\n' : ' ';
  }
  return out;
}

// ---- raw byte access (big-endian) -----------------------------------------

inline uint16_t rd16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>((b.at(off) << 8) | b.at(off + 1));
}
inline uint32_t rd32(const Bytes& b, size_t off) {
  return (uint32_t{b.at(off)} << 24) | (uint32_t{b.at(off + 1)} << 16) |
         (uint32_t{b.at(off + 2)} << 8) | b.at(off + 3);
}
inline void wr16(Bytes& b, size_t off, uint16_t v) {
  b.at(off) = static_cast<uint8_t>(v >> 8);
  b.at(off + 1) = static_cast<uint8_t>(v);
}
inline void wr32(Bytes& b, size_t off, uint32_t v) {
  wr16(b, off, static_cast<uint16_t>(v >> 16));
  wr16(b, off + 2, static_cast<uint16_t>(v));
}

// ---- reference checksum: RFC 1071 the slow, obvious way ---------------------

// Sum of big-endian 16-bit words of b[off, off+len), odd tail padded with 0,
// carries folded after every addition.
inline uint16_t refSum(const Bytes& b, size_t off, size_t len, uint32_t start = 0) {
  uint32_t sum = start;
  for (size_t i = 0; i < len; i += 2) {
    uint32_t word = uint32_t{b.at(off + i)} << 8;
    if (i + 1 < len) {
      word |= b.at(off + i + 1);
    }
    sum += word;
    while (sum > 0xFFFF) {
      sum = (sum & 0xFFFF) + (sum >> 16);
    }
  }
  while (sum > 0xFFFF) {
    sum = (sum & 0xFFFF) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

// Checksum field value for b[off, off+len) with the field at b[csumOff] taken
// as zero.
inline uint16_t refChecksum(Bytes b, size_t off, size_t len, size_t csumOff, uint32_t start = 0) {
  b.at(csumOff) = 0;
  b.at(csumOff + 1) = 0;
  return static_cast<uint16_t>(~refSum(b, off, len, start));
}

inline uint32_t refPseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len) {
  uint32_t s = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + len;
  while (s > 0xFFFF) {
    s = (s & 0xFFFF) + (s >> 16);
  }
  return s;
}

// ---- specs ------------------------------------------------------------------

struct EthSpec {
  Mac dst{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  Mac src{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  std::optional<uint16_t> etherType;  // default: from what follows
};

struct Ipv4Spec {
  uint32_t src = ip4(10, 0, 0, 1);
  uint32_t dst = ip4(10, 0, 0, 100);
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 0x1234;
  bool df = false;
  bool mf = false;
  uint16_t fragOffset = 0;              // bytes; multiple of 8
  Bytes options;                        // padded with EOL (0) to a multiple of 4
  std::optional<uint8_t> protocol;      // default: from the L4 spec
  std::optional<uint8_t> version;       // default 4
  std::optional<uint8_t> ihl;           // default: from options
  std::optional<uint16_t> totalLength;  // default: header + L4 + payload
  std::optional<uint16_t> checksum;     // default: computed
};

struct TcpSpec {
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint32_t seq = 1000;
  uint32_t ack = 0;
  uint8_t flags = kTcpSynFlag;
  uint16_t window = 65535;
  uint16_t urgent = 0;
  Bytes options;                      // padded with EOL to a multiple of 4
  std::optional<uint8_t> dataOffset;  // 32-bit words; default from options
  std::optional<uint16_t> checksum;   // default: computed
};

struct UdpSpec {
  uint16_t sport = 40000;
  uint16_t dport = 53;
  std::optional<uint16_t> length;    // default: 8 + payload
  bool zeroChecksum = false;         // send "no checksum"
  std::optional<uint16_t> checksum;  // default: computed (0 -> 0xFFFF)
};

struct IcmpSpec {
  uint8_t type = 8;
  uint8_t code = 0;
  uint32_t rest = 0;                 // id/seq, next-hop MTU, ...
  std::optional<uint16_t> checksum;  // default: computed over header + payload
};

struct ArpSpec {
  uint16_t op = 1;
  Mac sha{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  uint32_t spa = ip4(10, 0, 0, 1);
  Mac tha{};
  uint32_t tpa = ip4(10, 0, 0, 100);
  uint16_t hwType = 1;
  uint16_t protoType = 0x0800;
  uint8_t hwLen = 6;
  uint8_t protoLen = 4;
};

// ---- builder ----------------------------------------------------------------

class FrameBuilder {
 public:
  FrameBuilder& eth(EthSpec s) {
    eth_ = s;
    return *this;
  }
  FrameBuilder& vlan(uint16_t tci) {
    vlan_ = tci;
    return *this;
  }
  FrameBuilder& ipv4(Ipv4Spec s) {
    ip_ = std::move(s);
    hasIp_ = true;
    return *this;
  }
  FrameBuilder& tcp(TcpSpec s) {
    l4_ = L4::kTcp;
    tcp_ = std::move(s);
    return *this;
  }
  FrameBuilder& udp(UdpSpec s) {
    l4_ = L4::kUdp;
    udp_ = s;
    return *this;
  }
  FrameBuilder& icmp(IcmpSpec s) {
    l4_ = L4::kIcmp;
    icmp_ = s;
    return *this;
  }
  FrameBuilder& arp(ArpSpec s) {
    arp_ = s;
    return *this;
  }
  // Bytes after the IPv4 header taken as is (other protocols, non-first
  // fragments); set Ipv4Spec::protocol.
  FrameBuilder& rawL4(Bytes b) {
    l4_ = L4::kRaw;
    payload_ = std::move(b);
    return *this;
  }
  FrameBuilder& payload(Bytes b) {
    payload_ = std::move(b);
    return *this;
  }
  FrameBuilder& payload(std::string_view s) {
    payload_.assign(s.begin(), s.end());
    return *this;
  }
  // Zero padding after the IP datagram up to `frameLen` bytes (Ethernet
  // minimum is 60 without FCS).
  FrameBuilder& padTo(size_t frameLen) {
    padTo_ = frameLen;
    return *this;
  }
  // Arbitrary bytes after the IP datagram (a trailer the parser must ignore).
  FrameBuilder& trailer(Bytes b) {
    trailer_ = std::move(b);
    return *this;
  }

  // The IPv4 datagram alone (no L2), e.g. to quote it in an ICMP error or to
  // compare with a decapsulated one.
  Bytes buildIp() const { return buildIpImpl(); }

  Bytes build() const {
    Bytes f;
    f.insert(f.end(), eth_.dst.begin(), eth_.dst.end());
    f.insert(f.end(), eth_.src.begin(), eth_.src.end());
    uint16_t inner = arp_ ? 0x0806 : 0x0800;
    if (eth_.etherType) {
      inner = *eth_.etherType;
    }
    if (vlan_) {
      push16(f, 0x8100);
      push16(f, *vlan_);
    }
    push16(f, inner);
    if (arp_) {
      push16(f, arp_->hwType);
      push16(f, arp_->protoType);
      f.push_back(arp_->hwLen);
      f.push_back(arp_->protoLen);
      push16(f, arp_->op);
      f.insert(f.end(), arp_->sha.begin(), arp_->sha.end());
      push32(f, arp_->spa);
      f.insert(f.end(), arp_->tha.begin(), arp_->tha.end());
      push32(f, arp_->tpa);
    } else if (hasIp_) {
      Bytes ip = buildIpImpl();
      f.insert(f.end(), ip.begin(), ip.end());
    } else {
      f.insert(f.end(), payload_.begin(), payload_.end());
    }
    f.insert(f.end(), trailer_.begin(), trailer_.end());
    if (f.size() < padTo_) {
      f.resize(padTo_, 0);
    }
    return f;
  }

 private:
  enum class L4 { kNone, kTcp, kUdp, kIcmp, kRaw };

  static void push16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
  }
  static void push32(Bytes& b, uint32_t v) {
    push16(b, static_cast<uint16_t>(v >> 16));
    push16(b, static_cast<uint16_t>(v));
  }
  static Bytes padded4(Bytes b) {
    while (b.size() % 4 != 0) {
      b.push_back(0);
    }
    return b;
  }

  Bytes buildL4(uint32_t src, uint32_t dst) const {
    Bytes l4;
    switch (l4_) {
      case L4::kNone:
        return payload_;
      case L4::kRaw:
        return payload_;
      case L4::kTcp: {
        Bytes opts = padded4(tcp_.options);
        uint8_t doff = tcp_.dataOffset.value_or(static_cast<uint8_t>(5 + opts.size() / 4));
        push16(l4, tcp_.sport);
        push16(l4, tcp_.dport);
        push32(l4, tcp_.seq);
        push32(l4, tcp_.ack);
        l4.push_back(static_cast<uint8_t>(doff << 4));
        l4.push_back(tcp_.flags);
        push16(l4, tcp_.window);
        push16(l4, 0);
        push16(l4, tcp_.urgent);
        l4.insert(l4.end(), opts.begin(), opts.end());
        l4.insert(l4.end(), payload_.begin(), payload_.end());
        uint16_t c = tcp_.checksum.value_or(
            refChecksum(l4, 0, l4.size(), 16,
                        refPseudo(src, dst, kProtoTcp, static_cast<uint32_t>(l4.size()))));
        wr16(l4, 16, c);
        return l4;
      }
      case L4::kUdp: {
        uint16_t len = udp_.length.value_or(static_cast<uint16_t>(8 + payload_.size()));
        push16(l4, udp_.sport);
        push16(l4, udp_.dport);
        push16(l4, len);
        push16(l4, 0);
        l4.insert(l4.end(), payload_.begin(), payload_.end());
        uint16_t c = 0;
        if (udp_.checksum) {
          c = *udp_.checksum;
        } else if (!udp_.zeroChecksum) {
          c = refChecksum(l4, 0, l4.size(), 6,
                          refPseudo(src, dst, kProtoUdp, static_cast<uint32_t>(l4.size())));
          if (c == 0) {
            c = 0xFFFF;
          }
        }
        wr16(l4, 6, c);
        return l4;
      }
      case L4::kIcmp: {
        l4.push_back(icmp_.type);
        l4.push_back(icmp_.code);
        push16(l4, 0);
        push32(l4, icmp_.rest);
        l4.insert(l4.end(), payload_.begin(), payload_.end());
        wr16(l4, 2, icmp_.checksum.value_or(refChecksum(l4, 0, l4.size(), 2)));
        return l4;
      }
    }
    return l4;
  }

  Bytes buildIpImpl() const {
    const Ipv4Spec& s = ip_;
    uint8_t proto = 0;
    switch (l4_) {
      case L4::kTcp:
        proto = kProtoTcp;
        break;
      case L4::kUdp:
        proto = kProtoUdp;
        break;
      case L4::kIcmp:
        proto = kProtoIcmp;
        break;
      default:
        proto = 0xFD;  // RFC 3692 experimental
        break;
    }
    proto = s.protocol.value_or(proto);
    Bytes opts = padded4(s.options);
    Bytes l4 = buildL4(s.src, s.dst);
    Bytes ip;
    const uint8_t ihl = s.ihl.value_or(static_cast<uint8_t>(5 + opts.size() / 4));
    ip.push_back(static_cast<uint8_t>((s.version.value_or(4) << 4) | (ihl & 0x0F)));
    ip.push_back(s.tos);
    push16(ip, s.totalLength.value_or(static_cast<uint16_t>(20 + opts.size() + l4.size())));
    push16(ip, s.id);
    push16(ip, static_cast<uint16_t>((s.df ? 0x4000 : 0) | (s.mf ? 0x2000 : 0) |
                                     ((s.fragOffset / 8) & 0x1FFF)));
    ip.push_back(s.ttl);
    ip.push_back(proto);
    push16(ip, 0);
    push32(ip, s.src);
    push32(ip, s.dst);
    ip.insert(ip.end(), opts.begin(), opts.end());
    wr16(ip, 10, s.checksum.value_or(refChecksum(ip, 0, ip.size(), 10)));
    ip.insert(ip.end(), l4.begin(), l4.end());
    return ip;
  }

  EthSpec eth_;
  std::optional<uint16_t> vlan_;
  // Not std::optional: g++ 12 -O2 warns (maybe-uninitialized) on assigning
  // an optional of a struct holding a vector.
  Ipv4Spec ip_;
  bool hasIp_ = false;
  std::optional<ArpSpec> arp_;
  L4 l4_ = L4::kNone;
  TcpSpec tcp_;
  UdpSpec udp_;
  IcmpSpec icmp_;
  Bytes payload_;
  Bytes trailer_;
  size_t padTo_ = 0;
};

// ---- decoding (field by field, for expectations) --------------------------

struct DecodedIpv4 {
  size_t offset = 0;  // in the frame
  uint8_t version = 0;
  uint8_t ihl = 0;
  uint8_t tos = 0;
  uint16_t totalLength = 0;
  uint16_t id = 0;
  bool df = false;
  bool mf = false;
  uint16_t fragOffset = 0;  // bytes
  uint8_t ttl = 0;
  uint8_t protocol = 0;
  uint16_t checksum = 0;
  uint32_t src = 0;
  uint32_t dst = 0;
  Bytes options;
};

struct DecodedTcp {
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t dataOffset = 0, flags = 0;
  uint16_t window = 0, checksum = 0, urgent = 0;
};

struct DecodedUdp {
  uint16_t sport = 0, dport = 0, length = 0, checksum = 0;
};

struct DecodedIcmp {
  uint8_t type = 0, code = 0;
  uint16_t checksum = 0;
  uint32_t rest = 0;
};

struct DecodedFrame {
  bool valid = false;  // Ethernet + IPv4 header decoded
  std::string error;
  Mac ethDst{}, ethSrc{};
  std::optional<uint16_t> vlanTci;
  uint16_t etherType = 0;
  DecodedIpv4 ip;
  std::optional<DecodedTcp> tcp;
  std::optional<DecodedUdp> udp;
  std::optional<DecodedIcmp> icmp;
  Bytes l4Bytes;  // IP payload (total length bounded)
  Bytes payload;  // after the L4 header
};

// Decodes an IPv4 datagram starting at `off` (no L2).
inline DecodedFrame decodeIp(const Bytes& f, size_t off) {
  DecodedFrame d;
  if (f.size() < off + 20) {
    d.error = "short IPv4 header";
    return d;
  }
  DecodedIpv4& ip = d.ip;
  ip.offset = off;
  ip.version = f[off] >> 4;
  ip.ihl = f[off] & 0x0F;
  ip.tos = f[off + 1];
  ip.totalLength = rd16(f, off + 2);
  ip.id = rd16(f, off + 4);
  uint16_t frag = rd16(f, off + 6);
  ip.df = frag & 0x4000;
  ip.mf = frag & 0x2000;
  ip.fragOffset = static_cast<uint16_t>((frag & 0x1FFF) * 8);
  ip.ttl = f[off + 8];
  ip.protocol = f[off + 9];
  ip.checksum = rd16(f, off + 10);
  ip.src = rd32(f, off + 12);
  ip.dst = rd32(f, off + 16);
  size_t hl = ip.ihl * 4u;
  if (hl < 20 || f.size() < off + hl || ip.totalLength < hl || f.size() < off + ip.totalLength) {
    d.error = "bad IPv4 lengths";
    return d;
  }
  ip.options.assign(f.begin() + static_cast<long>(off + 20),
                    f.begin() + static_cast<long>(off + hl));
  d.l4Bytes.assign(f.begin() + static_cast<long>(off + hl),
                   f.begin() + static_cast<long>(off + ip.totalLength));
  d.valid = true;
  const Bytes& l4 = d.l4Bytes;
  size_t hdr = 0;
  if (ip.fragOffset == 0 && ip.protocol == kProtoTcp && l4.size() >= 20) {
    DecodedTcp t;
    t.sport = rd16(l4, 0);
    t.dport = rd16(l4, 2);
    t.seq = rd32(l4, 4);
    t.ack = rd32(l4, 8);
    t.dataOffset = l4[12] >> 4;
    t.flags = l4[13];
    t.window = rd16(l4, 14);
    t.checksum = rd16(l4, 16);
    t.urgent = rd16(l4, 18);
    d.tcp = t;
    hdr = std::min<size_t>(t.dataOffset * 4u, l4.size());
  } else if (ip.fragOffset == 0 && ip.protocol == kProtoUdp && l4.size() >= 8) {
    d.udp = DecodedUdp{rd16(l4, 0), rd16(l4, 2), rd16(l4, 4), rd16(l4, 6)};
    hdr = 8;
  } else if (ip.fragOffset == 0 && ip.protocol == kProtoIcmp && l4.size() >= 8) {
    d.icmp = DecodedIcmp{l4[0], l4[1], rd16(l4, 2), rd32(l4, 4)};
    hdr = 8;
  }
  d.payload.assign(l4.begin() + static_cast<long>(hdr), l4.end());
  return d;
}

inline DecodedFrame decodeFrame(const Bytes& f) {
  DecodedFrame d;
  if (f.size() < 14) {
    d.error = "short Ethernet header";
    return d;
  }
  size_t off = 12;
  uint16_t et = rd16(f, off);
  std::optional<uint16_t> tci;
  if (et == 0x8100) {
    if (f.size() < 18) {
      d.error = "short VLAN tag";
      return d;
    }
    tci = rd16(f, 14);
    et = rd16(f, 16);
    off = 16;
  }
  off += 2;
  if (et == 0x0800) {
    d = decodeIp(f, off);
  } else {
    d.error = "not IPv4";
  }
  std::copy(f.begin(), f.begin() + 6, d.ethDst.begin());
  std::copy(f.begin() + 6, f.begin() + 12, d.ethSrc.begin());
  d.vlanTci = tci;
  d.etherType = et;
  return d;
}

// ---- independent checksum verification ------------------------------------

// Checks the IPv4 header checksum and, for unfragmented datagrams, the
// TCP/UDP/ICMP checksum of the datagram at `off` (full recomputation). UDP
// checksum 0 means "none" and passes. Returns "" or what is wrong.
inline std::string ipChecksumProblems(const Bytes& f, size_t off) {
  DecodedFrame d = decodeIp(f, off);
  if (!d.valid) {
    return d.error;
  }
  std::string out;
  const size_t hl = d.ip.ihl * 4u;
  if (refSum(f, off, hl) != 0xFFFF) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "IPv4 header checksum 0x%04x, expected 0x%04x; ", d.ip.checksum,
                  refChecksum(f, off, hl, off + 10));
    out += buf;
  }
  if (d.ip.mf || d.ip.fragOffset != 0) {
    return out;  // L4 checksum spans fragments
  }
  const Bytes& l4 = d.l4Bytes;
  const uint32_t len = static_cast<uint32_t>(l4.size());
  auto check = [&](const char* what, size_t csumOff, uint32_t start) {
    if (l4.size() < csumOff + 2) {
      out += std::string(what) + " header truncated; ";
      return;
    }
    if (refSum(l4, 0, l4.size(), start) != 0xFFFF) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "%s checksum 0x%04x, expected 0x%04x; ", what,
                    rd16(l4, csumOff), refChecksum(l4, 0, l4.size(), csumOff, start));
      out += buf;
    }
  };
  if (d.ip.protocol == kProtoTcp) {
    check("TCP", 16, refPseudo(d.ip.src, d.ip.dst, kProtoTcp, len));
  } else if (d.ip.protocol == kProtoUdp) {
    if (l4.size() >= 8 && rd16(l4, 6) != 0) {
      check("UDP", 6, refPseudo(d.ip.src, d.ip.dst, kProtoUdp, len));
    }
  } else if (d.ip.protocol == kProtoIcmp) {
    check("ICMP", 2, 0);
  }
  return out;
}

// The same for an Ethernet frame (optionally VLAN-tagged).
inline std::string checksumProblems(const Bytes& f) {
  if (f.size() < 14) {
    return "short Ethernet header";
  }
  size_t off = rd16(f, 12) == 0x8100 ? 18 : 14;
  if (f.size() < off || rd16(f, off - 2) != 0x0800) {
    return "not IPv4";
  }
  return ipChecksumProblems(f, off);
}

}  // namespace dplb::test
