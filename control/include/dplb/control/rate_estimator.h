#pragma once

// `dplbadm --rate`: per-second rates measured the way IPVS's estimator does
// (net/netfilter/ipvs/ip_vs_est.c).
//
// Contract: RateEstimator is IPVS's struct ip_vs_estimator for one stats
// object. sample() is called every kInterval (2 s) with the cumulative
// counters; each call turns the change since the previous sample into a
// per-second rate and folds it into an EWMA with weight 1/4, in the kernel's
// fixed point: packet and connection rates are kept scaled by 2^10, byte
// rates by 2^5 (a 2 s difference shifted left by 9 or 4 is the per-second
// rate in that scale). read() rounds back as ip_vs_read_estimator does.
// zero() is ip_vs_zero_estimator (`-Z`): the EWMAs restart from 0 and the
// next sample counts only what comes after it. Counters that went backwards
// (a reused dataplane slot) restart the estimator as zero() does.
//
// RateTable holds one estimator per service and per real server, keyed by
// StatsKey; it is a plain single-threaded object (the Daemon locks it). No
// I/O, no clock: tests feed samples by hand.

#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <set>

namespace dplb::control {

// Cumulative counters of one service or real server (IPVS ip_vs_kstats).
struct RateCounters {
  uint64_t conns = 0;
  uint64_t inPackets = 0;
  uint64_t outPackets = 0;
  uint64_t inBytes = 0;
  uint64_t outBytes = 0;

  bool operator==(const RateCounters&) const = default;
};

// Per-second rates as ipvsadm --rate prints them (bytes/s for the bps).
struct Rates {
  uint64_t cps = 0;
  uint64_t inpps = 0;
  uint64_t outpps = 0;
  uint64_t inbps = 0;
  uint64_t outbps = 0;

  bool operator==(const Rates&) const = default;
};

class RateEstimator {
 public:
  // IPVS's estimation timer period; the shifts below assume it.
  static constexpr std::chrono::seconds kInterval{2};

  // Starts from `now` with every rate 0 (ip_vs_start_estimator).
  explicit RateEstimator(const RateCounters& now = {}) : last_(now) {}

  void sample(const RateCounters& now);
  void zero(const RateCounters& now);
  Rates read() const;

 private:
  // One EWMA step: avg += (rate - avg) / 4 in signed arithmetic, as the
  // kernel's `e->cps += ((s64)rate - (s64)e->cps) >> 2`.
  static void fold(int64_t& avg, uint64_t last, uint64_t now, unsigned shift);

  RateCounters last_;
  int64_t cps_ = 0;     // conns/s << 10
  int64_t inpps_ = 0;   // packets/s << 10
  int64_t outpps_ = 0;  // packets/s << 10
  int64_t inbps_ = 0;   // bytes/s << 5
  int64_t outbps_ = 0;  // bytes/s << 5
};

// A service (server == false) or one of its real servers.
struct StatsKey {
  uint8_t proto = 6;  // IP protocol number
  uint32_t vip = 0;   // host order
  uint16_t port = 0;
  bool server = false;
  uint32_t rsAddr = 0;  // host order
  uint16_t rsPort = 0;

  auto operator<=>(const StatsKey&) const = default;
  bool sameService(const StatsKey& o) const {
    return proto == o.proto && vip == o.vip && port == o.port;
  }
};

class RateTable {
 public:
  // One estimation tick: every key in `now` is sampled (a new key starts its
  // estimator there), every key absent from `now` is forgotten.
  void tick(const std::map<StatsKey, RateCounters>& now);
  // -Z for one key (a key not seen yet starts at `now`).
  void zero(const StatsKey& key, const RateCounters& now);
  // Forgets every key not in `keep`.
  void retain(const std::set<StatsKey>& keep);
  // 0 rates for an unknown key.
  Rates rates(const StatsKey& key) const;
  size_t size() const { return estimators_.size(); }

 private:
  std::map<StatsKey, RateEstimator> estimators_;
};

}  // namespace dplb::control
