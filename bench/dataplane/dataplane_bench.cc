// Dataplane benchmark (issue 4, item 10): packets per second of the REAL
// worker code -- a started Dataplane whose Worker::pollOnce() this thread
// calls -- on in-memory ring ports, next to dpdk-testpmd
// --forward-mode=5tswap on net_ring ports in the same run. It prints a table;
// it is never a pass/fail test.
//
// Method (also printed under the table, so a reader of the output has it):
// - The worker's two ports are ethdevs made by rte_eth_from_rings(): its
//   rx_burst dequeues from a ring this harness fills, its tx_burst enqueues
//   to a ring this harness empties. Frames are precomputed (64 bytes, valid
//   checksums) in contiguous arrays. After every poll the harness takes the
//   mbufs out of the tx rings, copies the next precomputed frame into each
//   (64-byte copy + length reset) and enqueues it on the rx ring of that
//   frame's port, keeping 64 mbufs in flight per fed port so that every poll
//   finds a full 32-packet burst on each fed port. No allocation per packet.
// - The TSC is read around every pollOnce() and every refill. "worker Mpps"
//   divides the packets the worker handled by the cycles spent inside
//   pollOnce() only (rx burst, parse, IPv4 header checksum check, connection
//   lookup, TCP state, NAT rewrite, route and neighbour, counters, tx burst,
//   timer wheel, RCU quiescent state: one whole worker iteration).
//   "harness ns/pkt" is the refill cost; "e2e Mpps" divides by wall time.
//   Every case is cut into windows; the table gives the median window and the
//   best one, and the lowest share of wall time this thread got on its CPU
//   (thread CPU time / wall time) so that interference from other processes
//   on a shared machine shows.
// - Time inside the dataplane is an injected clock that advances a fixed
//   step per poll, so connection expiry does not depend on machine load.
// - testpmd runs as a child process on two net_ring vdevs without arguments:
//   the ring PMD then backs each port with one ring used for both rx and tx,
//   so with --tx-first the 32 packets sent on each port loop forever
//   (64 mbufs in flight, the same as one fed port here). Its forwarding rate
//   is the sum over both ports of the Rx-pps that --stats-period 1 prints,
//   first (partial) period dropped; --record-core-cycles gives its cycles per
//   packet.

#include <fcntl.h>
#include <poll.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_ring.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "dplb/conf/loader.h"
#include "dplb/dp/dataplane.h"
#include "dplb/dp/worker.h"
#include "packet_builder.h"

namespace dplb::bench {
namespace {

using test::Bytes;
using test::FrameBuilder;
using test::ip4;
using test::Mac;

// testpmd --tx-first sends 64-byte frames; ours are the same size so that
// both move the same bytes. 14 Ethernet + 20 IPv4 + 20 TCP + 10 payload.
constexpr uint16_t kFrameLen = 64;
constexpr size_t kPayloadLen = kFrameLen - 54;
constexpr unsigned kBurst = 32;  // the worker's rx burst (worker.cc kBurst)
// Two worker bursts per fed rx ring: after a poll takes one, one is left, so
// the next poll always finds a full burst. testpmd here also has 64 mbufs
// per port in flight at most (32 sent per port by --tx-first).
constexpr unsigned kInflightPerFeed = 2 * kBurst;
constexpr unsigned kMaxFeeds = 2;
constexpr unsigned kMaxInflight = kInflightPerFeed * kMaxFeeds;
constexpr unsigned kRingSize = 1024;

// Clients live in 198.18.0.0/15 (RFC 2544's benchmarking range) behind a
// router on the WAN side; the VIP and the real servers as in the packet tests.
constexpr uint32_t kClientBase = ip4(198, 18, 0, 0);
constexpr uint32_t kClientAddrs = 1u << 17;  // the whole /15
constexpr uint32_t kVip = ip4(10, 0, 0, 100);
constexpr uint16_t kVport = 80;
constexpr uint16_t kRsPort = 8080;
constexpr unsigned kRealServers = 4;
constexpr Mac kRouterMac{0x02, 0, 0, 0, 0, 0xfe};

uint32_t rsAddr(unsigned i) {
  return ip4(10, 0, 1, static_cast<uint8_t>(11 + i));
}
Mac rsMac(unsigned i) {
  return Mac{0x02, 0, 0, 0, 0x01, static_cast<uint8_t>(0x0b + i)};
}

// Flow i <-> client endpoint: the address varies fastest, so consecutive
// flows are different clients; 8 ports per address give 1M flows.
uint32_t clientAddr(uint32_t flow) {
  return kClientBase + (flow % kClientAddrs);
}
uint16_t clientPort(uint32_t flow) {
  return static_cast<uint16_t>(1024 + flow / kClientAddrs);
}
std::optional<uint32_t> flowOf(uint32_t addr, uint16_t port) {
  if (addr < kClientBase || addr >= kClientBase + kClientAddrs || port < 1024) {
    return std::nullopt;
  }
  return (addr - kClientBase) + uint32_t{port - 1024u} * kClientAddrs;
}

std::string benchConfig(const std::string& wan, const std::string& lan,
                        const std::string& timeouts) {
  std::string c = R"(
dataplane:
  lcores: "0"
  exception_path: false
  ports:
    - { name: wan, device: ")" +
                  wan + R"(", addresses: [10.0.0.2/24] }
    - { name: lan, device: ")" +
                  lan + R"(", addresses: [10.0.1.1/24] }
  routes:
    - { prefix: 0.0.0.0/0, via: 10.0.0.1 }
  neighbours:
    - { ip: 10.0.0.1, mac: "02:00:00:00:00:fe" })";
  for (unsigned i = 0; i < kRealServers; ++i) {
    c += fmt::format("\n    - {{ ip: 10.0.1.{}, mac: \"02:00:00:00:01:{:02x}\" }}", 11 + i,
                     0x0b + i);
  }
  if (!timeouts.empty()) {
    c += "\n  timeouts: " + timeouts;
  }
  // wlc: the IPVS (ipvsadm) default scheduler.
  c += R"(
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    protocol: tcp
    scheduler: wlc
    forward: nat
    real_servers:)";
  for (unsigned i = 0; i < kRealServers; ++i) {
    c += fmt::format("\n      - {{ address: 10.0.1.{}, port: {} }}", 11 + i, kRsPort);
  }
  return c + "\n";
}

// ---- precomputed frames ------------------------------------------------------

// Frames of kFrameLen bytes in one cache-aligned array, read sequentially by
// the harness (the hardware prefetcher keeps that cheap even for 1M frames).
class FrameArray {
 public:
  explicit FrameArray(size_t count)
      : count_(count),
        data_(static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>(1, count) * 64))) {
    static_assert(kFrameLen == 64, "one frame per cache line");
  }
  size_t size() const { return count_; }
  const uint8_t* at(size_t i) const { return data_.get() + i * kFrameLen; }
  void set(size_t i, const Bytes& frame) {
    if (frame.size() != kFrameLen) {
      fmt::print(stderr, "internal error: frame of {} bytes\n", frame.size());
      std::abort();
    }
    std::memcpy(data_.get() + i * kFrameLen, frame.data(), kFrameLen);
  }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  size_t count_;
  std::unique_ptr<uint8_t[], Free> data_;
};

Bytes clientFrame(uint32_t flow, const Mac& wanMac, uint8_t flags) {
  FrameBuilder b;
  b.eth({.dst = wanMac, .src = kRouterMac})
      .ipv4({.src = clientAddr(flow), .dst = kVip})
      .tcp({.sport = clientPort(flow),
            .dport = kVport,
            .seq = 1000,
            .ack = (flags & test::kTcpAckFlag) ? 5001u : 0u,
            .flags = flags});
  if (flags & test::kTcpSynFlag) {
    b.padTo(kFrameLen);
  } else {
    b.payload(Bytes(kPayloadLen, 'x'));
  }
  return b.build();
}

Bytes serverFrame(uint32_t flow, unsigned rs, uint16_t rsPort, const Mac& lanMac) {
  return FrameBuilder()
      .eth({.dst = lanMac, .src = rsMac(rs)})
      .ipv4({.src = rsAddr(rs), .dst = clientAddr(flow)})
      .tcp({.sport = rsPort,
            .dport = clientPort(flow),
            .seq = 5000,
            .ack = 1001,
            .flags = test::kTcpAckFlag | test::kTcpPshFlag})
      .payload(Bytes(kPayloadLen, 'y'))
      .build();
}

// ---- ports and the dataplane under test ----------------------------------------

struct RingPort {
  std::string ethName;  // rte_eth_from_rings() names the ethdev "net_ring_<name>"
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;

  std::string create(const std::string& name) {
    ethName = "net_ring_" + name;
    rx = rte_ring_create((name + "_rx").c_str(), kRingSize, SOCKET_ID_ANY,
                         RING_F_SP_ENQ | RING_F_SC_DEQ);
    tx = rte_ring_create((name + "_tx").c_str(), kRingSize, SOCKET_ID_ANY,
                         RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (rx == nullptr || tx == nullptr ||
        rte_eth_from_rings(name.c_str(), &rx, 1, &tx, 1, SOCKET_ID_ANY) < 0) {
      return "cannot create ring port " + name;
    }
    return {};
  }
  void destroy() {
    if (!ethName.empty()) {
      rte_vdev_uninit(ethName.c_str());
      ethName.clear();
    }
    for (rte_ring** r : {&rx, &tx}) {
      if (*r != nullptr) {
        drainFree(*r);
        rte_ring_free(*r);
        *r = nullptr;
      }
    }
  }
  static void drainFree(rte_ring* r) {
    void* m = nullptr;
    while (rte_ring_dequeue(r, &m) == 0) {
      rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
  }
};

// One Dataplane with one worker on two ring ports; its clock is injected and
// advances nsPerPoll per poll.
class Rig {
 public:
  ~Rig() { stop(); }

  std::string start(const std::string& tag, const std::string& timeouts, uint32_t capacity,
                    uint64_t nsPerPoll) {
    nsPerPoll_ = nsPerPoll;
    if (std::string e = wan_.create("bw" + tag); !e.empty()) {
      return e;
    }
    if (std::string e = lan_.create("bl" + tag); !e.empty()) {
      return e;
    }
    conf::LoadResult lr =
        conf::loadConfigString(benchConfig(wan_.ethName, lan_.ethName, timeouts), "bench.yaml");
    if (!lr.ok()) {
      return "config: " + (lr.errors.empty() ? std::string("invalid") : lr.errors[0].str());
    }
    dp::DataplaneOptions opts;
    opts.workers = 1;
    opts.clock = [this] { return nowNs_; };
    opts.connCapacity = capacity;
    if (std::string e = dp_.start(*lr.config, opts); !e.empty()) {
      return e;
    }
    started_ = true;
    wanId_ = dp_.ports().ports()[0].portId;
    lanId_ = dp_.ports().ports()[1].portId;
    // The first poll sends the gratuitous ARPs for the VIP; they are not part
    // of any measurement.
    dp_.worker(0).pollOnce();
    RingPort::drainFree(wan_.tx);
    RingPort::drainFree(lan_.tx);
    return {};
  }

  void stop() {
    if (started_) {
      // Every mbuf goes back before stop() frees the dataplane's own pool.
      for (rte_ring* r : {wan_.rx, wan_.tx, lan_.rx, lan_.tx}) {
        RingPort::drainFree(r);
      }
      dp_.stop();
      started_ = false;
    }
    wan_.destroy();
    lan_.destroy();
  }

  unsigned poll() {
    nowNs_ += nsPerPoll_;
    return dp_.worker(0).pollOnce();
  }

  // The ring-only floor: the same ethdev bursts with no processing at all
  // (testpmd's "io" forwarding), wan -> lan and lan -> wan.
  unsigned ioForward() {
    rte_mbuf* pkts[kBurst];
    unsigned total = 0;
    for (auto [from, to] : {std::pair{wanId_, lanId_}, std::pair{lanId_, wanId_}}) {
      uint16_t n = rte_eth_rx_burst(from, 0, pkts, kBurst);
      uint16_t sent = rte_eth_tx_burst(to, 0, pkts, n);
      for (uint16_t i = sent; i < n; ++i) {
        rte_pktmbuf_free(pkts[i]);
      }
      total += n;
    }
    return total;
  }

  // One frame through the worker; what came out on `outPort` (0 wan, 1 lan).
  std::optional<Bytes> probe(rte_mempool* pool, const uint8_t* frame, int inPort, int outPort) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      return std::nullopt;
    }
    std::memcpy(rte_pktmbuf_append(m, kFrameLen), frame, kFrameLen);
    if (rte_ring_enqueue(inPort == 0 ? wan_.rx : lan_.rx, m) != 0) {
      rte_pktmbuf_free(m);
      return std::nullopt;
    }
    poll();
    std::optional<Bytes> out;
    void* v = nullptr;
    if (rte_ring_dequeue(outPort == 0 ? wan_.tx : lan_.tx, &v) == 0) {
      auto* o = static_cast<rte_mbuf*>(v);
      auto* d = rte_pktmbuf_mtod(o, uint8_t*);
      out = Bytes(d, d + rte_pktmbuf_data_len(o));
      rte_pktmbuf_free(o);
    }
    RingPort::drainFree(wan_.tx);
    RingPort::drainFree(lan_.tx);
    return out;
  }

  Mac portMac(int port) {
    rte_ether_addr a;
    rte_eth_macaddr_get(port == 0 ? wanId_ : lanId_, &a);
    Mac m;
    std::memcpy(m.data(), a.addr_bytes, 6);
    return m;
  }
  dp::Dataplane& dp() { return dp_; }
  RingPort& wan() { return wan_; }
  RingPort& lan() { return lan_; }

 private:
  RingPort wan_;
  RingPort lan_;
  dp::Dataplane dp_;
  bool started_ = false;
  uint16_t wanId_ = 0;
  uint16_t lanId_ = 0;
  uint64_t nowNs_ = 1'000'000'000;
  uint64_t nsPerPoll_ = 0;
};

// ---- the harness: mbuf recycling ---------------------------------------------

struct Feed {
  const FrameArray* frames = nullptr;
  size_t next = 0;
  rte_ring* rx = nullptr;  // the rx ring of the port these frames arrive on
};

// Keeps kInflightPerFeed mbufs per feed circulating: what the worker
// transmitted comes back as the next frame of the next feed in turn.
class Recycler {
 public:
  Recycler(rte_mempool* pool, std::vector<rte_ring*> outputs, std::vector<Feed> feeds)
      : pool_(pool),
        outputs_(std::move(outputs)),
        feeds_(std::move(feeds)),
        inflight_(kInflightPerFeed * static_cast<unsigned>(feeds_.size())) {}

  ~Recycler() { release(); }

  // Tops the rx rings up to the in-flight count. Also replaces mbufs the
  // worker freed (drops), so a drop costs the harness an allocation.
  void refill() {
    rte_mbuf* ms[kMaxInflight];
    unsigned n = 0;
    for (rte_ring* r : outputs_) {
      n += rte_ring_dequeue_burst(r, reinterpret_cast<void**>(ms + n), kMaxInflight - n, nullptr);
    }
    unsigned queued = 0;
    for (const Feed& f : feeds_) {
      queued += rte_ring_count(f.rx);
    }
    if (queued + n < inflight_) {
      unsigned want = inflight_ - queued - n;
      if (rte_pktmbuf_alloc_bulk(pool_, ms + n, want) == 0) {
        n += want;
      }
    }
    rte_mbuf* batch[kMaxFeeds][kMaxInflight];
    unsigned count[kMaxFeeds] = {};
    for (unsigned i = 0; i < n; ++i) {
      Feed& f = feeds_[turn_];
      load(ms[i], f.frames->at(f.next));
      f.next = f.next + 1 == f.frames->size() ? 0 : f.next + 1;
      batch[turn_][count[turn_]++] = ms[i];
      turn_ = turn_ + 1 == feeds_.size() ? 0 : turn_ + 1;
    }
    for (size_t k = 0; k < feeds_.size(); ++k) {
      unsigned done = rte_ring_enqueue_burst(feeds_[k].rx, reinterpret_cast<void**>(batch[k]),
                                             count[k], nullptr);
      for (unsigned i = done; i < count[k]; ++i) {
        rte_pktmbuf_free(batch[k][i]);
      }
    }
  }

  void release() {
    for (rte_ring* r : outputs_) {
      RingPort::drainFree(r);
    }
    for (const Feed& f : feeds_) {
      RingPort::drainFree(f.rx);
    }
  }

 private:
  static void load(rte_mbuf* m, const uint8_t* frame) {
    // What a NIC's rx path sets: data at the headroom, one segment, the
    // length, no offload flags (ring ports offer none, so the worker checks
    // the IPv4 header checksum in software).
    m->data_off = RTE_PKTMBUF_HEADROOM;
    m->data_len = kFrameLen;
    m->pkt_len = kFrameLen;
    m->ol_flags = 0;
    rte_memcpy(rte_pktmbuf_mtod(m, void*), frame, kFrameLen);
  }

  rte_mempool* pool_;
  std::vector<rte_ring*> outputs_;
  std::vector<Feed> feeds_;
  unsigned inflight_;
  size_t turn_ = 0;
};

// ---- measurement ---------------------------------------------------------------

uint64_t threadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct Window {
  uint64_t packets = 0;
  uint64_t workerCycles = 0;
  uint64_t harnessCycles = 0;
  uint64_t wallCycles = 0;
  uint64_t cpuNs = 0;
};

double median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

struct Summary {
  uint64_t packets = 0;
  double workerMppsMedian = 0;
  double workerMppsBest = 0;
  double cyclesPerPacket = 0;  // inside pollOnce, median window
  double e2eMppsMedian = 0;
  double harnessNsPerPacket = 0;
  double cpuShareMin = 0;

  static Summary of(const std::vector<Window>& ws) {
    const double hz = static_cast<double>(rte_get_tsc_hz());
    std::vector<double> worker, cycles, e2e, harness, cpu;
    Summary s;
    for (const Window& w : ws) {
      if (w.packets == 0) {
        continue;
      }
      const double p = static_cast<double>(w.packets);
      s.packets += w.packets;
      worker.push_back(p / (static_cast<double>(w.workerCycles) / hz) / 1e6);
      cycles.push_back(static_cast<double>(w.workerCycles) / p);
      e2e.push_back(p / (static_cast<double>(w.wallCycles) / hz) / 1e6);
      harness.push_back(static_cast<double>(w.harnessCycles) / hz * 1e9 / p);
      cpu.push_back(static_cast<double>(w.cpuNs) / (static_cast<double>(w.wallCycles) / hz * 1e9));
    }
    s.workerMppsMedian = median(worker);
    s.workerMppsBest = worker.empty() ? 0 : *std::max_element(worker.begin(), worker.end());
    s.cyclesPerPacket = median(cycles);
    s.e2eMppsMedian = median(e2e);
    s.harnessNsPerPacket = median(harness);
    s.cpuShareMin = cpu.empty() ? 0 : *std::min_element(cpu.begin(), cpu.end());
    return s;
  }
};

// Untimed: runs until `packets` have been handled (bounded: gives up after a
// long run of empty polls, which means the worker drops everything).
template <typename Step>
bool runPackets(Step&& step, Recycler& rc, uint64_t packets) {
  uint64_t done = 0;
  unsigned empty = 0;
  while (done < packets) {
    unsigned n = step();
    rc.refill();
    done += n;
    empty = n == 0 ? empty + 1 : 0;
    if (empty > 10000) {
      return false;
    }
  }
  return true;
}

template <typename Step>
std::vector<Window> measure(Step&& step, Recycler& rc, double seconds, double windowSeconds) {
  const uint64_t hz = rte_get_tsc_hz();
  const auto windowCycles = static_cast<uint64_t>(windowSeconds * static_cast<double>(hz));
  const auto windows =
      static_cast<unsigned>(std::max(1.0, std::round(seconds / std::max(windowSeconds, 1e-3))));
  std::vector<Window> out;
  for (unsigned w = 0; w < windows; ++w) {
    Window win;
    const uint64_t cpu0 = threadCpuNs();
    const uint64_t start = rte_rdtsc();
    uint64_t t = start;
    while (t - start < windowCycles) {
      unsigned n = step();
      uint64_t t1 = rte_rdtsc();
      rc.refill();
      uint64_t t2 = rte_rdtsc();
      win.packets += n;
      win.workerCycles += t1 - t;
      win.harnessCycles += t2 - t1;
      t = t2;
    }
    win.wallCycles = t - start;
    win.cpuNs = threadCpuNs() - cpu0;
    out.push_back(win);
  }
  return out;
}

// ---- cases ---------------------------------------------------------------------

struct Options {
  uint32_t flows = 1'000'000;
  uint32_t smallFlows = 1000;
  uint32_t synFlows = 1u << 20;
  double seconds = 4;
  double window = 0.5;
  unsigned cpu = 0;
  std::string testpmd = "dpdk-testpmd";
  unsigned testpmdSeconds = 4;
};

struct Row {
  std::string name;
  std::string flows;
  Summary s;
  std::string check;  // "ok" or what was wrong with a probed output frame
  std::string note;
  uint64_t drops = 0;
  bool dplb = true;  // a row of the worker under test (ratio applies)
};

uint64_t totalDrops(dp::Dataplane& d) {
  uint64_t n = 0;
  for (uint64_t v : d.drops()) {
    n += v;
  }
  return n;
}

std::string dropDetail(dp::Dataplane& d) {
  std::string s;
  auto v = d.drops();
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != 0) {
      s += fmt::format(" {}={}", pkt::dropReasonName(static_cast<pkt::DropReason>(i)), v[i]);
    }
  }
  return s;
}

// 1000000 -> "1M", 1000 -> "1k", 1500 -> "1500".
std::string countLabel(uint32_t n) {
  if (n % 1'000'000 == 0) {
    return fmt::format("{}M", n / 1'000'000);
  }
  if (n % 1000 == 0) {
    return fmt::format("{}k", n / 1000);
  }
  return std::to_string(n);
}

// Checks one translated frame: checksums and the rewritten fields.
std::string checkFrame(const std::optional<Bytes>& out, uint32_t src, uint32_t dst, uint16_t sport,
                       uint16_t dport) {
  if (!out) {
    return "no frame out";
  }
  test::DecodedFrame d = test::decodeFrame(*out);
  if (!d.valid || !d.tcp) {
    return "undecodable: " + d.error;
  }
  if (std::string p = test::checksumProblems(*out); !p.empty()) {
    return p;
  }
  if (d.ip.src != src || d.ip.dst != dst || d.tcp->sport != sport || d.tcp->dport != dport) {
    return fmt::format("unexpected {}:{} -> {}:{}", test::ip4Str(d.ip.src), d.tcp->sport,
                       test::ip4Str(d.ip.dst), d.tcp->dport);
  }
  return "ok";
}

// Feeds every SYN once (untimed) so that each flow has a connection.
void createConnections(Rig& rig, rte_mempool* pool, const FrameArray& syns) {
  Recycler rc(pool, {rig.wan().tx, rig.lan().tx}, {Feed{&syns, 0, rig.wan().rx}});
  rc.refill();
  // The rx ring holds kInflightPerFeed frames ahead of the worker: refill
  // until every frame has been queued, then let the worker drain the ring.
  const uint64_t target = syns.size();
  uint64_t done = 0;
  while (done + kInflightPerFeed < target) {
    done += rig.poll();
    rc.refill();
  }
  // Drain what is queued without refilling; the tail wraps around onto
  // frames already sent, which at most re-hit their existing connections.
  for (int i = 0; i < 8; ++i) {
    rig.poll();
    RingPort::drainFree(rig.wan().tx);
    RingPort::drainFree(rig.lan().tx);
  }
}

// (a) and (c): established NAT flows, both directions, spread over `flows`.
std::vector<Row> caseEstablished(const Options& o, rte_mempool* pool, uint32_t flows,
                                 const std::string& tag, bool withRingOnly) {
  std::vector<Row> rows;
  Row row;
  row.name = fmt::format("established NAT, {} flows", countLabel(flows));
  row.flows = std::to_string(flows);
  fmt::print(stderr, "[{}] building {} SYN frames ...\n", row.name, flows);
  Rig rig;
  // 10 us per poll of injected time; nothing expires during the run
  // (tcp_established 900 s).
  const uint32_t capacity = std::max<uint32_t>(1024, flows + flows / 4);
  if (std::string e = rig.start(tag, "", capacity, 10'000); !e.empty()) {
    row.check = "start failed: " + e;
    rows.push_back(row);
    return rows;
  }
  const Mac wanMac = rig.portMac(0);
  const Mac lanMac = rig.portMac(1);
  {
    FrameArray syns(flows);
    for (uint32_t i = 0; i < flows; ++i) {
      syns.set(i, clientFrame(i, wanMac, test::kTcpSynFlag));
    }
    fmt::print(stderr, "[{}] creating {} connections ...\n", row.name, flows);
    createConnections(rig, pool, syns);
  }
  // Which real server each flow got, from the connection table itself.
  std::vector<uint8_t> rsOf(flows, 0xff);
  std::vector<uint16_t> rsPortOf(flows, 0);
  uint32_t mapped = 0;
  for (const dp::ConnInfo& c : rig.dp().connections()) {
    auto f = flowOf(c.clientAddr, c.clientPort);
    if (!f || *f >= flows) {
      continue;
    }
    for (unsigned r = 0; r < kRealServers; ++r) {
      if (c.rsAddr == rsAddr(r)) {
        rsOf[*f] = static_cast<uint8_t>(r);
        rsPortOf[*f] = c.rsPort;
        ++mapped;
      }
    }
  }
  if (mapped != flows) {
    row.check =
        fmt::format("only {} of {} connections created;{}", mapped, flows, dropDetail(rig.dp()));
    rows.push_back(row);
    return rows;
  }
  fmt::print(stderr, "[{}] building {} data frames ...\n", row.name, 2ull * flows);
  FrameArray in(flows);
  FrameArray out(flows);
  for (uint32_t i = 0; i < flows; ++i) {
    in.set(i, clientFrame(i, wanMac, test::kTcpAckFlag | test::kTcpPshFlag));
    out.set(i, serverFrame(i, rsOf[i], rsPortOf[i], lanMac));
  }
  // One translated frame per direction, checked field by field.
  row.check = checkFrame(rig.probe(pool, in.at(0), 0, 1), clientAddr(0), rsAddr(rsOf[0]),
                         clientPort(0), rsPortOf[0]);
  if (row.check == "ok") {
    row.check =
        checkFrame(rig.probe(pool, out.at(0), 1, 0), kVip, clientAddr(0), kVport, clientPort(0));
  }
  // The replies start half-way through the flows so that the two directions
  // of one flow are not handled back to back (no free cache hit).
  Recycler rc(pool, {rig.wan().tx, rig.lan().tx},
              {Feed{&in, 0, rig.wan().rx}, Feed{&out, flows / 2, rig.lan().rx}});
  rc.refill();
  auto step = [&] { return rig.poll(); };
  fmt::print(stderr, "[{}] warm-up pass (ACKs establish every connection) ...\n", row.name);
  if (!runPackets(step, rc, 2ull * flows + 4 * kMaxInflight)) {
    row.check = "worker handled nothing;" + dropDetail(rig.dp());
    rows.push_back(row);
    return rows;
  }
  uint32_t established = 0;
  for (const dp::ConnInfo& c : rig.dp().connections()) {
    established += c.state == static_cast<uint8_t>(dp::TcpState::kEstablished);
  }
  if (withRingOnly) {
    fmt::print(stderr, "[ring-only] measuring {} s ...\n", o.seconds / 2);
    Row ring;
    ring.name = "ring-only floor (rx+tx burst, no dplb)";
    ring.flows = "-";
    auto io = [&] { return rig.ioForward(); };
    ring.s = Summary::of(measure(io, rc, o.seconds / 2, o.window));
    ring.check = "-";
    ring.note = "same ports, frames and harness; what the rings alone cost";
    ring.dplb = false;
    rows.push_back(ring);
  }
  fmt::print(stderr, "[{}] measuring {} s ...\n", row.name, o.seconds);
  const uint64_t drops0 = totalDrops(rig.dp());
  row.s = Summary::of(measure(step, rc, o.seconds, o.window));
  row.drops = totalDrops(rig.dp()) - drops0;
  row.note = fmt::format(
      "{} of {} conns ESTABLISHED (table capacity {}); client->VIP and RS->client alternate",
      established, flows, capacity);
  if (row.drops != 0) {
    row.note += ";" + dropDetail(rig.dp());
  }
  rc.release();
  rows.insert(rows.begin(), row);
  return rows;
}

// (b) new connections: every packet is a SYN from a client with no
// connection. The SYN frames cycle; entries expire through the timer wheel
// (tcp_syn_recv 1 s of injected time) before their SYN comes round again, so
// the table stays at a steady fill and expiry is part of the cost.
Row caseNewConnections(const Options& o, rte_mempool* pool) {
  Row row;
  row.name = "new connections (SYN -> new conn)";
  const uint32_t n = o.synFlows;
  // A cycle through the frames lasts 2 s of injected time at 32 SYNs a poll:
  // longer than the 1 s timeout plus the wheel's two 100 ms ticks of lateness.
  const uint64_t nsPerPoll = std::max<uint64_t>(1, 2'000'000'000ull * kBurst / n);
  Rig rig;
  if (std::string e =
          rig.start("s", "{ tcp_syn_recv: 1s }", std::max<uint32_t>(1024, n), nsPerPoll);
      !e.empty()) {
    row.check = "start failed: " + e;
    return row;
  }
  fmt::print(stderr, "[{}] building {} SYN frames ...\n", row.name, n);
  FrameArray syns(n);
  const Mac wanMac = rig.portMac(0);
  for (uint32_t i = 0; i < n; ++i) {
    syns.set(i, clientFrame(i, wanMac, test::kTcpSynFlag));
  }
  std::optional<Bytes> first = rig.probe(pool, syns.at(0), 0, 1);
  row.check = "no frame out";
  if (first) {
    test::DecodedFrame d = test::decodeFrame(*first);
    row.check = checkFrame(first, clientAddr(0), d.ip.dst, clientPort(0), kRsPort);
    if (row.check == "ok" && (d.ip.dst < rsAddr(0) || d.ip.dst > rsAddr(kRealServers - 1))) {
      row.check = "not sent to a real server";
    }
  }
  Recycler rc(pool, {rig.wan().tx, rig.lan().tx}, {Feed{&syns, 1, rig.wan().rx}});
  rc.refill();
  auto step = [&] { return rig.poll(); };
  fmt::print(stderr, "[{}] warm-up: 1.5 cycles through the SYNs ...\n", row.name);
  runPackets(step, rc, n + n / 2);
  const auto& st = rig.dp().workerStats(0);
  const uint64_t new0 = st.newConns.get();
  const uint64_t rx0 = st.rxPackets.get();
  const uint64_t exp0 = st.expiredConns.get();
  const uint64_t drops0 = totalDrops(rig.dp());
  fmt::print(stderr, "[{}] measuring {} s ...\n", row.name, o.seconds);
  row.s = Summary::of(measure(step, rc, o.seconds, o.window));
  row.drops = totalDrops(rig.dp()) - drops0;
  const uint64_t rx = st.rxPackets.get() - rx0;
  row.flows = fmt::format("~{}k live", rig.dp().connCount() / 1000);
  row.note = fmt::format(
      "{:.1f}% of SYNs made a conn; {:.2f} expiries per new conn; wlc over {} RS",
      rx ? 100.0 * static_cast<double>(st.newConns.get() - new0) / static_cast<double>(rx) : 0.0,
      st.newConns.get() - new0 ? static_cast<double>(st.expiredConns.get() - exp0) /
                                     static_cast<double>(st.newConns.get() - new0)
                               : 0.0,
      kRealServers);
  if (row.drops != 0) {
    row.note += ";" + dropDetail(rig.dp());
  }
  rc.release();
  return row;
}

// ---- testpmd -------------------------------------------------------------------

struct TestpmdRun {
  std::string error;
  std::string command;
  std::vector<double> mpps;  // per 1 s stats period, both ports' Rx-pps summed
  double cyclesPerPacket = 0;
  double cpuShare = -1;  // forwarding thread's CPU time / wall time
};

// utime + stime (clock ticks) of testpmd's forwarding lcore thread.
std::optional<uint64_t> forwardingThreadTicks(pid_t pid) {
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    std::ifstream comm(t.path() / "comm");
    std::string name;
    std::getline(comm, name);
    // DPDK names its lcore threads "rte-worker-N" (22.11) or "lcore-worker-N".
    if (name.find("worker-1") == std::string::npos) {
      continue;
    }
    std::ifstream stat(t.path() / "stat");
    std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    size_t close = all.rfind(')');
    if (close == std::string::npos) {
      return std::nullopt;
    }
    std::istringstream rest(all.substr(close + 2));
    std::vector<std::string> f;
    for (std::string s; rest >> s;) {
      f.push_back(s);
    }
    // After "(comm) " come state (field 3) ... utime (14), stime (15).
    if (f.size() < 13) {
      return std::nullopt;
    }
    return std::stoull(f[11]) + std::stoull(f[12]);
  }
  return std::nullopt;
}

TestpmdRun runTestpmd(const Options& o, unsigned seconds) {
  TestpmdRun run;
  std::vector<std::string> args{o.testpmd,
                                "--lcores",
                                fmt::format("0@{},1@{}", o.cpu, o.cpu),
                                "--no-huge",
                                "-m",
                                "512",
                                "--no-pci",
                                "--file-prefix",
                                fmt::format("dplbtp{}", getpid()),
                                "--log-level=error",
                                "--vdev",
                                "net_ring0",
                                "--vdev",
                                "net_ring1",
                                "--",
                                "--forward-mode=5tswap",
                                "--nb-cores=1",
                                "--auto-start",
                                "--tx-first",
                                "--no-lsc-interrupt",
                                "--stats-period=1",
                                "--total-num-mbufs=8192",
                                "--record-core-cycles"};
  for (const auto& a : args) {
    run.command += (run.command.empty() ? "" : " ") + a;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    run.error = "pipe failed";
    return run;
  }
  // Everything the child needs is made before fork(): after it, in a process
  // with EAL threads, only async-signal-safe calls are allowed.
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  static constexpr char kExecFailed[] = "exec dpdk-testpmd failed\n";
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    run.error = "fork failed";
    return run;
  }
  if (pid == 0) {
    int devNull = open("/dev/null", O_RDONLY);
    dup2(devNull, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    execvp(argv[0], argv.data());
    ssize_t ignored = write(2, kExecFailed, sizeof kExecFailed - 1);
    (void)ignored;
    _exit(127);
  }
  close(fds[1]);
  using Clock = std::chrono::steady_clock;
  const auto begin = Clock::now();
  std::optional<Clock::time_point> interruptedAt;
  bool started = false;
  std::optional<uint64_t> ticks0;
  Clock::time_point t0;
  std::string pending;
  std::deque<std::string> tail;  // last lines, for an error message
  uint64_t periodSum = 0;
  unsigned portsInPeriod = 0;
  auto onLine = [&](const std::string& line) {
    tail.push_back(line);
    if (tail.size() > 15) {
      tail.pop_front();
    }
    if (size_t p = line.find("Rx-pps:"); p != std::string::npos) {
      periodSum += std::strtoull(line.c_str() + p + 7, nullptr, 10);
      if (++portsInPeriod < 2) {
        return;
      }
      const uint64_t pps = periodSum;
      periodSum = 0;
      portsInPeriod = 0;
      if (pps == 0 && !started) {
        return;  // ports not forwarding yet
      }
      if (!started) {
        // The first non-zero period contains the start: dropped.
        started = true;
        ticks0 = forwardingThreadTicks(pid);
        t0 = Clock::now();
        return;
      }
      run.mpps.push_back(static_cast<double>(pps) / 1e6);
      if (run.mpps.size() == seconds && !interruptedAt) {
        auto ticks1 = forwardingThreadTicks(pid);
        double wall = std::chrono::duration<double>(Clock::now() - t0).count();
        if (ticks0 && ticks1 && wall > 0) {
          run.cpuShare = static_cast<double>(*ticks1 - *ticks0) /
                         static_cast<double>(sysconf(_SC_CLK_TCK)) / wall;
        }
        kill(pid, SIGINT);
        interruptedAt = Clock::now();
      }
    } else if (size_t c = line.find("CPU cycles/packet="); c != std::string::npos) {
      run.cyclesPerPacket = std::strtod(line.c_str() + c + 18, nullptr);
    }
  };
  char buf[4096];
  bool eof = false;
  while (!eof) {
    pollfd pfd{fds[0], POLLIN, 0};
    int pr = ::poll(&pfd, 1, 200);
    if (pr > 0) {
      ssize_t got = read(fds[0], buf, sizeof buf);
      if (got <= 0) {
        eof = true;
      } else {
        pending.append(buf, static_cast<size_t>(got));
        for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
          std::string line = pending.substr(0, nl);
          pending.erase(0, nl + 1);
          // Drop the ANSI screen-clearing sequences testpmd prints.
          for (size_t e; (e = line.find('\x1b')) != std::string::npos;) {
            size_t end = line.find_first_of("HJKm", e);
            line.erase(e, end == std::string::npos ? std::string::npos : end - e + 1);
          }
          onLine(line);
        }
      }
    }
    const auto now = Clock::now();
    if (!interruptedAt && now - begin > std::chrono::seconds(seconds + 30)) {
      run.error = "no forwarding statistics within the time limit";
      kill(pid, SIGINT);
      interruptedAt = now;
    }
    if (interruptedAt && now - *interruptedAt > std::chrono::seconds(15)) {
      kill(pid, SIGKILL);
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (run.mpps.empty() && run.error.empty()) {
    run.error = "testpmd printed no forwarding rate";
  }
  if (!run.error.empty()) {
    run.error += "; its last output:";
    for (const auto& l : tail) {
      run.error += "\n    " + l;
    }
  }
  return run;
}

// ---- report ---------------------------------------------------------------------

void printTable(const std::vector<Row>& rows, const std::vector<TestpmdRun>& tp, const Options& o) {
  std::vector<double> tpSamples;
  std::vector<double> tpCycles;
  double tpCpu = 1;
  for (const auto& r : tp) {
    tpSamples.insert(tpSamples.end(), r.mpps.begin(), r.mpps.end());
    if (r.cyclesPerPacket > 0) {
      tpCycles.push_back(r.cyclesPerPacket);
    }
    if (r.cpuShare >= 0) {
      tpCpu = std::min(tpCpu, r.cpuShare);
    }
  }
  const double tpMedian = median(tpSamples);
  const double tpBest =
      tpSamples.empty() ? 0 : *std::max_element(tpSamples.begin(), tpSamples.end());
  const double ghz = static_cast<double>(rte_get_tsc_hz()) / 1e9;

  fmt::print(
      "\n== dplb dataplane benchmark: 1 worker, Worker::pollOnce() on CPU {} (TSC {:.2f} GHz), "
      "64-byte TCP frames, ring ports ==\n\n",
      o.cpu, ghz);
  fmt::print("{:<40} {:>10} {:>17} {:>8} {:>8} {:>8} {:>8} {:>5} {:>9} {:>7}\n", "case", "flows",
             "worker Mpps", "cyc/pkt", "ns/pkt", "e2e", "harness", "cpu", "dplb/", "drops");
  fmt::print("{:<40} {:>10} {:>17} {:>8} {:>8} {:>8} {:>8} {:>5} {:>9} {:>7}\n", "", "",
             "median (best)", "worker", "worker", "Mpps", "ns/pkt", "min%", "testpmd", "");
  fmt::print("{}\n", std::string(128, '-'));
  for (const Row& r : rows) {
    const Summary& s = r.s;
    std::string ratio = "-";
    if (r.dplb && tpMedian > 0 && s.workerMppsMedian > 0) {
      ratio = fmt::format("{:.3f}", s.workerMppsMedian / tpMedian);
    }
    fmt::print("{:<40} {:>10} {:>17} {:>8.1f} {:>8.1f} {:>8.2f} {:>8.1f} {:>5.0f} {:>9} {:>7}\n",
               r.name, r.flows,
               fmt::format("{:.2f} ({:.2f})", s.workerMppsMedian, s.workerMppsBest),
               s.cyclesPerPacket, s.cyclesPerPacket / ghz, s.e2eMppsMedian, s.harnessNsPerPacket,
               100 * s.cpuShareMin, ratio, r.drops);
  }
  if (!tpSamples.empty()) {
    const double cyc = median(tpCycles);
    fmt::print("{:<40} {:>10} {:>17} {:>8.1f} {:>8.1f} {:>8} {:>8} {:>5.0f} {:>9} {:>7}\n",
               "dpdk-testpmd --forward-mode=5tswap", "-",
               fmt::format("{:.2f} ({:.2f})", tpMedian, tpBest), cyc, cyc / ghz, "-", "-",
               tpCpu < 1 ? 100 * tpCpu : 100.0, "1", "-");
  }
  fmt::print("{}\n", std::string(128, '-'));
  for (const Row& r : rows) {
    fmt::print("  {}: check {}{}{}\n", r.name, r.check, r.note.empty() ? "" : "; ", r.note);
  }
  for (size_t i = 0; i < tp.size(); ++i) {
    if (!tp[i].error.empty()) {
      fmt::print("  testpmd run {}: FAILED: {}\n", i + 1, tp[i].error);
      continue;
    }
    std::string samples;
    for (double m : tp[i].mpps) {
      samples += fmt::format(" {:.1f}", m);
    }
    fmt::print(
        "  testpmd run {} ({}): Mpps per second:{}; cycles/packet {:.2f}; forwarding "
        "thread CPU {:.0f}%\n",
        i + 1, i == 0 ? "before the dplb cases" : "after them", samples, tp[i].cyclesPerPacket,
        100 * tp[i].cpuShare);
  }
  if (!tp.empty()) {
    fmt::print("  testpmd command: {}\n", tp[0].command);
  }
  fmt::print(R"(
How the numbers were obtained:
  worker Mpps   packets the worker handled / TSC time inside Worker::pollOnce() only; median
                and best of {:.1f} s windows. cyc/pkt and ns/pkt are the same median in cycles and ns.
  e2e Mpps      the same packets / wall time, i.e. including the harness (this is one core doing
                both the traffic generation and the forwarding).
  harness       refill cost per packet: take the mbufs out of the tx rings, copy the next
                precomputed 64-byte frame into each, enqueue on the rx rings.
  cpu min%      lowest share of wall time this thread was on its CPU in any window (thread CPU
                time / wall time); below ~95% other processes took the CPU and the numbers drop.
  ring-only     the same harness and ports with rx_burst/tx_burst only (no dplb): the ring floor.
  testpmd       dpdk-testpmd as a child process on the same CPU: two net_ring vdevs without
                arguments (each port = one ring used for rx and tx, so what it sends comes back),
                5tswap forwarding port 0 <-> 1 on one forwarding lcore, --tx-first puts 32
                packets (64 bytes) per port in flight. Mpps = Rx-pps of both ports summed, per
                --stats-period 1 period, first (partial) period dropped; median (best) of all
                periods of both runs. cyc/pkt from --record-core-cycles.
  dplb/testpmd  dplb worker Mpps median / testpmd Mpps median.
  What differs: testpmd 5tswap swaps addresses and ports in packets that never leave L1 and
  does no lookup or checksum; dplb parses, verifies the IPv4 header checksum in software
  (ring ports have no rx offload), looks the connection up (1M flows: ~100 MB of table, so
  mostly cache misses), runs the IPVS TCP state machine, rewrites with incremental checksums,
  routes (LPM + neighbour), counts per service and per real server, buffers tx. Time inside
  dplb is an injected clock (+10 us per poll for established flows; new connections: a cycle
  through the SYNs lasts 2 s of it, tcp_syn_recv = 1 s, so entries expire and the table holds
  a steady fill).
  The machine has 2 cores shared with other jobs: compare numbers from the same run only.
)",
             o.window);
}

bool initEal(unsigned cpu) {
  std::vector<std::string> args{"dplb_bench_dataplane",
                                "--no-huge",
                                "-m",
                                "512",
                                "--no-pci",
                                "-l",
                                std::to_string(cpu),
                                "--file-prefix",
                                "dplbbench" + std::to_string(getpid()),
                                "--log-level=error",
                                "--no-telemetry"};
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  return rte_eal_init(static_cast<int>(argv.size()), argv.data()) >= 0;
}

int benchMain(int argc, char** argv) {
  Options o;
  o.cpu = static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)) - 1);
  CLI::App app{
      "dplb dataplane benchmark: Mpps per worker of the real worker code on ring ports, next to "
      "dpdk-testpmd --forward-mode=5tswap. Prints numbers; not a test."};
  app.add_option("--flows", o.flows, "established flows of the large case")->capture_default_str();
  app.add_option("--small-flows", o.smallFlows, "established flows of the small case")
      ->capture_default_str();
  app.add_option("--syn-flows", o.synFlows, "distinct SYN frames the new-connection case cycles")
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "measured seconds per case")->capture_default_str();
  app.add_option("--window", o.window, "seconds per measurement window")->capture_default_str();
  app.add_option("--cpu", o.cpu, "CPU for the worker and for testpmd (default: the last one)")
      ->capture_default_str();
  app.add_option("--testpmd", o.testpmd, "dpdk-testpmd to run alongside; 'none' skips it")
      ->capture_default_str();
  app.add_option("--testpmd-seconds", o.testpmdSeconds, "measured seconds per testpmd run")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (o.flows < 2 || o.smallFlows < 2 || o.synFlows < 2 * kMaxInflight ||
      o.flows > 8 * kClientAddrs || o.synFlows > 8 * kClientAddrs ||
      o.smallFlows > 8 * kClientAddrs) {
    fmt::print(stderr, "flow counts must be within 2..{} (--syn-flows at least {})\n",
               8 * kClientAddrs, 2 * kMaxInflight);
    return 2;
  }

  std::vector<TestpmdRun> tp;
  const bool withTestpmd = o.testpmd != "none";
  if (withTestpmd) {
    fmt::print(stderr, "[testpmd] run 1: {} s ...\n", o.testpmdSeconds);
    tp.push_back(runTestpmd(o, o.testpmdSeconds));
  }

  if (!initEal(o.cpu)) {
    fmt::print(stderr, "EAL initialisation failed\n");
    return 1;
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("bench_mbufs", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                              static_cast<int>(rte_socket_id()));
  if (pool == nullptr) {
    fmt::print(stderr, "cannot create the mbuf pool\n");
    return 1;
  }
  std::vector<Row> rows;
  for (Row& r : caseEstablished(o, pool, o.flows, "a", true)) {
    rows.push_back(std::move(r));
  }
  rows.push_back(caseNewConnections(o, pool));
  for (Row& r : caseEstablished(o, pool, o.smallFlows, "c", false)) {
    rows.push_back(std::move(r));
  }

  if (withTestpmd) {
    fmt::print(stderr, "[testpmd] run 2: {} s ...\n", o.testpmdSeconds);
    tp.push_back(runTestpmd(o, o.testpmdSeconds));
  }
  printTable(rows, tp, o);
  rte_mempool_free(pool);
  rte_eal_cleanup();
  return 0;
}

}  // namespace
}  // namespace dplb::bench

int main(int argc, char** argv) {
  return dplb::bench::benchMain(argc, argv);
}
