// ns per pick for each dplb scheduler with 8 and 1000 real servers.
//
// Servers get weights 1..10 and a spread of connection counts so the
// least-connection schedulers compare real numbers. Picks cycle through 4096
// precomputed keys (clients, ports, and 1024 destinations for lblc/lblcr, so
// their cache sees hits after the first round). Only pick() is timed; no
// connection is bound, so the state stays the same from one run to the next.

#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dplb/sched/scheduler.h"

namespace {

using dplb::sched::Nanos;
using dplb::sched::PickKey;
using dplb::sched::RealServer;
using dplb::sched::ServerParams;

void benchPick(benchmark::State& state, std::string name, int servers, uint32_t flags) {
  dplb::sched::SchedulerOptions opts;
  opts.flags = flags;
  auto made = dplb::sched::makeScheduler(name, opts);
  if (!made) {
    state.SkipWithError(made.error.c_str());
    return;
  }
  auto& sched = *made.scheduler;
  std::mt19937 rng(12345);
  std::vector<std::unique_ptr<RealServer>> owned;
  for (int i = 0; i < servers; ++i) {
    const auto addr =
        static_cast<uint32_t>((10u << 24) | (1u << 16) | static_cast<uint32_t>(i + 1));
    owned.push_back(std::make_unique<RealServer>(
        addr, 80, ServerParams{1 + static_cast<int32_t>(rng() % 10), 0, 0}));
    RealServer* s = owned.back().get();
    const int active = static_cast<int>(rng() % 50);
    const int inactive = static_cast<int>(rng() % 200);
    for (int c = 0; c < active; ++c) {
      s->bindConn();
      s->connActivated();
    }
    for (int c = 0; c < inactive; ++c) {
      s->bindConn();
    }
    sched.addServer(s);
  }
  std::vector<PickKey> keys(4096);
  for (size_t i = 0; i < keys.size(); ++i) {
    keys[i] = PickKey{static_cast<uint32_t>(rng()), static_cast<uint16_t>(1024 + rng() % 60000),
                      (172u << 24) | (16u << 16) | static_cast<uint32_t>(i % 1024),
                      dplb::sched::kProtoTcp};
  }
  size_t i = 0;
  int64_t now = 0;
  for (auto _ : state) {
    RealServer* s = sched.pick(keys[i], Nanos(now));
    benchmark::DoNotOptimize(s);
    i = (i + 1) & (keys.size() - 1);
    now += 1000;  // 1 µs per pick: lblc/lblcr timers fire now and then
  }
  state.counters["servers"] = servers;
}

int registerAll() {
  struct Case {
    const char* name;
    uint32_t flags;
    const char* label;
  };
  const Case cases[] = {
      {"rr", 0, "rr"},
      {"wrr", 0, "wrr"},
      {"lc", 0, "lc"},
      {"wlc", 0, "wlc"},
      {"sed", 0, "sed"},
      {"nq", 0, "nq"},
      {"fo", 0, "fo"},
      {"ovf", 0, "ovf"},
      {"lblc", 0, "lblc"},
      {"lblcr", 0, "lblcr"},
      {"dh", 0, "dh"},
      {"sh", 0, "sh"},
      {"sh", dplb::sched::kSchedFlagPort, "sh/sh-port"},
      {"mh", 0, "mh"},
      {"mh", dplb::sched::kSchedFlagPort, "mh/mh-port"},
  };
  for (const Case& c : cases) {
    for (int n : {8, 1000}) {
      benchmark::RegisterBenchmark((std::string(c.label) + "/" + std::to_string(n)).c_str(),
                                   benchPick, std::string(c.name), n, c.flags);
    }
  }
  return 0;
}

const int kRegistered = registerAll();

}  // namespace

BENCHMARK_MAIN();
