#pragma once

// The dataplane facade that dplbd (and the packet-tier tests) drive.
//
// Contract: start() opens the ports and their kernel interfaces (exception
// path; a port whose TAP cannot be made runs without one, with a warning),
// creates the handoff rings and RCU state and builds the first snapshot; it either succeeds
// completely or returns the reason (naming the config key) with nothing left open. Workers run
// either on their own lcores (launch()) or, for deterministic tests, by the caller through
// worker(i).pollOnce() on the calling thread. publish() swaps in a new snapshot built from a
// validated config without stopping the workers and frees the old one after an RCU grace period.
// stop() makes launched workers return, then closes the ports (pcap output files are complete
// afterwards). Statistics are read at any time without slowing the workers.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dplb/conf/config.h"
#include "dplb/dp/counters.h"
#include "dplb/dp/kernel_iface.h"
#include "dplb/dp/ports.h"
#include "dplb/dp/snapshot.h"

struct rte_ring;
struct rte_rcu_qsbr;

namespace dplb::dp {

class Worker;

// Monotonic nanoseconds; injected so tests control connection timeouts.
using ClockFn = std::function<uint64_t()>;
uint64_t tscClockNs();

struct DataplaneOptions {
  unsigned workers = 1;
  ClockFn clock;  // default: TSC
  // Entries per worker; 0 = the config's dataplane.conn_table.capacity.
  uint32_t connCapacity = 0;
};

struct ConnInfo {
  unsigned worker = 0;
  L4Proto proto = L4Proto::kTcp;
  bool isTemplate = false;
  uint8_t state = 0;
  uint32_t clientAddr = 0;
  uint16_t clientPort = 0;
  uint32_t vipAddr = 0;
  uint16_t vipPort = 0;
  uint32_t rsAddr = 0;
  uint16_t rsPort = 0;
  std::chrono::nanoseconds remaining{0};
};

// NIC counters of one port (rte_eth_stats), read by the control plane.
struct PortCounters {
  std::string name;
  std::string mac;
  uint64_t rxPackets = 0;
  uint64_t txPackets = 0;
  uint64_t rxBytes = 0;
  uint64_t txBytes = 0;
  uint64_t rxMissed = 0;
  uint64_t rxErrors = 0;
  uint64_t txErrors = 0;
};

// One real server as the admin CLI lists it.
struct ServerView {
  uint32_t addr = 0;
  uint16_t port = 0;
  ForwardMode fwd = ForwardMode::kNat;
  int32_t weight = 0;
  uint32_t uThreshold = 0;
  uint32_t lThreshold = 0;
  int32_t activeConns = 0;
  int32_t inactiveConns = 0;
  int32_t persistentConns = 0;
  TrafficTotals stats;
};

// One service as the admin CLI lists it (running snapshot + counters).
struct ServiceView {
  std::string name;
  uint32_t vip = 0;
  uint16_t port = 0;
  L4Proto proto = L4Proto::kTcp;
  std::string scheduler;
  conf::SchedulerFlags flags;
  bool persistent = false;
  uint32_t persistTimeoutS = 0;
  uint32_t netmask = 0xFFFFFFFF;
  TrafficTotals stats;
  std::vector<ServerView> servers;
};

class Dataplane {
 public:
  Dataplane();
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // EAL must be initialised. Returns "" on success.
  std::string start(const conf::Config& config, const DataplaneOptions& options);
  // Runs every worker on its own lcore (the EAL worker lcores, in order).
  std::string launch();
  void stop();

  // Hot path-safe configuration change of services and real servers; "" on
  // success. Of the `dataplane` section only `timeouts` may change (workers
  // apply them from each connection's next state change); any other change
  // there is refused (needs a restart).
  std::string publish(const conf::Config& config);

  unsigned workerCount() const { return static_cast<unsigned>(workers_.size()); }
  Worker& worker(unsigned i) { return *workers_[i]; }
  const PortSet& ports() const { return ports_; }
  // The exception path's TAPs (which ports have one, and why not).
  const KernelInterfaces& kernelInterfaces() const { return kernel_; }

  // ---- statistics (summed over workers)
  std::vector<uint64_t> drops() const;  // indexed by DropReason
  uint64_t drop(pkt::DropReason r) const { return drops()[pkt::dropReasonIndex(r)]; }
  TrafficTotals serviceTotals(uint32_t vip, uint16_t port, L4Proto proto) const;
  TrafficTotals realServerTotals(uint32_t vip, uint16_t port, L4Proto proto, uint32_t rsAddr,
                                 uint16_t rsPort) const;
  const WorkerStats& workerStats(unsigned i) const;
  // Worker i's neighbour (ARP) table entries in use; every worker keeps a copy.
  uint32_t neighbourEntries(unsigned i) const;
  std::vector<PortCounters> portCounters() const;
  std::vector<ServiceView> listServices() const;
  // Connection entries all workers can hold (ipvsadm's "size").
  uint64_t connCapacity() const { return connCapacity_ * workers_.size(); }
  uint32_t connCount() const;
  // Copies of the connection entries; stops nothing (each worker's table is
  // read by the control plane through a snapshot request; see Worker).
  std::vector<ConnInfo> connections();

  // ---- shared with the workers
  struct Shared;
  Shared& shared() { return *shared_; }

 private:
  std::unique_ptr<Shared> shared_;
  PortSet ports_;
  KernelInterfaces kernel_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<SnapshotBuilder> builder_;
  // The service in the published snapshot; call with publishMutex_ held.
  const ServiceRuntime* publishedService(uint32_t vip, uint16_t port, L4Proto proto) const;

  mutable std::mutex publishMutex_;
  conf::Config running_;       // the config of the published snapshot
  uint64_t connCapacity_ = 0;  // per worker
  bool launched_ = false;
};

}  // namespace dplb::dp
