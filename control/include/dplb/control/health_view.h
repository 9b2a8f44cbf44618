#pragma once

// What the control plane knows about each real server's health: the data
// behind `dplbadm --status` and the health metrics.
//
// Contract: plain values copied out of the health manager under its lock; a
// reader never holds a reference into live state. Servers without a health
// check appear with checked = false and up = true (IPVS treats them as
// alive).

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "dplb/conf/config.h"

namespace dplb::control {

// Upper bounds (seconds) of the probe latency histogram buckets; +Inf is
// implied. Probes time out at the check's timeout (default 1 s).
inline constexpr std::array<double, 12> kProbeLatencyBuckets{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

struct ServerHealth {
  std::string service;  // service name
  conf::Ipv4 vip;
  uint16_t vipPort = 0;
  conf::Protocol protocol = conf::Protocol::Tcp;
  conf::Ipv4 addr;  // real server
  uint16_t port = 0;

  bool checked = false;  // false: no health check configured
  bool up = true;
  std::string check;              // checker type ("tcp", "https", ...); "" unchecked
  uint32_t configuredWeight = 0;  // from the config / dplbadm
  uint32_t weight = 0;            // what the dataplane uses now
  bool removed = false;           // on_failure: remove took it out of the service
  // The last probe: ok, why not, how long it took.
  std::optional<bool> lastOk;
  std::string reason;
  double lastLatencySeconds = 0;
  double sinceChangeSeconds = 0;  // since the last state change (or start)
  uint64_t transitions = 0;       // up->down and down->up so far
  // Probe latency histogram: cumulative counts per kProbeLatencyBuckets bound.
  std::array<uint64_t, kProbeLatencyBuckets.size()> latencyBuckets{};
  uint64_t probes = 0;
  double latencySumSeconds = 0;
  std::optional<int64_t> localEndpoints;  // nodeport checks: kube-proxy's localEndpoints
};

// Per service: live weight against quorum and whether the sorry server is in.
struct ServiceHealth {
  std::string service;
  conf::Ipv4 vip;
  uint16_t port = 0;
  conf::Protocol protocol = conf::Protocol::Tcp;
  uint64_t liveWeight = 0;  // sum of the weights of servers that are up
  uint32_t quorum = 1;
  bool sorryActive = false;  // below quorum with a sorry server taking new connections
};

// The identity and configured weight of one server / service; the health
// fields keep their defaults (unchecked, up).
inline ServerHealth serverHealthOf(const conf::Service& svc, const conf::RealServer& rs) {
  ServerHealth h;
  h.service = svc.name;
  h.vip = svc.vip;
  h.vipPort = svc.port;
  h.protocol = svc.protocol;
  h.addr = rs.address;
  h.port = rs.port;
  h.configuredWeight = rs.weight;
  h.weight = rs.weight;
  return h;
}

inline ServiceHealth serviceHealthOf(const conf::Service& svc) {
  ServiceHealth h;
  h.service = svc.name;
  h.vip = svc.vip;
  h.port = svc.port;
  h.protocol = svc.protocol;
  h.quorum = svc.quorum;
  return h;
}

}  // namespace dplb::control
