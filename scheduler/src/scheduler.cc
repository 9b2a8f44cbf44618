#include "dplb/sched/scheduler.h"

#include <algorithm>
#include <array>

#include "internal.h"

namespace dplb::sched {

namespace {

constexpr std::array<std::string_view, 13> kNames = {
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf"};

}  // namespace

std::string_view toString(SchedKind kind) {
  const auto i = static_cast<size_t>(kind);
  return i < kNames.size() ? kNames[i] : std::string_view("?");
}

std::optional<SchedKind> schedKindFromName(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) {
      return static_cast<SchedKind>(i);
    }
  }
  return std::nullopt;
}

std::span<const std::string_view> schedulerNames() {
  return kNames;
}

bool parseSchedFlags(SchedKind kind, std::string_view list, uint32_t* flags, std::string* error) {
  uint32_t out = 0;
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view flag = list.substr(0, comma);
    uint32_t bit = 0;
    std::string_view needs;
    if (flag == "flag-1") {
      bit = kSchedFlag1;
    } else if (flag == "flag-2") {
      bit = kSchedFlag2;
    } else if (flag == "flag-3") {
      bit = kSchedFlag3;
    } else if (flag == "sh-fallback") {
      bit = kSchedFlagFallback;
      needs = "sh";
    } else if (flag == "sh-port") {
      bit = kSchedFlagPort;
      needs = "sh";
    } else if (flag == "mh-fallback") {
      bit = kSchedFlagFallback;
      needs = "mh";
    } else if (flag == "mh-port") {
      bit = kSchedFlagPort;
      needs = "mh";
    } else {
      *error = "invalid scheduler flag '" + std::string(flag) + "'";
      return false;
    }
    if (!needs.empty() && toString(kind) != needs) {
      *error = "incompatible scheduler flag '" + std::string(flag) + "' (needs scheduler " +
               std::string(needs) + ")";
      return false;
    }
    out |= bit;
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  *flags = out;
  return true;
}

bool Scheduler::addServer(RealServer* server) {
  if (server == nullptr || findServer(server->addr(), server->port()) != nullptr) {
    return false;
  }
  servers_.insert(servers_.begin(), server);
  onAdded();
  return true;
}

bool Scheduler::updateServer(RealServer* server) {
  const auto it = std::find(servers_.begin(), servers_.end(), server);
  if (it == servers_.end()) {
    return false;
  }
  onUpdated(static_cast<size_t>(it - servers_.begin()));
  return true;
}

bool Scheduler::removeServer(RealServer* server) {
  const auto it = std::find(servers_.begin(), servers_.end(), server);
  if (it == servers_.end()) {
    return false;
  }
  const auto index = static_cast<size_t>(it - servers_.begin());
  servers_.erase(it);
  onRemoved(index, server);
  return true;
}

RealServer* Scheduler::findServer(uint32_t addr, uint16_t port) const {
  for (RealServer* s : servers_) {
    if (s->addr() == addr && s->port() == port) {
      return s;
    }
  }
  return nullptr;
}

SchedulerResult makeScheduler(std::string_view name, const SchedulerOptions& options) {
  const std::optional<SchedKind> kind = schedKindFromName(name);
  if (!kind) {
    std::string known;
    for (std::string_view n : kNames) {
      known += known.empty() ? "" : ", ";
      known += n;
    }
    return {nullptr,
            "unknown scheduler '" + std::string(name) + "' (expected one of " + known + ")"};
  }
  return makeScheduler(*kind, options);
}

SchedulerResult makeScheduler(SchedKind kind, const SchedulerOptions& options) {
  if ((options.flags & ~(kSchedFlag1 | kSchedFlag2 | kSchedFlag3)) != 0) {
    return {nullptr, "unknown scheduler flag bits"};
  }
  switch (kind) {
    case SchedKind::kRr:
      return {detail::makeRr(options), {}};
    case SchedKind::kWrr:
      return {detail::makeWrr(options), {}};
    case SchedKind::kLc:
      return {detail::makeLc(options), {}};
    case SchedKind::kWlc:
      return {detail::makeWlc(options), {}};
    case SchedKind::kSed:
      return {detail::makeSed(options), {}};
    case SchedKind::kNq:
      return {detail::makeNq(options), {}};
    case SchedKind::kFo:
      return {detail::makeFo(options), {}};
    case SchedKind::kOvf:
      return {detail::makeOvf(options), {}};
    case SchedKind::kDh:
      return {detail::makeDh(options), {}};
    case SchedKind::kSh:
      return {detail::makeSh(options), {}};
    case SchedKind::kMh:
      if (!isPrime(options.mhTableSize) || options.mhTableSize > kMaxMhTableSize) {
        return {nullptr, "mh table size " + std::to_string(options.mhTableSize) +
                             " is not a prime between 2 and " + std::to_string(kMaxMhTableSize)};
      }
      return {detail::makeMh(options), {}};
    case SchedKind::kLblc:
    case SchedKind::kLblcr:
      if (options.lblcCapacity == 0 || options.lblcrMemberCapacity == 0) {
        return {nullptr, "lblc/lblcr table capacity must be positive"};
      }
      if (options.lblcExpiration <= Nanos::zero() || options.lblcrExpiration <= Nanos::zero()) {
        return {nullptr, "lblc/lblcr expiration must be positive"};
      }
      // Pool indices are 32-bit with one value reserved as "none".
      if (options.lblcCapacity >= 0x80000000u || options.lblcrMemberCapacity >= 0x80000000u) {
        return {nullptr, "lblc/lblcr table capacity too large"};
      }
      return {kind == SchedKind::kLblc ? detail::makeLblc(options) : detail::makeLblcr(options),
              {}};
  }
  return {nullptr, "unknown scheduler kind"};
}

}  // namespace dplb::sched
