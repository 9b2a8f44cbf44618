#pragma once

// The IPVS TCP state machine (net/netfilter/ipvs/ip_vs_proto_tcp.c), as pure
// functions over the kernel's transition tables: the normal set (tcp_states)
// and the secure_tcp set (tcp_states_dos), each with an INPUT and OUTPUT table
// for NAT and an INPUT-ONLY table for DR/TUN, where the balancer sees only the
// client's half of the conversation.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dplb::dp {

// IPVS TCP states in the kernel's order (IP_VS_TCP_S_*); the numeric value
// indexes the transition tables and the timeout table.
enum class TcpState : uint8_t {
  kNone = 0,
  kEstablished,
  kSynSent,
  kSynRecv,
  kFinWait,
  kTimeWait,
  kClose,
  kCloseWait,
  kLastAck,
  kListen,
  kSynAck,
};
inline constexpr std::size_t kTcpStateCount = 11;

// Which half of a connection a packet belongs to: kIn = client → VIP (the
// half every forwarding mode sees), kOut = real server → client (NAT only).
enum class Direction : uint8_t { kIn = 0, kOut = 1 };

// The kernel's three table offsets (tcp_state_off): INPUT, OUTPUT, INPUT-ONLY.
enum class TcpTableDir : uint8_t { kInput = 0, kOutput = 1, kInputOnly = 2 };

// tcp_states (default) or tcp_states_dos (the secure_tcp defense mode).
enum class TcpTableSet : uint8_t { kNormal = 0, kSecure = 1 };

// Which TCP states count a connection as "active" for the real server's
// activeconns. IPVS-SEMANTICS.md §1 (the dplb contract) says ESTABLISHED only,
// which is what older kernels did; current kernels' tcp_state_active_table
// also counts SYN_SENT, SYN_RECV and SYNACK.
enum class ActiveStates : uint8_t { kEstablishedOnly = 0, kKernelTable = 1 };

// TCP header flag bits as they sit in the header's flags byte (offset 13).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpAck = 0x10;

// Per-state timeouts. Defaults are IPVS's (IPVS-SEMANTICS.md §2).
// `ipvsadm --set tcp tcpfin udp` maps to tcp[kEstablished], tcp[kFinWait], udp.
struct ConnTimeouts {
  std::array<std::chrono::seconds, kTcpStateCount> tcp = {
      std::chrono::seconds{2},    // NONE
      std::chrono::seconds{900},  // ESTABLISHED
      std::chrono::seconds{120},  // SYN_SENT
      std::chrono::seconds{60},   // SYN_RECV
      std::chrono::seconds{120},  // FIN_WAIT
      std::chrono::seconds{120},  // TIME_WAIT
      std::chrono::seconds{10},   // CLOSE
      std::chrono::seconds{60},   // CLOSE_WAIT
      std::chrono::seconds{30},   // LAST_ACK
      std::chrono::seconds{120},  // LISTEN
      std::chrono::seconds{120},  // SYNACK
  };
  std::chrono::seconds udp{300};
  std::chrono::seconds icmp{60};
};

namespace detail {

// Row = packet kind as the kernel's tcp_state_idx orders it; column = current
// state. Written from ip_vs_proto_tcp.c (Linux 6.x).
inline constexpr std::size_t kTcpSynRow = 0;
inline constexpr std::size_t kTcpFinRow = 1;
inline constexpr std::size_t kTcpAckRow = 2;
inline constexpr std::size_t kTcpRstRow = 3;

using TcpTable = std::array<std::array<std::array<TcpState, kTcpStateCount>, 4>, 3>;

namespace s {
inline constexpr TcpState NO = TcpState::kNone;
inline constexpr TcpState ES = TcpState::kEstablished;
inline constexpr TcpState SS = TcpState::kSynSent;
inline constexpr TcpState SR = TcpState::kSynRecv;
inline constexpr TcpState FW = TcpState::kFinWait;
inline constexpr TcpState TW = TcpState::kTimeWait;
inline constexpr TcpState CL = TcpState::kClose;
inline constexpr TcpState CW = TcpState::kCloseWait;
inline constexpr TcpState LA = TcpState::kLastAck;
inline constexpr TcpState LI = TcpState::kListen;
inline constexpr TcpState SA = TcpState::kSynAck;
}  // namespace s

// clang-format off
inline constexpr TcpTable kTcpStates = {{
    // INPUT      NO     ES     SS     SR     FW     TW     CL     CW     LA     LI     SA
    {{/*syn*/ {s::SR, s::ES, s::ES, s::SR, s::SR, s::SR, s::SR, s::SR, s::SR, s::SR, s::SR},
      /*fin*/ {s::CL, s::CW, s::SS, s::TW, s::TW, s::TW, s::CL, s::CW, s::LA, s::LI, s::TW},
      /*ack*/ {s::ES, s::ES, s::SS, s::ES, s::FW, s::TW, s::CL, s::CW, s::CL, s::LI, s::ES},
      /*rst*/ {s::CL, s::CL, s::CL, s::SR, s::CL, s::CL, s::CL, s::CL, s::LA, s::LI, s::SR}}},
    // OUTPUT
    {{/*syn*/ {s::SS, s::ES, s::SS, s::SR, s::SS, s::SS, s::SS, s::SS, s::SS, s::LI, s::SR},
      /*fin*/ {s::TW, s::FW, s::SS, s::TW, s::FW, s::TW, s::CL, s::TW, s::LA, s::LI, s::TW},
      /*ack*/ {s::ES, s::ES, s::SS, s::ES, s::FW, s::TW, s::CL, s::CW, s::LA, s::ES, s::ES},
      /*rst*/ {s::CL, s::CL, s::SS, s::CL, s::CL, s::TW, s::CL, s::CL, s::CL, s::CL, s::CL}}},
    // INPUT-ONLY
    {{/*syn*/ {s::SR, s::ES, s::ES, s::SR, s::SR, s::SR, s::SR, s::SR, s::SR, s::SR, s::SR},
      /*fin*/ {s::CL, s::FW, s::SS, s::TW, s::FW, s::TW, s::CL, s::CW, s::LA, s::LI, s::TW},
      /*ack*/ {s::ES, s::ES, s::SS, s::ES, s::FW, s::TW, s::CL, s::CW, s::CL, s::LI, s::ES},
      /*rst*/ {s::CL, s::CL, s::CL, s::SR, s::CL, s::CL, s::CL, s::CL, s::LA, s::LI, s::CL}}},
}};

inline constexpr TcpTable kTcpStatesSecure = {{
    // INPUT      NO     ES     SS     SR     FW     TW     CL     CW     LA     LI     SA
    {{/*syn*/ {s::SR, s::ES, s::ES, s::SR, s::SR, s::SR, s::SR, s::SR, s::SR, s::SR, s::SA},
      /*fin*/ {s::CL, s::CW, s::SS, s::TW, s::TW, s::TW, s::CL, s::CW, s::LA, s::LI, s::SA},
      /*ack*/ {s::ES, s::ES, s::SS, s::SR, s::FW, s::TW, s::CL, s::CW, s::CL, s::LI, s::SA},
      /*rst*/ {s::CL, s::CL, s::CL, s::SR, s::CL, s::CL, s::CL, s::CL, s::LA, s::LI, s::CL}}},
    // OUTPUT
    {{/*syn*/ {s::SS, s::ES, s::SS, s::SA, s::SS, s::SS, s::SS, s::SS, s::SS, s::LI, s::SA},
      /*fin*/ {s::TW, s::FW, s::SS, s::TW, s::FW, s::TW, s::CL, s::TW, s::LA, s::LI, s::TW},
      /*ack*/ {s::ES, s::ES, s::SS, s::ES, s::FW, s::TW, s::CL, s::CW, s::LA, s::ES, s::ES},
      /*rst*/ {s::CL, s::CL, s::SS, s::CL, s::CL, s::TW, s::CL, s::CL, s::CL, s::CL, s::CL}}},
    // INPUT-ONLY
    {{/*syn*/ {s::SA, s::ES, s::ES, s::SR, s::SA, s::SA, s::SA, s::SA, s::SA, s::SA, s::SA},
      /*fin*/ {s::CL, s::FW, s::SS, s::TW, s::FW, s::TW, s::CL, s::CW, s::LA, s::LI, s::TW},
      /*ack*/ {s::ES, s::ES, s::SS, s::ES, s::FW, s::TW, s::CL, s::CW, s::CL, s::LI, s::ES},
      /*rst*/ {s::CL, s::CL, s::CL, s::SR, s::CL, s::CL, s::CL, s::CL, s::LA, s::LI, s::CL}}},
}};
// clang-format on

}  // namespace detail

// The next state for a TCP packet with header flags `tcpFlags` seen in table
// direction `dir` on a connection in state `cur`. As the kernel's
// tcp_state_idx, RST wins over SYN, SYN over FIN, FIN over ACK; a packet with
// none of the four moves the connection to CLOSE.
inline TcpState nextTcpState(TcpTableSet set, TcpTableDir dir, TcpState cur, uint8_t tcpFlags) {
  std::size_t row;
  if (tcpFlags & kTcpRst) {
    row = detail::kTcpRstRow;
  } else if (tcpFlags & kTcpSyn) {
    row = detail::kTcpSynRow;
  } else if (tcpFlags & kTcpFin) {
    row = detail::kTcpFinRow;
  } else if (tcpFlags & kTcpAck) {
    row = detail::kTcpAckRow;
  } else {
    return TcpState::kClose;
  }
  const detail::TcpTable& table =
      set == TcpTableSet::kSecure ? detail::kTcpStatesSecure : detail::kTcpStates;
  return table[static_cast<std::size_t>(dir)][row][static_cast<std::size_t>(cur)];
}

// Whether `state` counts the connection as active under `policy`.
inline bool tcpStateActive(ActiveStates policy, TcpState state) {
  if (state == TcpState::kEstablished) {
    return true;
  }
  return policy == ActiveStates::kKernelTable &&
         (state == TcpState::kSynSent || state == TcpState::kSynRecv || state == TcpState::kSynAck);
}

// The state's name as ipvsadm -L -c prints it ("ESTABLISHED", "SYN_RECV", …).
std::string_view tcpStateName(TcpState state);

}  // namespace dplb::dp
