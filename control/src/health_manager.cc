#include "dplb/control/health_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace dplb::control {

// ------------------------------------------------------------------ overlay --

ServerKey serverKey(const conf::Service& svc, const conf::RealServer& rs) {
  return ServerKey{svc.protocol, svc.vip, svc.port, rs.address, rs.port};
}

namespace {

const ServerVerdict* findVerdict(const HealthVerdicts& verdicts, const conf::Service& svc,
                                 const conf::RealServer& rs) {
  if (!rs.healthCheck) {
    return nullptr;  // unchecked: always up with its configured weight
  }
  auto it = verdicts.find(serverKey(svc, rs));
  return it == verdicts.end() ? nullptr : &it->second;
}

bool isUp(const ServerVerdict* v) {
  return v == nullptr || v->up;
}

}  // namespace

uint32_t effectiveWeight(const conf::RealServer& rs, const ServerVerdict* verdict) {
  if (verdict != nullptr && verdict->up && verdict->dynamicWeight) {
    return *verdict->dynamicWeight;
  }
  return rs.weight;
}

uint64_t liveWeight(const conf::Service& svc, const HealthVerdicts& verdicts) {
  uint64_t sum = 0;
  for (const auto& rs : svc.realServers) {
    const ServerVerdict* v = findVerdict(verdicts, svc, rs);
    if (isUp(v)) {
      sum += effectiveWeight(rs, v);
    }
  }
  return sum;
}

bool sorryActive(const conf::Service& svc, const HealthVerdicts& verdicts) {
  if (!svc.sorryServer) {
    return false;
  }
  // keepalived loses quorum on "!weight_sum || weight_sum < quorum": a
  // service with nothing live gets its sorry server even with quorum 0.
  const uint64_t live = liveWeight(svc, verdicts);
  return live == 0 || live < svc.quorum;
}

conf::Config applyHealth(const conf::Config& base, const HealthVerdicts& verdicts) {
  conf::Config out = base;
  for (auto& svc : out.services) {
    const bool sorry = sorryActive(svc, verdicts);
    std::vector<conf::RealServer> kept;
    kept.reserve(svc.realServers.size() + 1);
    for (auto& rs : svc.realServers) {
      const ServerVerdict* v = findVerdict(verdicts, svc, rs);
      if (!isUp(v)) {
        if (rs.healthCheck->onFailure == conf::OnFailure::Remove) {
          continue;
        }
        rs.weight = 0;
      } else {
        rs.weight = effectiveWeight(rs, v);
      }
      if (sorry) {
        rs.weight = 0;  // the sorry server takes every new connection
      }
      kept.push_back(std::move(rs));
    }
    if (sorry) {
      const conf::SorryServer& s = *svc.sorryServer;
      auto same = std::find_if(kept.begin(), kept.end(), [&](const conf::RealServer& rs) {
        return rs.address == s.address && rs.port == s.port;
      });
      if (same != kept.end()) {
        same->weight = 1;  // the sorry server is also a real server: no duplicate
      } else {
        conf::RealServer rs;
        rs.address = s.address;
        rs.port = s.port;
        rs.forward = svc.forward;
        rs.weight = 1;
        kept.push_back(std::move(rs));
      }
    }
    svc.realServers = std::move(kept);
  }
  return out;
}

std::string describe(const HealthEvent& event) {
  const std::string server = event.key.addr.str() + ":" + std::to_string(event.key.port);
  const hc::Transition& t = event.transition;
  switch (t.kind) {
    case hc::Transition::Kind::Fall:
      return fmt::format("service {} server {} DOWN after {} failure{}: {}", event.service, server,
                         event.count, event.count == 1 ? "" : "s", t.reason);
    case hc::Transition::Kind::Rise:
      return fmt::format("service {} server {} UP after {} success{}: {}", event.service, server,
                         event.count, event.count == 1 ? "" : "es", t.reason);
    case hc::Transition::Kind::Weight:
      return t.weight ? fmt::format("service {} server {} weight {} (dynamic): {}", event.service,
                                    server, *t.weight, t.reason)
                      : fmt::format("service {} server {} configured weight (dynamic): {}",
                                    event.service, server, t.reason);
  }
  return {};
}

// ------------------------------------------------------------------ monitor --

HealthMonitor::HealthMonitor(hc::Rng rng) : rng_(std::move(rng)) {}

bool HealthMonitor::setBase(const conf::Config& base, hc::Clock::time_point now) {
  // What the Daemon just published: the new base with the verdicts as they
  // were (new servers count as up, as they start).
  const conf::Config published = applyHealth(base, verdicts());
  std::map<ServerKey, Entry> next;
  for (const auto& svc : base.services) {
    for (const auto& rs : svc.realServers) {
      if (!rs.healthCheck) {
        continue;
      }
      const ServerKey key = serverKey(svc, rs);
      auto old = entries_.find(key);
      if (old != entries_.end() && old->second.target.check == *rs.healthCheck) {
        Entry kept = std::move(old->second);
        kept.service = svc.name;  // a renamed service keeps its servers' state
        kept.target.service = svc.name;
        next.emplace(key, std::move(kept));
        entries_.erase(old);
        continue;
      }
      hc::ProbeTarget target{rs.address, rs.port, *rs.healthCheck, svc.name};
      next.emplace(key, Entry{nextId_++,
                              svc.name,
                              std::move(target),
                              hc::Dampener(*rs.healthCheck, now, rng_),
                              false,
                              0,
                              0,
                              0,
                              {}});
    }
  }
  entries_ = std::move(next);
  byId_.clear();
  for (const auto& [key, e] : entries_) {
    byId_.emplace(e.id, key);
  }
  base_ = base;
  return applyHealth(base_, verdicts()) != published;
}

std::vector<HealthMonitor::DueProbe> HealthMonitor::takeDue(hc::Clock::time_point now) {
  std::vector<DueProbe> due;
  for (auto& [key, e] : entries_) {
    if (!e.inFlight && e.dampener.nextProbeAt() <= now) {
      e.inFlight = true;
      due.push_back(DueProbe{e.id, e.target});
    }
  }
  return due;
}

std::optional<hc::Clock::time_point> HealthMonitor::nextDue() const {
  std::optional<hc::Clock::time_point> next;
  for (const auto& [key, e] : entries_) {
    if (!e.inFlight && (!next || e.dampener.nextProbeAt() < *next)) {
      next = e.dampener.nextProbeAt();
    }
  }
  return next;
}

std::optional<HealthEvent> HealthMonitor::onResult(uint64_t id, const hc::ProbeResult& result,
                                                   hc::Clock::time_point now) {
  auto idIt = byId_.find(id);
  if (idIt == byId_.end()) {
    return std::nullopt;  // the server left (or its check changed) while probed
  }
  auto it = entries_.find(idIt->second);
  Entry& e = it->second;
  e.inFlight = false;
  ++e.probes;
  const double seconds = std::chrono::duration<double>(result.latency).count();
  e.latencySumSeconds += seconds;
  for (size_t i = 0; i < kProbeLatencyBuckets.size(); ++i) {
    if (seconds <= kProbeLatencyBuckets[i]) {
      ++e.latencyBuckets[i];
    }
  }
  auto t = e.dampener.onResult(result, now);
  if (!t) {
    return std::nullopt;
  }
  HealthEvent ev;
  ev.key = it->first;
  ev.service = e.service;
  ev.transition = std::move(*t);
  if (ev.transition.kind == hc::Transition::Kind::Fall) {
    ++e.transitions;
    ev.count = e.dampener.consecutiveFailures();
  } else if (ev.transition.kind == hc::Transition::Kind::Rise) {
    ++e.transitions;
    ev.count = e.dampener.consecutiveSuccesses();
  }
  return ev;
}

HealthVerdicts HealthMonitor::verdicts() const {
  HealthVerdicts out;
  for (const auto& [key, e] : entries_) {
    ServerVerdict v;
    v.up = e.dampener.state() == hc::ServerState::Up;
    if (v.up) {
      v.dynamicWeight = e.dampener.dynamicWeight();
    }
    out.emplace(key, v);
  }
  return out;
}

std::vector<ServerHealth> HealthMonitor::serverHealth(hc::Clock::time_point now) const {
  const conf::Config published = applyHealth(base_, verdicts());
  std::vector<ServerHealth> out;
  for (size_t si = 0; si < base_.services.size(); ++si) {
    const conf::Service& svc = base_.services[si];
    const conf::Service& pub = published.services[si];
    for (const auto& rs : svc.realServers) {
      ServerHealth h = serverHealthOf(svc, rs);
      auto p = std::find_if(
          pub.realServers.begin(), pub.realServers.end(),
          [&](const conf::RealServer& x) { return x.address == rs.address && x.port == rs.port; });
      h.removed = p == pub.realServers.end();
      h.weight = h.removed ? 0 : p->weight;
      auto it = rs.healthCheck ? entries_.find(serverKey(svc, rs)) : entries_.end();
      if (it != entries_.end()) {
        const Entry& e = it->second;
        h.checked = true;
        h.up = e.dampener.state() == hc::ServerState::Up;
        h.check = std::string(conf::toString(e.target.check.type));
        if (const auto& last = e.dampener.lastResult()) {
          h.lastOk = last->up;
          h.reason = last->reason;
          h.lastLatencySeconds = std::chrono::duration<double>(last->latency).count();
          h.localEndpoints = last->localEndpoints;
        }
        h.sinceChangeSeconds = std::chrono::duration<double>(now - e.dampener.since()).count();
        h.transitions = e.transitions;
        h.latencyBuckets = e.latencyBuckets;
        h.probes = e.probes;
        h.latencySumSeconds = e.latencySumSeconds;
      }
      out.push_back(std::move(h));
    }
  }
  return out;
}

std::vector<ServiceHealth> HealthMonitor::serviceHealth() const {
  const HealthVerdicts v = verdicts();
  std::vector<ServiceHealth> out;
  for (const auto& svc : base_.services) {
    ServiceHealth h = serviceHealthOf(svc);
    h.liveWeight = liveWeight(svc, v);
    h.sorryActive = sorryActive(svc, v);
    out.push_back(std::move(h));
  }
  return out;
}

// ------------------------------------------------------------------ manager --

namespace {

HealthManager::Options withDefaults(HealthManager::Options o) {
  if (!o.clock) {
    o.clock = [] { return hc::Clock::now(); };
  }
  if (!o.rng) {
    auto gen = std::make_shared<std::mt19937_64>(std::random_device{}());
    o.rng = [gen](uint64_t bound) {
      return std::uniform_int_distribution<uint64_t>(0, bound)(*gen);
    };
  }
  return o;
}

}  // namespace

HealthManager::HealthManager(const conf::Config& base, Options options)
    : options_(withDefaults(std::move(options))), monitor_(options_.rng) {
  if (!options_.submit) {
    prober_ = std::make_unique<hc::Prober>();
    options_.submit = [p = prober_.get()](hc::ProbeTarget t, hc::Prober::Callback cb) {
      p->submit(std::move(t), std::move(cb));
    };
  }
  monitor_.setBase(base, options_.clock());
  // A service can start below quorum (servers start up, but their weights
  // may not reach it): say so once, like any later change.
  logQuorumChanges();
}

HealthManager::~HealthManager() {
  stop();
}

void HealthManager::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stop_) {
    return;
  }
  spdlog::info("health checks: {} checked real server(s)", monitor_.checkedServers());
  thread_ = std::thread([this] { run(); });
}

void HealthManager::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  // After the scheduling thread: nothing submits any more. The prober's
  // destructor joins its loop, so no callback runs once it is gone.
  prober_.reset();
}

conf::Config HealthManager::overlay(const conf::Config& base) const {
  std::lock_guard lock(mutex_);
  return applyHealth(base, monitor_.verdicts());
}

void HealthManager::setBase(const conf::Config& base) {
  // Called by the Daemon with its mutex held: only record and wake.
  {
    std::lock_guard lock(mutex_);
    if (monitor_.setBase(base, options_.clock())) {
      // A server whose check changed starts up again; what was published
      // with its old verdict is stale.
      republishPending_ = true;
    }
    logQuorumChanges();
  }
  wake_.notify_all();
}

std::vector<ServerHealth> HealthManager::serverHealth() const {
  std::lock_guard lock(mutex_);
  return monitor_.serverHealth(options_.clock());
}

std::vector<ServiceHealth> HealthManager::serviceHealth() const {
  std::lock_guard lock(mutex_);
  return monitor_.serviceHealth();
}

void HealthManager::onResult(uint64_t id, const hc::ProbeResult& result) {
  {
    std::lock_guard lock(mutex_);
    if (stop_) {
      return;
    }
    if (auto ev = monitor_.onResult(id, result, options_.clock())) {
      spdlog::info("{}", describe(*ev));
      republishPending_ = true;
      logQuorumChanges();
    }
  }
  // The server is due again: the scheduling thread recomputes its deadline.
  wake_.notify_all();
}

void HealthManager::logQuorumChanges() {
  const HealthVerdicts v = monitor_.verdicts();
  std::map<std::string, bool> now;
  for (const auto& svc : monitor_.base().services) {
    const bool sorry = sorryActive(svc, v);
    now[svc.name] = sorry;
    auto it = sorryActive_.find(svc.name);
    const bool was = it != sorryActive_.end() && it->second;
    if (sorry == was) {
      continue;
    }
    // A reload may have taken the sorry server out of the service while it
    // was in.
    const std::string target = svc.sorryServer ? svc.sorryServer->address.str() + ":" +
                                                     std::to_string(svc.sorryServer->port)
                                               : "(removed from the configuration)";
    if (sorry) {
      spdlog::warn(
          "service {} lost quorum (live weight {} < quorum {}): sorry server {} takes new "
          "connections",
          svc.name, liveWeight(svc, v), svc.quorum, target);
    } else {
      spdlog::info(
          "service {} regained quorum (live weight {} >= quorum {}) or lost its sorry "
          "server: sorry server {} out",
          svc.name, liveWeight(svc, v), svc.quorum, target);
    }
  }
  sorryActive_ = std::move(now);
}

void HealthManager::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    if (republishPending_ && (!republishRetryAt_ || options_.clock() >= *republishRetryAt_)) {
      republishPending_ = false;
      lock.unlock();
      const bool ok = !options_.republish || options_.republish();
      lock.lock();
      if (ok) {
        republishRetryAt_.reset();
        republishBackoff_ = {};
      } else {
        // Keep the new verdicts pending: a server marked down must not keep
        // taking new connections because one publication failed.
        republishBackoff_ =
            republishBackoff_ == hc::Clock::duration{}
                ? hc::Clock::duration(kRepublishRetryMin)
                : std::min<hc::Clock::duration>(2 * republishBackoff_, kRepublishRetryMax);
        republishRetryAt_ = options_.clock() + republishBackoff_;
        republishPending_ = true;
      }
      continue;
    }
    auto due = monitor_.takeDue(options_.clock());
    if (!due.empty()) {
      lock.unlock();
      for (auto& d : due) {
        const uint64_t id = d.id;
        options_.submit(std::move(d.target),
                        [this, id](const hc::ProbeResult& r) { onResult(id, r); });
      }
      lock.lock();
      continue;
    }
    auto next = monitor_.nextDue();
    if (republishPending_ && republishRetryAt_ && (!next || *republishRetryAt_ < *next)) {
      next = republishRetryAt_;
    }
    if (next) {
      wake_.wait_until(lock, *next);
    } else {
      wake_.wait(lock);
    }
  }
}

}  // namespace dplb::control
