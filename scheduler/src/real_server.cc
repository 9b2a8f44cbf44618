#include "dplb/sched/real_server.h"

namespace dplb::sched {

namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

std::string_view toString(ParamError e) {
  switch (e) {
    case ParamError::kNone:
      return "ok";
    case ParamError::kNegativeWeight:
      return "server weight less than zero";
    case ParamError::kLowerAboveUpper:
      return "lower threshold is higher than upper threshold";
  }
  return "unknown error";
}

RealServer::RealServer(uint32_t addr, uint16_t port, const ServerParams& params)
    : addr_(addr),
      port_(port),
      weight_(params.weight),
      // __ip_vs_update_dest(add=1) records last_weight even when it is 0.
      lastWeight_(params.weight),
      uThreshold_(params.uThreshold),
      lThreshold_(params.lThreshold) {}

ParamError RealServer::validate(const ServerParams& params) {
  if (params.weight < 0) {
    return ParamError::kNegativeWeight;
  }
  // Unconditional in IPVS: l > u is refused even when u is 0 (no upper limit).
  if (params.lThreshold > params.uThreshold) {
    return ParamError::kLowerAboveUpper;
  }
  return ParamError::kNone;
}

void RealServer::applyBindRule() {
  const uint32_t u = uThreshold_.load(kRelaxed);
  if (u == 0) {
    return;
  }
  const auto total = static_cast<uint32_t>(activeConns() + inactiveConns());
  if (total >= u) {
    overload_.store(true, kRelaxed);
  }
}

void RealServer::applyUnbindRule() {
  const uint32_t l = lThreshold_.load(kRelaxed);
  const uint32_t u = uThreshold_.load(kRelaxed);
  const auto total = static_cast<uint32_t>(activeConns() + inactiveConns());
  if (l != 0) {
    if (total < l) {
      overload_.store(false, kRelaxed);
    }
  } else if (u != 0) {
    // Unsigned 32-bit products, as in ip_vs_unbind_dest (u_threshold is u32).
    if (total * 4u < u * 3u) {
      overload_.store(false, kRelaxed);
    }
  } else {
    overload_.store(false, kRelaxed);
  }
}

void RealServer::bindConn(bool active) {
  if (active) {
    activeConns_.fetch_add(1, kRelaxed);
  } else {
    inactConns_.fetch_add(1, kRelaxed);
  }
  applyBindRule();
}

void RealServer::unbindConn(bool active) {
  if (active) {
    activeConns_.fetch_sub(1, kRelaxed);
  } else {
    inactConns_.fetch_sub(1, kRelaxed);
  }
  applyUnbindRule();
}

void RealServer::connActivated() {
  activeConns_.fetch_add(1, kRelaxed);
  inactConns_.fetch_sub(1, kRelaxed);
}

void RealServer::connDeactivated() {
  activeConns_.fetch_sub(1, kRelaxed);
  inactConns_.fetch_add(1, kRelaxed);
}

void RealServer::bindTemplate() {
  persistConns_.fetch_add(1, kRelaxed);
  applyBindRule();
}

void RealServer::unbindTemplate() {
  persistConns_.fetch_sub(1, kRelaxed);
  applyUnbindRule();
}

ParamError RealServer::edit(const ServerParams& params) {
  const ParamError err = validate(params);
  if (err != ParamError::kNone) {
    return err;
  }
  // "keep the last_weight with latest non-0 weight"
  if (params.weight != 0) {
    lastWeight_.store(params.weight, kRelaxed);
  }
  weight_.store(params.weight, kRelaxed);
  if (params.uThreshold == 0 || params.uThreshold > uThreshold_.load(kRelaxed)) {
    overload_.store(false, kRelaxed);
  }
  uThreshold_.store(params.uThreshold, kRelaxed);
  lThreshold_.store(params.lThreshold, kRelaxed);
  return ParamError::kNone;
}

}  // namespace dplb::sched

namespace dplb::sched {
static_assert(sizeof(RealServer) == 64, "a RealServer is one cache line");
}  // namespace dplb::sched
