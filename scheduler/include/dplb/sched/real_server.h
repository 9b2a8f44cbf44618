#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace dplb::sched {

// What an operator sets on a real server (ipvsadm -w -x -y).
struct ServerParams {
  int32_t weight = 1;       // 0 = quiesced: keeps its connections, gets no new one
  uint32_t uThreshold = 0;  // upper connection threshold, 0 = none
  uint32_t lThreshold = 0;  // lower connection threshold, 0 = none (then 3/4 of upper)
};

enum class ParamError : uint8_t {
  kNone,
  kNegativeWeight,   // IPVS: "server weight less than zero" (-ERANGE)
  kLowerAboveUpper,  // IPVS: "lower threshold is higher than upper threshold" (-ERANGE)
};

std::string_view toString(ParamError e);

// Identity of a real server inside one service: address and port, as IPVS
// looks destinations up (ip_vs_lookup_dest). Fits in 48 bits.
inline constexpr uint64_t serverKey(uint32_t addr, uint16_t port) {
  return (static_cast<uint64_t>(addr) << 16) | port;
}

// A real server as the schedulers see it: IPVS's struct ip_vs_dest reduced
// to what scheduling needs.
//
// Contract: one RealServer object per (service, address, port), shared by
// every worker's Scheduler instance of that service. The connection counts and
// the OVERLOAD flag change once per connection event (bind, state change,
// unbind), from any worker, so they are std::atomic with relaxed ordering:
// like IPVS, which updates them with plain atomic_inc/atomic_dec and sets the
// flag bit without a lock, the threshold rule is evaluated on a snapshot and a
// race can at worst flip the flag one connection late. The operator-set values
// (weight, thresholds) are written only by the control plane through edit()
// and read by workers; they are relaxed atomics for the same reason. Nothing
// here allocates or blocks.
//
// The threshold/OVERLOAD rules are those of ip_vs_bind_dest, ip_vs_unbind_dest
// (net/netfilter/ipvs/ip_vs_conn.c) and __ip_vs_update_dest (ip_vs_ctl.c):
//  - bind: counts +1, then OVERLOAD is set when u != 0 and total >= u
//    (total = active + inactive; persistence templates are not counted, but a
//    template bind still re-evaluates the rule, as IPVS does);
//  - unbind: counts -1, then OVERLOAD is cleared when l != 0 and total < l,
//    else when u != 0 and total*4 < u*3, else (no thresholds) always;
//  - edit: OVERLOAD is cleared when the new u is 0 or larger than the old u;
//    it is not re-evaluated against the current count.
// The comparisons use IPVS's unsigned 32-bit arithmetic (u_threshold is u32).
class alignas(64) RealServer {
 public:
  // `params` must have passed validate(); IPVS refuses the server otherwise.
  RealServer(uint32_t addr, uint16_t port, const ServerParams& params);
  RealServer(const RealServer&) = delete;
  RealServer& operator=(const RealServer&) = delete;

  static ParamError validate(const ServerParams& params);

  uint32_t addr() const { return addr_; }  // IPv4, host order
  uint16_t port() const { return port_; }  // host order
  uint64_t key() const { return serverKey(addr_, port_); }

  int32_t weight() const { return weight_.load(std::memory_order_relaxed); }
  // The latest non-zero weight (or the weight given at add time). Maglev
  // hashing builds its table from it so that quiescing a server (weight 0)
  // does not reshuffle the other servers' slots (IPVS dest->last_weight).
  int32_t lastWeight() const { return lastWeight_.load(std::memory_order_relaxed); }
  uint32_t uThreshold() const { return uThreshold_.load(std::memory_order_relaxed); }
  uint32_t lThreshold() const { return lThreshold_.load(std::memory_order_relaxed); }
  bool overloaded() const { return overload_.load(std::memory_order_relaxed); }

  int32_t activeConns() const { return activeConns_.load(std::memory_order_relaxed); }
  int32_t inactiveConns() const { return inactConns_.load(std::memory_order_relaxed); }
  int32_t persistentConns() const { return persistConns_.load(std::memory_order_relaxed); }
  // IPVS ip_vs_dest_conn_overhead: an active connection costs 256 inactive ones.
  int64_t overhead() const { return (static_cast<int64_t>(activeConns()) << 8) + inactiveConns(); }

  // A new connection is bound to this server. IPVS creates connections
  // INACTIVE (TCP becomes active on entering ESTABLISHED); a connection
  // learned from a sync peer may arrive active.
  void bindConn(bool active = false);
  // The connection is unbound (expired, closed, dropped). `active` is its
  // state at that moment.
  void unbindConn(bool active);
  // TCP entered ESTABLISHED (inactive -> active) / left it (active -> inactive).
  // Totals do not change, so the threshold rule is not re-evaluated (IPVS
  // set_tcp_state).
  void connActivated();
  void connDeactivated();
  // Persistence templates: counted apart, never in the threshold total.
  void bindTemplate();
  void unbindTemplate();

  // Control plane: apply new operator values. Returns the error (and changes
  // nothing) when IPVS would refuse them. Every Scheduler instance listing
  // this server must then be told with Scheduler::updateServer().
  ParamError edit(const ServerParams& params);

 private:
  void applyBindRule();
  void applyUnbindRule();

  const uint32_t addr_;
  const uint16_t port_;
  std::atomic<int32_t> weight_;
  std::atomic<int32_t> lastWeight_;
  std::atomic<uint32_t> uThreshold_;
  std::atomic<uint32_t> lThreshold_;
  std::atomic<bool> overload_{false};
  // The counts are written on connection events, but every least-connection
  // pick reads them together with the weight and the flag: one cache line
  // for the whole object makes a list walk touch one line per server.
  std::atomic<int32_t> activeConns_{0};
  std::atomic<int32_t> inactConns_{0};
  std::atomic<int32_t> persistConns_{0};
};

}  // namespace dplb::sched
