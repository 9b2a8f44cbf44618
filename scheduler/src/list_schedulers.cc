// The schedulers that walk the server list on every pick: rr, wrr, lc, wlc,
// sed, nq, fo, ovf. Each follows its net/netfilter/ipvs/ip_vs_<name>.c; the
// list is servers_ in IPVS order (newest first), index -1 stands for the list
// head (IPVS's &svc->destinations).

#include <numeric>

#include "internal.h"

namespace dplb::sched::detail {

namespace {

constexpr ptrdiff_t kHead = -1;

// ---------------------------------------------------------------- rr
// ip_vs_rr.c: the cursor is the last chosen server (initially the head). A
// pick walks from the element after the cursor to the end and, when the
// cursor is not the head, wraps and walks up to and including the cursor.
class RrScheduler final : public Scheduler {
 public:
  explicit RrScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kRr, o.flags) {}

  RealServer* pick(const PickKey&, Nanos) noexcept override {
    const auto n = static_cast<ptrdiff_t>(servers_.size());
    const ptrdiff_t last = cursor_;
    for (ptrdiff_t i = last + 1; i < n; ++i) {
      if (usable(servers_[i])) {
        cursor_ = i;
        return servers_[i];
      }
    }
    // Second pass only when the cursor was not at the head.
    for (ptrdiff_t i = 0; i <= last; ++i) {
      if (usable(servers_[i])) {
        cursor_ = i;
        return servers_[i];
      }
    }
    return nullptr;  // cursor unchanged
  }

 private:
  // A new server goes in front: the cursor's element moved one place.
  void onAdded() override {
    if (cursor_ != kHead) {
      ++cursor_;
    }
  }
  // ip_vs_rr_del_dest: a cursor on the removed server moves to the element
  // before it (possibly the head).
  void onRemoved(size_t index, RealServer*) override {
    const auto i = static_cast<ptrdiff_t>(index);
    if (i < cursor_) {
      --cursor_;
    } else if (i == cursor_) {
      cursor_ = i - 1;
    }
  }

  ptrdiff_t cursor_ = kHead;
};

// ---------------------------------------------------------------- wrr
// ip_vs_wrr.c. di = gcd of positive weights (1 if none), mw = max weight -
// (di - 1), cw = current weight, cl = cursor. Any add/edit/delete resets the
// cursor and adjusts cw (ip_vs_wrr_dest_changed).
class WrrScheduler final : public Scheduler {
 public:
  explicit WrrScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kWrr, o.flags) {
    // ip_vs_wrr_init_svc on an empty service: di = 1, mw = 0, cw = mw.
    di_ = 1;
    mw_ = 0;
    cw_ = 0;
  }

  RealServer* pick(const PickKey&, Nanos) noexcept override {
    ptrdiff_t dest = cl_;
    if (mw_ == 0) {
      return nullptr;  // no available dests; cl unchanged
    }
    const auto n = static_cast<ptrdiff_t>(servers_.size());
    const ptrdiff_t last = dest;
    ptrdiff_t stop = -2;  // no stop element yet
    bool lastPass = false;
    bool restarted = false;
    // Stop only after every server was checked for weight >= 1 (last pass).
    while (true) {
      for (ptrdiff_t i = dest + 1; i < n; ++i) {
        dest = i;
        RealServer* s = servers_[i];
        if (!s->overloaded() && s->weight() >= cw_) {
          cl_ = dest;
          return s;
        }
        if (dest == stop) {
          cl_ = dest;
          return nullptr;
        }
      }
      dest = kHead;  // walked off the end of the list
      cw_ -= di_;
      if (cw_ <= 0) {
        cw_ = mw_;
        // Either the last pass already ran, or the first and only traversal
        // (from the head) was for weight >= 1.
        if (lastPass || last == kHead) {
          cl_ = kHead;
          return nullptr;
        }
        restarted = true;
      }
      lastPass = cw_ <= di_;
      if (lastPass && restarted && last != kHead) {
        // The first traversal was for weight >= 1 but only after `last`; now
        // do the same for the servers up to `last`.
        stop = last;
      }
    }
  }

 private:
  void destChanged() {
    cl_ = kHead;
    int g = 0;
    int maxWeight = 0;
    for (const RealServer* s : servers_) {
      const int w = s->weight();
      if (w > 0) {
        g = g > 0 ? std::gcd(w, g) : w;
      }
      maxWeight = std::max(maxWeight, w);
    }
    di_ = g > 0 ? g : 1;
    mw_ = maxWeight - (di_ - 1);
    if (cw_ > mw_ || cw_ == 0) {
      cw_ = mw_;
    } else if (di_ > 1) {
      cw_ = (cw_ / di_) * di_ + 1;
    }
  }
  void onAdded() override { destChanged(); }
  void onUpdated(size_t) override { destChanged(); }
  void onRemoved(size_t, RealServer*) override { destChanged(); }

  ptrdiff_t cl_ = kHead;
  int cw_;
  int mw_;
  int di_;
};

// ---------------------------------------------------------------- lc
// ip_vs_lc.c: least overhead among servers not overloaded and with weight
// != 0; strict "<", so the first minimum in list order wins.
class LcScheduler final : public Scheduler {
 public:
  explicit LcScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kLc, o.flags) {}

  RealServer* pick(const PickKey&, Nanos) noexcept override {
    RealServer* least = nullptr;
    int64_t loh = 0;
    for (RealServer* s : servers_) {
      if (s->overloaded() || s->weight() == 0) {
        continue;
      }
      const int64_t doh = s->overhead();
      if (least == nullptr || doh < loh) {
        least = s;
        loh = doh;
      }
    }
    return least;
  }
};

// ---------------------------------------------------------------- wlc
class WlcScheduler final : public Scheduler {
 public:
  explicit WlcScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kWlc, o.flags) {}

  RealServer* pick(const PickKey&, Nanos) noexcept override {
    return pickWeightedLeastConn(servers_);
  }
};

// ---------------------------------------------------------------- sed
// ip_vs_sed.c: wlc with overhead = activeconns + 1 (inactive ignored).
class SedScheduler final : public Scheduler {
 public:
  explicit SedScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kSed, o.flags) {}

  RealServer* pick(const PickKey&, Nanos) noexcept override {
    const size_t n = servers_.size();
    size_t i = 0;
    RealServer* least = nullptr;
    for (; i < n; ++i) {
      if (usable(servers_[i])) {
        least = servers_[i];
        break;
      }
    }
    if (least == nullptr) {
      return nullptr;
    }
    int64_t loh = int64_t{least->activeConns()} + 1;
    int64_t lw = least->weight();
    for (++i; i < n; ++i) {
      RealServer* s = servers_[i];
      if (s->overloaded()) {
        continue;
      }
      const int64_t doh = int64_t{s->activeConns()} + 1;
      const int64_t dw = s->weight();
      if (loh * dw > doh * lw) {
        least = s;
        loh = doh;
        lw = dw;
      }
    }
    return least;
  }
};

// ---------------------------------------------------------------- nq
// ip_vs_nq.c: the first idle server (activeconns == 0) in list order at
// once; otherwise as sed. Overloaded and weight-0 servers are skipped.
class NqScheduler final : public Scheduler {
 public:
  explicit NqScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kNq, o.flags) {}

  RealServer* pick(const PickKey&, Nanos) noexcept override {
    RealServer* least = nullptr;
    int64_t loh = 0;
    int64_t lw = 0;
    for (RealServer* s : servers_) {
      const int64_t dw = s->weight();
      if (s->overloaded() || dw == 0) {
        continue;
      }
      const int32_t active = s->activeConns();
      if (active == 0) {
        return s;
      }
      const int64_t doh = int64_t{active} + 1;
      if (least == nullptr || loh * dw > doh * lw) {
        least = s;
        loh = doh;
        lw = dw;
      }
    }
    return least;
  }
};

// ---------------------------------------------------------------- fo
// ip_vs_fo.c: highest weight among servers not overloaded; strict ">" from
// 0, so the first wins ties and weight 0 is never chosen.
class FoScheduler final : public Scheduler {
 public:
  explicit FoScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kFo, o.flags) {}

  RealServer* pick(const PickKey&, Nanos) noexcept override {
    RealServer* best = nullptr;
    int32_t hw = 0;
    for (RealServer* s : servers_) {
      const int32_t w = s->weight();
      if (!s->overloaded() && w > hw) {
        best = s;
        hw = w;
      }
    }
    return best;
  }
};

// ---------------------------------------------------------------- ovf
// ip_vs_ovf.c: skip overloaded servers, servers with more active connections
// than weight, and weight 0; the highest weight wins, the first on ties.
class OvfScheduler final : public Scheduler {
 public:
  explicit OvfScheduler(const SchedulerOptions& o) : Scheduler(SchedKind::kOvf, o.flags) {}

  RealServer* pick(const PickKey&, Nanos) noexcept override {
    RealServer* best = nullptr;
    int32_t hw = 0;
    for (RealServer* s : servers_) {
      const int32_t w = s->weight();
      if (s->overloaded() || s->activeConns() > w || w == 0) {
        continue;
      }
      if (best == nullptr || w > hw) {
        best = s;
        hw = w;
      }
    }
    return best;
  }
};

}  // namespace

RealServer* pickWeightedLeastConn(std::span<RealServer* const> servers) noexcept {
  const size_t n = servers.size();
  size_t i = 0;
  RealServer* least = nullptr;
  for (; i < n; ++i) {
    if (usable(servers[i])) {
      least = servers[i];
      break;
    }
  }
  if (least == nullptr) {
    return nullptr;
  }
  int64_t loh = least->overhead();
  int64_t lw = least->weight();
  for (++i; i < n; ++i) {
    RealServer* s = servers[i];
    if (s->overloaded()) {
      continue;
    }
    const int64_t doh = s->overhead();
    const int64_t dw = s->weight();
    if (loh * dw > doh * lw) {
      least = s;
      loh = doh;
      lw = dw;
    }
  }
  return least;
}

bool lblcOverloaded(const RealServer* s, std::span<RealServer* const> servers) noexcept {
  if (s->activeConns() > s->weight()) {
    for (const RealServer* d : servers) {
      if (int64_t{d->activeConns()} * 2 < d->weight()) {
        return true;
      }
    }
  }
  return false;
}

std::unique_ptr<Scheduler> makeRr(const SchedulerOptions& o) {
  return std::make_unique<RrScheduler>(o);
}
std::unique_ptr<Scheduler> makeWrr(const SchedulerOptions& o) {
  return std::make_unique<WrrScheduler>(o);
}
std::unique_ptr<Scheduler> makeLc(const SchedulerOptions& o) {
  return std::make_unique<LcScheduler>(o);
}
std::unique_ptr<Scheduler> makeWlc(const SchedulerOptions& o) {
  return std::make_unique<WlcScheduler>(o);
}
std::unique_ptr<Scheduler> makeSed(const SchedulerOptions& o) {
  return std::make_unique<SedScheduler>(o);
}
std::unique_ptr<Scheduler> makeNq(const SchedulerOptions& o) {
  return std::make_unique<NqScheduler>(o);
}
std::unique_ptr<Scheduler> makeFo(const SchedulerOptions& o) {
  return std::make_unique<FoScheduler>(o);
}
std::unique_ptr<Scheduler> makeOvf(const SchedulerOptions& o) {
  return std::make_unique<OvfScheduler>(o);
}

}  // namespace dplb::sched::detail
