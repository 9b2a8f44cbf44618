#include "dplb/dp/conn_table.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <stdexcept>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dplb::dp {

namespace {

// Timeouts are kept below 2^30 ticks so that 32-bit wrap-safe tick
// comparisons never see a distance near 2^31.
constexpr uint64_t kMaxTimeoutTicks = 1ull << 30;

// The kernel gives a new connection 3 s (ip_vs_conn_new) until its first
// packet's state transition sets the state's timeout.
constexpr std::chrono::seconds kNewConnTimeout{3};
// A template that still controls connections when its timer fires is re-armed
// for 60 s, and keeps that timeout for later re-arms (ip_vs_conn_expire,
// "expire_later").
constexpr std::chrono::seconds kTemplateBusyTimeout{60};

// Keys are hashed as two 64-bit words with a wyhash-style mix (Wang Yi): a
// 64×64→128-bit multiply folded by XOR, applied twice. Two multiplies give full
// avalanche across the 13 key bytes, 64 bits of output (low bits pick the
// bucket, the top 16 are the signature, so they never overlap), and with a
// secret per-table seed clients cannot predict buckets. CRC32C (rte_hash's
// choice) would need SSE4.2 dispatch and yields only 32 bits.
inline uint64_t mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Key kinds keep templates in their own key space even when a template's
// tuple equals a connection's (client port 0).
constexpr uint64_t kKindConn = 0;
constexpr uint64_t kKindTemplate = 1;

inline uint64_t keyWordA(uint32_t src, uint32_t dst) {
  return (static_cast<uint64_t>(src) << 32) | dst;
}
inline uint64_t keyWordB(uint16_t sport, uint16_t dport, L4Proto proto, uint64_t kind) {
  return (static_cast<uint64_t>(sport) << 48) | (static_cast<uint64_t>(dport) << 32) |
         (static_cast<uint64_t>(proto) << 8) | kind;
}

// Signed distance a - b between two 32-bit tick values.
inline int32_t tickDiff(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b);
}

bool isPowerOfTwo(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace

ConnTable::ConnTable(const ConnTableConfig& config)
    : capacity_(config.capacity), tcpTables_(config.tcpTables) {
  if (config.capacity == 0 || config.capacity > (1u << 31) - 1) {
    throw std::invalid_argument("conn table capacity must be in 1..2^31-1, got " +
                                std::to_string(config.capacity));
  }
  if (config.buckets != 0 && !isPowerOfTwo(config.buckets)) {
    throw std::invalid_argument("conn table buckets must be a power of two, got " +
                                std::to_string(config.buckets));
  }
  if (config.wheelSlots < 2 || !isPowerOfTwo(config.wheelSlots)) {
    throw std::invalid_argument("conn table wheelSlots must be a power of two >= 2, got " +
                                std::to_string(config.wheelSlots));
  }
  if (config.tick.count() <= 0) {
    throw std::invalid_argument("conn table tick must be positive");
  }
  tickNs_ = static_cast<uint64_t>(config.tick.count());
  startNs_ = config.startNs;

  uint64_t buckets = config.buckets;
  if (buckets == 0) {
    // Up to two keys per entry (NAT) in 8-slot buckets, at most half full:
    // misses then rarely read a second cache line.
    const uint64_t keys = 2ull * capacity_;
    buckets = std::bit_ceil(std::max<uint64_t>(1, (keys + 3) / 4));
  }
  buckets_.resize(buckets);
  for (Bucket& b : buckets_) {
    std::fill(std::begin(b.sig), std::end(b.sig), uint16_t{0});
    std::fill(std::begin(b.ref), std::end(b.ref), kEmptyRef);
    b.overflow = 0;
    std::fill(std::begin(b.pad), std::end(b.pad), 0u);
  }
  bucketMask_ = static_cast<uint32_t>(buckets - 1);

  uint64_t seedState = config.hashSeed;
  seed0_ = splitmix64(seedState);
  seed1_ = splitmix64(seedState);

  conns_.resize(capacity_);
  for (uint32_t i = 0; i < capacity_; ++i) {
    conns_[i].wheelNext_ = i + 1 < capacity_ ? i + 1 : kNoConn;
  }
  freeHead_ = 0;

  wheel_.assign(config.wheelSlots, kNoConn);
  wheelMask_ = config.wheelSlots - 1;

  setTimeouts(config.timeouts);
  newConnTicks_ = ticksFor(kNewConnTimeout);
  templateBusyTicks_ = ticksFor(kTemplateBusyTimeout);
  for (std::size_t s = 0; s < kTcpStateCount; ++s) {
    activeState_[s] = tcpStateActive(config.activeStates, static_cast<TcpState>(s));
  }
}

void ConnTable::setTimeouts(const ConnTimeouts& timeouts) {
  for (std::size_t s = 0; s < kTcpStateCount; ++s) {
    tcpTicks_[s] = ticksFor(timeouts.tcp[s]);
  }
  udpTicks_ = ticksFor(timeouts.udp);
  icmpTicks_ = ticksFor(timeouts.icmp);
}

uint32_t ConnTable::ticksFor(std::chrono::nanoseconds d) const {
  if (d.count() <= 0) {
    return 0;
  }
  const uint64_t ticks = (static_cast<uint64_t>(d.count()) + tickNs_ - 1) / tickNs_;
  return static_cast<uint32_t>(std::min(ticks, kMaxTimeoutTicks));
}

// ---------------------------------------------------------------- hashing

uint64_t ConnTable::mix(uint64_t a, uint64_t b) const {
  return mum(seed1_ ^ 0x2d358dccaa6c78a5ull, mum(a ^ seed0_, b ^ seed1_));
}

uint64_t ConnTable::hashOf(const FiveTuple& pkt) const {
  return mix(keyWordA(pkt.srcAddr, pkt.dstAddr),
             keyWordB(pkt.srcPort, pkt.dstPort, pkt.proto, kKindConn));
}

uint64_t ConnTable::hashTemplate(const TemplateKey& key) const {
  return mix(keyWordA(key.clientNet, key.vipAddr),
             keyWordB(0, key.vipPort, key.proto, kKindTemplate));
}

void ConnTable::prefetch(uint64_t hash) const {
  __builtin_prefetch(&buckets_[hash & bucketMask_]);
}

uint32_t ConnTable::matchMask(const Bucket& b, uint16_t sig) {
#if defined(__SSE2__)
  const __m128i sigs = _mm_load_si128(reinterpret_cast<const __m128i*>(b.sig));
  const __m128i eq = _mm_cmpeq_epi16(sigs, _mm_set1_epi16(static_cast<short>(sig)));
  // Two mask bits per 16-bit lane; keep one so slot i is bit 2i.
  return static_cast<uint32_t>(_mm_movemask_epi8(eq)) & 0x5555u;
#else
  uint32_t mask = 0;
  for (uint32_t i = 0; i < kSlotsPerBucket; ++i) {
    if (b.sig[i] == sig) {
      mask |= 1u << (2 * i);
    }
  }
  return mask;
#endif
}

bool ConnTable::matches(uint32_t ref, const FiveTuple& pkt) const {
  const Conn& c = conns_[ref >> 1];
  if (ref & 1) {
    // Outbound (NAT reply): RS → client. Only NAT connections index this key.
    return c.rsAddr_ == pkt.srcAddr && c.clientAddr_ == pkt.dstAddr && c.rsPort_ == pkt.srcPort &&
           c.clientPort_ == pkt.dstPort && c.proto_ == pkt.proto;
  }
  return c.clientAddr_ == pkt.srcAddr && c.vipAddr_ == pkt.dstAddr &&
         c.clientPort_ == pkt.srcPort && c.vipPort_ == pkt.dstPort && c.proto_ == pkt.proto &&
         !(c.flags_ & Conn::kFlagTemplate);
}

template <typename Pred>
uint32_t ConnTable::findRef(uint64_t hash, Pred&& pred) const {
  const uint16_t sig = sigOf(hash);
  uint32_t b = static_cast<uint32_t>(hash) & bucketMask_;
  for (uint32_t n = 0; n <= bucketMask_; ++n) {
    const Bucket& bucket = buckets_[b];
    for (uint32_t m = matchMask(bucket, sig); m != 0; m &= m - 1) {
      const uint32_t ref = bucket.ref[std::countr_zero(m) >> 1];
      if (pred(ref)) {
        return ref;
      }
    }
    if (bucket.overflow == 0) {
      break;
    }
    b = (b + 1) & bucketMask_;
  }
  return kEmptyRef;
}

LookupResult ConnTable::finishLookup(const FiveTuple& pkt, uint64_t hash, uint32_t mask) const {
  // The home bucket's signature matches were computed (and their entries
  // prefetched) by the caller; only overflowed keys need the probe loop.
  const uint32_t home = static_cast<uint32_t>(hash) & bucketMask_;
  const Bucket& bucket = buckets_[home];
  for (uint32_t m = mask; m != 0; m &= m - 1) {
    const uint32_t ref = bucket.ref[std::countr_zero(m) >> 1];
    if (matches(ref, pkt)) {
      return LookupResult{ref >> 1, static_cast<Direction>(ref & 1)};
    }
  }
  if (bucket.overflow == 0) {
    return LookupResult{};
  }
  const uint16_t sig = sigOf(hash);
  uint32_t b = (home + 1) & bucketMask_;
  for (uint32_t n = 1; n <= bucketMask_; ++n) {
    const Bucket& next = buckets_[b];
    for (uint32_t m = matchMask(next, sig); m != 0; m &= m - 1) {
      const uint32_t ref = next.ref[std::countr_zero(m) >> 1];
      if (matches(ref, pkt)) {
        return LookupResult{ref >> 1, static_cast<Direction>(ref & 1)};
      }
    }
    if (next.overflow == 0) {
      break;
    }
    b = (b + 1) & bucketMask_;
  }
  return LookupResult{};
}

LookupResult ConnTable::lookupHashed(const FiveTuple& pkt, uint64_t hash) const {
  const Bucket& bucket = buckets_[static_cast<uint32_t>(hash) & bucketMask_];
  return finishLookup(pkt, hash, matchMask(bucket, sigOf(hash)));
}

void ConnTable::lookupBulk(std::span<const FiveTuple> pkts, std::span<LookupResult> out) const {
  // Three passes per group so that each pass's memory accesses were
  // prefetched by the previous one: bucket lines, then entry lines.
  constexpr std::size_t kGroup = 32;
  const std::size_t total = std::min(pkts.size(), out.size());
  uint64_t hashes[kGroup];
  uint32_t masks[kGroup];
  for (std::size_t base = 0; base < total; base += kGroup) {
    const std::size_t n = std::min(kGroup, total - base);
    for (std::size_t i = 0; i < n; ++i) {
      hashes[i] = hashOf(pkts[base + i]);
      prefetch(hashes[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const Bucket& bucket = buckets_[static_cast<uint32_t>(hashes[i]) & bucketMask_];
      masks[i] = matchMask(bucket, sigOf(hashes[i]));
      if (masks[i] != 0) {
        __builtin_prefetch(&conns_[bucket.ref[std::countr_zero(masks[i]) >> 1] >> 1]);
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      out[base + i] = finishLookup(pkts[base + i], hashes[i], masks[i]);
    }
  }
}

std::string_view connStateName(const Conn& conn) {
  switch (conn.proto()) {
    case L4Proto::kTcp:
      return tcpStateName(conn.tcpState());
    case L4Proto::kUdp:
      return "UDP";
    case L4Proto::kIcmp:
      return "ICMP";
  }
  return "ERR!";
}

// ---------------------------------------------------------------- index

bool ConnTable::indexInsert(uint64_t hash, uint32_t ref) {
  const uint32_t home = static_cast<uint32_t>(hash) & bucketMask_;
  uint32_t b = home;
  for (uint32_t n = 0; n <= bucketMask_; ++n) {
    Bucket& bucket = buckets_[b];
    const uint32_t empty = matchMask(bucket, 0);
    if (empty != 0) {
      const uint32_t slot = std::countr_zero(empty) >> 1;
      bucket.sig[slot] = sigOf(hash);
      bucket.ref[slot] = ref;
      // Every full bucket passed on the way tells later misses to look on.
      for (uint32_t x = home; x != b; x = (x + 1) & bucketMask_) {
        ++buckets_[x].overflow;
      }
      return true;
    }
    b = (b + 1) & bucketMask_;
  }
  return false;
}

void ConnTable::indexErase(uint64_t hash, uint32_t ref) {
  const uint16_t sig = sigOf(hash);
  const uint32_t home = static_cast<uint32_t>(hash) & bucketMask_;
  uint32_t b = home;
  for (uint32_t n = 0; n <= bucketMask_; ++n) {
    Bucket& bucket = buckets_[b];
    for (uint32_t m = matchMask(bucket, sig); m != 0; m &= m - 1) {
      const uint32_t slot = std::countr_zero(m) >> 1;
      if (bucket.ref[slot] == ref) {
        bucket.sig[slot] = 0;
        bucket.ref[slot] = kEmptyRef;
        for (uint32_t x = home; x != b; x = (x + 1) & bucketMask_) {
          --buckets_[x].overflow;
        }
        return;
      }
    }
    b = (b + 1) & bucketMask_;
  }
  assert(false && "indexed key not found");
}

void ConnTable::unindex(ConnId id) {
  const Conn& c = conns_[id];
  if (c.flags_ & Conn::kFlagTemplate) {
    if (!(c.flags_ & Conn::kFlagUnhashed)) {
      indexErase(hashTemplate(TemplateKey{c.proto_, c.clientAddr_, c.vipAddr_, c.vipPort_}),
                 id << 1);
    }
    return;
  }
  indexErase(hashOf(FiveTuple{c.clientAddr_, c.vipAddr_, c.clientPort_, c.vipPort_, c.proto_}),
             id << 1);
  if (c.flags_ & Conn::kFlagOutIndexed) {
    indexErase(hashOf(FiveTuple{c.rsAddr_, c.clientAddr_, c.rsPort_, c.clientPort_, c.proto_}),
               (id << 1) | 1);
  }
}

ConnTable::IndexStats ConnTable::indexStats() const {
  IndexStats stats;
  for (const Bucket& b : buckets_) {
    stats.keys += kSlotsPerBucket - static_cast<uint32_t>(std::popcount(matchMask(b, 0)));
    stats.overflow += b.overflow;
  }
  return stats;
}

// ---------------------------------------------------------------- entries

InsertResult ConnTable::insert(const NewConn& nc) {
  const FiveTuple in{nc.clientAddr, nc.vipAddr, nc.clientPort, nc.vipPort, nc.proto};
  const uint64_t inHash = hashOf(in);
  const uint32_t existing =
      findRef(inHash, [&](uint32_t ref) { return (ref & 1) == 0 && matches(ref, in); });
  if (existing != kEmptyRef) {
    return InsertResult{InsertStatus::kExists, existing >> 1};
  }
  if (freeHead_ == kNoConn) {
    return InsertResult{InsertStatus::kTableFull, kNoConn};
  }
  const ConnId id = freeHead_;
  if (!indexInsert(inHash, id << 1)) {
    return InsertResult{InsertStatus::kIndexFull, kNoConn};
  }
  uint8_t flags = Conn::kFlagInUse | Conn::kFlagInactive;
  if (nc.fwd == ForwardMode::kNat) {
    // Replies come back through us: index the RS → client tuple too. Two
    // connections may share it (two VIPs NATed to one RS:port from one
    // client port); a reply then finds one of them, an ambiguity IPVS's
    // conn_out_get has as well.
    const FiveTuple out{nc.rsAddr, nc.clientAddr, nc.rsPort, nc.clientPort, nc.proto};
    if (!indexInsert(hashOf(out), (id << 1) | 1)) {
      indexErase(inHash, id << 1);
      return InsertResult{InsertStatus::kIndexFull, kNoConn};
    }
    flags |= Conn::kFlagOutIndexed;
  } else {
    // DR/TUN: the server answers the client directly.
    flags |= Conn::kFlagNoOutput;
  }

  freeHead_ = conns_[id].wheelNext_;
  Conn& c = conns_[id];
  c.clientAddr_ = nc.clientAddr;
  c.vipAddr_ = nc.vipAddr;
  c.rsAddr_ = nc.rsAddr;
  c.clientPort_ = nc.clientPort;
  c.vipPort_ = nc.vipPort;
  c.rsPort_ = nc.rsPort;
  c.proto_ = nc.proto;
  c.fwd_ = nc.fwd;
  c.state_ = 0;
  c.flags_ = flags;
  c.serviceId_ = nc.serviceId;
  c.realServerId_ = nc.realServerId;
  c.destGen_ = nc.destGeneration;
  c.control_ = nc.controlTemplate;
  c.nControl_ = 0;
  c.templateTimeoutTicks_ = 0;
  ++size_;
  armNew(id, newConnTicks_);

  if (nc.controlTemplate != kNoConn) {
    Conn& t = conns_[nc.controlTemplate];
    assert((t.flags_ & (Conn::kFlagInUse | Conn::kFlagTemplate)) ==
           (Conn::kFlagInUse | Conn::kFlagTemplate));
    ++t.nControl_;
    rearm(nc.controlTemplate, t.templateTimeoutTicks_);
  }
  return InsertResult{InsertStatus::kInserted, id};
}

ConnId ConnTable::findTemplate(const TemplateKey& key) const {
  const uint32_t ref = findRef(hashTemplate(key), [&](uint32_t r) {
    const Conn& c = conns_[r >> 1];
    return (c.flags_ & Conn::kFlagTemplate) && c.clientAddr_ == key.clientNet &&
           c.vipAddr_ == key.vipAddr && c.vipPort_ == key.vipPort && c.proto_ == key.proto;
  });
  return ref == kEmptyRef ? kNoConn : ref >> 1;
}

InsertResult ConnTable::insertTemplate(const NewTemplate& nt) {
  const ConnId existing = findTemplate(nt.key);
  if (existing != kNoConn) {
    return InsertResult{InsertStatus::kExists, existing};
  }
  if (freeHead_ == kNoConn) {
    return InsertResult{InsertStatus::kTableFull, kNoConn};
  }
  const ConnId id = freeHead_;
  if (!indexInsert(hashTemplate(nt.key), id << 1)) {
    return InsertResult{InsertStatus::kIndexFull, kNoConn};
  }
  freeHead_ = conns_[id].wheelNext_;
  Conn& c = conns_[id];
  c.clientAddr_ = nt.key.clientNet;
  c.vipAddr_ = nt.key.vipAddr;
  c.rsAddr_ = nt.rsAddr;
  c.clientPort_ = 0;
  c.vipPort_ = nt.key.vipPort;
  c.rsPort_ = nt.rsPort;
  c.proto_ = nt.key.proto;
  c.fwd_ = nt.fwd;
  c.state_ = 0;
  c.flags_ = Conn::kFlagInUse | Conn::kFlagTemplate;
  c.serviceId_ = nt.serviceId;
  c.realServerId_ = nt.realServerId;
  c.destGen_ = nt.destGeneration;
  c.control_ = kNoConn;
  c.nControl_ = 0;
  c.templateTimeoutTicks_ = ticksFor(nt.timeout);
  ++size_;
  armNew(id, c.templateTimeoutTicks_);
  return InsertResult{InsertStatus::kInserted, id};
}

void ConnTable::invalidateTemplate(ConnId id) {
  Conn& c = conns_[id];
  assert(c.flags_ & Conn::kFlagTemplate);
  if (c.flags_ & Conn::kFlagUnhashed) {
    return;
  }
  indexErase(hashTemplate(TemplateKey{c.proto_, c.clientAddr_, c.vipAddr_, c.vipPort_}), id << 1);
  c.flags_ |= Conn::kFlagUnhashed;
}

StateUpdate ConnTable::onPacket(ConnId id, Direction dir, uint8_t tcpFlags) {
  Conn& c = conns_[id];
  assert((c.flags_ & (Conn::kFlagInUse | Conn::kFlagTemplate)) == Conn::kFlagInUse);
  StateUpdate update{c.state_, c.state_, Activity::kUnchanged};
  switch (c.proto_) {
    case L4Proto::kTcp: {
      TcpTableDir tableDir = dir == Direction::kIn ? TcpTableDir::kInput : TcpTableDir::kOutput;
      if (c.flags_ & Conn::kFlagNoOutput) {
        // set_tcp_state: a real-server packet proves we see both halves.
        if (dir == Direction::kOut) {
          c.flags_ &= ~Conn::kFlagNoOutput;
        } else {
          tableDir = TcpTableDir::kInputOnly;
        }
      }
      const TcpState next = nextTcpState(tcpTables_, tableDir, c.tcpState(), tcpFlags);
      const auto nextIdx = static_cast<uint8_t>(next);
      if (nextIdx != c.state_) {
        const bool inactive = c.flags_ & Conn::kFlagInactive;
        if (!inactive && !activeState_[nextIdx]) {
          c.flags_ |= Conn::kFlagInactive;
          update.activity = Activity::kBecameInactive;
        } else if (inactive && activeState_[nextIdx]) {
          c.flags_ &= ~Conn::kFlagInactive;
          update.activity = Activity::kBecameActive;
        }
        if (next == TcpState::kEstablished && c.control_ != kNoConn) {
          conns_[c.control_].flags_ |= Conn::kFlagAssured;
        }
        c.state_ = nextIdx;
      }
      update.newState = nextIdx;
      rearm(id, tcpTicks_[nextIdx]);
      break;
    }
    case L4Proto::kUdp:
      if (dir == Direction::kOut && c.control_ != kNoConn) {
        conns_[c.control_].flags_ |= Conn::kFlagAssured;
      }
      rearm(id, udpTicks_);
      break;
    case L4Proto::kIcmp:
      rearm(id, icmpTicks_);
      break;
  }
  return update;
}

void ConnTable::releaseEntry(ConnId id) {
  unindex(id);
  Conn& c = conns_[id];
  if (c.control_ != kNoConn) {
    Conn& t = conns_[c.control_];
    assert(t.nControl_ > 0);
    --t.nControl_;
  }
  c.flags_ = 0;
  c.control_ = kNoConn;
  c.wheelPrev_ = kNoConn;
  c.wheelNext_ = freeHead_;
  freeHead_ = id;
  --size_;
}

bool ConnTable::erase(ConnId id) {
  const Conn& c = conns_[id];
  assert(c.flags_ & Conn::kFlagInUse);
  if ((c.flags_ & Conn::kFlagTemplate) && c.nControl_ > 0) {
    return false;
  }
  wheelUnlink(id);
  releaseEntry(id);
  return true;
}

bool ConnTable::expireNow(ConnId id, ConnExpirySink& sink) {
  const Conn& c = conns_[id];
  assert(c.flags_ & Conn::kFlagInUse);
  if ((c.flags_ & Conn::kFlagTemplate) && c.nControl_ > 0) {
    rearmBusyTemplate(id);
    return false;
  }
  wheelUnlink(id);
  sink.onExpired(id, c);
  releaseEntry(id);
  return true;
}

// ---------------------------------------------------------------- timer wheel
//
// Slot s is processed at the first tick >= cursor_ congruent to s, so every
// live entry fires within one revolution of where it is linked. A packet only
// moves expiryTick_ forward and leaves the entry in its slot; when the slot
// fires early the entry is re-slotted (lazy re-arm, one relink per timeout
// period at most). Only a re-arm that brings the expiry before the slot's
// firing tick relinks at once.

void ConnTable::wheelLink(ConnId id, uint32_t expiryTick) {
  // Past expiries go to the slot being processed; ones beyond the horizon go
  // to the last slot of this revolution and are re-slotted when it fires.
  const int64_t d =
      std::clamp<int64_t>(tickDiff(expiryTick, static_cast<uint32_t>(cursor_)), 0, wheelMask_);
  const auto slot = static_cast<uint32_t>((cursor_ + static_cast<uint64_t>(d)) & wheelMask_);
  Conn& c = conns_[id];
  c.wheelSlot_ = slot;
  uint32_t& head = wheel_[slot];
  c.wheelPrev_ = kNoConn;
  c.wheelNext_ = head;
  if (head != kNoConn) {
    conns_[head].wheelPrev_ = id;
  }
  head = id;
}

void ConnTable::wheelUnlink(ConnId id) {
  Conn& c = conns_[id];
  if (c.wheelPrev_ != kNoConn) {
    conns_[c.wheelPrev_].wheelNext_ = c.wheelNext_;
  } else {
    wheel_[c.wheelSlot_] = c.wheelNext_;
  }
  if (c.wheelNext_ != kNoConn) {
    conns_[c.wheelNext_].wheelPrev_ = c.wheelPrev_;
  }
  c.wheelPrev_ = kNoConn;
  c.wheelNext_ = kNoConn;
}

void ConnTable::armNew(ConnId id, uint32_t timeoutTicks) {
  // +1: "now" is the start of the current tick, so a full timeout has passed
  // only once the tick after now + timeout begins. Never early.
  const auto expiry = static_cast<uint32_t>(nowTick_ + timeoutTicks + 1);
  conns_[id].expiryTick_ = expiry;
  wheelLink(id, expiry);
}

void ConnTable::rearm(ConnId id, uint32_t timeoutTicks) {
  Conn& c = conns_[id];
  const uint64_t expiry = nowTick_ + timeoutTicks + 1;
  c.expiryTick_ = static_cast<uint32_t>(expiry);
  const uint64_t slotFires = cursor_ + ((c.wheelSlot_ - cursor_) & wheelMask_);
  if (expiry < slotFires) {
    // The timeout shrank (e.g. ESTABLISHED → CLOSE): the current slot would
    // fire too late, so move now.
    wheelUnlink(id);
    wheelLink(id, c.expiryTick_);
  }
}

void ConnTable::rearmBusyTemplate(ConnId id) {
  conns_[id].templateTimeoutTicks_ = templateBusyTicks_;
  rearm(id, templateBusyTicks_);
}

AdvanceResult ConnTable::advance(uint64_t nowNs, uint32_t budget, ConnExpirySink& sink) {
  if (nowNs > startNs_) {
    nowTick_ = std::max(nowTick_, (nowNs - startNs_) / tickNs_);
  }
  AdvanceResult result;
  if (size_ == 0) {
    cursor_ = std::max(cursor_, nowTick_ + 1);
    return result;
  }
  const uint64_t slots = uint64_t{wheelMask_} + 1;
  if (cursor_ + slots <= nowTick_) {
    // Behind by more than a revolution (a stalled worker, a clock jump):
    // skip whole revolutions but keep at least one full revolution up to
    // now, so every slot is still processed. Moving by multiples of the
    // wheel size keeps each slot's congruence, so no entry moves.
    const uint64_t lag = nowTick_ - cursor_;
    cursor_ += (lag - (slots - 1)) / slots * slots;
  }
  uint32_t visited = 0;
  while (cursor_ <= nowTick_) {
    uint32_t& head = wheel_[cursor_ & wheelMask_];
    while (head != kNoConn) {
      if (visited == budget) {
        result.caughtUp = false;
        return result;
      }
      ++visited;
      const ConnId id = head;
      wheelUnlink(id);
      Conn& c = conns_[id];
      if (tickDiff(c.expiryTick_, static_cast<uint32_t>(nowTick_)) > 0) {
        wheelLink(id, c.expiryTick_);
        ++result.rearmed;
      } else if ((c.flags_ & Conn::kFlagTemplate) && c.nControl_ > 0) {
        // ip_vs_conn_expire: "do I control anybody?" — expire later.
        c.templateTimeoutTicks_ = templateBusyTicks_;
        c.expiryTick_ = static_cast<uint32_t>(nowTick_ + templateBusyTicks_ + 1);
        wheelLink(id, c.expiryTick_);
        ++result.rearmed;
      } else {
        sink.onExpired(id, c);
        releaseEntry(id);
        ++result.expired;
      }
    }
    ++cursor_;
  }
  return result;
}

std::chrono::nanoseconds ConnTable::remaining(ConnId id) const {
  const int32_t d = tickDiff(conns_[id].expiryTick_, static_cast<uint32_t>(nowTick_));
  return std::chrono::nanoseconds{d <= 0 ? 0 : static_cast<int64_t>(d) * tickNs_};
}

}  // namespace dplb::dp
