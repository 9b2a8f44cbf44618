#include "dplb/dp/snapshot.h"

#include <fmt/format.h>

#include <cstring>

namespace dplb::dp {
namespace {

L4Proto toL4(conf::Protocol p) {
  return p == conf::Protocol::Udp ? L4Proto::kUdp : L4Proto::kTcp;
}

ForwardMode toMode(conf::Forward f) {
  switch (f) {
    case conf::Forward::Dr:
      return ForwardMode::kDr;
    case conf::Forward::Tun:
      return ForwardMode::kTun;
    case conf::Forward::Nat:
      break;
  }
  return ForwardMode::kNat;
}

pkt::MacAddr toMac(const conf::MacAddr& m) {
  pkt::MacAddr out;
  std::memcpy(out.bytes.data(), m.bytes.data(), 6);
  return out;
}

uint32_t schedFlags(const conf::SchedulerFlags& f) {
  uint32_t flags = 0;
  if (f.shFallback || f.mhFallback) {
    flags |= sched::kSchedFlagFallback;
  }
  if (f.shPort || f.mhPort) {
    flags |= sched::kSchedFlagPort;
  }
  return flags;
}

}  // namespace

bool SnapshotBuilder::canHandOver(const SchedulerSet& running, const SchedulerSet& next) {
  if (running.kind != next.kind || running.flags != next.flags ||
      running.mhTableSize != next.mhTableSize || running.servers.size() != next.servers.size()) {
    return false;
  }
  // These rebuild weight-derived tables in updateServer(), which only the
  // owning worker may call; the others read weights live at pick time.
  const bool weightTables =
      next.kind == "wrr" || next.kind == "dh" || next.kind == "sh" || next.kind == "mh";
  for (size_t i = 0; i < next.servers.size(); ++i) {
    const auto& [addr, port, weight] = next.servers[i];
    const auto& [raddr, rport, rweight] = running.servers[i];
    if (addr != raddr || port != rport || (weightTables && weight != rweight)) {
      return false;
    }
  }
  return true;
}

uint32_t Snapshot::sourceAddressFor(int port, uint32_t ip) const {
  if (port < 0 || static_cast<size_t>(port) >= ports.size() || ports[port].addresses.empty()) {
    return 0;
  }
  for (const auto& a : ports[port].addresses) {
    if (a.contains(conf::Ipv4(ip))) {
      return a.addr.value;
    }
  }
  return ports[port].addresses.front().addr.value;
}

std::unique_ptr<Snapshot> SnapshotBuilder::build(const conf::Config& config,
                                                 const std::vector<PortIdentity>& ports,
                                                 std::string* error) {
  auto snap = std::make_unique<Snapshot>();
  const auto& dp = config.dataplane;

  // ---- ports, local addresses, routes, neighbours
  std::unordered_map<std::string, int> portIndex;
  for (size_t i = 0; i < dp.ports.size(); ++i) {
    PortRuntime pr;
    pr.name = dp.ports[i].name;
    pr.mtu = dp.ports[i].mtu;
    pr.addresses = dp.ports[i].addresses;
    if (i < ports.size()) {
      pr.portId = ports[i].portId;
      pr.mac = ports[i].mac;
    }
    portIndex[pr.name] = static_cast<int>(i);
    for (const auto& a : pr.addresses) {
      snap->localAddrs.emplace(a.addr.value, static_cast<int>(i));
      snap->routes.add(a.network().value, a.len, 0, static_cast<int>(i));
    }
    snap->ports.push_back(std::move(pr));
  }
  for (const auto& r : dp.routes) {
    auto it = portIndex.find(r.port);
    if (it == portIndex.end()) {
      *error =
          fmt::format("route {} via {}: unknown port \"{}\"", r.prefix.str(), r.via.str(), r.port);
      return nullptr;
    }
    snap->routes.add(r.prefix.network().value, r.prefix.len, r.via.value, it->second);
  }
  for (const auto& n : dp.neighbours) {
    auto it = portIndex.find(n.port);
    snap->neighbours.push_back({n.ip.value, toMac(n.mac), it == portIndex.end() ? -1 : it->second});
  }
  snap->expireNodestConn = dp.expireNodestConn;
  snap->expireQuiescentTemplate = dp.expireQuiescentTemplate;

  // ---- services and real servers: work on copies, commit at the end
  auto servers = servers_;
  auto serviceIds = serviceIds_;
  auto generations = generations_;
  auto freeRsIds = freeRsIds_;
  auto freeServiceIds = freeServiceIds_;
  uint32_t nextRsId = nextRsId_;
  uint32_t nextServiceId = nextServiceId_;
  std::map<std::tuple<uint64_t, uint32_t, uint16_t>, RsIdentity> kept;
  std::map<uint64_t, uint32_t> keptServices;
  std::vector<std::pair<sched::RealServer*, sched::ServerParams>> edits;
  std::map<uint64_t, SchedulerSet> schedulerSets;
  // Services with new Scheduler instances: only these get addServer() calls
  // (a handed-over instance is running on its worker).
  std::unordered_set<const ServiceRuntime*> freshSchedulers;

  for (const auto& svc : config.services) {
    auto rt = std::make_unique<ServiceRuntime>();
    rt->name = svc.name;
    rt->vip = svc.vip.value;
    rt->port = svc.port;
    rt->proto = toL4(svc.protocol);
    rt->fwd = toMode(svc.forward);
    if (svc.persistence) {
      rt->persistent = true;
      rt->persistNetmask = svc.persistence->netmask.value;
      rt->persistTimeout =
          std::chrono::duration_cast<std::chrono::seconds>(svc.persistence->timeout);
    }
    const uint64_t key = Snapshot::serviceKey(rt->vip, rt->port, rt->proto);
    if (auto it = serviceIds.find(key); it != serviceIds.end()) {
      rt->id = it->second;
    } else if (!freeServiceIds.empty()) {
      rt->id = freeServiceIds.back();
      freeServiceIds.pop_back();
      snap->freshServiceIds.push_back(rt->id);
    } else {
      if (nextServiceId >= kMaxServices) {
        *error = fmt::format("more than {} services", kMaxServices);
        return nullptr;
      }
      rt->id = nextServiceId++;
      snap->freshServiceIds.push_back(rt->id);
    }
    keptServices[key] = rt->id;

    sched::SchedulerOptions opts;
    opts.flags = schedFlags(svc.schedulerFlags);
    opts.mhTableSize = svc.mhTableSize;
    opts.start = start_;
    SchedulerSet set;
    set.kind = std::string(conf::toString(svc.scheduler));
    set.flags = opts.flags;
    set.mhTableSize = svc.mhTableSize;
    for (const auto& rs : svc.realServers) {
      set.servers.emplace_back(rs.address.value, rs.port, rs.weight);
    }
    if (auto it = schedulerSets_.find(key);
        it != schedulerSets_.end() && canHandOver(it->second, set)) {
      set.perWorker = it->second.perWorker;
    } else {
      for (unsigned w = 0; w < workers_; ++w) {
        auto made = sched::makeScheduler(set.kind, opts);
        if (!made) {
          *error = fmt::format("service {}: {}", svc.name, made.error);
          return nullptr;
        }
        set.perWorker.push_back(std::move(made.scheduler));
      }
      freshSchedulers.insert(rt.get());
    }
    rt->schedulers = set.perWorker;
    schedulerSets[key] = std::move(set);

    for (const auto& rs : svc.realServers) {
      RsRuntime r;
      r.addr = rs.address.value;
      r.port = rs.port;
      r.fwd = toMode(rs.forward);
      sched::ServerParams params{static_cast<int32_t>(rs.weight), rs.uThreshold, rs.lThreshold};
      auto rkey = std::make_tuple(key, r.addr, r.port);
      if (auto it = servers.find(rkey); it != servers.end()) {
        // Same server: keep its object (counts, connections). The new
        // operator values are applied once nothing else can fail.
        edits.emplace_back(it->second.server.get(), params);
        kept[rkey] = it->second;
      } else {
        uint32_t id;
        if (!freeRsIds.empty()) {
          id = freeRsIds.back();
          freeRsIds.pop_back();
          snap->freshRsIds.push_back(id);
        } else {
          if (nextRsId >= kMaxRealServers) {
            *error = fmt::format("more than {} real servers", kMaxRealServers);
            return nullptr;
          }
          id = nextRsId++;
          generations.push_back(0);
          snap->freshRsIds.push_back(id);
        }
        kept[rkey] = RsIdentity{id, generations[id],
                                std::make_shared<sched::RealServer>(r.addr, r.port, params)};
      }
      const RsIdentity& ident = kept[rkey];
      r.id = ident.id;
      r.generation = ident.generation;
      r.server = ident.server;
      rt->indexOf[r.server.get()] = static_cast<uint32_t>(rt->servers.size());
      rt->servers.push_back(std::move(r));
    }
    snap->vips.insert(rt->vip);
    snap->byKey[key] = rt.get();
    snap->services.push_back(std::move(rt));
  }

  // Nothing can fail any more: apply the new operator values to the servers
  // that stay (running schedulers see them at once, as in IPVS), then list
  // the servers in the new schedulers. IPVS order: each add goes to the
  // front, so adding in config order leaves the newest (last in the file)
  // first.
  for (auto& [server, params] : edits) {
    server->edit(params);
  }
  for (auto& svc : snap->services) {
    if (!freshSchedulers.count(svc.get())) {
      continue;
    }
    for (auto& sch : svc->schedulers) {
      for (const auto& r : svc->servers) {
        sch->addServer(r.server.get());
      }
    }
  }

  // Servers gone from the config: their generation moves on (their
  // connections lose their destination) and their ids are reused later.
  for (const auto& [rkey, ident] : servers) {
    if (!kept.count(rkey)) {
      ++generations[ident.id];
      freeRsIds.push_back(ident.id);
    }
  }
  for (const auto& [key, id] : serviceIds) {
    if (!keptServices.count(key)) {
      freeServiceIds.push_back(id);
    }
  }

  snap->destGenerations = generations;
  snap->rsById.assign(generations.size(), nullptr);
  for (const auto& [rkey, ident] : kept) {
    snap->rsById[ident.id] = ident.server.get();
  }
  snap->generation = ++generation_;

  servers_ = std::move(kept);
  serviceIds_ = std::move(keptServices);
  generations_ = std::move(generations);
  freeRsIds_ = std::move(freeRsIds);
  freeServiceIds_ = std::move(freeServiceIds);
  schedulerSets_ = std::move(schedulerSets);
  nextRsId_ = nextRsId;
  nextServiceId_ = nextServiceId;
  return snap;
}

}  // namespace dplb::dp
