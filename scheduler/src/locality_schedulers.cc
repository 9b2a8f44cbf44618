// Locality-based schedulers: lblc (ip_vs_lblc.c) and lblcr (ip_vs_lblcr.c).
//
// Both cache a decision per destination address in a 1024-bucket hash table
// (hash_32 of the address, new entries at the bucket head) and trim it with
// IPVS's periodic timer: every 60 s from service creation; every 30th firing
// is a full check dropping entries unused for the expiration time (24 h);
// the other firings count, unless the table holds more than max_size (16384)
// entries, in which case they drop entries unused for 6 minutes, scanning
// from a rover bucket, until a goal is met. The timer is run lazily: before a
// pick at time `now`, every firing due at or before `now` runs with its own
// firing time as "now", which gives the same table as a real timer because
// nothing else changes the table between picks.
//
// IPVS quirk kept on purpose: replacing an lblc entry leaks one in IPVS's
// entry count (see unlinkUncounted), which over time pushes the count above
// max_size, after which every firing trims entries idle for 6 minutes and the
// 24 h full check no longer runs. dplb counts the same way so that its
// decisions stay IPVS's.
//
// Entries and lblcr set members come from pools sized at construction, so a
// pick never allocates (see SchedulerOptions for what happens when a pool is
// empty). Entries name their server by address and port, never by pointer:
// a removed server simply stops resolving, and a server re-added with the
// same address and port resolves again, as IPVS revives a destination from
// its trash while cache entries still hold it.

#include <array>

#include "internal.h"

namespace dplb::sched::detail {

namespace {

using namespace std::chrono_literals;

constexpr unsigned kTabBits = 10;  // CONFIG_IP_VS_LBLC_TAB_BITS / CONFIG_IP_VS_LBLCR_TAB_BITS
constexpr uint32_t kTabSize = 1u << kTabBits;
constexpr uint32_t kTabMask = kTabSize - 1;
constexpr int64_t kMaxSize = int64_t{kTabSize} * 16;  // tbl->max_size
constexpr Nanos kCheckExpireInterval = 60s;           // CHECK_EXPIRE_INTERVAL
constexpr Nanos kEntryTimeout = 6min;                 // ENTRY_TIMEOUT
constexpr int kCountForFullExpiration = 30;           // COUNT_FOR_FULL_EXPIRATION
constexpr uint32_t kNil = 0xFFFFFFFFu;
constexpr Nanos kNever = Nanos::max();

// Live servers by address and port. Open addressing, rebuilt whenever the
// server list changes; lookups do not allocate.
class ServerIndex {
 public:
  void rebuild(std::span<RealServer* const> servers) {
    size_t cap = 8;
    while (cap < servers.size() * 2) {
      cap *= 2;
    }
    keys_.assign(cap, kEmpty);
    values_.assign(cap, nullptr);
    mask_ = cap - 1;
    for (RealServer* s : servers) {
      size_t i = slot(s->key());
      while (keys_[i] != kEmpty) {
        i = (i + 1) & mask_;
      }
      keys_[i] = s->key();
      values_[i] = s;
    }
  }

  RealServer* find(uint64_t key) const noexcept {
    if (keys_.empty()) {
      return nullptr;
    }
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) {
        return values_[i];
      }
      if (keys_[i] == kEmpty) {
        return nullptr;
      }
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // keys use 48 bits
  size_t slot(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull >> 32) & mask_; }

  std::vector<uint64_t> keys_;
  std::vector<RealServer*> values_;
  size_t mask_ = 0;
};

// The table, its entry pool and its timer, shared by lblc and lblcr.
// Derived provides releaseEntry(Entry&) for what an entry owns.
template <class Derived, class Entry>
class LocalityScheduler : public Scheduler {
 public:
  void expire(Nanos now) noexcept override { runTimers(now); }
  size_t cacheEntries() const noexcept override { return static_cast<size_t>(live_); }

 protected:
  LocalityScheduler(SchedKind kind, const SchedulerOptions& o, Nanos expiration)
      : Scheduler(kind, o.flags),
        expiration_(expiration),
        pool_(o.lblcCapacity),
        nextFire_(o.start + kCheckExpireInterval) {
    buckets_.fill(kNil);
    // Free list threaded through the pool.
    for (uint32_t i = 0; i < pool_.size(); ++i) {
      pool_[i].next = i + 1 < pool_.size() ? i + 1 : kNil;
    }
    freeHead_ = pool_.empty() ? kNil : 0;
  }

  static uint32_t bucketOf(uint32_t dst) { return hash32(dst, kTabBits); }

  Entry* find(uint32_t bucket, uint32_t dst) noexcept {
    for (uint32_t i = buckets_[bucket]; i != kNil; i = pool_[i].next) {
      if (pool_[i].dst == dst) {
        return &pool_[i];
      }
    }
    return nullptr;
  }

  // A fresh entry at the head of its bucket, or nullptr when the pool is
  // empty (IPVS: kmalloc(GFP_ATOMIC) failed, the decision is not cached).
  Entry* newEntry(uint32_t bucket, uint32_t dst, Nanos now) noexcept {
    if (freeHead_ == kNil) {
      return nullptr;
    }
    const uint32_t i = freeHead_;
    freeHead_ = pool_[i].next;
    Entry& e = pool_[i];
    e = Entry{};
    e.dst = dst;
    e.lastUse = now;
    e.next = buckets_[bucket];
    buckets_[bucket] = i;
    ++count_;
    ++live_;
    if (now < minLastUse_) {
      minLastUse_ = now;
    }
    return &e;
  }

  // ip_vs_lblc_new replacing an entry: ip_vs_lblc_del() unlinks it without
  // the atomic_dec(&tbl->entries) that every other removal does, so IPVS's
  // entry count grows by one per replacement (the new entry is counted
  // again). The count decides when the timer trims (above max_size) and stops
  // the full check; dplb reproduces it to make the same decisions.
  void unlinkUncounted(uint32_t bucket, const Entry* e) noexcept {
    uint32_t prev = kNil;
    for (uint32_t i = buckets_[bucket]; i != kNil; prev = i, i = pool_[i].next) {
      if (&pool_[i] == e) {
        (prev == kNil ? buckets_[bucket] : pool_[prev].next) = pool_[i].next;
        static_cast<Derived*>(this)->releaseEntry(pool_[i]);
        pool_[i].next = freeHead_;
        freeHead_ = i;
        --live_;
        return;
      }
    }
  }

  RealServer* live(uint64_t key) const noexcept { return index_.find(key); }

  // Walks every entry (control path).
  template <class Fn>
  void forEachEntry(Fn&& fn) {
    for (uint32_t b = 0; b < kTabSize; ++b) {
      for (uint32_t i = buckets_[b]; i != kNil; i = pool_[i].next) {
        fn(pool_[i]);
      }
    }
  }

  void onAdded() override { index_.rebuild(servers_); }
  void onRemoved(size_t, RealServer*) override { index_.rebuild(servers_); }

  void runTimers(Nanos now) noexcept {
    while (nextFire_ <= now) {
      if (counter_ % kCountForFullExpiration == 0) {
        fullCheck(nextFire_);
        counter_ = 1;
        nextFire_ += kCheckExpireInterval;
        continue;
      }
      if (count_ <= kMaxSize) {
        // The firings until the next full check only count; skip them in one step.
        const int64_t due = (now - nextFire_) / kCheckExpireInterval + 1;
        const int64_t k = std::min<int64_t>(due, kCountForFullExpiration - counter_);
        counter_ += static_cast<int>(k);
        nextFire_ += k * kCheckExpireInterval;
        continue;
      }
      partialCheck(nextFire_);
      nextFire_ += kCheckExpireInterval;
    }
  }

  const Nanos expiration_;

 private:
  void release(uint32_t i) {
    static_cast<Derived*>(this)->releaseEntry(pool_[i]);
    pool_[i].next = freeHead_;
    freeHead_ = i;
    --count_;
    --live_;
  }

  // Removes from bucket j the entries with keep(entry) false; returns how many.
  template <class Keep>
  int64_t sweepBucket(uint32_t j, Keep&& keep) {
    int64_t removed = 0;
    uint32_t prev = kNil;
    uint32_t i = buckets_[j];
    while (i != kNil) {
      const uint32_t next = pool_[i].next;
      if (keep(pool_[i])) {
        prev = i;
      } else {
        if (prev == kNil) {
          buckets_[j] = next;
        } else {
          pool_[prev].next = next;
        }
        release(i);
        ++removed;
      }
      i = next;
    }
    return removed;
  }

  // ip_vs_lblc_full_check: drop entries with now >= lastuse + expiration.
  void fullCheck(Nanos now) {
    // minLastUse_ is a lower bound of every entry's lastUse: when even the
    // oldest cannot have expired, the scan would remove nothing (and a full
    // scan leaves the rover where it was).
    if (live_ == 0 || now < minLastUse_ + expiration_) {
      return;
    }
    Nanos newMin = kNever;
    uint32_t j = rover_;
    for (uint32_t i = 0; i < kTabSize; ++i) {
      j = (j + 1) & kTabMask;
      sweepBucket(j, [&](const Entry& e) {
        if (now < e.lastUse + expiration_) {
          newMin = std::min(newMin, e.lastUse);
          return true;
        }
        return false;
      });
    }
    rover_ = j;
    minLastUse_ = newMin;
  }

  // The over-max_size branch of ip_vs_lblc_check_expire.
  void partialCheck(Nanos now) {
    int64_t goal = (count_ - kMaxSize) * 4 / 3;
    if (goal > kMaxSize / 2) {
      goal = kMaxSize / 2;
    }
    uint32_t j = rover_;
    for (uint32_t i = 0; i < kTabSize; ++i) {
      j = (j + 1) & kTabMask;
      goal -= sweepBucket(j, [&](const Entry& e) { return now < e.lastUse + kEntryTimeout; });
      if (goal <= 0) {
        break;
      }
    }
    rover_ = j;
  }

  std::vector<Entry> pool_;
  std::array<uint32_t, kTabSize> buckets_;
  uint32_t freeHead_ = kNil;
  int64_t count_ = 0;  // tbl->entries, with IPVS's drift (see unlinkUncounted)
  int64_t live_ = 0;   // entries actually in the table
  ServerIndex index_;
  // Timer state (tbl->periodic_timer, tbl->counter, tbl->rover).
  Nanos nextFire_;
  int counter_ = 1;
  uint32_t rover_ = 0;
  Nanos minLastUse_ = kNever;
};

// ---------------------------------------------------------------- lblc
struct LblcEntry {
  uint32_t dst = 0;
  uint32_t next = kNil;
  Nanos lastUse{0};
  uint64_t server = 0;  // serverKey()
};

class LblcScheduler final : public LocalityScheduler<LblcScheduler, LblcEntry> {
 public:
  explicit LblcScheduler(const SchedulerOptions& o)
      : LocalityScheduler(SchedKind::kLblc, o, o.lblcExpiration) {}

  RealServer* pick(const PickKey& key, Nanos now) noexcept override {
    runTimers(now);
    const uint32_t bucket = bucketOf(key.dstAddr);
    LblcEntry* en = find(bucket, key.dstAddr);
    if (en != nullptr) {
      en->lastUse = now;
      // A removed server does not resolve (IPVS: not IP_VS_DEST_F_AVAILABLE).
      RealServer* s = live(en->server);
      if (s != nullptr && s->weight() > 0 && !lblcOverloaded(s, servers_)) {
        return s;
      }
    }
    RealServer* s = pickWeightedLeastConn(servers_);
    if (s == nullptr) {
      return nullptr;
    }
    // ip_vs_lblc_new: an entry already naming s is kept; otherwise the old
    // entry is deleted and a new one goes to the head of the bucket.
    if (en != nullptr && en->server == s->key()) {
      return s;
    }
    if (en != nullptr) {
      unlinkUncounted(bucket, en);
    }
    if (LblcEntry* fresh = newEntry(bucket, key.dstAddr, now); fresh != nullptr) {
      fresh->server = s->key();
    }
    return s;
  }

  void releaseEntry(LblcEntry&) {}
};

// ---------------------------------------------------------------- lblcr
struct LblcrEntry {
  uint32_t dst = 0;
  uint32_t next = kNil;
  Nanos lastUse{0};
  Nanos lastMod{0};         // set->lastmod
  uint32_t setHead = kNil;  // members, newest first
  uint32_t setSize = 0;
};

struct LblcrMember {
  uint64_t server = 0;  // serverKey()
  uint32_t next = kNil;
  int32_t ghostWeight = 0;    // weight when the server was removed
  int64_t ghostOverhead = 0;  // its connection overhead then
};

class LblcrScheduler final : public LocalityScheduler<LblcrScheduler, LblcrEntry> {
 public:
  explicit LblcrScheduler(const SchedulerOptions& o)
      : LocalityScheduler(SchedKind::kLblcr, o, o.lblcrExpiration),
        members_(o.lblcrMemberCapacity) {
    for (uint32_t i = 0; i < members_.size(); ++i) {
      members_[i].next = i + 1 < members_.size() ? i + 1 : kNil;
    }
    freeMember_ = members_.empty() ? kNil : 0;
  }

  RealServer* pick(const PickKey& key, Nanos now) noexcept override {
    runTimers(now);
    const uint32_t bucket = bucketOf(key.dstAddr);
    LblcrEntry* en = find(bucket, key.dstAddr);
    if (en != nullptr) {
      en->lastUse = now;
      RealServer* dest = setMin(*en);
      // More than one member and not modified for the expiration time:
      // drop the most loaded one (possibly `dest`, which is still used).
      if (en->setSize > 1 && now > en->lastMod + expiration_) {
        const uint32_t m = setMax(*en);
        if (m != kNil) {
          setErase(*en, m, now);
        }
      }
      if (dest != nullptr && !lblcOverloaded(dest, servers_)) {
        return dest;
      }
      dest = pickWeightedLeastConn(servers_);
      if (dest == nullptr) {
        return nullptr;
      }
      setInsert(*en, dest->key(), /*check=*/true, now);
      return dest;
    }
    RealServer* dest = pickWeightedLeastConn(servers_);
    if (dest == nullptr) {
      return nullptr;
    }
    if (LblcrEntry* fresh = newEntry(bucket, key.dstAddr, now); fresh != nullptr) {
      fresh->lastMod = now;
      setInsert(*fresh, dest->key(), /*check=*/false, now);
    }
    return dest;
  }

  void releaseEntry(LblcrEntry& e) {
    uint32_t m = e.setHead;
    while (m != kNil) {
      const uint32_t next = members_[m].next;
      freeMemberSlot(m);
      m = next;
    }
    e.setHead = kNil;
    e.setSize = 0;
  }

 private:
  // A removed server can still be a set member (IPVS: the entry holds the
  // dest, which waits in the trash). ip_vs_dest_set_max weighs it with the
  // weight and counters it had when removed: its connections go away with it
  // without being unbound from it, so they stay frozen.
  void onRemoved(size_t index, RealServer* removed) override {
    LocalityScheduler::onRemoved(index, removed);
    const uint64_t k = removed->key();
    const int32_t w = removed->weight();
    const int64_t oh = removed->overhead();
    forEachEntry([&](LblcrEntry& e) {
      for (uint32_t m = e.setHead; m != kNil; m = members_[m].next) {
        if (members_[m].server == k) {
          members_[m].ghostWeight = w;
          members_[m].ghostOverhead = oh;
        }
      }
    });
  }

  // ip_vs_dest_set_min: weighted least-connection live member (not
  // overloaded, weight > 0; first wins ties).
  RealServer* setMin(const LblcrEntry& e) const noexcept {
    uint32_t m = e.setHead;
    RealServer* least = nullptr;
    for (; m != kNil; m = members_[m].next) {
      RealServer* s = live(members_[m].server);
      if (s != nullptr && !s->overloaded() && s->weight() > 0) {
        least = s;
        m = members_[m].next;
        break;
      }
    }
    if (least == nullptr) {
      return nullptr;
    }
    int64_t loh = least->overhead();
    for (; m != kNil; m = members_[m].next) {
      RealServer* s = live(members_[m].server);
      if (s == nullptr || s->overloaded()) {
        continue;
      }
      const int64_t doh = s->overhead();
      if (loh * s->weight() > doh * least->weight()) {
        least = s;
        loh = doh;
      }
    }
    return least;
  }

  // ip_vs_dest_set_max: weighted most-connection member with weight > 0;
  // existence and overload are not checked. Returns the member slot.
  uint32_t setMax(const LblcrEntry& e) const noexcept {
    auto weightOf = [&](uint32_t m) {
      const RealServer* s = live(members_[m].server);
      return s != nullptr ? int64_t{s->weight()} : int64_t{members_[m].ghostWeight};
    };
    auto overheadOf = [&](uint32_t m) {
      const RealServer* s = live(members_[m].server);
      return s != nullptr ? s->overhead() : members_[m].ghostOverhead;
    };
    uint32_t m = e.setHead;
    uint32_t most = kNil;
    for (; m != kNil; m = members_[m].next) {
      if (weightOf(m) > 0) {
        most = m;
        m = members_[m].next;
        break;
      }
    }
    if (most == kNil) {
      return kNil;
    }
    int64_t moh = overheadOf(most);
    for (; m != kNil; m = members_[m].next) {
      const int64_t dw = weightOf(m);
      const int64_t doh = overheadOf(m);
      if (moh * dw < doh * weightOf(most) && dw > 0) {
        most = m;
        moh = doh;
      }
    }
    return most;
  }

  // ip_vs_dest_set_insert: new members go in front and mark the set
  // modified; an existing member is left alone (lastmod unchanged).
  void setInsert(LblcrEntry& e, uint64_t server, bool check, Nanos now) noexcept {
    if (check) {
      for (uint32_t m = e.setHead; m != kNil; m = members_[m].next) {
        if (members_[m].server == server) {
          return;
        }
      }
    }
    if (freeMember_ == kNil) {
      return;  // IPVS: kmalloc failed, the member is not added
    }
    const uint32_t m = freeMember_;
    freeMember_ = members_[m].next;
    members_[m] = LblcrMember{server, e.setHead, 0, 0};
    e.setHead = m;
    ++e.setSize;
    e.lastMod = now;
  }

  // ip_vs_dest_set_erase.
  void setErase(LblcrEntry& e, uint32_t victim, Nanos now) noexcept {
    uint32_t prev = kNil;
    for (uint32_t m = e.setHead; m != kNil; prev = m, m = members_[m].next) {
      if (m == victim) {
        if (prev == kNil) {
          e.setHead = members_[m].next;
        } else {
          members_[prev].next = members_[m].next;
        }
        freeMemberSlot(m);
        --e.setSize;
        e.lastMod = now;
        return;
      }
    }
  }

  void freeMemberSlot(uint32_t m) {
    members_[m].next = freeMember_;
    freeMember_ = m;
  }

  std::vector<LblcrMember> members_;
  uint32_t freeMember_ = kNil;
};

}  // namespace

std::unique_ptr<Scheduler> makeLblc(const SchedulerOptions& o) {
  return std::make_unique<LblcScheduler>(o);
}
std::unique_ptr<Scheduler> makeLblcr(const SchedulerOptions& o) {
  return std::make_unique<LblcrScheduler>(o);
}

}  // namespace dplb::sched::detail
