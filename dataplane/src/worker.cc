#include "dplb/dp/worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "dataplane_shared.h"
#include "dplb/dr/dr.h"
#include "dplb/nat/nat.h"
#include "dplb/pkt/checksum.h"
#include "dplb/pkt/fragment.h"
#include "dplb/pkt/icmp.h"
#include "dplb/pkt/rewrite.h"
#include "dplb/tun/tun.h"

namespace dplb::dp {
namespace {

using pkt::DropReason;

constexpr uint16_t kBurst = 32;

nat::NatBinding bindingOf(const Conn& c) {
  return nat::NatBinding{c.vipAddr(), c.vipPort(), c.rsAddr(), c.rsPort()};
}
constexpr uint32_t kExpiryBudget = 256;            // timer-wheel entries per loop
constexpr uint64_t kHousekeepingNs = 100'000'000;  // neighbour retries and ageing
constexpr unsigned kIdleLoopsBeforeSleep = 64;
// Packets one worker may park waiting for ARP answers, over all next hops.
constexpr uint32_t kMaxParkedPackets = 512;
// ICMP errors a worker may send: a token bucket, as routers (and Linux's
// icmp_ratelimit) limit them so a flood cannot turn dplb into an amplifier.
constexpr uint64_t kIcmpErrorsPerSecond = 1000;
constexpr uint64_t kIcmpErrorBurst = 50;

L4Proto l4Of(uint8_t proto) {
  return proto == pkt::kIpProtoUdp ? L4Proto::kUdp
                                   : (proto == pkt::kIpProtoTcp ? L4Proto::kTcp : L4Proto::kIcmp);
}

// Builds an Ethernet + ARP frame into a fresh mbuf.
rte_mbuf* buildArp(rte_mempool* pool, uint16_t op, const pkt::MacAddr& ethDst,
                   const pkt::MacAddr& sha, uint32_t spa, const pkt::MacAddr& tha, uint32_t tpa) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) {
    return nullptr;
  }
  constexpr uint16_t kLen = pkt::kEthernetMinFrameLen;
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kLen));
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memset(p, 0, kLen);
  auto* eth = reinterpret_cast<pkt::EthernetHeader*>(p);
  eth->dst = ethDst;
  eth->src = sha;
  eth->etherType.set(pkt::kEtherTypeArp);
  auto* arp = reinterpret_cast<pkt::ArpPacket*>(p + pkt::kEthernetHeaderLen);
  arp->hwType.set(pkt::kArpHwEthernet);
  arp->protoType.set(pkt::kEtherTypeIpv4);
  arp->hwLen = 6;
  arp->protoLen = 4;
  arp->op.set(op);
  arp->sha = sha;
  arp->spa.set(spa);
  arp->tha = tha;
  arp->tpa.set(tpa);
  return m;
}

}  // namespace

Worker::Worker(Dataplane::Shared& shared, unsigned index, uint32_t connCapacity, uint64_t nowNs)
    : shared_(shared),
      index_(index),
      conns_([&] {
        ConnTableConfig c;
        c.capacity = connCapacity;
        c.startNs = nowNs;
        c.timeouts = shared.connTimeouts;
        c.hashSeed = shared.hashSeed ^ (uint64_t{index} * 0x9E3779B97F4A7C15ull);
        return c;
      }()),
      tx_(shared.ports.size()),
      kernelTx_(shared.ports.size()),
      deathRow_(std::make_unique<rte_ip_frag_death_row>()),
      serviceStats_(new TrafficStats[kMaxServices]),
      rsStats_(new TrafficStats[kMaxRealServers]) {
  nowNs_ = nowNs;
  lastHousekeepingNs_ = nowNs;
  icmpTokensNs_ = nowNs;
  deathRow_->cnt = 0;
  for (int t : shared.taps) {
    anyKernel_ = anyKernel_ || t >= 0;
  }
  // Four slots per bucket and as many buckets as flows: with librte_ip_frag's
  // two-choice hashing a fragment sees 8 candidate slots in a table 4x the
  // bound, so "full" means max_flows datagrams are really in progress. The
  // table's clock is the worker's (nanoseconds), so its "cycles" are ns.
  fragTable_ = rte_ip_frag_table_create(shared.reassemblyMaxFlows, 4, shared.reassemblyMaxFlows,
                                        shared.reassemblyTimeoutNs, SOCKET_ID_ANY);
  if (fragTable_ == nullptr) {
    throw std::runtime_error(
        "dataplane.reassembly.max_flows: cannot allocate the reassembly table");
  }
}

Worker::~Worker() {
  if (fragTable_ != nullptr) {
    rte_ip_frag_table_destroy(fragTable_);  // frees the fragments it holds
  }
  rte_ip_frag_free_death_row(deathRow_.get(), 0);
  for (auto& t : kernelTx_) {
    for (uint16_t i = 0; i < t.count; ++i) {
      rte_pktmbuf_free(t.pkts[i]);
    }
    t.count = 0;
  }
  for (auto& e : neighbours_) {
    for (uint8_t i = 0; i < e.pendingCount; ++i) {
      rte_pktmbuf_free(e.pending[i]);
    }
    e.pendingCount = 0;
  }
  for (auto& t : tx_) {
    for (uint16_t i = 0; i < t.count; ++i) {
      rte_pktmbuf_free(t.pkts[i]);
    }
    t.count = 0;
  }
}

void Worker::refreshSnapshot() {
  // Compare generations, not pointers: a new snapshot may be allocated where
  // a freed one was. Only the current snapshot is dereferenced.
  snap_ = shared_.snapshot.load(std::memory_order_acquire);
  if (snap_ != nullptr && snap_->generation != snapGeneration_) {
    snapGeneration_ = snap_->generation;
    // ipvsadm --set; no allocation: it recomputes a few tick counts.
    conns_.setTimeouts(snap_->connTimeouts);
    for (const auto& n : snap_->neighbours) {
      if (auto* e = neighbours_.findOrCreate(n.ip)) {
        e->state = NeighbourTable::State::kStatic;
        e->mac = n.mac;
        e->port = static_cast<int8_t>(n.port);
      }
    }
    if (index_ == 0) {
      sendGratuitousArps();
    }
  }
}

void Worker::run() {
  rte_rcu_qsbr_thread_online(shared_.rcu, index_);
  unsigned idle = 0;
  while (shared_.running.load(std::memory_order_relaxed)) {
    unsigned n = iteration();
    if (n == 0 && shared_.idleSleepUs > 0) {
      if (++idle >= kIdleLoopsBeforeSleep) {
        // Off the RCU reader set while asleep so publish() never waits on us.
        rte_rcu_qsbr_thread_offline(shared_.rcu, index_);
        std::this_thread::sleep_for(std::chrono::microseconds(shared_.idleSleepUs));
        rte_rcu_qsbr_thread_online(shared_.rcu, index_);
      }
    } else {
      idle = 0;
    }
  }
  flushTx();
  rte_rcu_qsbr_thread_offline(shared_.rcu, index_);
}

unsigned Worker::pollOnce() {
  rte_rcu_qsbr_thread_online(shared_.rcu, index_);
  unsigned n = iteration();
  rte_rcu_qsbr_thread_offline(shared_.rcu, index_);
  return n;
}

unsigned Worker::iteration() {
  refreshSnapshot();
  stats_.loops.add();
  nowNs_ = shared_.clock();
  unsigned handled = 0;
  if (snap_ != nullptr) {
    rte_mbuf* pkts[kBurst];
    for (size_t p = 0; p < shared_.ports.size(); ++p) {
      const PortInfo& port = shared_.ports[p];
      if (index_ >= port.rxQueues) {
        continue;
      }
      uint16_t n = rte_eth_rx_burst(port.portId, static_cast<uint16_t>(index_), pkts, kBurst);
      // Pass 1: parse every packet and prefetch its connection-table bucket;
      // pass 2: process, by which time the buckets are in cache (STYLE 5).
      // Lookups still happen in pass 2, so a connection created or expired by
      // an earlier packet of the burst is seen.
      for (uint16_t i = 0; i < n; ++i) {
        if (i + 1 < n) {
          rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
        }
        prepare(pkts[i], items_[i], false);
      }
      for (uint16_t i = 0; i < n; ++i) {
        process(items_[i], static_cast<int>(p), false);
      }
      handled += n;
    }
    if (anyKernel_) {
      handled += pollKernel();
    }
    handled += drainHandoff();
    AdvanceResult r = conns_.advance(nowNs_, kExpiryBudget, *this);
    stats_.expiredConns.add(r.expired);
    if (nowNs_ - lastHousekeepingNs_ >= kHousekeepingNs) {
      lastHousekeepingNs_ = nowNs_;
      neighbourHousekeeping();
      expireFragments();
    }
    flushTx();
  }
  connCount_.store(conns_.size(), std::memory_order_relaxed);
  if (dumpRequested_.load(std::memory_order_acquire)) {
    serveDumpRequest();
  }
  if (handled > 0) {
    stats_.busyLoops.add();
  }
  rte_rcu_qsbr_quiescent(shared_.rcu, index_);
  return handled;
}

unsigned Worker::drainHandoff() {
  unsigned handled = 0;
  rte_mbuf* pkts[kBurst];
  const unsigned n = shared_.workers;
  for (unsigned src = 0; src < n; ++src) {
    if (src == index_) {
      continue;
    }
    rte_ring* r = shared_.handoff[src * n + index_];
    unsigned got = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(pkts), kBurst, nullptr);
    handled += got;
    for (unsigned i = 0; i < got; ++i) {
      stats_.handoffIn.add();
      RxItem item;
      prepare(pkts[i], item, true);
      process(item, -1, true);  // rx port travels in hash.usr
    }
    rte_ring* learn = shared_.arpLearn[src * n + index_];
    got = rte_ring_dequeue_burst(learn, reinterpret_cast<void**>(pkts), kBurst, nullptr);
    for (unsigned i = 0; i < got; ++i) {
      pkt::PacketView v;
      uint8_t* data = rte_pktmbuf_mtod(pkts[i], uint8_t*);
      if (pkt::parsePacket(data, rte_pktmbuf_data_len(pkts[i]), v) &&
          v.kind == pkt::PacketKind::kArp) {
        handleArp(pkts[i], v, static_cast<int>(pkts[i]->hash.usr), true);
      }
      rte_pktmbuf_free(pkts[i]);
    }
  }
  return handled;
}

bool Worker::handOff(rte_mbuf* m, unsigned owner) {
  rte_ring* r = shared_.handoff[index_ * shared_.workers + owner];
  if (rte_ring_enqueue(r, m) != 0) {
    dropPacket(m, DropReason::kHandoffRingFull);
    return false;
  }
  stats_.handoffOut.add();
  return true;
}

void Worker::prepare(rte_mbuf* m, RxItem& it, bool handedOff) {
  it.m = m;
  it.hash = 0;
  if (!handedOff) {  // counted once, by the worker that received it
    stats_.rxPackets.add();
    stats_.rxBytes.add(rte_pktmbuf_pkt_len(m));
  }
  if (m->nb_segs != 1 && rte_pktmbuf_linearize(m) != 0) {
    // Frames above the mbuf data room come only with jumbo MTUs.
    it.result = pkt::ParseResult::drop(DropReason::kMbufAllocFailed);
    return;
  }
  pkt::ParseOptions opts;
  opts.verifyIpChecksum =
      (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  it.result = pkt::parsePacket(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), it.v, opts);
  if (it.result && it.v.kind == pkt::PacketKind::kIpv4 && it.v.hasL4 &&
      (it.v.isTcp() || it.v.isUdp())) {
    // One hash finds either direction of a connection.
    it.hash = conns_.hashOf(
        FiveTuple{it.v.srcAddr, it.v.dstAddr, it.v.srcPort, it.v.dstPort, l4Of(it.v.proto)});
    conns_.prefetch(it.hash);
  }
}

void Worker::process(RxItem& it, int rxPort, bool handedOff) {
  rte_mbuf* m = it.m;
  pkt::PacketView& v = it.v;
  if (!it.result) {
    // Not IPv4/ARP (IPv6, LLDP...) for our MAC, or an IP protocol dplb does
    // not handle for the host's addresses: the kernel's business.
    const DropReason r = it.result.reason;
    if (anyKernel_ && rxPort >= 0 && shared_.taps[rxPort] >= 0 &&
        ((r == DropReason::kUnsupportedEthertype &&
          (v.eth()->dst.isMulticast() || v.eth()->dst == snap_->ports[rxPort].mac)) ||
         (r == DropReason::kUnsupportedIpProtocol && forHost(v)))) {
      toKernel(m, rxPort);
      return;
    }
    dropPacket(m, r);
    return;
  }
  if (rxPort < 0) {
    rxPort = static_cast<int>(m->hash.usr);
  } else if (!v.eth()->dst.isMulticast() && v.eth()->dst != snap_->ports[rxPort].mac) {
    // A router takes only frames addressed to it (or broadcast/multicast);
    // virtual ports deliver everything on the segment.
    dropPacket(m, DropReason::kOtherHostMac);
    return;
  }
  if (v.kind == pkt::PacketKind::kArp) {
    if (shared_.workers > 1) {
      // Every worker learns from every ARP packet.
      for (unsigned w = 0; w < shared_.workers; ++w) {
        if (w == index_) {
          continue;
        }
        rte_mbuf* copy = rte_pktmbuf_copy(m, shared_.pool, 0, UINT32_MAX);
        if (copy == nullptr) {
          stats_.allocFailures.add();
          continue;
        }
        copy->hash.usr = static_cast<uint32_t>(rxPort);
        if (rte_ring_enqueue(shared_.arpLearn[index_ * shared_.workers + w], copy) != 0) {
          rte_pktmbuf_free(copy);
          stats_.allocFailures.add();
        }
      }
    }
    handleArp(m, v, rxPort, false);
    return;
  }
  m->hash.usr = static_cast<uint32_t>(rxPort);
  handleIpv4(m, v, it.hash, handedOff);
}

void Worker::learnNeighbour(uint32_t ip, const pkt::MacAddr& mac, int port) {
  NeighbourTable::Entry* e = neighbours_.find(ip);
  if (e == nullptr) {
    return;  // only entries we asked for (or refresh) are learned
  }
  if (e->state == NeighbourTable::State::kStatic || (e->port >= 0 && e->port != port)) {
    return;  // an answer on another port than the route's does not move the next hop
  }
  e->mac = mac;
  e->port = static_cast<int8_t>(port);
  e->state = NeighbourTable::State::kReachable;
  e->updatedNs = nowNs_;
  e->retries = 0;
  for (uint8_t i = 0; i < e->pendingCount; ++i) {
    transmit(e->pending[i], port, mac);
  }
  parked_ -= e->pendingCount;
  e->pendingCount = 0;
}

void Worker::handleArp(rte_mbuf* m, pkt::PacketView& v, int rxPort, bool learnOnly) {
  if (v.arpSpa != 0) {
    learnNeighbour(v.arpSpa, v.arpSha, rxPort);
  }
  if (learnOnly) {
    return;
  }
  const bool forUs = v.arpOp == pkt::kArpOpRequest && v.arpTpa != v.arpSpa &&
                     (snap_->localPort(v.arpTpa) == rxPort || snap_->vips.count(v.arpTpa) != 0);
  if (!forUs) {
    if (v.arpOp == pkt::kArpOpRequest && v.arpTpa != v.arpSpa && snap_->localPort(v.arpTpa) >= 0) {
      // Another port's address asked for on this one: not answered (as
      // arp_ignore=1), and not passed up either - the kernel holds every
      // port's addresses and would answer with this port's MAC (ARP flux).
      dropPacket(m, DropReason::kNotForUs);
      return;
    }
    // Replies, gratuitous ARP, requests for others: the kernel learns its
    // neighbours from them. Requests for our addresses are answered by dplb
    // alone, so the wire sees one answer.
    if (shared_.taps[rxPort] >= 0) {
      toKernel(m, rxPort);
    } else {
      rte_pktmbuf_free(m);
    }
    return;
  }
  // Turn the request into the reply in place.
  const pkt::MacAddr ours = snap_->ports[rxPort].mac;
  pkt::ArpPacket* arp = v.arp();
  arp->op.set(pkt::kArpOpReply);
  arp->tha = v.arpSha;
  arp->tpa.set(v.arpSpa);
  arp->sha = ours;
  arp->spa.set(v.arpTpa);
  v.eth()->dst = v.arpSha;
  v.eth()->src = ours;
  stats_.arpRepliesSent.add();
  enqueueTx(rxPort, m);
}

void Worker::enqueueTx(int port, rte_mbuf* m) {
  auto& t = tx_[port];
  t.pkts[t.count++] = m;
  if (t.count == kBurst) {
    flushTx();
  }
}

bool Worker::sendArpRequestFrom(int port, uint32_t senderIp, uint32_t targetIp) {
  rte_mbuf* m = buildArp(shared_.pool, pkt::kArpOpRequest, pkt::kBroadcastMac,
                         snap_->ports[port].mac, senderIp, pkt::MacAddr{}, targetIp);
  if (m == nullptr) {
    stats_.allocFailures.add();
    return false;
  }
  enqueueTx(port, m);
  return true;
}

void Worker::sendArpRequest(int port, uint32_t targetIp, uint32_t senderIp) {
  if (sendArpRequestFrom(port, senderIp, targetIp)) {
    stats_.arpRequestsSent.add();
  }
}

void Worker::sendGratuitousArps() {
  // Only VIPs this generation adds: a change elsewhere (a weight, a server)
  // does not re-announce every VIP.
  std::vector<uint32_t> vips(snap_->vips.begin(), snap_->vips.end());
  std::sort(vips.begin(), vips.end());
  std::vector<uint32_t> fresh;
  std::set_difference(vips.begin(), vips.end(), announcedVips_.begin(), announcedVips_.end(),
                      std::back_inserter(fresh));
  announcedVips_ = std::move(vips);
  for (uint32_t vip : fresh) {
    RouteHop hop = snap_->routes.lookup(vip);
    int port = hop.found() ? hop.port : 0;
    if (static_cast<size_t>(port) >= snap_->ports.size()) {
      continue;
    }
    // Gratuitous ARP: a request from the VIP for the VIP.
    if (sendArpRequestFrom(port, vip, vip)) {
      stats_.garpSent.add();
    }
  }
}

void Worker::neighbourHousekeeping() {
  using State = NeighbourTable::State;
  for (auto& e : neighbours_) {
    if (e.state == State::kIncomplete &&
        nowNs_ - e.lastRequestNs >= NeighbourTable::kRetryInterval) {
      if (e.retries >= NeighbourTable::kMaxRetries) {
        for (uint8_t i = 0; i < e.pendingCount; ++i) {
          dropPacket(e.pending[i], DropReason::kArpTimeout);
        }
        parked_ -= e.pendingCount;
        e.pendingCount = 0;
        stats_.arpResolveFailures.add();
        neighbours_.erase(&e);
        continue;
      }
      ++e.retries;
      e.lastRequestNs = nowNs_;
      sendArpRequest(e.port, e.ip, snap_->sourceAddressFor(e.port, e.ip));
    } else if (e.state == State::kFailed ||
               (e.state == State::kReachable &&
                nowNs_ - e.lastUsedNs >= NeighbourTable::kUnusedTime)) {
      neighbours_.erase(&e);
    }
  }
  // Counted apart from the loop above: erase() moves entries back.
  uint32_t inUse = 0;
  for (const auto& e : neighbours_) {
    inUse += e.state != State::kFree ? 1 : 0;
  }
  neighbourCount_.store(inUse, std::memory_order_relaxed);
}

void Worker::route(rte_mbuf* m, uint32_t dst) {
  RouteHop hop = snap_->routes.lookup(dst);
  if (!hop.found()) {
    dropPacket(m, DropReason::kNoRoute);
    return;
  }
  using State = NeighbourTable::State;
  NeighbourTable::Entry* e = neighbours_.findOrCreate(hop.nextHop);
  if (e == nullptr) {
    dropPacket(m, DropReason::kArpQueueFull);
    return;
  }
  e->lastUsedNs = nowNs_;
  if (e->state == State::kReachable || e->state == State::kStatic) {
    if (e->state == State::kReachable && nowNs_ - e->updatedNs > NeighbourTable::kReachableTime &&
        nowNs_ - e->lastRequestNs > NeighbourTable::kRetryInterval) {
      e->lastRequestNs = nowNs_;  // refresh in the background, keep using the MAC
      sendArpRequest(hop.port, hop.nextHop, snap_->sourceAddressFor(hop.port, hop.nextHop));
    }
    transmit(m, e->port >= 0 ? e->port : hop.port, e->mac);
    return;
  }
  if (e->state == State::kFailed) {
    e->state = State::kIncomplete;
    e->retries = 0;
    e->port = static_cast<int8_t>(hop.port);
    e->lastRequestNs = nowNs_;
    sendArpRequest(hop.port, hop.nextHop, snap_->sourceAddressFor(hop.port, hop.nextHop));
  }
  if (e->pendingCount >= NeighbourTable::kMaxPending || parked_ >= kMaxParkedPackets) {
    dropPacket(m, DropReason::kArpQueueFull);
    return;
  }
  e->pending[e->pendingCount++] = m;
  ++parked_;
}

void Worker::transmit(rte_mbuf* m, int port, const pkt::MacAddr& dstMac) {
  auto* eth = rte_pktmbuf_mtod(m, pkt::EthernetHeader*);
  eth->dst = dstMac;
  eth->src = snap_->ports[port].mac;
  enqueueTx(port, m);
}

void Worker::flushTx() {
  for (size_t p = 0; p < tx_.size(); ++p) {
    auto& t = tx_[p];
    if (t.count == 0) {
      continue;
    }
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < t.count; ++i) {
      bytes += rte_pktmbuf_pkt_len(t.pkts[i]);
    }
    uint16_t sent =
        rte_eth_tx_burst(shared_.ports[p].portId, static_cast<uint16_t>(index_), t.pkts, t.count);
    for (uint16_t i = sent; i < t.count; ++i) {
      bytes -= rte_pktmbuf_pkt_len(t.pkts[i]);
      dropPacket(t.pkts[i], DropReason::kTxRingFull);
    }
    stats_.txPackets.add(sent);
    stats_.txBytes.add(bytes);
    t.count = 0;
  }
  if (!anyKernel_) {
    return;
  }
  for (size_t p = 0; p < kernelTx_.size(); ++p) {
    auto& t = kernelTx_[p];
    if (t.count == 0) {
      continue;
    }
    const auto tap = static_cast<uint16_t>(shared_.taps[p]);
    uint16_t sent = rte_eth_tx_burst(tap, static_cast<uint16_t>(index_), t.pkts, t.count);
    for (uint16_t i = sent; i < t.count; ++i) {
      dropPacket(t.pkts[i], DropReason::kExceptionPathFull);
    }
    stats_.toKernel.add(sent);
    t.count = 0;
  }
}

void Worker::toKernel(rte_mbuf* m, int port) {
  if (shared_.taps[port] < 0) {
    dropPacket(m, DropReason::kExceptionPathOff);
    return;
  }
  auto& t = kernelTx_[port];
  t.pkts[t.count++] = m;
  if (t.count == kBurst) {
    flushTx();
  }
}

unsigned Worker::pollKernel() {
  unsigned handled = 0;
  rte_mbuf* pkts[kBurst];
  for (size_t p = 0; p < shared_.taps.size(); ++p) {
    if (shared_.taps[p] < 0) {
      continue;
    }
    const uint16_t n = rte_eth_rx_burst(static_cast<uint16_t>(shared_.taps[p]),
                                        static_cast<uint16_t>(index_), pkts, kBurst);
    stats_.fromKernel.add(n);
    for (uint16_t i = 0; i < n; ++i) {
      enqueueTx(static_cast<int>(p), pkts[i]);  // unchanged: the kernel did its own ARP
    }
    handled += n;
  }
  return handled;
}

bool Worker::kernelTakes(const rte_mbuf* m, const pkt::PacketView& v) const {
  return anyKernel_ && shared_.taps[m->hash.usr] >= 0 && forHost(v);
}

bool Worker::forHost(const pkt::PacketView& v) const {
  // 224/4 multicast, 240/4 reserved and the limited broadcast.
  if (v.dstAddr >= 0xE0000000u) {
    return true;
  }
  return snap_->localPort(v.dstAddr) >= 0 && snap_->vips.count(v.dstAddr) == 0;
}

void Worker::handleFragment(rte_mbuf* m, pkt::PacketView& v) {
  if (kernelTakes(m, v)) {
    // The host's own traffic: the kernel reassembles it.
    toKernel(m, static_cast<int>(m->hash.usr));
    return;
  }
  // All fragments of a datagram share (source, id): they meet at one worker
  // whatever queue they arrived on.
  const unsigned owner = ownerOf(v.srcAddr, v.ipId, shared_.workers);
  if (owner != index_) {
    handOff(m, owner);
    return;
  }
  rte_mbuf* whole = reassemble(m, v);
  if (whole == nullptr) {
    return;
  }
  RxItem item;
  prepare(whole, item, true);  // its fragments were counted as received
  if (!item.result) {
    dropPacket(whole, item.result.reason);
    return;
  }
  // Not a fragment any more: no recursion. The owner check inside may hand
  // the datagram on to its connection's worker.
  handleIpv4(whole, item.v, item.hash, false);
}

void Worker::buryFragments(DropReason r) {
  const uint32_t n = deathRow_->cnt;
  if (n != 0) {
    stats_.drops[pkt::dropReasonIndex(r)].add(n);
    rte_ip_frag_free_death_row(deathRow_.get(), 0);
  }
}

void Worker::expireFragments() {
  // del_expired stops early when the death row has no room; each round frees
  // it, so every round removes at least one datagram or ends the loop.
  for (;;) {
    // Experimental in DPDK 22.11 (stable since 23.x), the only way to age
    // the table without a new fragment arriving.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    rte_ip_frag_table_del_expired_entries(fragTable_, deathRow_.get(), nowNs_);
#pragma GCC diagnostic pop
    if (deathRow_->cnt == 0) {
      return;
    }
    buryFragments(DropReason::kReassemblyTimeout);
  }
}

rte_mbuf* Worker::reassemble(rte_mbuf* m, const pkt::PacketView& v) {
  stats_.fragmentsIn.add();
  const uint32_t dataLen = v.ipTotalLen - v.ipHeaderLen;
  // RFC 791: every fragment but the last carries a multiple of 8 bytes.
  if (dataLen == 0 || (v.moreFragments && dataLen % 8 != 0)) {
    dropPacket(m, DropReason::kReassemblyBadFragment);
    return nullptr;
  }
  if (uint32_t{v.fragOffset} + v.ipTotalLen > 0xFFFF) {
    dropPacket(m, DropReason::kReassemblyTooLarge);
    return nullptr;
  }
  // librte_ip_frag takes the buffer's length as the fragment's: no padding.
  if (rte_pktmbuf_pkt_len(m) > v.ipEnd()) {
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - v.ipEnd()));
  }
  m->l2_len = v.l3Offset;
  m->l3_len = v.ipHeaderLen;
  // Stale datagrams go first, so whatever lands on the death row below is
  // due to this fragment.
  expireFragments();
  rte_mbuf* whole = rte_ipv4_frag_reassemble_packet(fragTable_, deathRow_.get(), m, nowNs_,
                                                    reinterpret_cast<rte_ipv4_hdr*>(v.l3()));
  // A datagram's first fragment never fails on its own: a lone victim means
  // no slot was free; more mean the datagram's fragments disagreed
  // (overlap, duplicate, hole, more than 8 fragments) and were all dropped.
  if (deathRow_->cnt != 0) {
    buryFragments(deathRow_->cnt == 1 && whole == nullptr ? DropReason::kReassemblyTableFull
                                                          : DropReason::kReassemblyOverlap);
  }
  if (whole == nullptr) {
    return nullptr;
  }
  const uint16_t l2 = whole->l2_len;  // of the first fragment
  if (whole->nb_segs > 1) {
    const uint32_t len = rte_pktmbuf_pkt_len(whole);
    if (len - rte_pktmbuf_data_len(whole) <= rte_pktmbuf_tailroom(whole)) {
      rte_pktmbuf_linearize(whole);  // fits the first buffer: cannot fail
    } else {
      const uint16_t segs = whole->nb_segs;
      rte_mbuf* flat = rte_pktmbuf_alloc(shared_.reassemblyPool);
      if (flat == nullptr || rte_pktmbuf_tailroom(flat) < len) {
        const DropReason r =
            flat == nullptr ? DropReason::kMbufAllocFailed : DropReason::kReassemblyTooLarge;
        stats_.drops[pkt::dropReasonIndex(r)].add(segs);
        rte_pktmbuf_free(flat);
        rte_pktmbuf_free(whole);
        return nullptr;
      }
      auto* out = rte_pktmbuf_mtod(flat, uint8_t*);
      for (const rte_mbuf* seg = whole; seg != nullptr; seg = seg->next) {
        std::memcpy(out, rte_pktmbuf_mtod(seg, const uint8_t*), seg->data_len);
        out += seg->data_len;
      }
      rte_pktmbuf_append(flat, static_cast<uint16_t>(len));
      flat->hash.usr = whole->hash.usr;  // the receiving port
      rte_pktmbuf_free(whole);
      whole = flat;
    }
  }
  // librte_ip_frag fixed length and flags but left the checksum zero.
  auto* ip = rte_pktmbuf_mtod_offset(whole, pkt::Ipv4Header*, l2);
  ip->checksum.set(pkt::ipv4HeaderChecksum(reinterpret_cast<const uint8_t*>(ip), ip->headerLen()));
  whole->ol_flags = 0;
  stats_.datagramsReassembled.add();
  return whole;
}

void Worker::handleIpv4(rte_mbuf* m, pkt::PacketView& v, uint64_t hash, bool handedOff) {
  const L4Proto proto = l4Of(v.proto);
  if (v.isFragment()) {
    // Ports are in the first fragment only: reassemble, then decide.
    handleFragment(m, v);
    return;
  }
  const bool toVip = snap_->vips.count(v.dstAddr) != 0;
  if (proto == L4Proto::kIcmp && v.icmpType == pkt::kIcmpEchoRequest &&
      (toVip || snap_->localPort(v.dstAddr) >= 0)) {
    // Echo requests to a VIP or a port address are answered here. A
    // reassembled request may need its reply fragmented (same size).
    uint16_t fragmentTo = 0;
    if (!checkMtu(m, v, v.srcAddr, &fragmentTo)) {
      return;
    }
    pkt::Verdict verdict = pkt::echoReplyInPlace(v);
    if (!verdict.forwarded()) {
      dropPacket(m, verdict.reason);
      return;
    }
    stats_.echoReplies.add();
    emit(m, v, v.dstAddr, fragmentTo);  // the reply goes back to the requester
    return;
  }
  if (proto == L4Proto::kIcmp && pkt::isRelatedIcmpError(v.icmpType)) {
    handleIcmpError(m, v, handedOff);
    return;
  }
  if (proto == L4Proto::kIcmp) {
    // Other ICMP (echo replies to the host's pings, ...) is the host's.
    if (kernelTakes(m, v)) {
      toKernel(m, static_cast<int>(m->hash.usr));
    } else {
      dropPacket(m, DropReason::kIcmpUnsupported);
    }
    return;
  }
  const FiveTuple tuple{v.srcAddr, v.dstAddr, v.srcPort, v.dstPort, proto};
  const ServiceRuntime* svc = toVip ? snap_->findService(v.dstAddr, v.dstPort, proto) : nullptr;
  if (svc != nullptr) {
    // Client -> VIP: the client endpoint is the source.
    unsigned owner = ownerOf(v.srcAddr, v.srcPort, shared_.workers);
    if (!handedOff && owner != index_) {
      handOff(m, owner);
      return;
    }
    inbound(m, v, *svc, hash);
    return;
  }
  if (toVip) {
    dropPacket(m, DropReason::kNoService);
    return;
  }
  // Real server -> client (NAT reply): the client endpoint is the destination.
  unsigned owner = ownerOf(v.dstAddr, v.dstPort, shared_.workers);
  if (!handedOff && owner != index_) {
    handOff(m, owner);
    return;
  }
  LookupResult lr = conns_.lookupHashed(tuple, hash);
  if (!lr.hit() || lr.dir != Direction::kOut) {
    // No connection of ours: the host's own traffic goes to its kernel.
    if (kernelTakes(m, v)) {
      toKernel(m, static_cast<int>(m->hash.usr));
    } else {
      dropPacket(m, snap_->localPort(v.dstAddr) >= 0 ? DropReason::kExceptionPathOff
                                                     : DropReason::kNotForUs);
    }
    return;
  }
  outbound(m, v, lr.id);
}

void Worker::inbound(rte_mbuf* m, pkt::PacketView& v, const ServiceRuntime& svc, uint64_t hash) {
  const FiveTuple tuple{v.srcAddr, v.dstAddr, v.srcPort, v.dstPort, svc.proto};
  LookupResult lr = conns_.lookupHashed(tuple, hash);
  if (lr.hit() && !conns_.destAlive(lr.id, snap_->destGenerations)) {
    if (!snap_->expireNodestConn) {
      // IPVS default (expire_nodest_conn = 0): drop silently until the
      // connection times out.
      dropPacket(m, DropReason::kDestRemoved);
      return;
    }
    conns_.expireNow(lr.id, *this);
    lr = LookupResult{};
  }
  if (lr.hit() && svc.proto == L4Proto::kTcp && (v.tcpFlags & pkt::kTcpSyn) != 0 &&
      reuseReschedules(conns_.conn(lr.id))) {
    // A client reusing its port (IPVS conn_reuse_mode 1): the old entry goes
    // and the SYN is scheduled afresh.
    conns_.expireNow(lr.id, *this);
    lr = LookupResult{};
  }
  ConnId id;
  if (lr.hit()) {
    id = lr.id;
  } else {
    if (svc.proto == L4Proto::kTcp &&
        ((v.tcpFlags & pkt::kTcpSyn) == 0 || (v.tcpFlags & pkt::kTcpRst) != 0)) {
      dropPacket(m, DropReason::kNotSyn);
      return;
    }
    // A source that cannot be a unicast host elsewhere (0/8, 127/8, multicast
    // and above, or one of our own addresses) never creates state. Checked
    // here, on the way to a new connection, not for every packet.
    const uint32_t first = v.srcAddr >> 24;
    if (first == 0 || first == 127 || first >= 224 || snap_->localPort(v.srcAddr) >= 0 ||
        snap_->vips.count(v.srcAddr) != 0) {
      dropPacket(m, DropReason::kMartianSource);
      return;
    }
    id = newConnection(v, svc);
    if (id == kNoConn) {
      rte_pktmbuf_free(m);  // counted by newConnection
      return;
    }
  }
  const Conn& c = conns_.conn(id);
  applyActivity(c, conns_.onPacket(id, Direction::kIn, v.tcpFlags));
  forwardIn(m, v, c);
}

// IPVS conn_reuse_mode 1 (the kernel's default) for a SYN that matches an
// existing TCP entry: reschedule when its server is quiesced and
// expire_nodest_conn is on, or when the old connection is over (TIME_WAIT or
// CLOSE) and no persistence template controls it, nor does it control
// connections. Otherwise the SYN follows the old entry.
bool Worker::reuseReschedules(const Conn& c) const {
  if (snap_->expireNodestConn && c.realServerId() < snap_->rsById.size()) {
    const sched::RealServer* rs = snap_->rsById[c.realServerId()];
    if (rs != nullptr && rs->weight() == 0) {
      return true;
    }
  }
  if (c.controlTemplate() != kNoConn || c.controlledCount() != 0) {
    return false;
  }
  return c.tcpState() == TcpState::kTimeWait || c.tcpState() == TcpState::kClose;
}

// This worker's scheduler for the service; no server counts no_dest.
const RsRuntime* Worker::pickServer(const pkt::PacketView& v, const ServiceRuntime& svc) {
  const sched::PickKey pk{v.srcAddr, v.srcPort, v.dstAddr, static_cast<uint8_t>(svc.proto)};
  sched::RealServer* srv = svc.schedulers[index_]->pick(pk, std::chrono::nanoseconds(nowNs_));
  const RsRuntime* rs = srv != nullptr ? svc.rsFor(srv) : nullptr;
  if (rs == nullptr) {
    stats_.drop(DropReason::kNoDest);
  }
  return rs;
}

ConnId Worker::newConnection(pkt::PacketView& v, const ServiceRuntime& svc) {
  const RsRuntime* rs = nullptr;
  ConnId tmpl = kNoConn;
  if (svc.persistent) {
    TemplateKey key =
        TemplateKey::forService(svc.proto, v.srcAddr, svc.persistNetmask, svc.vip, svc.port);
    tmpl = conns_.findTemplate(key);
    if (tmpl != kNoConn) {
      const Conn& t = conns_.conn(tmpl);
      sched::RealServer* srv = conns_.destAlive(tmpl, snap_->destGenerations)
                                   ? snap_->rsById[t.realServerId()]
                                   : nullptr;
      if (srv == nullptr || (snap_->expireQuiescentTemplate && srv->weight() == 0)) {
        conns_.invalidateTemplate(tmpl);
        tmpl = kNoConn;
      } else {
        rs = svc.rsFor(srv);
        if (rs == nullptr) {
          conns_.invalidateTemplate(tmpl);
          tmpl = kNoConn;
        }
      }
    }
    if (tmpl == kNoConn) {
      rs = pickServer(v, svc);
      if (rs == nullptr) {
        return kNoConn;
      }
      NewTemplate nt;
      nt.key = key;
      nt.rsAddr = rs->addr;
      nt.rsPort = rs->port;
      nt.fwd = rs->fwd;
      nt.serviceId = svc.id;
      nt.realServerId = rs->id;
      nt.destGeneration = rs->generation;
      nt.timeout = svc.persistTimeout;
      InsertResult ir = conns_.insertTemplate(nt);
      if (!ir.ok()) {
        stats_.drop(DropReason::kConnTableFull);
        return kNoConn;
      }
      tmpl = ir.id;
      rs->server->bindTemplate();
    }
  } else {
    rs = pickServer(v, svc);
    if (rs == nullptr) {
      return kNoConn;
    }
  }
  NewConn nc;
  nc.proto = svc.proto;
  nc.clientAddr = v.srcAddr;
  nc.clientPort = v.srcPort;
  nc.vipAddr = v.dstAddr;
  nc.vipPort = v.dstPort;
  nc.rsAddr = rs->addr;
  nc.rsPort = rs->port != 0 ? rs->port : v.dstPort;
  nc.fwd = rs->fwd;
  nc.serviceId = svc.id;
  nc.realServerId = rs->id;
  nc.destGeneration = rs->generation;
  nc.controlTemplate = tmpl;
  InsertResult ir = conns_.insert(nc);
  if (!ir.ok()) {
    stats_.drop(DropReason::kConnTableFull);
    return kNoConn;
  }
  rs->server->bindConn(false);
  stats_.newConns.add();
  serviceStats_[svc.id].conns.add();
  rsStats_[rs->id].conns.add();
  return ir.id;
}

// The egress MTU check IPVS makes before transmitting (ensure_mtu_is_adequate),
// done before the rewrite so an ICMP error quotes the packet as received.
// Returns false when the packet was consumed (dropped with frag-needed);
// *fragmentTo is set to the MTU when the packet must be fragmented (DF clear).
bool Worker::checkMtu(rte_mbuf* m, pkt::PacketView& v, uint32_t dst, uint16_t* fragmentTo) {
  *fragmentTo = 0;
  const RouteHop hop = snap_->routes.lookup(dst);
  if (!hop.found()) {
    return true;  // route() counts no_route
  }
  const uint16_t mtu = snap_->ports[hop.port].mtu;
  if (v.ipTotalLen <= mtu) {
    return true;
  }
  if (v.dontFragment) {
    rejectPacket(m, v, pkt::Verdict::fragNeeded(mtu));
    return false;
  }
  *fragmentTo = mtu;
  return true;
}

void Worker::countIn(const Conn& c, uint32_t bytes) {
  serviceStats_[c.serviceId()].inPackets.add();
  serviceStats_[c.serviceId()].inBytes.add(bytes);
  rsStats_[c.realServerId()].inPackets.add();
  rsStats_[c.realServerId()].inBytes.add(bytes);
}

void Worker::countOut(const Conn& c, uint32_t bytes) {
  serviceStats_[c.serviceId()].outPackets.add();
  serviceStats_[c.serviceId()].outBytes.add(bytes);
  rsStats_[c.realServerId()].outPackets.add();
  rsStats_[c.realServerId()].outBytes.add(bytes);
}

void Worker::forwardIn(rte_mbuf* m, pkt::PacketView& v, const Conn& c) {
  const uint32_t bytes = v.ipTotalLen;
  if (c.forwardMode() == ForwardMode::kTun) {
    forwardTun(m, v, c, bytes);
    return;
  }
  uint16_t fragmentTo = 0;
  if (!checkMtu(m, v, c.rsAddr(), &fragmentTo)) {
    return;
  }
  pkt::Verdict verdict;
  if (c.forwardMode() == ForwardMode::kNat) {
    verdict = nat::rewriteInbound(v, bindingOf(c));
  } else {
    // DR: only the TTL changes here; the Ethernet addresses are written by
    // transmit() once the real server's MAC is resolved.
    verdict = dr::forward(v, dr::DrTarget{});
  }
  if (!verdict.forwarded()) {
    rejectPacket(m, v, verdict);
    return;
  }
  countIn(c, bytes);
  emit(m, v, c.rsAddr(), fragmentTo);
}

// IP-in-IP to the real server: outer source = our address on the egress
// port, outer destination = the real server. Larger than the egress MTU:
// with DF, ICMP fragmentation needed to the client (MTU - 20); without, the
// outer packet is fragmented.
void Worker::forwardTun(rte_mbuf* m, pkt::PacketView& v, const Conn& c, uint32_t bytes) {
  const RouteHop hop = snap_->routes.lookup(c.rsAddr());
  if (!hop.found()) {
    dropPacket(m, DropReason::kNoRoute);
    return;
  }
  tun::TunTarget target;
  target.outerSrc = snap_->sourceAddressFor(hop.port, c.rsAddr());
  target.outerDst = c.rsAddr();
  target.mtu = snap_->ports[hop.port].mtu;
  uint8_t* const oldStart = rte_pktmbuf_mtod(m, uint8_t*);
  tun::EncapResult r = tun::encapsulate(v, rte_pktmbuf_headroom(m), target, ipId_++);
  if (!r.verdict.forwarded()) {
    rejectPacket(m, v, r.verdict);
    return;
  }
  // The frame now starts at r.start (in the headroom) and is r.len long.
  rte_pktmbuf_prepend(m, static_cast<uint16_t>(oldStart - r.start));
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - r.len));
  countIn(c, bytes);
  if (r.verdict.action == pkt::Action::kFragment) {
    sendFragmented(m, v, c.rsAddr(), r.verdict.mtu);
    return;
  }
  route(m, c.rsAddr());
}

// Splits the (rewritten) datagram in m into fragments of `mtu` in new
// buffers and routes each; m is consumed.
void Worker::sendFragmented(rte_mbuf* m, const pkt::PacketView& v, uint32_t dst, uint16_t mtu) {
  const uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(m);
  const uint32_t n = pkt::fragmentCount(frame, v.l3Offset, len, mtu);
  constexpr uint32_t kMaxFragments = 64;
  if (n == 0 || n > kMaxFragments) {
    dropPacket(m, DropReason::kFragmentationFailed);
    return;
  }
  rte_mbuf* frags[kMaxFragments];
  pkt::FragmentSlot slots[kMaxFragments];
  if (rte_pktmbuf_alloc_bulk(shared_.pool, frags, n) != 0) {
    dropPacket(m, DropReason::kMbufAllocFailed);
    return;
  }
  for (uint32_t i = 0; i < n; ++i) {
    slots[i].data = rte_pktmbuf_mtod(frags[i], uint8_t*);
    slots[i].capacity = rte_pktmbuf_tailroom(frags[i]);
  }
  if (pkt::fragmentIpv4(frame, v.l3Offset, len, mtu, std::span(slots, n)) != n) {
    rte_pktmbuf_free_bulk(frags, n);
    dropPacket(m, DropReason::kFragmentationFailed);
    return;
  }
  const uint32_t rxPort = m->hash.usr;
  rte_pktmbuf_free(m);
  for (uint32_t i = 0; i < n; ++i) {
    rte_pktmbuf_append(frags[i], static_cast<uint16_t>(slots[i].len));
    frags[i]->hash.usr = rxPort;
    route(frags[i], dst);
  }
}

void Worker::outbound(rte_mbuf* m, pkt::PacketView& v, ConnId id) {
  const Conn& c = conns_.conn(id);
  if (!conns_.destAlive(id, snap_->destGenerations)) {
    if (snap_->expireNodestConn) {
      conns_.expireNow(id, *this);
    }
    dropPacket(m, DropReason::kDestRemoved);
    return;
  }
  uint16_t fragmentTo = 0;
  if (!checkMtu(m, v, c.clientAddr(), &fragmentTo)) {
    return;
  }
  applyActivity(c, conns_.onPacket(id, Direction::kOut, v.tcpFlags));
  const uint32_t bytes = v.ipTotalLen;
  pkt::Verdict verdict = nat::rewriteOutbound(v, bindingOf(c));
  if (!verdict.forwarded()) {
    rejectPacket(m, v, verdict);
    return;
  }
  countOut(c, bytes);
  emit(m, v, c.clientAddr(), fragmentTo);
}

void Worker::emit(rte_mbuf* m, pkt::PacketView& v, uint32_t dst, uint16_t fragmentTo) {
  if (fragmentTo != 0) {
    sendFragmented(m, v, dst, fragmentTo);
  } else {
    route(m, dst);
  }
}

// An ICMP error quoting a packet of one of our connections (IPVS
// ip_vs_in_icmp / ip_vs_out_icmp). The quoted packet travelled the other way,
// so its reversed tuple is the tuple of a packet of the connection:
//  - quote client -> RS (an error from the real-server side about a packet we
//    DNATed): reversed it is RS -> client, the connection's outbound key;
//  - quote VIP -> client (an error from the client side about a reply we
//    SNATed, or for DR/TUN never seen by us): reversed it is client -> VIP,
//    the inbound key.
void Worker::handleIcmpError(rte_mbuf* m, pkt::PacketView& v, bool handedOff) {
  pkt::IcmpErrorView e;
  if (pkt::ParseResult r = pkt::parseIcmpError(v, e); !r) {
    dropPacket(m, r.reason);
    return;
  }
  if (!e.hasPorts || (e.proto != pkt::kIpProtoTcp && e.proto != pkt::kIpProtoUdp)) {
    if (kernelTakes(m, v)) {
      toKernel(m, static_cast<int>(m->hash.usr));  // e.g. about the host's own pings
    } else {
      dropPacket(m, DropReason::kIcmpNoConn);
    }
    return;
  }
  const FiveTuple reversed{e.dstAddr, e.srcAddr, e.dstPort, e.srcPort, l4Of(e.proto)};
  // The client endpoint decides the owner: the quote's source when the quote
  // went client -> RS, its destination when it went VIP -> client.
  const bool fromClientSide = snap_->vips.count(e.srcAddr) != 0;
  const unsigned owner = fromClientSide ? ownerOf(e.dstAddr, e.dstPort, shared_.workers)
                                        : ownerOf(e.srcAddr, e.srcPort, shared_.workers);
  if (!handedOff && owner != index_) {
    handOff(m, owner);
    return;
  }
  LookupResult lr = conns_.lookup(reversed);
  if (!lr.hit() || !conns_.destAlive(lr.id, snap_->destGenerations)) {
    // Path-MTU and unreachable errors about the host's own connections.
    if (!lr.hit() && kernelTakes(m, v)) {
      toKernel(m, static_cast<int>(m->hash.usr));
    } else {
      dropPacket(m, DropReason::kIcmpNoConn);
    }
    return;
  }
  const Conn& c = conns_.conn(lr.id);
  const nat::NatBinding b = bindingOf(c);
  pkt::Verdict verdict;
  uint32_t next = 0;
  if (lr.dir == Direction::kOut && c.forwardMode() == ForwardMode::kNat) {
    verdict = nat::translateIcmpErrorOutbound(v, e, b);
    next = v.dstAddr;  // the client
  } else if (lr.dir == Direction::kIn && c.forwardMode() == ForwardMode::kNat) {
    verdict = nat::translateIcmpErrorInbound(v, e, b);
    next = c.rsAddr();
  } else if (lr.dir == Direction::kIn && c.forwardMode() == ForwardMode::kDr) {
    // DR: the real server sent the quoted packet itself from the VIP; the
    // error goes to it unchanged but for the hop (path-MTU discovery).
    verdict = dr::forward(v, dr::DrTarget{});
    next = c.rsAddr();
  } else {
    verdict = pkt::Verdict::drop(DropReason::kIcmpUnsupported);
  }
  if (!verdict.forwarded()) {
    // Never answer an ICMP error with another one.
    dropPacket(m, verdict.reason);
    return;
  }
  stats_.icmpErrorsForwarded.add();
  route(m, next);
}

void Worker::rejectPacket(rte_mbuf* m, pkt::PacketView& v, const pkt::Verdict& verdict) {
  if (verdict.action == pkt::Action::kIcmpTimeExceeded) {
    sendIcmpError(v, static_cast<int>(m->hash.usr), pkt::kIcmpTimeExceeded,
                  pkt::kIcmpCodeTtlExceeded, 0);
  } else if (verdict.action == pkt::Action::kIcmpFragNeeded) {
    sendIcmpError(v, static_cast<int>(m->hash.usr), pkt::kIcmpDestUnreachable,
                  pkt::kIcmpCodeFragNeeded, verdict.mtu);
  }
  dropPacket(m, verdict.reason);
}

void Worker::sendIcmpError(const pkt::PacketView& orig, int rxPort, uint8_t type, uint8_t code,
                           uint16_t mtu) {
  // Token bucket, refilled from the worker clock.
  const uint64_t elapsed = nowNs_ - icmpTokensNs_;
  const uint64_t earned = elapsed * kIcmpErrorsPerSecond / 1'000'000'000;
  if (earned > 0) {
    icmpTokens_ = std::min(kIcmpErrorBurst, icmpTokens_ + earned);
    icmpTokensNs_ = nowNs_;
  }
  if (icmpTokens_ == 0) {
    stats_.icmpErrorsSuppressed.add();
    return;
  }
  if (!pkt::icmpErrorAllowed(orig)) {
    return;  // never about ICMP errors, broadcasts, fragments...
  }
  rte_mbuf* e = rte_pktmbuf_alloc(shared_.pool);
  if (e == nullptr) {
    stats_.allocFailures.add();
    return;
  }
  auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(e, pkt::kIcmpErrorMaxFrameLen));
  if (out == nullptr) {
    rte_pktmbuf_free(e);
    stats_.allocFailures.add();
    return;
  }
  pkt::IcmpErrorSpec spec;
  spec.type = type;
  spec.code = code;
  spec.nextHopMtu = mtu;
  // From our address on the interface the packet came in on (RFC 1812 4.3.2.4).
  spec.srcAddr = snap_->sourceAddressFor(rxPort, orig.srcAddr);
  spec.ipId = ipId_++;
  uint32_t len = pkt::buildIcmpError(orig, spec, out, pkt::kIcmpErrorMaxFrameLen);
  if (len == 0 || spec.srcAddr == 0) {
    rte_pktmbuf_free(e);
    return;
  }
  rte_pktmbuf_trim(e, static_cast<uint16_t>(pkt::kIcmpErrorMaxFrameLen - len));
  --icmpTokens_;
  stats_.icmpErrorsSent.add();
  route(e, orig.srcAddr);
}

void Worker::applyActivity(const Conn& c, const StateUpdate& su) {
  if (su.activity == Activity::kUnchanged) {
    return;
  }
  // Entering/leaving ESTABLISHED moves the connection between the server's
  // active and inactive counts (IPVS set_tcp_state).
  if (sched::RealServer* rs = snap_->rsById[c.realServerId()]) {
    if (su.activity == Activity::kBecameActive) {
      rs->connActivated();
    } else {
      rs->connDeactivated();
    }
  }
}

void Worker::onExpired(ConnId, const Conn& conn) {
  if (snap_ == nullptr || conn.realServerId() >= snap_->destGenerations.size() ||
      snap_->destGenerations[conn.realServerId()] != conn.destGeneration()) {
    return;  // its server is gone: nothing to unbind
  }
  sched::RealServer* rs = snap_->rsById[conn.realServerId()];
  if (rs == nullptr) {
    return;
  }
  if (conn.isTemplate()) {
    rs->unbindTemplate();
  } else {
    rs->unbindConn(conn.isActive());
  }
}

void Worker::serveDumpRequest() {
  dump_.clear();
  conns_.forEach([&](ConnId id, const Conn& c) {
    ConnInfo ci;
    ci.worker = index_;
    ci.proto = c.proto();
    ci.isTemplate = c.isTemplate();
    ci.state = c.state();
    ci.clientAddr = c.clientAddr();
    ci.clientPort = c.clientPort();
    ci.vipAddr = c.vipAddr();
    ci.vipPort = c.vipPort();
    ci.rsAddr = c.rsAddr();
    ci.rsPort = c.rsPort();
    ci.remaining = conns_.remaining(id);
    dump_.push_back(ci);
  });
  dumpRequested_.store(false, std::memory_order_relaxed);
  dumpDone_.store(true, std::memory_order_release);
}

std::vector<ConnInfo> Worker::dumpConnections(bool launched) {
  if (!launched) {
    dumpRequested_.store(true, std::memory_order_relaxed);
    serveDumpRequest();
  } else {
    dumpDone_.store(false, std::memory_order_relaxed);
    dumpRequested_.store(true, std::memory_order_release);
    // Bounded wait: a worker serves the request within one loop.
    for (int i = 0; i < 100000 && !dumpDone_.load(std::memory_order_acquire); ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(10));
    }
    if (!dumpDone_.load(std::memory_order_acquire)) {
      return {};
    }
  }
  return dump_;
}

}  // namespace dplb::dp
