#pragma once

// The immutable view of services, ports, routes and neighbours that workers
// read (ARCHITECTURE "Services and configuration reaching workers").
//
// Contract: the control plane builds a complete Snapshot with a
// SnapshotBuilder and publishes it with one pointer swap; a published
// Snapshot is never edited, except through the per-worker Scheduler objects it
// holds (worker w touches only schedulers[w]) and the shared RealServer
// atomics (connection counts, overload flag, weight). SnapshotBuilder keeps
// real-server and service identities across rebuilds: a server that is in
// both the old and the new config keeps its RealServer object (so its
// connection counts and its connections survive), its id and its generation;
// a removed server's generation is bumped, which is how workers learn that
// its connections have no destination any more (ConnTable::destAlive).
//
// Scheduler hand-over: a service whose scheduler, flags, mh table size and
// server list (address, port, order) did not change keeps its per-worker
// Scheduler instances (rr/wrr cursor, lblc/lblcr tables, mh table): the new
// snapshot shares them with the old one (shared_ptr). That is safe because
// worker w alone touches schedulers[w], through whichever snapshot it holds,
// and the builder never calls into a handed-over instance (no addServer on a
// running scheduler); the old snapshot only drops its references when it is
// freed after the grace period. wrr, dh, sh and mh also need equal weights:
// they cache tables derived from weights that only updateServer() (an owner
// call) would refresh, so a weight change gives them fresh instances.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dplb/conf/config.h"
#include "dplb/dp/conn_table.h"
#include "dplb/dp/routes.h"
#include "dplb/pkt/headers.h"
#include "dplb/sched/scheduler.h"

namespace dplb::dp {

// Fixed bounds of the per-worker statistics arrays (ids index them).
inline constexpr uint32_t kMaxServices = 4096;
inline constexpr uint32_t kMaxRealServers = 65536;

struct RsRuntime {
  uint32_t id = 0;  // real-server id: stats index, ConnTable realServerId
  uint32_t generation = 0;
  std::shared_ptr<sched::RealServer> server;
  uint32_t addr = 0;  // host order
  uint16_t port = 0;  // 0 for a port-0 service: the client's destination port
  ForwardMode fwd = ForwardMode::kNat;
};

struct ServiceRuntime {
  uint32_t id = 0;
  std::string name;
  uint32_t vip = 0;   // host order
  uint16_t port = 0;  // 0 = all ports (persistent only)
  L4Proto proto = L4Proto::kTcp;
  ForwardMode fwd = ForwardMode::kNat;
  bool persistent = false;
  uint32_t persistNetmask = 0xFFFFFFFF;  // host order
  std::chrono::seconds persistTimeout{360};
  std::vector<RsRuntime> servers;  // config order
  // Scheduler pick result -> index into servers.
  std::unordered_map<const sched::RealServer*, uint32_t> indexOf;
  // One per worker; shared with the previous snapshot when handed over.
  std::vector<std::shared_ptr<sched::Scheduler>> schedulers;

  const RsRuntime* rsFor(const sched::RealServer* s) const {
    auto it = indexOf.find(s);
    return it == indexOf.end() ? nullptr : &servers[it->second];
  }
};

struct PortRuntime {
  std::string name;
  uint16_t portId = 0;
  pkt::MacAddr mac;
  uint16_t mtu = 1500;
  std::vector<conf::Prefix> addresses;
};

struct Snapshot {
  uint64_t generation = 0;
  std::vector<std::unique_ptr<ServiceRuntime>> services;
  std::unordered_map<uint64_t, ServiceRuntime*> byKey;  // serviceKey()
  std::unordered_set<uint32_t> vips;
  std::vector<PortRuntime> ports;
  std::unordered_map<uint32_t, int> localAddrs;  // address -> port index
  RouteTable routes;
  struct StaticNeighbour {
    uint32_t ip;
    pkt::MacAddr mac;
    int port;
  };
  std::vector<StaticNeighbour> neighbours;
  // Indexed by real-server id. destGenerations feeds ConnTable::destAlive();
  // rsById is null for free ids.
  std::vector<uint32_t> destGenerations;
  std::vector<sched::RealServer*> rsById;
  bool expireNodestConn = false;
  bool expireQuiescentTemplate = false;
  // ipvsadm --set: workers apply these when they pick up a new snapshot;
  // they take effect at each connection's next state change or re-arm.
  ConnTimeouts connTimeouts;
  // Ids handed out by this build that were free before: the publisher clears
  // their per-worker counters before workers can see them (an id may have
  // belonged to a removed service or server).
  std::vector<uint32_t> freshServiceIds;
  std::vector<uint32_t> freshRsIds;

  static uint64_t serviceKey(uint32_t vip, uint16_t port, L4Proto proto) {
    return (uint64_t{vip} << 24) | (uint64_t{port} << 8) | static_cast<uint8_t>(proto);
  }
  const ServiceRuntime* findService(uint32_t vip, uint16_t port, L4Proto proto) const {
    auto it = byKey.find(serviceKey(vip, port, proto));
    if (it == byKey.end()) {
      it = byKey.find(serviceKey(vip, 0, proto));  // port-0 (all ports) service
      if (it == byKey.end()) {
        return nullptr;
      }
    }
    return it->second;
  }
  // The port index whose address is `ip`, or -1.
  int localPort(uint32_t ip) const {
    auto it = localAddrs.find(ip);
    return it == localAddrs.end() ? -1 : it->second;
  }
  // A local address of `port` on the same network as `ip` (else its first).
  uint32_t sourceAddressFor(int port, uint32_t ip) const;
};

struct PortIdentity {
  std::string name;
  uint16_t portId = 0;
  pkt::MacAddr mac;
};

class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(unsigned workers, std::chrono::nanoseconds start = {})
      : workers_(workers), start_(start) {}

  // Builds the snapshot for `config` (already validated). `ports` gives the
  // opened DPDK ports in config order. Returns nullptr and sets *error when a
  // bound is exceeded or a scheduler cannot be built; the builder's identity
  // tables are then unchanged.
  std::unique_ptr<Snapshot> build(const conf::Config& config,
                                  const std::vector<PortIdentity>& ports, std::string* error);

 private:
  struct RsIdentity {
    uint32_t id;
    uint32_t generation;
    std::shared_ptr<sched::RealServer> server;
  };
  unsigned workers_;
  std::chrono::nanoseconds start_;
  uint64_t generation_ = 0;
  // (service key, rs addr, rs port) -> identity
  std::map<std::tuple<uint64_t, uint32_t, uint16_t>, RsIdentity> servers_;
  std::map<uint64_t, uint32_t> serviceIds_;
  std::vector<uint32_t> generations_;  // by rs id
  std::vector<uint32_t> freeRsIds_;
  std::vector<uint32_t> freeServiceIds_;
  // Per service key: what its schedulers were built for, and the instances.
  struct SchedulerSet {
    std::string kind;
    uint32_t flags = 0;
    uint32_t mhTableSize = 0;
    std::vector<std::tuple<uint32_t, uint16_t, uint32_t>> servers;  // addr, port, weight
    std::vector<std::shared_ptr<sched::Scheduler>> perWorker;
  };
  std::map<uint64_t, SchedulerSet> schedulerSets_;
  static bool canHandOver(const SchedulerSet& running, const SchedulerSet& next);
  uint32_t nextRsId_ = 0;
  uint32_t nextServiceId_ = 0;
};

}  // namespace dplb::dp
