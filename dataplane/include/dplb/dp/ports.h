#pragma once

// DPDK ports opened from the config's `device` strings.
//
// Contract: PortSet::open() probes every dataplane.ports[i].device (a PCI
// address or any vdev string), configures one rx and one tx queue per worker
// (fewer rx queues when the device has fewer: a worker without an rx queue on
// a port still transmits on it), applies the optional MAC override and MTU,
// and starts the ports. Any failure is returned as text naming the config key
// (e.g. "dataplane.ports[1].device: cannot probe "net_pcap0,rx_pcap=/x":
// No such file or directory") and leaves nothing half-open. close() stops and
// closes every port so pcap output files are complete.

#include <rte_ether.h>
#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dplb/conf/config.h"

namespace dplb::dp {

struct PortInfo {
  std::string name;  // config name, e.g. "wan0"
  uint16_t portId = 0;
  rte_ether_addr mac{};
  uint16_t mtu = 1500;
  uint16_t rxQueues = 0;
  uint16_t txQueues = 0;
  bool txCksumOffload = false;  // IPv4 + TCP/UDP checksum offload available
};

class PortSet {
 public:
  PortSet() = default;
  PortSet(const PortSet&) = delete;
  PortSet& operator=(const PortSet&) = delete;
  ~PortSet() { close(); }

  // Returns "" on success. The pool gets `extraMbufs` more buffers than the
  // ports' own queues need (TAP queues, fragments held for reassembly).
  std::string open(const conf::DataplaneConfig& dp, unsigned workers, unsigned extraMbufs = 0);
  void close();

  const std::vector<PortInfo>& ports() const { return ports_; }
  rte_mempool* pool() const { return pool_; }
  // Index into ports() of the port with DPDK id `portId`, or -1.
  int indexOf(uint16_t portId) const;

 private:
  std::string openOne(const conf::Port& p, size_t index, unsigned workers, PortInfo& out);

  std::vector<PortInfo> ports_;
  std::vector<std::string> probed_;  // devices we probed (removed again on close)
  rte_mempool* pool_ = nullptr;
};

}  // namespace dplb::dp
