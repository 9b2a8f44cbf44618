#pragma once

// Private to dplb_scheduler: constructors of the concrete schedulers, used by
// the factory in scheduler.cc. Options are validated before these are called.

#include <memory>

#include "dplb/sched/scheduler.h"

namespace dplb::sched::detail {

std::unique_ptr<Scheduler> makeRr(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeWrr(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeLc(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeWlc(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeSed(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeNq(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeFo(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeOvf(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeDh(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeSh(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeMh(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeLblc(const SchedulerOptions& options);
std::unique_ptr<Scheduler> makeLblcr(const SchedulerOptions& options);

// Server usable for a new connection by most schedulers.
inline bool usable(const RealServer* s) {
  return !s->overloaded() && s->weight() > 0;
}

// The weighted least-connection choice shared by wlc and lblc/lblcr's
// fallback (ip_vs_wlc_schedule, __ip_vs_lblc_schedule): the first server not
// overloaded with weight > 0, replaced by any later non-overloaded server
// when best_overhead * its_weight > its_overhead * best_weight (64-bit).
RealServer* pickWeightedLeastConn(std::span<RealServer* const> servers) noexcept;

// lblc/lblcr's own notion of overload (is_overloaded in ip_vs_lblc.c): more
// active connections than weight while some server of the service has
// active * 2 < weight. The OVERLOAD flag is not consulted.
bool lblcOverloaded(const RealServer* s, std::span<RealServer* const> servers) noexcept;

}  // namespace dplb::sched::detail
