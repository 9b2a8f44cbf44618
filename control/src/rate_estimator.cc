#include "dplb/control/rate_estimator.h"

#include <iterator>

namespace dplb::control {

void RateEstimator::fold(int64_t& avg, uint64_t last, uint64_t now, unsigned shift) {
  // A 2 s difference << 9 is the per-second rate << 10 (<< 4: << 5).
  const int64_t rate = static_cast<int64_t>((now - last) << shift);
  avg += (rate - avg) >> 2;
}

void RateEstimator::sample(const RateCounters& now) {
  if (now.conns < last_.conns || now.inPackets < last_.inPackets ||
      now.outPackets < last_.outPackets || now.inBytes < last_.inBytes ||
      now.outBytes < last_.outBytes) {
    zero(now);
    return;
  }
  fold(cps_, last_.conns, now.conns, 9);
  fold(inpps_, last_.inPackets, now.inPackets, 9);
  fold(outpps_, last_.outPackets, now.outPackets, 9);
  fold(inbps_, last_.inBytes, now.inBytes, 4);
  fold(outbps_, last_.outBytes, now.outBytes, 4);
  last_ = now;
}

void RateEstimator::zero(const RateCounters& now) {
  last_ = now;
  cps_ = inpps_ = outpps_ = inbps_ = outbps_ = 0;
}

Rates RateEstimator::read() const {
  // ip_vs_read_estimator: round to nearest when removing the scale. An EWMA
  // that decays towards 0 from above never goes negative, but clamp anyway.
  auto unscale = [](int64_t v, int64_t half, unsigned shift) {
    return v <= 0 ? uint64_t{0} : static_cast<uint64_t>((v + half) >> shift);
  };
  Rates r;
  r.cps = unscale(cps_, 0x1FF, 10);
  r.inpps = unscale(inpps_, 0x1FF, 10);
  r.outpps = unscale(outpps_, 0x1FF, 10);
  r.inbps = unscale(inbps_, 0xF, 5);
  r.outbps = unscale(outbps_, 0xF, 5);
  return r;
}

void RateTable::tick(const std::map<StatsKey, RateCounters>& now) {
  for (auto it = estimators_.begin(); it != estimators_.end();) {
    it = now.count(it->first) ? std::next(it) : estimators_.erase(it);
  }
  for (const auto& [key, counters] : now) {
    auto [it, inserted] = estimators_.try_emplace(key, counters);
    if (!inserted) {
      it->second.sample(counters);
    }
  }
}

void RateTable::zero(const StatsKey& key, const RateCounters& now) {
  auto [it, inserted] = estimators_.try_emplace(key, now);
  if (!inserted) {
    it->second.zero(now);
  }
}

void RateTable::retain(const std::set<StatsKey>& keep) {
  for (auto it = estimators_.begin(); it != estimators_.end();) {
    it = keep.count(it->first) ? std::next(it) : estimators_.erase(it);
  }
}

Rates RateTable::rates(const StatsKey& key) const {
  auto it = estimators_.find(key);
  return it == estimators_.end() ? Rates{} : it->second.read();
}

}  // namespace dplb::control
