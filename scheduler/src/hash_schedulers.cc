// Table-driven hashing schedulers: dh, sh (ip_vs_dh.c, ip_vs_sh.c, 256
// buckets indexed with hash_32) and mh (ip_vs_mh.c, Maglev). Tables hold
// indices into servers_ and are rebuilt on every add, edit and delete, as
// IPVS does in its add_dest/upd_dest/del_dest hooks; a pick reads them only.

#include <array>

#include "internal.h"

namespace dplb::sched::detail {

namespace {

constexpr unsigned kHashBits = 8;  // CONFIG_IP_VS_DH_TAB_BITS / CONFIG_IP_VS_SH_TAB_BITS
constexpr uint32_t kBuckets = 1u << kHashBits;
constexpr uint32_t kNone = 0xFFFFFFFFu;

// sh and mh hash the source port only for protocols that have one
// (ip_vs_sh_get_port / ip_vs_mh_get_port).
uint16_t hashPort(const PickKey& key) {
  switch (key.protocol) {
    case kProtoTcp:
    case kProtoUdp:
    case kProtoSctp:
      return key.clientPort;
    default:
      return 0;
  }
}

// ---------------------------------------------------------------- dh
// Buckets are filled round-robin from the list, one per server per round,
// weight ignored. A bucket whose server has weight <= 0 or is overloaded
// gives no server; dh has no fallback.
class DhScheduler final : public Scheduler {
 public:
  explicit DhScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kDh, o.flags) {
    buckets_.fill(kNone);
  }

  RealServer* pick(const PickKey& key, Nanos) noexcept override {
    const uint32_t idx = buckets_[hash32(key.dstAddr, kHashBits)];
    if (idx == kNone) {
      return nullptr;
    }
    RealServer* s = servers_[idx];
    return usable(s) ? s : nullptr;
  }

 private:
  void reassign() {
    const auto n = static_cast<uint32_t>(servers_.size());
    for (uint32_t i = 0; i < kBuckets; ++i) {
      buckets_[i] = n == 0 ? kNone : i % n;
    }
  }
  void onAdded() override { reassign(); }
  void onUpdated(size_t) override { reassign(); }
  void onRemoved(size_t, RealServer*) override { reassign(); }

  std::array<uint32_t, kBuckets> buckets_;
};

// ---------------------------------------------------------------- sh
// Walking the list (and wrapping), each server fills `weight` consecutive
// buckets; a weight-0 server still fills one. Key = source address (+ source
// port with sh-port, 32-bit sum), bucket h = hash_32(key, 8). sh-fallback:
// when bucket h's server is unavailable, probe (k + 2h) mod 256 for k = 0..255
// (ip_vs_sh_get_fallback adds the start offset to the hash once more), stop
// at an empty bucket, take the first available server.
class ShScheduler final : public Scheduler {
 public:
  explicit ShScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kSh, o.flags) {
    buckets_.fill(kNone);
  }

  RealServer* pick(const PickKey& key, Nanos) noexcept override {
    const uint16_t port = (flags() & kSchedFlagPort) != 0 ? hashPort(key) : 0;
    const uint32_t h = hash32(static_cast<uint32_t>(port) + key.clientAddr, kHashBits);
    const uint32_t idx = buckets_[h];
    if (idx == kNone) {
      return nullptr;
    }
    if (usable(servers_[idx])) {
      return servers_[idx];
    }
    if ((flags() & kSchedFlagFallback) == 0) {
      return nullptr;
    }
    for (uint32_t k = 0; k < kBuckets; ++k) {
      const uint32_t b = (k + 2 * h) & (kBuckets - 1);
      const uint32_t j = buckets_[b];
      if (j == kNone) {
        break;
      }
      if (usable(servers_[j])) {
        return servers_[j];
      }
    }
    return nullptr;
  }

 private:
  void reassign() {
    const auto n = static_cast<uint32_t>(servers_.size());
    if (n == 0) {
      buckets_.fill(kNone);
      return;
    }
    uint32_t cur = 0;
    int32_t count = 0;
    for (uint32_t i = 0; i < kBuckets; ++i) {
      buckets_[i] = cur;
      // Don't move to the next server until it filled `weight` buckets.
      if (++count >= servers_[cur]->weight()) {
        cur = (cur + 1) % n;
        count = 0;
      }
    }
  }
  void onAdded() override { reassign(); }
  void onUpdated(size_t) override { reassign(); }
  void onRemoved(size_t, RealServer*) override { reassign(); }

  std::array<uint32_t, kBuckets> buckets_;
};

// ---------------------------------------------------------------- mh
// See dplb/sched/maglev.h. Unavailable = weight <= 0 or overloaded; the table
// is built from last non-zero weights, so a quiesced server keeps its slots
// (no server there, or the fallback probe with mh-fallback).
class MhScheduler final : public Scheduler {
 public:
  explicit MhScheduler(const SchedulerOptions& o)
      : Scheduler(SchedKind::kMh, o.flags), m_(o.mhTableSize) {
    table_.assign(m_, kNoSlotOwner);
  }

  RealServer* pick(const PickKey& key, Nanos) noexcept override {
    const uint16_t port = (flags() & kSchedFlagPort) != 0 ? hashPort(key) : 0;
    const uint32_t ihash = maglevSlot(key.clientAddr, port, 0, m_);
    const uint32_t idx = table_[ihash];
    if (idx == kNoSlotOwner) {
      return nullptr;
    }
    if (usable(servers_[idx])) {
      return servers_[idx];
    }
    if ((flags() & kSchedFlagFallback) == 0) {
      return nullptr;
    }
    // ip_vs_mh_get_fallback: probe offsets ihash, ihash+1, ... (mod M),
    // each rehashed; bounded by M probes.
    for (uint32_t offset = 0; offset < m_; ++offset) {
      const uint32_t roffset = static_cast<uint32_t>((uint64_t{offset} + ihash) % m_);
      const uint32_t j = table_[maglevSlot(key.clientAddr, port, roffset, m_)];
      if (j == kNoSlotOwner) {
        break;
      }
      if (usable(servers_[j])) {
        return servers_[j];
      }
    }
    return nullptr;
  }

 private:
  void reassign() {
    inputs_.clear();
    for (const RealServer* s : servers_) {
      inputs_.push_back({s->addr(), s->port(), s->lastWeight()});
    }
    buildMaglevTable(inputs_, m_, table_);
  }
  void onAdded() override { reassign(); }
  void onUpdated(size_t) override { reassign(); }
  void onRemoved(size_t, RealServer*) override { reassign(); }

  const uint32_t m_;
  std::vector<uint32_t> table_;
  std::vector<MaglevServer> inputs_;
};

}  // namespace

std::unique_ptr<Scheduler> makeDh(const SchedulerOptions& o) {
  return std::make_unique<DhScheduler>(o);
}
std::unique_ptr<Scheduler> makeSh(const SchedulerOptions& o) {
  return std::make_unique<ShScheduler>(o);
}
std::unique_ptr<Scheduler> makeMh(const SchedulerOptions& o) {
  return std::make_unique<MhScheduler>(o);
}

}  // namespace dplb::sched::detail
