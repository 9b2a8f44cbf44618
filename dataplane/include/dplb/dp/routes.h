#pragma once

// IPv4 routes: connected prefixes from the port addresses plus static routes,
// longest-prefix match. Built by the control plane, immutable afterwards
// (part of the snapshot), read by every worker without locks.
//
// An appliance carries a handful of routes, so the table is a list sorted by
// prefix length (longest first) and a lookup is a short linear scan over a
// few cache lines; a full routing table would call for DPDK's rte_lpm.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dplb::dp {

struct RouteHop {
  int port = -1;         // index into the snapshot's ports; -1 = no route
  uint32_t nextHop = 0;  // host order: the gateway, or the destination itself if connected
  bool found() const { return port >= 0; }
};

class RouteTable {
 public:
  // `via` == 0 means directly connected.
  void add(uint32_t prefix, uint8_t len, uint32_t via, int port);
  RouteHop lookup(uint32_t dst) const {
    for (const auto& r : routes_) {
      if ((dst & r.mask) == r.prefix) {
        return RouteHop{r.port, r.via != 0 ? r.via : dst};
      }
    }
    return {};
  }
  size_t size() const { return routes_.size(); }

 private:
  struct Route {
    uint32_t prefix;
    uint32_t mask;
    uint8_t len;
    uint32_t via;
    int port;
  };
  std::vector<Route> routes_;
};

}  // namespace dplb::dp
