#pragma once

// Per-worker counters (STYLE 3): one writer (the worker), plain increments,
// summed by the control plane.
//
// A Counter is a relaxed atomic that its single writer bumps with a load and
// a store, never a read-modify-write: on x86 that is the same `add` a plain
// uint64_t compiles to, with no lock prefix, yet a reader on another thread
// sees whole values and the program has no data race.

#include <atomic>
#include <cstdint>

#include "dplb/pkt/drop_reason.h"

namespace dplb::dp {

class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }
  void reset() { v_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct alignas(64) WorkerStats {
  Counter rxPackets;
  Counter rxBytes;
  Counter txPackets;
  Counter txBytes;
  Counter handoffOut;  // packets given to their owning worker
  Counter handoffIn;   // packets received from another worker
  Counter loops;
  Counter busyLoops;  // loops that found at least one packet
  Counter newConns;
  Counter expiredConns;
  Counter arpRequestsSent;
  Counter arpRepliesSent;
  Counter garpSent;
  Counter arpResolveFailures;
  Counter echoReplies;
  // Not packet drops: things dplb did not generate (an ICMP error beyond the
  // rate limit, a buffer for an ARP request or a learning copy).
  Counter icmpErrorsSuppressed;
  Counter allocFailures;
  Counter icmpErrorsSent;
  Counter icmpErrorsForwarded;
  // Reassembly: fragments taken in (not those for the host's kernel), whole
  // datagrams made of them. Lost fragments are drops (reassembly_*).
  Counter fragmentsIn;
  Counter datagramsReassembled;
  // Exception path: frames written to the kernel's TAPs, frames the kernel
  // sent out of the ports. Refused writes are drops (exception_path_full).
  Counter toKernel;
  Counter fromKernel;
  Counter drops[pkt::kDropReasonCount];

  void drop(pkt::DropReason r) { drops[pkt::dropReasonIndex(r)].add(); }
};

// Per service and per real server (IPVS ip_vs_stats): conns, in/out packets
// and bytes. "in" is client -> real server, "out" is real server -> client.
struct TrafficStats {
  Counter conns;
  Counter inPackets;
  Counter outPackets;
  Counter inBytes;
  Counter outBytes;
};

// Plain sums for the control plane.
struct TrafficTotals {
  uint64_t conns = 0;
  uint64_t inPackets = 0;
  uint64_t outPackets = 0;
  uint64_t inBytes = 0;
  uint64_t outBytes = 0;

  void add(const TrafficStats& s) {
    conns += s.conns.get();
    inPackets += s.inPackets.get();
    outPackets += s.outPackets.get();
    inBytes += s.inBytes.get();
    outBytes += s.outBytes.get();
  }
};

}  // namespace dplb::dp
