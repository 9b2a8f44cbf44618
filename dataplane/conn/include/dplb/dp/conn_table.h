#pragma once

// Per-worker IPVS connection table: connection entries, persistence
// templates, the TCP/UDP/ICMP state machine and expiry on a timer wheel.
// Pure C++ (no DPDK) so it runs under ASan and without EAL.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dplb/dp/tcp_state.h"

namespace dplb::dp {

// Index of an entry (connection or template) in its table. Stable for the
// entry's lifetime; reused after the entry is freed.
using ConnId = uint32_t;
inline constexpr ConnId kNoConn = 0xFFFFFFFFu;

// IP protocol numbers the table tracks.
enum class L4Proto : uint8_t { kIcmp = 1, kTcp = 6, kUdp = 17 };

enum class ForwardMode : uint8_t { kNat = 0, kDr = 1, kTun = 2 };

// A packet's addresses and ports in the packet's own order. Addresses and
// ports are opaque bit patterns to the table (pass them in network byte order
// as parsed); only equality and the persistence netmask (bitwise AND, so give
// it in the same byte order) are applied to them.
struct FiveTuple {
  uint32_t srcAddr = 0;
  uint32_t dstAddr = 0;
  uint16_t srcPort = 0;
  uint16_t dstPort = 0;
  L4Proto proto = L4Proto::kTcp;
};

// One connection or persistence template: 64 bytes, one cache line. Read-only
// to the caller; the table changes it.
class alignas(64) Conn {
 public:
  bool isTemplate() const { return flags_ & kFlagTemplate; }
  // Counted in the real server's activeconns (else inactconns). Always false
  // for UDP/ICMP and templates.
  bool isActive() const { return !(flags_ & (kFlagInactive | kFlagTemplate)); }
  // DR/TUN connection that has not seen a real-server packet: its TCP state
  // follows the INPUT-ONLY table (IP_VS_CONN_F_NOOUTPUT).
  bool isInputOnly() const { return flags_ & kFlagNoOutput; }
  // Template whose controlled connection reached ESTABLISHED (TCP) or saw a
  // reply (UDP) — IP_VS_CTPL_S_ASSURED.
  bool isAssured() const { return flags_ & kFlagAssured; }
  // Template taken out of the lookup index by invalidateTemplate().
  bool isInvalidated() const { return flags_ & kFlagUnhashed; }

  L4Proto proto() const { return proto_; }
  ForwardMode forwardMode() const { return fwd_; }
  // TCP: a TcpState value. UDP, ICMP and templates: always 0.
  uint8_t state() const { return state_; }
  TcpState tcpState() const { return static_cast<TcpState>(state_); }

  // For a template clientAddr() is the masked client network, clientPort()
  // is 0 and vipPort() is 0 for a port-0 service.
  uint32_t clientAddr() const { return clientAddr_; }
  uint16_t clientPort() const { return clientPort_; }
  uint32_t vipAddr() const { return vipAddr_; }
  uint16_t vipPort() const { return vipPort_; }
  uint32_t rsAddr() const { return rsAddr_; }
  uint16_t rsPort() const { return rsPort_; }

  // Opaque ids the caller gave at insert.
  uint32_t serviceId() const { return serviceId_; }
  uint32_t realServerId() const { return realServerId_; }
  uint32_t destGeneration() const { return destGen_; }

  // The template controlling this connection, or kNoConn.
  ConnId controlTemplate() const { return control_; }
  // Templates: how many connections this template controls.
  uint32_t controlledCount() const { return nControl_; }

 private:
  friend class ConnTable;

  static constexpr uint8_t kFlagInUse = 1 << 0;
  static constexpr uint8_t kFlagTemplate = 1 << 1;
  static constexpr uint8_t kFlagInactive = 1 << 2;
  static constexpr uint8_t kFlagNoOutput = 1 << 3;
  static constexpr uint8_t kFlagAssured = 1 << 4;
  static constexpr uint8_t kFlagOutIndexed = 1 << 5;
  static constexpr uint8_t kFlagUnhashed = 1 << 6;

  uint32_t clientAddr_ = 0;
  uint32_t vipAddr_ = 0;
  uint32_t rsAddr_ = 0;
  uint16_t clientPort_ = 0;
  uint16_t vipPort_ = 0;
  uint16_t rsPort_ = 0;
  L4Proto proto_ = L4Proto::kTcp;
  ForwardMode fwd_ = ForwardMode::kNat;
  uint8_t state_ = 0;
  uint8_t flags_ = 0;
  uint16_t reserved_ = 0;
  // Timer: absolute expiry tick (truncated to 32 bits, compared wrap-safe),
  // the wheel slot the entry is linked in, and the slot's list links.
  uint32_t expiryTick_ = 0;
  uint32_t wheelSlot_ = 0;
  uint32_t wheelNext_ = kNoConn;  // also the free-list link
  uint32_t wheelPrev_ = kNoConn;
  uint32_t serviceId_ = 0;
  uint32_t realServerId_ = 0;
  uint32_t destGen_ = 0;
  ConnId control_ = kNoConn;
  uint32_t nControl_ = 0;
  // Templates: the timeout the next re-arm uses (the persistence timeout,
  // or 60 s once the kernel-style "expire later" path has run).
  uint32_t templateTimeoutTicks_ = 0;
};
static_assert(sizeof(Conn) == 64, "a connection entry must stay one cache line");

// The state column of ipvsadm -L -c: the TCP state name ("ESTABLISHED", …;
// "NONE" for a TCP template), "UDP" for UDP and "ICMP" for ICMP entries.
std::string_view connStateName(const Conn& conn);

// What the caller supplies for a new connection.
struct NewConn {
  L4Proto proto = L4Proto::kTcp;
  uint32_t clientAddr = 0;
  uint16_t clientPort = 0;
  uint32_t vipAddr = 0;
  uint16_t vipPort = 0;
  uint32_t rsAddr = 0;
  uint16_t rsPort = 0;
  ForwardMode fwd = ForwardMode::kNat;
  uint32_t serviceId = 0;
  uint32_t realServerId = 0;
  // The real server's generation when it was chosen; see destAlive().
  uint32_t destGeneration = 0;
  // Persistence template controlling the connection, or kNoConn.
  ConnId controlTemplate = kNoConn;
};

// Persistence template key, as ip_vs_sched_persist builds it: (protocol,
// client address & netmask, client port 0, VIP, service port — 0 for a port-0
// service, so one template covers every port of the VIP).
struct TemplateKey {
  L4Proto proto = L4Proto::kTcp;
  uint32_t clientNet = 0;
  uint32_t vipAddr = 0;
  uint16_t vipPort = 0;

  static TemplateKey forService(L4Proto proto, uint32_t clientAddr, uint32_t netmask,
                                uint32_t vipAddr, uint16_t servicePort) {
    return TemplateKey{proto, clientAddr & netmask, vipAddr, servicePort};
  }
};

struct NewTemplate {
  TemplateKey key;
  // The real server every connection under the template goes to. rsPort is
  // the server's port, or 0 for a port-0 service (connections then keep the
  // packet's destination port).
  uint32_t rsAddr = 0;
  uint16_t rsPort = 0;
  ForwardMode fwd = ForwardMode::kNat;
  uint32_t serviceId = 0;
  uint32_t realServerId = 0;
  uint32_t destGeneration = 0;
  // The service's persistence timeout (ipvsadm -p, default 360 s).
  std::chrono::seconds timeout{360};
};

enum class InsertStatus : uint8_t {
  kInserted = 0,
  kExists,     // a connection/template with the same inbound key exists; id is it
  kTableFull,  // every entry is in use: count it and drop the packet
  kIndexFull,  // no free index slot (only with a hand-sized, tiny `buckets`)
};

struct InsertResult {
  InsertStatus status = InsertStatus::kTableFull;
  ConnId id = kNoConn;
  bool ok() const { return status == InsertStatus::kInserted; }
};

struct LookupResult {
  ConnId id = kNoConn;
  Direction dir = Direction::kIn;
  bool hit() const { return id != kNoConn; }
};

// Change in the real server's active/inactive split caused by one packet.
enum class Activity : int8_t { kUnchanged = 0, kBecameActive = 1, kBecameInactive = -1 };

struct StateUpdate {
  uint8_t oldState = 0;
  uint8_t newState = 0;
  Activity activity = Activity::kUnchanged;
};

// Receives every entry the table frees on its own (timer expiry,
// expireNow()), just before its id is reused. Bookkeeping belongs here:
// conn.isActive() says which of the real server's counters to decrement;
// conn.isTemplate() marks a persistence template. The sink must not call
// back into the table.
class ConnExpirySink {
 public:
  virtual void onExpired(ConnId id, const Conn& conn) = 0;

 protected:
  ~ConnExpirySink() = default;
};

struct AdvanceResult {
  uint32_t expired = 0;  // entries freed (each reported to the sink)
  uint32_t rearmed = 0;  // entries whose slot fired early and were re-slotted
  bool caughtUp = true;  // false: budget ran out; due entries wait for the next call
};

struct ConnTableConfig {
  // Entries, connections and templates together; allocated up front.
  uint32_t capacity = 1u << 20;
  // Index buckets (8 keys per 64-byte bucket), a power of two; 0 sizes the
  // index so that two keys per entry fill at most half of it. Tests set a
  // tiny value to force collisions and a full index.
  uint32_t buckets = 0;
  // Per-table hash seed. Production passes a random value so that clients
  // cannot aim packets at one bucket; tests pass a fixed one.
  uint64_t hashSeed = 0x9e3779b97f4a7c15ull;
  // Timer granularity and wheel size: see README.md. A timeout fires no
  // earlier than asked and at most about two ticks late.
  std::chrono::nanoseconds tick = std::chrono::milliseconds{100};
  uint32_t wheelSlots = 1u << 14;  // power of two; 16384 × 100 ms ≈ 27 min
  // The injected clock's reading when the table is built; tick 0.
  uint64_t startNs = 0;
  ConnTimeouts timeouts{};
  TcpTableSet tcpTables = TcpTableSet::kNormal;  // kSecure = secure_tcp
  ActiveStates activeStates = ActiveStates::kEstablishedOnly;
};

// ConnTable — one per worker; single-threaded, lock-free by ownership.
//
// Contract: every entry, index bucket and wheel slot is allocated by the
// constructor (which alone may throw, on a bad config); afterwards nothing
// allocates, throws or locks. An entry is indexed by its inbound key (proto,
// client, cport, VIP, vport) and, for NAT, its outbound key (proto, RS, rport,
// client, cport); both are the 5-tuple of a packet of that direction, so one
// hash of a packet's tuple finds either direction. Templates live in the same
// entries and index under a separate key space. Time advances only through
// advance(now), which the worker calls once per loop: per-packet calls use
// that cached "now", and advance expires due entries within a budget.
class ConnTable {
 public:
  explicit ConnTable(const ConnTableConfig& config);

  ConnTable(const ConnTable&) = delete;
  ConnTable& operator=(const ConnTable&) = delete;

  // ---- lookup (packet path) ----
  LookupResult lookup(const FiveTuple& pkt) const { return lookupHashed(pkt, hashOf(pkt)); }
  // Pipelining: hash packet i+1 and prefetch its bucket while handling i.
  uint64_t hashOf(const FiveTuple& pkt) const;
  void prefetch(uint64_t hash) const;
  LookupResult lookupHashed(const FiveTuple& pkt, uint64_t hash) const;
  // Bulk lookup in three prefetching passes (hash + bucket, signatures +
  // entry, compare). Fills min(pkts.size(), out.size()) results.
  void lookupBulk(std::span<const FiveTuple> pkts, std::span<LookupResult> out) const;

  const Conn& conn(ConnId id) const { return conns_[id]; }

  // ---- connections ----
  // A new connection in state NONE, inactive, with the kernel's 3 s initial
  // timeout; the caller then feeds it the packet that created it through
  // onPacket(). With a control template, the template counts it and is
  // re-armed with its timeout (ip_vs_control_add + ip_vs_conn_put).
  InsertResult insert(const NewConn& c);

  // The IPVS state transition for one packet of `dir` (TCP: tcpFlags is the
  // header's flags byte; ignored for UDP/ICMP), re-arming the entry's timer
  // with the new state's timeout.
  StateUpdate onPacket(ConnId id, Direction dir, uint8_t tcpFlags);

  // Removes an entry now without reporting it (the caller does its own
  // bookkeeping). Refuses (returns false) for a template that still controls
  // connections, as the kernel never frees those.
  bool erase(ConnId id);
  // Reports the entry to `sink` and frees it now (expire_nodest_conn;
  // connection reuse). Same refusal as erase() for busy templates, which are
  // re-armed instead as when their timer fires.
  bool expireNow(ConnId id, ConnExpirySink& sink);

  // Deleted real servers: the caller keeps one generation number per
  // real-server id and bumps it when the server is deleted (or its id is
  // reused). An entry whose generation no longer matches is bound to a dead
  // server: drop its packets silently without onPacket() (IPVS default), or
  // expireNow() it and treat the packet as a miss (expire_nodest_conn = 1).
  // An id beyond the span counts as dead. O(1), no scan.
  bool destAlive(ConnId id, std::span<const uint32_t> destGenerations) const {
    const Conn& c = conns_[id];
    return c.realServerId_ < destGenerations.size() &&
           destGenerations[c.realServerId_] == c.destGen_;
  }

  // ---- persistence templates ----
  ConnId findTemplate(const TemplateKey& key) const;
  // A template armed for `timeout`; it lives while it controls connections.
  InsertResult insertTemplate(const NewTemplate& t);
  // ip_vs_check_template's failure path: the template's server is gone (or
  // quiesced under expire_quiescent_template). The template leaves the index
  // so the next connection schedules afresh; it lives on, unfindable, until
  // its controlled connections are gone and its timer fires.
  void invalidateTemplate(ConnId id);

  // ---- time ----
  // Sets "now" (monotonic; earlier values are ignored) and expires due
  // entries, visiting at most `budget` entries (expired or re-slotted) and
  // at most two wheel revolutions of slots: bounded work per call.
  AdvanceResult advance(uint64_t nowNs, uint32_t budget, ConnExpirySink& sink);
  // Time left before the entry's timer fires, as of the last advance().
  std::chrono::nanoseconds remaining(ConnId id) const;

  // ipvsadm --set and the secure_tcp switch; they apply from the next
  // state transition / re-arm on, as in the kernel.
  void setTimeouts(const ConnTimeouts& timeouts);
  void setTcpTables(TcpTableSet set) { tcpTables_ = set; }

  // ---- introspection ----
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  uint32_t bucketCount() const { return bucketMask_ + 1; }
  // Index occupancy for diagnostics and tests, O(buckets): keys stored and
  // the sum of the buckets' overflow counts (keys living away from home,
  // weighted by distance; 0 once the index is empty).
  struct IndexStats {
    uint64_t keys = 0;
    uint64_t overflow = 0;
  };
  IndexStats indexStats() const;
  // Visits every live entry (connections and templates) in index order; for
  // the control plane's listing, not for the packet path.
  template <typename F>
  void forEach(F&& f) const {
    for (uint32_t i = 0; i < capacity_; ++i) {
      if (conns_[i].flags_ & Conn::kFlagInUse) {
        f(static_cast<ConnId>(i), conns_[i]);
      }
    }
  }

 private:
  static constexpr uint32_t kSlotsPerBucket = 8;
  static constexpr uint32_t kEmptyRef = 0xFFFFFFFFu;

  // 8 keys per cache line: 16-bit signatures (0 = empty) compared 8 at a
  // time, refs = (id << 1) | direction, and the number of keys whose home is
  // this bucket but which live further along the probe sequence (when 0 a
  // miss stops here).
  struct alignas(64) Bucket {
    uint16_t sig[kSlotsPerBucket];
    uint32_t ref[kSlotsPerBucket];
    uint32_t overflow;
    uint32_t pad[3];
  };
  static_assert(sizeof(Bucket) == 64);

  template <typename Pred>
  uint32_t findRef(uint64_t hash, Pred&& pred) const;
  uint64_t hashTemplate(const TemplateKey& key) const;
  uint64_t mix(uint64_t a, uint64_t b) const;
  static uint16_t sigOf(uint64_t hash) {
    uint16_t sig = static_cast<uint16_t>(hash >> 48);
    return sig == 0 ? 1 : sig;
  }
  static uint32_t matchMask(const Bucket& b, uint16_t sig);
  bool matches(uint32_t ref, const FiveTuple& pkt) const;

  LookupResult finishLookup(const FiveTuple& pkt, uint64_t hash, uint32_t mask) const;
  bool indexInsert(uint64_t hash, uint32_t ref);
  void indexErase(uint64_t hash, uint32_t ref);
  void unindex(ConnId id);

  void releaseEntry(ConnId id);

  uint32_t ticksFor(std::chrono::nanoseconds d) const;
  void wheelLink(ConnId id, uint32_t expiryTick);
  void wheelUnlink(ConnId id);
  void armNew(ConnId id, uint32_t timeoutTicks);
  void rearm(ConnId id, uint32_t timeoutTicks);
  void rearmBusyTemplate(ConnId id);

  uint32_t capacity_;
  uint32_t size_ = 0;
  std::vector<Conn> conns_;
  ConnId freeHead_ = kNoConn;

  std::vector<Bucket> buckets_;
  uint32_t bucketMask_;
  uint64_t seed0_;
  uint64_t seed1_;

  std::vector<uint32_t> wheel_;  // slot → first entry, kNoConn if empty
  uint32_t wheelMask_;
  uint64_t tickNs_;
  uint64_t startNs_;
  uint64_t nowTick_ = 0;
  uint64_t cursor_ = 1;  // next tick whose slot has not been fully processed

  std::array<uint32_t, kTcpStateCount> tcpTicks_{};
  uint32_t udpTicks_ = 0;
  uint32_t icmpTicks_ = 0;
  uint32_t newConnTicks_ = 0;
  uint32_t templateBusyTicks_ = 0;
  TcpTableSet tcpTables_;
  std::array<bool, kTcpStateCount> activeState_{};
};

}  // namespace dplb::dp
