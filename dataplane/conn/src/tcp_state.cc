#include "dplb/dp/tcp_state.h"

namespace dplb::dp {

std::string_view tcpStateName(TcpState state) {
  // ipvsadm -L -c spells the states as the kernel's tcp_state_name_table.
  switch (state) {
    case TcpState::kNone:
      return "NONE";
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kSynSent:
      return "SYN_SENT";
    case TcpState::kSynRecv:
      return "SYN_RECV";
    case TcpState::kFinWait:
      return "FIN_WAIT";
    case TcpState::kTimeWait:
      return "TIME_WAIT";
    case TcpState::kClose:
      return "CLOSE";
    case TcpState::kCloseWait:
      return "CLOSE_WAIT";
    case TcpState::kLastAck:
      return "LAST_ACK";
    case TcpState::kListen:
      return "LISTEN";
    case TcpState::kSynAck:
      return "SYNACK";
  }
  return "ERR!";
}

}  // namespace dplb::dp
