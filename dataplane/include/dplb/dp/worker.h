#pragma once

// One forwarding worker (ARCHITECTURE "Packet path").
//
// Contract: a Worker owns its connection table, neighbour table, tx buffers,
// per-service and per-server counters and its Scheduler instances (in the
// snapshot); nothing in it is touched by another thread except the counters
// (relaxed reads) and the dump request. On the packet path it never
// allocates, locks, logs or throws. run() loops until the dataplane stops;
// pollOnce() is one iteration for tests that drive workers by hand.
//
// Ownership of connections: both directions of a connection are handled by
// the worker owner(client address, client port). A packet that arrives at
// another worker is handed to its owner over a single-producer single-consumer
// ring (one per ordered pair of workers).
//
// Fragments: IPv4 fragments for a VIP or of a connection are reassembled by
// the worker owner(source address, IP id) with DPDK's librte_ip_frag (one
// table per worker: dataplane.reassembly.max_flows datagrams of at most 8
// fragments, dataplane.reassembly.timeout). Fragments of one datagram share
// source and id, so they all meet there whatever queue they came in on. The
// whole datagram (copied into one buffer when it does not fit in its first
// one) is then handled like any received packet, which may hand it off again
// to its connection's owner; on egress it is fragmented to the MTU. Every
// fragment is either part of a forwarded datagram or counted under a
// reassembly_* drop reason. Fragments for the host's own addresses are not
// reassembled: the kernel behind the exception path does that.
//
// Exception path (KernelInterfaces): what is for the host (see conf/README.md
// `exception_path`) is written to the TAP of the port it came in on through
// the worker's own TAP tx queue; every worker polls its own TAP rx queue of
// every port and sends what the kernel wrote out of that port unchanged.
// ARP: dplb alone answers requests for its addresses and VIPs (one answer on
// the wire); every other ARP frame (replies, requests for other addresses,
// gratuitous ARP) goes to the kernel, which so learns its neighbours.

#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "dplb/dp/conn_table.h"
#include "dplb/dp/counters.h"
#include "dplb/dp/dataplane.h"
#include "dplb/dp/neighbour.h"
#include "dplb/dp/snapshot.h"
#include "dplb/pkt/parser.h"
#include "dplb/pkt/verdict.h"

namespace dplb::dp {

inline unsigned ownerOf(uint32_t clientAddr, uint16_t clientPort, unsigned workers) {
  if (workers <= 1) {
    return 0;
  }
  uint64_t h = (uint64_t{clientAddr} << 16 | clientPort) * 0x9E3779B97F4A7C15ull;
  return static_cast<unsigned>((h >> 32) % workers);
}

class Worker final : private ConnExpirySink {
 public:
  Worker(Dataplane::Shared& shared, unsigned index, uint32_t connCapacity, uint64_t nowNs);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  unsigned index() const { return index_; }
  void run();
  // One loop iteration on the calling thread; returns packets handled.
  unsigned pollOnce();

  const WorkerStats& stats() const { return stats_; }
  const TrafficStats& serviceStats(uint32_t id) const { return serviceStats_[id]; }
  const TrafficStats& rsStats(uint32_t id) const { return rsStats_[id]; }
  // Control plane, before publishing a snapshot that reuses the id (no
  // worker writes the slot of an id that no snapshot or live connection uses).
  void resetServiceStats(uint32_t id) { resetTraffic(serviceStats_[id]); }
  void resetRsStats(uint32_t id) { resetTraffic(rsStats_[id]); }
  uint32_t connCount() const { return connCount_.load(std::memory_order_relaxed); }
  // Neighbour table entries in use, as of the last housekeeping (100 ms).
  uint32_t neighbourEntries() const { return neighbourCount_.load(std::memory_order_relaxed); }

  // Control plane: copy the connection table at the worker's next loop (or
  // directly when the worker is not launched).
  std::vector<ConnInfo> dumpConnections(bool launched);

 private:
  static void resetTraffic(TrafficStats& t) {
    t.conns.reset();
    t.inPackets.reset();
    t.outPackets.reset();
    t.inBytes.reset();
    t.outBytes.reset();
  }

  struct TxBuffer {
    uint16_t count = 0;
    rte_mbuf* pkts[32];
  };

  // One received packet between the parse pass and the processing pass.
  struct RxItem {
    rte_mbuf* m = nullptr;
    pkt::PacketView v;
    pkt::ParseResult result;
    uint64_t hash = 0;  // connection-table hash of its 5-tuple (TCP/UDP only)
  };

  unsigned iteration();
  void prepare(rte_mbuf* m, RxItem& it, bool handedOff);
  void process(RxItem& it, int rxPort, bool handedOff);
  void handleArp(rte_mbuf* m, pkt::PacketView& v, int rxPort, bool learnOnly);
  void learnNeighbour(uint32_t ip, const pkt::MacAddr& mac, int port);
  void handleIpv4(rte_mbuf* m, pkt::PacketView& v, uint64_t hash, bool handedOff);
  void handleFragment(rte_mbuf* m, pkt::PacketView& v);
  // Feeds one fragment to the reassembly table; returns the whole datagram
  // (one segment, header checksum valid) or nullptr when the fragment was
  // kept or dropped (counted).
  rte_mbuf* reassemble(rte_mbuf* m, const pkt::PacketView& v);
  // Drops datagrams older than the reassembly timeout (counted).
  void expireFragments();
  // Counts and frees what librte_ip_frag put on the death row.
  void buryFragments(pkt::DropReason r);
  // Addressed to the host itself: one of the ports' addresses (not a VIP),
  // or IPv4 multicast/broadcast.
  bool forHost(const pkt::PacketView& v) const;
  // forHost() and the port m came in on (hash.usr) has a kernel interface.
  bool kernelTakes(const rte_mbuf* m, const pkt::PacketView& v) const;
  // Hands m to the kernel behind `port`, or drops it (exception_path_off).
  void toKernel(rte_mbuf* m, int port);
  unsigned pollKernel();  // frames the kernel wrote, out of their ports
  void inbound(rte_mbuf* m, pkt::PacketView& v, const ServiceRuntime& svc, uint64_t hash);
  void outbound(rte_mbuf* m, pkt::PacketView& v, ConnId id);
  void forwardIn(rte_mbuf* m, pkt::PacketView& v, const Conn& c);
  bool checkMtu(rte_mbuf* m, pkt::PacketView& v, uint32_t dst, uint16_t* fragmentTo);
  void sendFragmented(rte_mbuf* m, const pkt::PacketView& v, uint32_t dst, uint16_t mtu);
  // route(), or sendFragmented() when checkMtu() asked for fragments.
  void emit(rte_mbuf* m, pkt::PacketView& v, uint32_t dst, uint16_t fragmentTo);
  void countIn(const Conn& c, uint32_t bytes);
  void countOut(const Conn& c, uint32_t bytes);
  ConnId newConnection(pkt::PacketView& v, const ServiceRuntime& svc);
  bool reuseReschedules(const Conn& c) const;
  const RsRuntime* pickServer(const pkt::PacketView& v, const ServiceRuntime& svc);
  bool handOff(rte_mbuf* m, unsigned owner);
  // Resolve the next hop for dst and queue m for transmit (or park it).
  void route(rte_mbuf* m, uint32_t dst);
  void transmit(rte_mbuf* m, int port, const pkt::MacAddr& dstMac);
  void sendArpRequest(int port, uint32_t targetIp, uint32_t senderIp);
  bool sendArpRequestFrom(int port, uint32_t senderIp, uint32_t targetIp);
  void enqueueTx(int port, rte_mbuf* m);
  void applyActivity(const Conn& c, const StateUpdate& su);
  // Drops a packet a mode refused, answering with the ICMP error its verdict
  // asks for (time exceeded, fragmentation needed).
  void rejectPacket(rte_mbuf* m, pkt::PacketView& v, const pkt::Verdict& verdict);
  void handleIcmpError(rte_mbuf* m, pkt::PacketView& v, bool handedOff);
  void forwardTun(rte_mbuf* m, pkt::PacketView& v, const Conn& c, uint32_t bytes);
  void sendIcmpError(const pkt::PacketView& orig, int rxPort, uint8_t type, uint8_t code,
                     uint16_t mtu);
  void sendGratuitousArps();
  void neighbourHousekeeping();
  unsigned drainHandoff();  // returns packets handled
  void flushTx();
  void dropPacket(rte_mbuf* m, pkt::DropReason r) {
    stats_.drop(r);
    rte_pktmbuf_free(m);
  }
  void serveDumpRequest();
  void onExpired(ConnId id, const Conn& conn) override;
  void refreshSnapshot();

  Dataplane::Shared& shared_;
  const unsigned index_;
  const Snapshot* snap_ = nullptr;
  uint64_t snapGeneration_ = 0;
  uint64_t nowNs_ = 0;
  uint64_t lastHousekeepingNs_ = 0;
  ConnTable conns_;
  NeighbourTable neighbours_;
  std::vector<TxBuffer> tx_;        // per port
  std::vector<TxBuffer> kernelTx_;  // per port: frames for its TAP
  bool anyKernel_ = false;
  rte_ip_frag_tbl* fragTable_ = nullptr;
  std::unique_ptr<rte_ip_frag_death_row> deathRow_;
  RxItem items_[32];
  WorkerStats stats_;
  std::unique_ptr<TrafficStats[]> serviceStats_;
  std::unique_ptr<TrafficStats[]> rsStats_;
  std::atomic<uint32_t> connCount_{0};
  std::atomic<uint32_t> neighbourCount_{0};
  std::atomic<bool> dumpRequested_{false};
  std::atomic<bool> dumpDone_{false};
  std::vector<ConnInfo> dump_;
  uint16_t ipId_ = 0;
  uint32_t parked_ = 0;                  // packets waiting in the neighbour table
  std::vector<uint32_t> announcedVips_;  // sorted; worker 0 sent GARPs for them
  uint64_t icmpTokens_ = 50;             // kIcmpErrorBurst
  uint64_t icmpTokensNs_ = 0;
};

}  // namespace dplb::dp
