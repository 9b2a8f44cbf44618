// pick() must never allocate (STYLE.md rule 8). This binary replaces the
// global operator new to count allocations, and checks that many picks of
// every scheduler, with varied keys and a clock that runs the lblc/lblcr
// timers (full and partial checks), allocate nothing.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <vector>

#include "dplb/sched/scheduler.h"

namespace {
std::atomic<long> gAllocations{0};

void* countedAlloc(std::size_t n, std::size_t align) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) {
    n = 1;
  }
  void* p = align <= alignof(std::max_align_t)
                ? std::malloc(n)
                : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) {
    throw std::bad_alloc();
  }
  return p;
}
}  // namespace

void* operator new(std::size_t n) {
  return countedAlloc(n, 0);
}
void* operator new[](std::size_t n) {
  return countedAlloc(n, 0);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return countedAlloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return countedAlloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

namespace dplb::sched {
namespace {

using namespace std::chrono_literals;

class NoAllocTest : public ::testing::TestWithParam<std::pair<const char*, uint32_t>> {};

TEST_P(NoAllocTest, PickNeverAllocates) {
  const auto [name, flags] = GetParam();
  SchedulerOptions o;
  o.flags = flags;
  o.lblcCapacity = 4096;  // small pools: they fill up during the run
  o.lblcrMemberCapacity = 4096;
  SchedulerResult r = makeScheduler(name, o);
  ASSERT_TRUE(r) << r.error;
  Scheduler& s = *r.scheduler;
  std::mt19937 rng(5);
  std::vector<std::unique_ptr<RealServer>> servers;
  for (uint32_t i = 0; i < 50; ++i) {
    servers.push_back(std::make_unique<RealServer>(
        0x0A010000u + i, 80, ServerParams{static_cast<int32_t>(i % 7), i % 5 == 0 ? 3u : 0u, 0}));
    s.addServer(servers.back().get());
  }
  std::vector<PickKey> keys(8192);
  for (PickKey& k : keys) {
    k = PickKey{static_cast<uint32_t>(rng()), static_cast<uint16_t>(rng()),
                0xAC100000u + static_cast<uint32_t>(rng() % 6000), kProtoTcp};
  }
  std::vector<RealServer*> bound;
  const long before = gAllocations.load();
  Nanos now{0};
  for (int i = 0; i < 200000; ++i) {
    RealServer* picked = s.pick(keys[static_cast<size_t>(i) % keys.size()], now);
    if (picked != nullptr && (i % 3) == 0) {
      picked->bindConn();
      picked->connActivated();
    }
    now += i % 1000 == 0 ? Nanos(std::chrono::hours(2)) : Nanos(10ms);
  }
  const long after = gAllocations.load();
  EXPECT_EQ(after - before, 0) << name;
}

INSTANTIATE_TEST_SUITE_P(
    AllSchedulers, NoAllocTest,
    ::testing::Values(std::make_pair("rr", 0u), std::make_pair("wrr", 0u), std::make_pair("lc", 0u),
                      std::make_pair("wlc", 0u), std::make_pair("sed", 0u),
                      std::make_pair("nq", 0u), std::make_pair("fo", 0u), std::make_pair("ovf", 0u),
                      std::make_pair("dh", 0u), std::make_pair("sh", 0u),
                      std::make_pair("sh", kSchedFlagFallback | kSchedFlagPort),
                      std::make_pair("mh", 0u),
                      std::make_pair("mh", kSchedFlagFallback | kSchedFlagPort),
                      std::make_pair("lblc", 0u), std::make_pair("lblcr", 0u)));

TEST(NoAllocTest, TheCounterCounts) {
  const long before = gAllocations.load();
  auto p = std::make_unique<int>(3);
  EXPECT_EQ(gAllocations.load() - before, 1);
}

}  // namespace
}  // namespace dplb::sched
