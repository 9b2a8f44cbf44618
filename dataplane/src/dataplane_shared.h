#pragma once

// State shared by the Dataplane and its workers (private to dataplane/).

#include <atomic>
#include <cstdint>
#include <vector>

#include "dplb/dp/dataplane.h"

namespace dplb::dp {

struct Dataplane::Shared {
  std::atomic<const Snapshot*> snapshot{nullptr};
  rte_rcu_qsbr* rcu = nullptr;
  std::atomic<bool> running{false};
  unsigned workers = 1;
  // handoff[src * workers + dst]: single-producer single-consumer rings.
  std::vector<rte_ring*> handoff;
  // arpLearn[src * workers + dst]: copies of ARP packets for learning.
  std::vector<rte_ring*> arpLearn;
  std::vector<PortInfo> ports;
  rte_mempool* pool = nullptr;
  // By port index: DPDK port id of its kernel interface (TAP), or -1.
  std::vector<int> taps;
  // Single-segment buffers big enough for a reassembled datagram.
  rte_mempool* reassemblyPool = nullptr;
  uint32_t reassemblyMaxFlows = 1024;
  uint64_t reassemblyTimeoutNs = 5'000'000'000;
  ClockFn clock;
  ConnTimeouts connTimeouts;
  uint64_t hashSeed = 0;
  int64_t idleSleepUs = 0;
};

}  // namespace dplb::dp
