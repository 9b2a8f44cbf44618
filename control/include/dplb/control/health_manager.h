#pragma once

// Health checking inside dplbd: which real servers get traffic.
//
// Three layers, so the logic is tested without threads or sockets:
//
//  - applyHealth(): a pure function from the base configuration and the
//    health verdicts to the configuration to publish (the Daemon's overlay).
//    on_failure quiesce -> weight 0 (existing connections continue, keepalived
//    inhibit_on_failure); remove -> the server is left out of the service; an
//    up exec check with `dynamic: true` replaces the weight; a service whose
//    live weight is 0 or below its quorum and that has a sorry server gets the
//    sorry server (weight 1, the service's forward mode) and every real server
//    quiesced, so the sorry server takes all new connections until quorum
//    returns (keepalived update_quorum_state: "Lost quorum" when the weight
//    sum is 0 or below quorum; it then adds the sorry server and takes the
//    remaining live servers out). Without a sorry server nothing else changes.
//    Servers without a check are always up.
//
//  - HealthMonitor: the state machine of every checked server. One
//    hc::Dampener per (service protocol/vip/port, server address/port); the
//    caller passes `now`, asks which probes are due, feeds results back, and
//    reads verdicts and status. Not thread-safe.
//
//  - HealthManager: the threads. One scheduling thread that sleeps until the
//    next due probe (condition variable with a deadline; woken on stop, on a
//    base change and on every result), probes submitted to one hc::Prober (its
//    own epoll thread), and on a transition a call to `republish` from the
//    scheduling thread. All public functions are thread-safe; none of them
//    calls back into the Daemon, so the Daemon may call them with its own
//    mutex held (the overlay and the base listener do).
//
// Initial state: a new server (at start, or added by a reload or dplbadm)
// starts UP, as keepalived's checkers do without `alpha` and as hc::Dampener
// does by default: loading a config must not black-hole a service for
// rise x interval. A dead server leaves after `fall` failed probes. A server
// that keeps its address, port, service and exact check across a base change
// keeps its state (and its counters); one whose check changed starts afresh.

#include <array>
#include <chrono>
#include <compare>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dplb/conf/config.h"
#include "dplb/control/health_view.h"
#include "dplb/hc/dampener.h"
#include "dplb/hc/probe_result.h"
#include "dplb/hc/prober.h"

namespace dplb::control {

// A checked real server: its service (protocol, VIP, port) and its address.
struct ServerKey {
  conf::Protocol protocol = conf::Protocol::Tcp;
  conf::Ipv4 vip;
  uint16_t vipPort = 0;
  conf::Ipv4 addr;
  uint16_t port = 0;

  friend auto operator<=>(const ServerKey&, const ServerKey&) = default;
};

ServerKey serverKey(const conf::Service& svc, const conf::RealServer& rs);

// What the overlay needs to know about one checked server.
struct ServerVerdict {
  bool up = true;
  std::optional<uint32_t> dynamicWeight;  // exec `dynamic: true`, while up

  bool operator==(const ServerVerdict&) const = default;
};

// Servers missing from the map are up with their configured weight.
using HealthVerdicts = std::map<ServerKey, ServerVerdict>;

// The weight a server runs with when it is up: the dynamic one if any.
uint32_t effectiveWeight(const conf::RealServer& rs, const ServerVerdict* verdict);

// Sum of the effective weights of the live servers of `svc`.
uint64_t liveWeight(const conf::Service& svc, const HealthVerdicts& verdicts);

// True when `svc` is below quorum (live weight 0 or < quorum) and has a sorry
// server, i.e. the sorry server takes the new connections.
bool sorryActive(const conf::Service& svc, const HealthVerdicts& verdicts);

// The configuration to publish (see the file comment). Pure.
conf::Config applyHealth(const conf::Config& base, const HealthVerdicts& verdicts);

// A state change of one server, for the log.
struct HealthEvent {
  ServerKey key;
  std::string service;
  hc::Transition transition;
  uint32_t count = 0;  // failures (fall) or successes (rise) that caused it
};

// "service web server 10.0.1.12:8080 DOWN after 3 failures: connection refused"
std::string describe(const HealthEvent& event);

class HealthMonitor {
 public:
  explicit HealthMonitor(hc::Rng rng);

  // The new base: keeps the state of servers that still exist with the same
  // check, starts new ones, forgets removed ones (late results for them are
  // ignored). Returns true when base + overlay differs from what was
  // published with the previous verdicts (a republish is due): a server whose
  // check changed starts up again.
  bool setBase(const conf::Config& base, hc::Clock::time_point now);

  struct DueProbe {
    uint64_t id = 0;  // pass back to onResult
    hc::ProbeTarget target;
  };
  // The probes due at `now`; they are in flight until onResult.
  std::vector<DueProbe> takeDue(hc::Clock::time_point now);
  // The earliest due time of a server that has no probe in flight.
  std::optional<hc::Clock::time_point> nextDue() const;

  // The result of probe `id`. A transition (also a dynamic weight change)
  // comes back as an event; results for forgotten servers are dropped.
  std::optional<HealthEvent> onResult(uint64_t id, const hc::ProbeResult& result,
                                      hc::Clock::time_point now);

  HealthVerdicts verdicts() const;
  const conf::Config& base() const { return base_; }
  std::vector<ServerHealth> serverHealth(hc::Clock::time_point now) const;
  std::vector<ServiceHealth> serviceHealth() const;
  size_t checkedServers() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t id = 0;
    std::string service;
    hc::ProbeTarget target;
    hc::Dampener dampener;
    bool inFlight = false;
    uint64_t transitions = 0;
    uint64_t probes = 0;
    double latencySumSeconds = 0;
    std::array<uint64_t, kProbeLatencyBuckets.size()> latencyBuckets{};
  };

  hc::Rng rng_;
  conf::Config base_;
  std::map<ServerKey, Entry> entries_;
  std::map<uint64_t, ServerKey> byId_;  // probe id -> entry, for results
  uint64_t nextId_ = 1;
};

class HealthManager {
 public:
  static constexpr std::chrono::milliseconds kRepublishRetryMin{250};
  static constexpr std::chrono::milliseconds kRepublishRetryMax{10000};

  using Submit = std::function<void(hc::ProbeTarget, hc::Prober::Callback)>;

  struct Options {
    // Republishes base + overlay (Daemon::republish); called from the
    // scheduling thread with no lock of the manager held. Returns false when
    // the dataplane refused: the manager tries again after a back-off
    // (kRepublishRetryMin doubling to kRepublishRetryMax) until it succeeds.
    std::function<bool()> republish;
    // Defaults: steady_clock, a seeded mt19937_64, a real hc::Prober. The
    // scheduler sleeps on a condition variable until clock's next due time,
    // so an injected clock must run with steady_clock (it may be offset).
    std::function<hc::Clock::time_point()> clock;
    hc::Rng rng;
    Submit submit;
  };

  HealthManager(const conf::Config& base, Options options);
  ~HealthManager();
  HealthManager(const HealthManager&) = delete;
  HealthManager& operator=(const HealthManager&) = delete;

  // Starts the scheduling thread. Probes begin at once (subject to warm-up).
  void start();
  // Stops the scheduling thread and the prober; no callback runs afterwards.
  void stop();

  // Daemon hooks.
  conf::Config overlay(const conf::Config& base) const;
  void setBase(const conf::Config& base);
  std::vector<ServerHealth> serverHealth() const;
  std::vector<ServiceHealth> serviceHealth() const;

 private:
  void run();
  void onResult(uint64_t id, const hc::ProbeResult& result);
  // Logs quorum changes of services after a transition; call with mutex_ held.
  void logQuorumChanges();

  Options options_;
  std::unique_ptr<hc::Prober> prober_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  HealthMonitor monitor_;
  std::map<std::string, bool> sorryActive_;  // per service name, for the log
  bool republishPending_ = false;
  // After a refused republish: when to try again, and the next back-off.
  std::optional<hc::Clock::time_point> republishRetryAt_;
  hc::Clock::duration republishBackoff_{};
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace dplb::control
