#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dplb/sched/maglev.h"
#include "dplb/sched/real_server.h"

namespace dplb::sched {

// Monotonic time since an arbitrary epoch, injected by the caller (the
// dataplane's worker clock, a test's fake clock, dplb-schedsim's `time`).
using Nanos = std::chrono::nanoseconds;

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoSctp = 132;

// The new connection's fields a scheduler may look at. Host byte order.
struct PickKey {
  uint32_t clientAddr = 0;
  uint16_t clientPort = 0;
  uint32_t dstAddr = 0;  // destination address of the packet: the VIP for an ordinary service
  uint8_t protocol = kProtoTcp;
};

// ipvsadm -b flags. IPVS has three generic per-service scheduler flag bits
// (IP_VS_SVC_F_SCHED1..3); sh and mh give the first two their meaning, so
// sh-fallback and mh-fallback are the same bit, as are sh-port and mh-port.
inline constexpr uint32_t kSchedFlag1 = 1u << 0;
inline constexpr uint32_t kSchedFlag2 = 1u << 1;
inline constexpr uint32_t kSchedFlag3 = 1u << 2;
inline constexpr uint32_t kSchedFlagFallback = kSchedFlag1;  // sh-fallback, mh-fallback
inline constexpr uint32_t kSchedFlagPort = kSchedFlag2;      // sh-port, mh-port

enum class SchedKind : uint8_t {
  kRr,
  kWrr,
  kLc,
  kWlc,
  kLblc,
  kLblcr,
  kDh,
  kSh,
  kSed,
  kNq,
  kMh,
  kFo,
  kOvf
};

std::string_view toString(SchedKind kind);
std::optional<SchedKind> schedKindFromName(std::string_view name);
// "rr", "wrr", ... in SchedKind order.
std::span<const std::string_view> schedulerNames();

// Parses ipvsadm's -b list ("sh-fallback,sh-port"; also flag-1..flag-3).
// As ipvsadm, sh-* flags need the sh scheduler and mh-* the mh scheduler.
// Returns false with a message in *error on a bad list.
bool parseSchedFlags(SchedKind kind, std::string_view list, uint32_t* flags, std::string* error);

// lblc/lblcr table bounds. IPVS grows these tables without limit
// (kmalloc(GFP_ATOMIC) per entry) and trims them with a periodic timer; dplb
// preallocates them so that a pick never allocates. When a pool is empty,
// dplb does what IPVS does when that kmalloc fails: the decision is still
// made (wlc) but not cached, or the new member is not added to the set. Up
// to the bound, decisions are exactly IPVS's, including the timer-driven
// trimming of tables above IPVS's max_size (16384 entries).
inline constexpr uint32_t kDefaultLblcCapacity = 32768;
inline constexpr uint32_t kDefaultLblcrMemberCapacity = 65536;
inline constexpr Nanos kDefaultLblcExpiration = std::chrono::hours(24);  // lblc_expiration sysctl

struct SchedulerOptions {
  uint32_t flags = 0;                          // kSchedFlag*
  uint32_t mhTableSize = kDefaultMhTableSize;  // prime
  // Service creation time: lblc/lblcr's garbage-collection timer fires every
  // 60 s from here, as IPVS arms it in init_service.
  Nanos start{0};
  Nanos lblcExpiration = kDefaultLblcExpiration;               // net.ipv4.vs.lblc_expiration
  Nanos lblcrExpiration = kDefaultLblcExpiration;              // net.ipv4.vs.lblcr_expiration
  uint32_t lblcCapacity = kDefaultLblcCapacity;                // lblc/lblcr table entries
  uint32_t lblcrMemberCapacity = kDefaultLblcrMemberCapacity;  // lblcr set members, all entries
};

// One IPVS scheduler bound to one service.
//
// Threading contract: a Scheduler instance is owned by ONE thread. State that
// changes on each decision (rr/wrr cursor, lblc/lblcr tables) lives here and
// is not synchronised. The dataplane keeps one instance per service per
// worker; all instances of a service list the same shared RealServer objects,
// whose counts and OVERLOAD flag are atomics, so least-connection schedulers
// see counts summed over workers. A consequence: each worker runs its own
// rr/wrr cycle and lblc/lblcr cache, where IPVS keeps one per service under a
// lock; with one instance (one worker, dplb-schedsim) decisions are IPVS's.
//
// Server list: IPVS order, newest added FIRST (list_add_rcu at the head).
// addServer/updateServer/removeServer mirror the scheduler hooks IPVS calls
// (add_dest, upd_dest, del_dest); dh, sh and mh rebuild their tables there,
// wrr resets its cursor, rr moves its cursor off a removed server. They may
// allocate and must be called by the owning thread, never concurrently with
// pick(). The RealServer objects must outlive their listing; removeServer()
// forgets every pointer to the server (lblc/lblcr keep only its address and
// port, so a server re-added with the same address and port is found again,
// exactly as IPVS revives a destination from its trash).
//
// pick() never allocates, throws, blocks or logs. It returns the chosen
// server or nullptr ("no destination available"). `now` drives lblc/lblcr
// expiry; other schedulers ignore it.
class Scheduler {
 public:
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  virtual ~Scheduler() = default;

  SchedKind kind() const { return kind_; }
  std::string_view name() const { return toString(kind_); }
  uint32_t flags() const { return flags_; }

  // False (and no change) when a server with the same address and port is
  // already listed / when the server is not listed.
  bool addServer(RealServer* server);
  bool updateServer(RealServer* server);
  bool removeServer(RealServer* server);

  RealServer* findServer(uint32_t addr, uint16_t port) const;
  std::span<RealServer* const> servers() const { return servers_; }

  virtual RealServer* pick(const PickKey& key, Nanos now) noexcept = 0;

  // Runs timers due at or before `now` (lblc/lblcr table garbage collection).
  // pick() does it too; a worker may also call it from its housekeeping.
  virtual void expire(Nanos now) noexcept { (void)now; }

  // Destinations cached by lblc/lblcr (0 for the others): for metrics/tests.
  virtual size_t cacheEntries() const noexcept { return 0; }

 protected:
  Scheduler(SchedKind kind, uint32_t flags) : kind_(kind), flags_(flags) {}

  // Hooks, called after servers_ changed. onAdded: the new server is servers_[0].
  virtual void onAdded() {}
  virtual void onUpdated(size_t index) { (void)index; }
  // `index` is where `removed` was; it is no longer in servers_.
  virtual void onRemoved(size_t index, RealServer* removed) {
    (void)index;
    (void)removed;
  }

  std::vector<RealServer*> servers_;

 private:
  const SchedKind kind_;
  const uint32_t flags_;
};

// Factory result: either a scheduler or an error message.
struct SchedulerResult {
  std::unique_ptr<Scheduler> scheduler;
  std::string error;
  explicit operator bool() const { return scheduler != nullptr; }
};

// Unknown name or bad option (mh table size not prime, zero capacity...):
// no scheduler, an error message. Never throws for a bad name.
SchedulerResult makeScheduler(std::string_view name, const SchedulerOptions& options = {});
SchedulerResult makeScheduler(SchedKind kind, const SchedulerOptions& options = {});

}  // namespace dplb::sched
