#pragma once

// The control plane of a running dplbd: the configuration that runs, reloads,
// dplbadm's requests, and the numbers behind `dplbadm --status` and /metrics.
//
// Contract: the running configuration has two layers. The *base* is the file
// plus dplbadm's changes; a reload replaces it with the file (dplbadm's changes
// are gone, as admin/PROTOCOL.md says). The *published* configuration is the
// base with the overlay applied (the health manager takes failed servers out
// or quiesces them); republish() recomputes it after the overlay changed.
// Every change is validated before anything is published and publication goes
// through Dataplane::publish() (RCU snapshots); one change at a time. handle()
// never throws for a bad request: it answers {"ok":false,"error":...}.
//
// What dplbadm lists is the dataplane's counters minus per-service and
// per-server baselines that `-Z` records here: the dataplane counters (and
// /metrics) stay monotonic and the packet path is never touched. A baseline
// lives as long as its service or server stays in the published config (the
// dataplane forgets the counters of a removed one). tickRates(), called every
// RateEstimator::kInterval, feeds IPVS-style rate estimators (`--rate`);
// `-Z` restarts them too, as IPVS does.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dplb/conf/config.h"
#include "dplb/control/health_view.h"
#include "dplb/control/rate_estimator.h"
#include "dplb/dp/dataplane.h"

namespace dplb::control {

// Reload bookkeeping for `dplbadm --status` and /metrics.
struct DaemonStats {
  uint64_t reloadSuccesses = 0;
  uint64_t reloadFailures = 0;
  double lastReloadUnixSeconds = 0;         // 0 = never reloaded
  double lastReloadSuccessUnixSeconds = 0;  // 0 = never
  bool lastReloadOk = true;
  double startUnixSeconds = 0;
  double uptimeSeconds = 0;
  std::string metricsAddress;  // where /metrics is served ("" = off)
};

class Daemon {
 public:
  // Derives the configuration to publish from the base (health overlay).
  using Overlay = std::function<conf::Config(const conf::Config& base)>;
  // Told the new base after every successful publication (health manager:
  // start or stop probes for added or removed servers).
  using BaseListener = std::function<void(const conf::Config& base)>;
  using HealthSource = std::function<std::vector<ServerHealth>()>;
  using ServiceHealthSource = std::function<std::vector<ServiceHealth>()>;

  Daemon(std::string file, const conf::Config& initial, dp::Dataplane& dataplane);

  // Hooks; set before the admin socket starts.
  void setOverlay(Overlay overlay) { overlay_ = std::move(overlay); }
  void setBaseListener(BaseListener listener) { baseListener_ = std::move(listener); }
  void setHealthSource(HealthSource server, ServiceHealthSource service) {
    serverHealth_ = std::move(server);
    serviceHealth_ = std::move(service);
  }

  // Re-reads the file; the errors (empty on success) are logged and returned.
  std::vector<std::string> reload();
  // Recomputes and publishes base + overlay (after a health transition);
  // "" or the dataplane's refusal.
  std::string republish();
  // One admin request (admin/PROTOCOL.md).
  nlohmann::json handle(const nlohmann::json& request);
  // One estimation tick for `--rate`; every RateEstimator::kInterval.
  void tickRates();

  // The exposer's bound address, for `dplbadm --status`.
  void setMetricsAddress(std::string address) {
    std::lock_guard lock(mutex_);
    stats_.metricsAddress = std::move(address);
  }

  conf::Config base() const;
  DaemonStats stats() const;
  std::vector<ServerHealth> serverHealth() const;
  std::vector<ServiceHealth> serviceHealth() const;
  dp::Dataplane& dataplane() { return dataplane_; }
  const dp::Dataplane& dataplane() const { return dataplane_; }

 private:
  // Publishes next (validated) as the new base; call with mutex_ held.
  std::string publishLocked(const conf::Config& next);
  nlohmann::json statusReply() const;
  nlohmann::json mutation(const std::string& cmd, const nlohmann::json& request);
  nlohmann::json listRequest(const nlohmann::json& request) const;
  nlohmann::json zeroRequest(const nlohmann::json& request);
  // Records the current counters of the services matching `request` ("service"
  // key, or all) as their baselines; call with mutex_ held.
  void zeroLocked(const nlohmann::json& request);
  // Drops baselines and estimators of what `published` no longer has.
  void retainStats(const conf::Config& published);

  const std::string file_;
  dp::Dataplane& dataplane_;
  Overlay overlay_;
  BaseListener baseListener_;
  HealthSource serverHealth_;
  ServiceHealthSource serviceHealth_;

  mutable std::mutex mutex_;  // one change at a time; guards base_ and stats_
  conf::Config base_;
  DaemonStats stats_;
  // Lock order: mutex_, then (never around a dataplane call) statsMutex_.
  mutable std::mutex statsMutex_;
  std::map<StatsKey, RateCounters> baselines_;  // -Z
  RateTable rates_;                             // --rate
  const std::chrono::steady_clock::time_point started_;
};

// The `list` and `connections` replies of admin/PROTOCOL.md; `rates` may be
// empty (every rate is listed as 0).
using RatesOf = std::function<Rates(const StatsKey&)>;
nlohmann::json listReply(const std::vector<dp::ServiceView>& services, uint64_t connTableSize,
                         const char* version, const RatesOf& rates);
// Key of a listed service / real server.
StatsKey statsKey(const dp::ServiceView& service);
StatsKey statsKey(const dp::ServiceView& service, const dp::ServerView& server);
nlohmann::json connectionsReply(dp::Dataplane& dataplane);

}  // namespace dplb::control
