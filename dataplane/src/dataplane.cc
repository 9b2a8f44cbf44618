#include "dplb/dp/dataplane.h"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip_frag.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <fmt/format.h>

#include <cstring>

#include "dataplane_shared.h"
#include "dplb/dp/worker.h"

namespace dplb::dp {
namespace {

constexpr unsigned kHandoffRingSize = 4096;
constexpr unsigned kArpRingSize = 256;
constexpr unsigned kReasmBuffersPerWorker = 256;  // see the reassembly pool in start()

ConnTimeouts toConnTimeouts(const conf::Timeouts& t) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  auto s = [](conf::Duration d) {
    // The table's granularity is a second; never round a timeout down to 0.
    return std::max(seconds{1}, duration_cast<seconds>(d));
  };
  ConnTimeouts c;
  c.tcp[static_cast<size_t>(TcpState::kNone)] = s(t.tcpNone);
  c.tcp[static_cast<size_t>(TcpState::kEstablished)] = s(t.tcpEstablished);
  c.tcp[static_cast<size_t>(TcpState::kSynSent)] = s(t.tcpSynSent);
  c.tcp[static_cast<size_t>(TcpState::kSynRecv)] = s(t.tcpSynRecv);
  c.tcp[static_cast<size_t>(TcpState::kFinWait)] = s(t.tcpFinWait);
  c.tcp[static_cast<size_t>(TcpState::kTimeWait)] = s(t.tcpTimeWait);
  c.tcp[static_cast<size_t>(TcpState::kClose)] = s(t.tcpClose);
  c.tcp[static_cast<size_t>(TcpState::kCloseWait)] = s(t.tcpCloseWait);
  c.tcp[static_cast<size_t>(TcpState::kLastAck)] = s(t.tcpLastAck);
  c.tcp[static_cast<size_t>(TcpState::kListen)] = s(t.tcpListen);
  c.tcp[static_cast<size_t>(TcpState::kSynAck)] = s(t.tcpSynAck);
  c.udp = s(t.udp);
  c.icmp = s(t.icmp);
  return c;
}

std::vector<PortIdentity> portIdentities(const std::vector<PortInfo>& ports) {
  std::vector<PortIdentity> ids;
  for (const auto& p : ports) {
    PortIdentity pi;
    pi.name = p.name;
    pi.portId = p.portId;
    std::memcpy(pi.mac.bytes.data(), p.mac.addr_bytes, 6);
    ids.push_back(pi);
  }
  return ids;
}

// Frees whatever packets a ring still holds, then the ring.
void freeRing(rte_ring* r) {
  if (r == nullptr) {
    return;
  }
  void* m;
  while (rte_ring_dequeue(r, &m) == 0) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
  rte_ring_free(r);
}

}  // namespace

uint64_t tscClockNs() {
  static const double nsPerCycle = 1e9 / static_cast<double>(rte_get_tsc_hz());
  return static_cast<uint64_t>(static_cast<double>(rte_get_tsc_cycles()) * nsPerCycle);
}

Dataplane::Dataplane() : shared_(std::make_unique<Shared>()) {}

Dataplane::~Dataplane() {
  stop();
}

std::string Dataplane::start(const conf::Config& config, const DataplaneOptions& options) {
  stop();
  Shared& sh = *shared_;
  sh.workers = std::max(1u, options.workers);
  sh.clock = options.clock ? options.clock : ClockFn(tscClockNs);
  sh.connTimeouts = toConnTimeouts(config.dataplane.timeouts);
  sh.hashSeed = rte_rand();
  sh.idleSleepUs = config.dataplane.idleSleep.count();

  // Every reassembly slot may hold up to RTE_LIBRTE_IP_FRAG_MAX_FRAG fragments.
  const unsigned reassemblyMbufs =
      config.dataplane.reassembly.maxFlows * RTE_LIBRTE_IP_FRAG_MAX_FRAG * sh.workers;
  const unsigned extra =
      KernelInterfaces::mbufsNeeded(config.dataplane, sh.workers) + reassemblyMbufs;
  if (std::string err = ports_.open(config.dataplane, sh.workers, extra); !err.empty()) {
    return err;
  }
  sh.ports = ports_.ports();
  sh.pool = ports_.pool();
  sh.reassemblyMaxFlows = config.dataplane.reassembly.maxFlows;
  sh.reassemblyTimeoutNs = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(config.dataplane.reassembly.timeout)
          .count());
  // A reassembled datagram has at most RTE_LIBRTE_IP_FRAG_MAX_FRAG fragments
  // of at most the largest MTU. A buffer is in flight from reassembly until
  // it is re-fragmented, or - when the egress MTU takes it whole - until the
  // NIC has sent it (tx ring, handoff ring, ARP queue): kReasmBuffersPerWorker
  // covers a burst of that; beyond it reassembly fails as mbuf_alloc_failed
  // (counted) until the tx rings recycle.
  uint16_t maxMtu = 0;
  for (const auto& p : config.dataplane.ports) {
    maxMtu = std::max(maxMtu, p.mtu);
  }
  const uint32_t room = std::min<uint32_t>(
      UINT16_MAX, uint32_t{maxMtu} * RTE_LIBRTE_IP_FRAG_MAX_FRAG + RTE_PKTMBUF_HEADROOM + 64);
  sh.reassemblyPool =
      rte_pktmbuf_pool_create("dplb_reasm", 64 + kReasmBuffersPerWorker * sh.workers, 16, 0,
                              static_cast<uint16_t>(room), static_cast<int>(rte_socket_id()));
  if (sh.reassemblyPool == nullptr) {
    std::string err = fmt::format("dataplane: cannot create the reassembly buffer pool: {}",
                                  rte_strerror(rte_errno));
    stop();
    return err;
  }
  kernel_.open(config.dataplane, sh.ports, sh.pool, sh.workers);
  sh.taps = kernel_.taps();

  // RCU: one reader thread id per worker.
  size_t sz = rte_rcu_qsbr_get_memsize(sh.workers);
  sh.rcu = static_cast<rte_rcu_qsbr*>(rte_zmalloc("dplb_rcu", sz, RTE_CACHE_LINE_SIZE));
  if (sh.rcu == nullptr || rte_rcu_qsbr_init(sh.rcu, sh.workers) != 0) {
    stop();
    return "dataplane: cannot allocate RCU state";
  }
  for (unsigned w = 0; w < sh.workers; ++w) {
    rte_rcu_qsbr_thread_register(sh.rcu, w);
  }

  static std::atomic<unsigned> instance{0};
  unsigned inst = instance.fetch_add(1);
  const unsigned n = sh.workers;
  sh.handoff.assign(n * n, nullptr);
  sh.arpLearn.assign(n * n, nullptr);
  for (unsigned s = 0; s < n; ++s) {
    for (unsigned d = 0; d < n; ++d) {
      if (s == d) {
        continue;
      }
      std::string a = fmt::format("dplb_h{}_{}_{}", inst, s, d);
      std::string b = fmt::format("dplb_a{}_{}_{}", inst, s, d);
      sh.handoff[s * n + d] = rte_ring_create(a.c_str(), kHandoffRingSize, SOCKET_ID_ANY,
                                              RING_F_SP_ENQ | RING_F_SC_DEQ);
      sh.arpLearn[s * n + d] =
          rte_ring_create(b.c_str(), kArpRingSize, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (sh.handoff[s * n + d] == nullptr || sh.arpLearn[s * n + d] == nullptr) {
        std::string err =
            fmt::format("dataplane: cannot create handoff ring: {}", rte_strerror(rte_errno));
        stop();
        return err;
      }
    }
  }

  const uint64_t now = sh.clock();
  builder_ = std::make_unique<SnapshotBuilder>(n, std::chrono::nanoseconds(now));
  std::vector<PortIdentity> ids = portIdentities(sh.ports);
  std::string err;
  std::unique_ptr<Snapshot> snap = builder_->build(config, ids, &err);
  if (!snap) {
    stop();
    return "services: " + err;
  }
  snap->connTimeouts = sh.connTimeouts;
  sh.snapshot.store(snap.release(), std::memory_order_release);
  running_ = config;

  const uint32_t capacity =
      options.connCapacity != 0 ? options.connCapacity : config.dataplane.connTable.capacity;
  connCapacity_ = capacity;
  try {
    for (unsigned w = 0; w < n; ++w) {
      workers_.push_back(std::make_unique<Worker>(sh, w, capacity, now));
    }
  } catch (const std::exception& e) {
    stop();
    if (std::string_view(e.what()).rfind("dataplane.", 0) == 0) {
      return e.what();
    }
    return fmt::format("dataplane.conn_table.capacity: cannot allocate {} entries per worker: {}",
                       capacity, e.what());
  }
  sh.running.store(true);
  return {};
}

namespace {
int workerMain(void* arg) {
  static_cast<Worker*>(arg)->run();
  return 0;
}
}  // namespace

std::string Dataplane::launch() {
  std::vector<unsigned> lcores;
  unsigned lc;
  RTE_LCORE_FOREACH_WORKER(lc) {
    lcores.push_back(lc);
  }
  if (lcores.size() < workers_.size()) {
    return fmt::format(
        "dataplane.lcores: {} worker(s) need {} lcores besides the main one, the EAL has {}",
        workers_.size(), workers_.size(), lcores.size());
  }
  for (size_t w = 0; w < workers_.size(); ++w) {
    if (rte_eal_remote_launch(workerMain, workers_[w].get(), lcores[w]) != 0) {
      shared_->running.store(false);
      rte_eal_mp_wait_lcore();
      return fmt::format("dataplane.lcores: cannot launch a worker on lcore {}", lcores[w]);
    }
  }
  launched_ = true;
  return {};
}

std::string Dataplane::publish(const conf::Config& config) {
  std::lock_guard lock(publishMutex_);
  if (!builder_) {
    return "dataplane not started";
  }
  std::vector<PortIdentity> ids = portIdentities(shared_->ports);
  // Workers index ports, queues and tx buffers by the ports they opened; only
  // the connection timeouts (ipvsadm --set) may change at run time.
  conf::DataplaneConfig sameTimeouts = config.dataplane;
  sameTimeouts.timeouts = running_.dataplane.timeouts;
  if (!(sameTimeouts == running_.dataplane)) {
    return "the dataplane section changed; that needs a restart";
  }
  std::string err;
  std::unique_ptr<Snapshot> snap = builder_->build(config, ids, &err);
  if (!snap) {
    return err;
  }
  snap->connTimeouts = toConnTimeouts(config.dataplane.timeouts);
  for (auto& w : workers_) {
    for (uint32_t id : snap->freshServiceIds) {
      w->resetServiceStats(id);
    }
    for (uint32_t id : snap->freshRsIds) {
      w->resetRsStats(id);
    }
  }
  running_ = config;
  const Snapshot* old = shared_->snapshot.exchange(snap.release(), std::memory_order_acq_rel);
  // Every worker passes a quiescent point (or is offline) before the old
  // snapshot goes: none can still hold a pointer into it.
  rte_rcu_qsbr_synchronize(shared_->rcu, RTE_QSBR_THRID_INVALID);
  delete old;
  return {};
}

void Dataplane::stop() {
  Shared& sh = *shared_;
  sh.running.store(false);
  if (launched_) {
    rte_eal_mp_wait_lcore();
    launched_ = false;
  }
  workers_.clear();
  for (auto* r : sh.handoff) {
    freeRing(r);
  }
  for (auto* r : sh.arpLearn) {
    freeRing(r);
  }
  sh.handoff.clear();
  sh.arpLearn.clear();
  delete sh.snapshot.exchange(nullptr);
  builder_.reset();
  // The TAPs hold buffers of the pool the ports close frees.
  kernel_.close();
  sh.taps.clear();
  ports_.close();
  sh.ports.clear();
  sh.pool = nullptr;
  if (sh.reassemblyPool != nullptr) {
    rte_mempool_free(sh.reassemblyPool);
    sh.reassemblyPool = nullptr;
  }
  if (sh.rcu != nullptr) {
    rte_free(sh.rcu);
    sh.rcu = nullptr;
  }
}

std::vector<uint64_t> Dataplane::drops() const {
  std::vector<uint64_t> out(pkt::kDropReasonCount, 0);
  for (const auto& w : workers_) {
    for (size_t i = 0; i < pkt::kDropReasonCount; ++i) {
      out[i] += w->stats().drops[i].get();
    }
  }
  return out;
}

const WorkerStats& Dataplane::workerStats(unsigned i) const {
  return workers_[i]->stats();
}

uint32_t Dataplane::neighbourEntries(unsigned i) const {
  return workers_[i]->neighbourEntries();
}

std::vector<PortCounters> Dataplane::portCounters() const {
  std::vector<PortCounters> out;
  for (const auto& p : ports_.ports()) {
    PortCounters c;
    c.name = p.name;
    c.mac = fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", p.mac.addr_bytes[0],
                        p.mac.addr_bytes[1], p.mac.addr_bytes[2], p.mac.addr_bytes[3],
                        p.mac.addr_bytes[4], p.mac.addr_bytes[5]);
    rte_eth_stats st{};
    if (rte_eth_stats_get(p.portId, &st) == 0) {
      c.rxPackets = st.ipackets;
      c.txPackets = st.opackets;
      c.rxBytes = st.ibytes;
      c.txBytes = st.obytes;
      c.rxMissed = st.imissed;
      c.rxErrors = st.ierrors;
      c.txErrors = st.oerrors;
    }
    out.push_back(c);
  }
  return out;
}

std::vector<ServiceView> Dataplane::listServices() const {
  std::lock_guard lock(publishMutex_);  // the snapshot cannot be freed meanwhile
  std::vector<ServiceView> out;
  const Snapshot* s = shared_->snapshot.load(std::memory_order_acquire);
  if (s == nullptr) {
    return out;
  }
  for (size_t i = 0; i < s->services.size() && i < running_.services.size(); ++i) {
    const ServiceRuntime& rt = *s->services[i];
    const conf::Service& cfg = running_.services[i];  // same order: built from it
    ServiceView sv;
    sv.name = rt.name;
    sv.vip = rt.vip;
    sv.port = rt.port;
    sv.proto = rt.proto;
    sv.scheduler = std::string(conf::toString(cfg.scheduler));
    sv.flags = cfg.schedulerFlags;
    sv.persistent = rt.persistent;
    sv.persistTimeoutS = static_cast<uint32_t>(rt.persistTimeout.count());
    sv.netmask = rt.persistNetmask;
    for (const auto& w : workers_) {
      sv.stats.add(w->serviceStats(rt.id));
    }
    for (const auto& rs : rt.servers) {
      ServerView v;
      v.addr = rs.addr;
      v.port = rs.port;
      v.fwd = rs.fwd;
      v.weight = rs.server->weight();
      v.uThreshold = rs.server->uThreshold();
      v.lThreshold = rs.server->lThreshold();
      v.activeConns = rs.server->activeConns();
      v.inactiveConns = rs.server->inactiveConns();
      v.persistentConns = rs.server->persistentConns();
      for (const auto& w : workers_) {
        v.stats.add(w->rsStats(rs.id));
      }
      sv.servers.push_back(v);
    }
    out.push_back(std::move(sv));
  }
  return out;
}

uint32_t Dataplane::connCount() const {
  uint32_t n = 0;
  for (const auto& w : workers_) {
    n += w->connCount();
  }
  return n;
}

const ServiceRuntime* Dataplane::publishedService(uint32_t vip, uint16_t port,
                                                  L4Proto proto) const {
  const Snapshot* s = shared_->snapshot.load(std::memory_order_acquire);
  return s != nullptr ? s->findService(vip, port, proto) : nullptr;
}

TrafficTotals Dataplane::serviceTotals(uint32_t vip, uint16_t port, L4Proto proto) const {
  std::lock_guard lock(publishMutex_);  // the snapshot cannot be freed meanwhile
  TrafficTotals t;
  const ServiceRuntime* svc = publishedService(vip, port, proto);
  if (svc == nullptr) {
    return t;
  }
  for (const auto& w : workers_) {
    t.add(w->serviceStats(svc->id));
  }
  return t;
}

TrafficTotals Dataplane::realServerTotals(uint32_t vip, uint16_t port, L4Proto proto,
                                          uint32_t rsAddr, uint16_t rsPort) const {
  std::lock_guard lock(publishMutex_);  // the snapshot cannot be freed meanwhile
  TrafficTotals t;
  const ServiceRuntime* svc = publishedService(vip, port, proto);
  if (svc == nullptr) {
    return t;
  }
  for (const auto& rs : svc->servers) {
    if (rs.addr == rsAddr && rs.port == rsPort) {
      for (const auto& w : workers_) {
        t.add(w->rsStats(rs.id));
      }
    }
  }
  return t;
}

std::vector<ConnInfo> Dataplane::connections() {
  std::vector<ConnInfo> all;
  for (auto& w : workers_) {
    auto part = w->dumpConnections(launched_);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

}  // namespace dplb::dp
