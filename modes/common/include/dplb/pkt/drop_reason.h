#pragma once
// Why a packet was dropped: ONE list for the parser, the mode rewrites and the
// dataplane (STYLE 8, after VPP's foreach_lb_error).
//
// Each entry is X(Id, label, help): `DropReason::kId` is the enumerator,
// `label` is the snake_case metric label (dplb_drops_total{reason="label"})
// and `help` a one-line description for HELP texts and the CLI. Workers keep a
// plain `uint64_t drops[kDropReasonCount]` indexed by the enum. Append new
// reasons anywhere: nothing persists the numeric values.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

// clang-format off
#define DPLB_DROP_REASONS(X)                                                                      \
  /* ---- parser: Ethernet / VLAN / ARP ---- */                                                   \
  X(TruncatedEthernet, truncated_ethernet, "frame shorter than an Ethernet header")               \
  X(TruncatedVlan, truncated_vlan, "frame ends inside the 802.1Q tag")                            \
  X(OtherHostMac, other_host_mac, "unicast frame for another host's MAC address")                 \
  X(UnsupportedEthertype, unsupported_ethertype, "ethertype other than IPv4/ARP (or a second VLAN tag)") \
  X(TruncatedArp, truncated_arp, "ARP packet shorter than 28 bytes")                              \
  X(UnsupportedArp, unsupported_arp, "ARP for other than Ethernet/IPv4")                          \
  /* ---- parser: IPv4 ---- */                                                                    \
  X(TruncatedIpv4, truncated_ipv4, "frame shorter than the IPv4 header or total length")          \
  X(BadIpVersion, bad_ip_version, "IP version field is not 4")                                    \
  X(BadIhl, bad_ihl, "IPv4 header length below 20 bytes")                                         \
  X(BadIpTotalLength, bad_ip_total_length, "IPv4 total length smaller than its header")           \
  X(BadIpChecksum, bad_ip_checksum, "IPv4 header checksum mismatch")                              \
  X(UnsupportedIpProtocol, unsupported_ip_protocol, "IP protocol other than TCP/UDP/ICMP")        \
  /* ---- parser: L4 ---- */                                                                      \
  X(TruncatedTcp, truncated_tcp, "IP payload shorter than a TCP header")                          \
  X(BadTcpDataOffset, bad_tcp_data_offset, "TCP data offset below 5 or beyond the IP payload")    \
  X(TruncatedUdp, truncated_udp, "IP payload shorter than a UDP header")                          \
  X(BadUdpLength, bad_udp_length, "UDP length below 8 or beyond the IP payload")                  \
  X(TruncatedIcmp, truncated_icmp, "IP payload shorter than an ICMP header")                      \
  /* ---- forwarding / mode rewrites ---- */                                                      \
  X(TtlExpired, ttl_expired, "TTL <= 1 on a forwarded packet")                                    \
  X(MtuExceeded, mtu_exceeded, "larger than the egress MTU with DF set (or MTU unusable)")        \
  X(NoHeadroom, no_headroom, "not enough buffer headroom to encapsulate")                         \
  X(FragmentationFailed, fragmentation_failed, "could not split a packet into fragments")         \
  X(NotForUs, not_for_us, "destination is neither a VIP nor a local address")                     \
  X(MartianSource, martian_source, "source address that cannot be a unicast host")               \
  /* ---- ICMP ---- */                                                                            \
  X(IcmpUnsupported, icmp_unsupported, "ICMP type not handled (or fragmented ICMP error)")        \
  X(IcmpBadEmbedded, icmp_bad_embedded, "ICMP error quoting a truncated or malformed header")     \
  X(IcmpNoConn, icmp_no_conn, "ICMP error about no known connection")                            \
  X(BadIcmpChecksum, bad_icmp_checksum, "ICMP checksum mismatch")                                 \
  X(IcmpRateLimited, icmp_rate_limited, "ICMP error not sent: rate limit")                        \
  /* ---- services, scheduling, connections ---- */                                               \
  X(NoService, no_service, "VIP packet matching no virtual service")                             \
  X(NoDest, no_dest, "no real server available (scheduler found none)")                           \
  X(NotSyn, not_syn, "TCP packet that is not a SYN and matches no connection")                   \
  X(ConnTableFull, conn_table_full, "connection table full, new connection refused")             \
  X(DestRemoved, dest_removed, "connection's real server was removed")                            \
  /* ---- reassembly ---- */                                                                      \
  X(ReassemblyTimeout, reassembly_timeout, "fragments expired before the datagram completed")    \
  X(ReassemblyTableFull, reassembly_table_full, "no free reassembly context")                     \
  X(ReassemblyOverlap, reassembly_overlap, "overlapping or inconsistent fragments")              \
  X(ReassemblyTooLarge, reassembly_too_large, "reassembled datagram above 65535 bytes")           \
  X(ReassemblyBadFragment, reassembly_bad_fragment, "fragment with bad length or offset")        \
  /* ---- neighbours, routes, transmit ---- */                                                    \
  X(NoRoute, no_route, "no route to the destination")                                             \
  X(ArpQueueFull, arp_queue_full, "queue of packets waiting for ARP resolution full")            \
  X(ArpTimeout, arp_timeout, "next hop did not answer ARP in time")                               \
  X(TxRingFull, tx_ring_full, "NIC refused the packet (tx ring full)")                            \
  X(HandoffRingFull, handoff_ring_full, "ring to the owning worker full")                         \
  X(ExceptionPathOff, exception_path_off, "packet for the host while the exception path is off") \
  X(ExceptionPathFull, exception_path_full, "kernel exception interface refused the packet")     \
  X(MbufAllocFailed, mbuf_alloc_failed, "no buffer for a generated or fragmented packet")
// clang-format on

namespace dplb::pkt {

enum class DropReason : uint8_t {
#define DPLB_DROP_REASON_ENUMERATOR(id, label, help) k##id,
  DPLB_DROP_REASONS(DPLB_DROP_REASON_ENUMERATOR)
#undef DPLB_DROP_REASON_ENUMERATOR
};

#define DPLB_DROP_REASON_PLUS_ONE(id, label, help) +1
inline constexpr std::size_t kDropReasonCount = 0 DPLB_DROP_REASONS(DPLB_DROP_REASON_PLUS_ONE);
#undef DPLB_DROP_REASON_PLUS_ONE

namespace detail {
#define DPLB_DROP_REASON_LABEL(id, label, help) std::string_view{#label},
inline constexpr std::array<std::string_view, kDropReasonCount> kDropReasonLabels{
    DPLB_DROP_REASONS(DPLB_DROP_REASON_LABEL)};
#undef DPLB_DROP_REASON_LABEL
#define DPLB_DROP_REASON_HELP(id, label, help) std::string_view{help},
inline constexpr std::array<std::string_view, kDropReasonCount> kDropReasonHelps{
    DPLB_DROP_REASONS(DPLB_DROP_REASON_HELP)};
#undef DPLB_DROP_REASON_HELP
}  // namespace detail

constexpr std::size_t dropReasonIndex(DropReason r) {
  return static_cast<std::size_t>(r);
}

// The snake_case metric label; the view points at a NUL-terminated literal.
// An out-of-range value (never produced by dplb) gives "unknown".
constexpr std::string_view dropReasonName(DropReason r) {
  return dropReasonIndex(r) < kDropReasonCount ? detail::kDropReasonLabels[dropReasonIndex(r)]
                                               : std::string_view{"unknown"};
}

constexpr std::string_view dropReasonHelp(DropReason r) {
  return dropReasonIndex(r) < kDropReasonCount ? detail::kDropReasonHelps[dropReasonIndex(r)]
                                               : std::string_view{"unknown drop reason"};
}

// Inverse of dropReasonName (control plane, tests); not for the packet path.
constexpr std::optional<DropReason> dropReasonFromName(std::string_view name) {
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    if (detail::kDropReasonLabels[i] == name) {
      return static_cast<DropReason>(i);
    }
  }
  return std::nullopt;
}

}  // namespace dplb::pkt
