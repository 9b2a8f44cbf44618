#pragma once

// The exception path's kernel side: one TAP interface per port
// (ARCHITECTURE "Neighbours, routes, exception path").
//
// Contract: KernelInterfaces::open() gives every port whose config has
// exception_path set a DPDK net_tap port ("net_tap<N>,iface=<port name>,
// mac=<port MAC>") in the network namespace of the calling process, with one
// rx and one tx queue per worker (queue w belongs to worker w, so no queue is
// shared and nothing is locked), the port's MTU, up, and the port's local
// addresses (set over rtnetlink, so the kernel also gets the connected
// routes). A port whose TAP cannot be made (no /dev/net/tun, no permission,
// the name taken) runs with the exception path off: open() never fails, it
// logs one warning per such port and lists the reasons in warnings().
// close() removes the TAP interfaces again.
//
// Static routes: every dataplane.routes entry whose egress port has a TAP is
// also given to the kernel (main table, "proto static", metric 0, via the
// route's next hop out of that TAP), so the host's own sockets reach what
// dplb reaches through a gateway (health checks of real servers behind a
// router). A route the kernel refuses does not cost the port its exception
// path: it is logged and listed in warnings() ("dataplane.routes[i]: ..."),
// and the rest still goes in. A route the kernel already has with the same
// prefix and metric (say the host's default route on a management NIC) is
// such a refusal: the kernel's route is kept, never replaced; dplb's own
// forwarding uses the configured route either way. Routes, like the rest of
// `dataplane`, are set at start only: Dataplane::publish refuses a changed
// dataplane section (a reload cannot add or remove them), and the routes go
// with the TAPs when close() deletes them.
//
// Which worker polls what: every worker polls its own rx queue of every TAP
// (the kernel spreads its output over the queues by flow) and sends what it
// reads out of the TAP's port on its own tx queue of that port, unchanged.
// Any worker that decides a packet is for the host writes it to its own tx
// queue of the TAP of the port it came in on.

#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dplb/conf/config.h"
#include "dplb/dp/ports.h"

namespace dplb::dp {

class KernelInterfaces {
 public:
  KernelInterfaces() = default;
  KernelInterfaces(const KernelInterfaces&) = delete;
  KernelInterfaces& operator=(const KernelInterfaces&) = delete;
  ~KernelInterfaces() { close(); }

  // Mbufs the TAP queues of `dp` hold with `workers` workers (for the pool).
  static unsigned mbufsNeeded(const conf::DataplaneConfig& dp, unsigned workers);

  void open(const conf::DataplaneConfig& dp, const std::vector<PortInfo>& ports, rte_mempool* pool,
            unsigned workers);
  void close();

  // DPDK port id of the TAP of ports[portIndex], or -1 (exception path off).
  int tapOf(size_t portIndex) const { return portIndex < taps_.size() ? taps_[portIndex] : -1; }
  const std::vector<int>& taps() const { return taps_; }
  // Ports left without a TAP and routes the kernel refused, one line each.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::string openOne(const conf::Port& p, const PortInfo& info, rte_mempool* pool,
                      unsigned workers, int* tapPortId);

  std::vector<int> taps_;             // by port index
  std::vector<std::string> devices_;  // vdev names we probed
  std::vector<std::string> warnings_;
};

// Adds `addresses` (with their prefix lengths) to the kernel interface
// `ifname` over rtnetlink; an address already present is fine. "" on success.
std::string addKernelAddresses(const std::string& ifname,
                               const std::vector<conf::Prefix>& addresses);

// Adds the route to `route.prefix` via `route.via` out of the kernel
// interface `ifname` to the main table over rtnetlink (RTM_NEWROUTE, like
// `ip route add`: an existing route with the same prefix and metric is left
// alone and reported). The next hop must be on a connected network of
// `ifname` and the interface up. "" on success.
std::string addKernelRoute(const std::string& ifname, const conf::Route& route);

}  // namespace dplb::dp
