#include "dplb/hc/dampener.h"

namespace dplb::hc {

std::string_view toString(ServerState s) {
  return s == ServerState::Up ? "up" : "down";
}

Dampener::Dampener(const conf::HealthCheck& check, Clock::time_point now, const Rng& rng,
                   Options opts)
    : interval_(check.interval),
      retryDelay_(check.retryDelay),
      rise_(check.rise == 0 ? 1 : check.rise),
      fall_(check.fall == 0 ? 1 : check.fall),
      retry_(check.retry),
      state_(opts.initiallyUp ? ServerState::Up : ServerState::Down),
      since_(now) {
  auto warmupMs = static_cast<uint64_t>(check.warmup.count());
  uint64_t delayMs = warmupMs == 0 ? 0 : rng(warmupMs);
  if (delayMs > warmupMs) {
    delayMs = warmupMs;  // a misbehaving Rng must not push the first probe out for ever
  }
  nextProbeAt_ = now + std::chrono::milliseconds(delayMs);
}

std::optional<Transition> Dampener::onResult(const ProbeResult& result, Clock::time_point now) {
  last_ = result;
  std::optional<Transition> out;
  if (result.up) {
    retriesUsed_ = 0;
    failures_ = 0;
    if (successes_ < rise_) {
      ++successes_;
    }
    std::optional<uint32_t> oldWeight = weight_;
    weight_ = result.weight;
    if (state_ == ServerState::Down && successes_ >= rise_) {
      state_ = ServerState::Up;
      since_ = now;
      out = Transition{Transition::Kind::Rise, state_, result.reason, weight_, now};
    } else if (state_ == ServerState::Up && oldWeight != weight_) {
      out = Transition{Transition::Kind::Weight, state_, result.reason, weight_, now};
    }
    nextProbeAt_ = now + interval_;
    return out;
  }
  if (retriesUsed_ < retry_) {
    ++retriesUsed_;
    nextProbeAt_ = now + retryDelay_;
    return out;
  }
  retriesUsed_ = 0;
  successes_ = 0;
  if (failures_ < fall_) {
    ++failures_;
  }
  if (state_ == ServerState::Up && failures_ >= fall_) {
    state_ = ServerState::Down;
    since_ = now;
    weight_.reset();
    out = Transition{Transition::Kind::Fall, state_, result.reason, std::nullopt, now};
  }
  nextProbeAt_ = now + interval_;
  return out;
}

}  // namespace dplb::hc
