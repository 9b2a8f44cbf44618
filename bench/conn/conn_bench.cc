// Connection table micro-benchmarks (Google Benchmark): lookup hits at 1M
// NAT connections (single, pipelined, bulk), misses, the per-packet state
// update, and insert+erase churn. Prints numbers; no pass/fail.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "dplb/dp/conn_table.h"

namespace dplb::dp {
namespace {

constexpr uint32_t kFlows = 1u << 20;  // 1,048,576 NAT connections = 2M index keys

class NullSink final : public ConnExpirySink {
 public:
  void onExpired(ConnId, const Conn&) override {}
};

NewConn flow(uint32_t i) {
  NewConn c;
  c.proto = L4Proto::kTcp;
  c.clientAddr = 0x0B000000u + (i >> 4);  // 11.x.x.x, 16 ports per client
  c.clientPort = static_cast<uint16_t>(1024 + (i & 15) * 61);
  c.vipAddr = 0x0A000064u;
  c.vipPort = 80;
  c.rsAddr = 0x0A000100u + (i % 64);
  c.rsPort = 8080;
  c.fwd = ForwardMode::kNat;
  c.realServerId = i % 64;
  return c;
}

struct Loaded {
  std::unique_ptr<ConnTable> table;
  std::vector<FiveTuple> probes;  // inbound and outbound tuples, shuffled
  std::vector<ConnId> ids;
};

Loaded& loaded() {
  static Loaded* l = [] {
    auto* out = new Loaded;
    ConnTableConfig cfg;
    cfg.capacity = kFlows;
    out->table = std::make_unique<ConnTable>(cfg);
    out->probes.reserve(2 * kFlows);
    for (uint32_t i = 0; i < kFlows; ++i) {
      const NewConn c = flow(i);
      const InsertResult r = out->table->insert(c);
      if (!r.ok()) {
        std::abort();
      }
      out->ids.push_back(r.id);
      out->probes.push_back(FiveTuple{c.clientAddr, c.vipAddr, c.clientPort, c.vipPort, c.proto});
      out->probes.push_back(FiveTuple{c.rsAddr, c.clientAddr, c.rsPort, c.clientPort, c.proto});
    }
    std::mt19937_64 rng(1);
    std::shuffle(out->probes.begin(), out->probes.end(), rng);
    return out;
  }();
  return *l;
}

void BM_LookupHit(benchmark::State& state) {
  Loaded& l = loaded();
  std::size_t i = 0;
  uint64_t hits = 0;
  for (auto _ : state) {
    hits += l.table->lookup(l.probes[i]).hit();
    i = (i + 1) & (l.probes.size() - 1);
  }
  benchmark::DoNotOptimize(hits);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LookupHit);

void BM_LookupHitPipelined(benchmark::State& state) {
  // The worker pattern: hash packet i+1 and prefetch its bucket while
  // handling packet i, over bursts of 32.
  Loaded& l = loaded();
  constexpr std::size_t kBurst = 32;
  std::size_t base = 0;
  uint64_t hits = 0;
  for (auto _ : state) {
    const FiveTuple* burst = &l.probes[base];
    uint64_t next = l.table->hashOf(burst[0]);
    for (std::size_t i = 0; i < kBurst; ++i) {
      const uint64_t h = next;
      if (i + 1 < kBurst) {
        next = l.table->hashOf(burst[i + 1]);
        l.table->prefetch(next);
      }
      hits += l.table->lookupHashed(burst[i], h).hit();
    }
    base = (base + kBurst) & (l.probes.size() - 1);
  }
  benchmark::DoNotOptimize(hits);
  state.SetItemsProcessed(state.iterations() * kBurst);
}
BENCHMARK(BM_LookupHitPipelined);

void BM_LookupBulk(benchmark::State& state) {
  Loaded& l = loaded();
  const auto burst = static_cast<std::size_t>(state.range(0));
  std::vector<LookupResult> out(burst);
  std::size_t base = 0;
  for (auto _ : state) {
    l.table->lookupBulk(std::span(&l.probes[base], burst), out);
    benchmark::DoNotOptimize(out.data());
    base = (base + burst) & (l.probes.size() - 1);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(burst));
}
BENCHMARK(BM_LookupBulk)->Arg(8)->Arg(32)->Arg(64);

void BM_LookupMiss(benchmark::State& state) {
  Loaded& l = loaded();
  std::vector<FiveTuple> misses(1u << 20);  // spread over the whole index, not cache-resident
  std::mt19937_64 rng(2);
  for (FiveTuple& t : misses) {
    t = FiveTuple{static_cast<uint32_t>(rng()), 0x0A000064u, static_cast<uint16_t>(rng()), 80,
                  L4Proto::kTcp};
  }
  std::size_t i = 0;
  uint64_t hits = 0;
  for (auto _ : state) {
    hits += l.table->lookup(misses[i]).hit();
    i = (i + 1) & (misses.size() - 1);
  }
  benchmark::DoNotOptimize(hits);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LookupMiss);

void BM_OnPacketEstablished(benchmark::State& state) {
  // Per-packet state update + timer re-arm on random established flows.
  Loaded& l = loaded();
  for (ConnId id : l.ids) {
    l.table->onPacket(id, Direction::kIn, 0x02);
    l.table->onPacket(id, Direction::kIn, 0x10);
  }
  std::vector<ConnId> order = l.ids;
  std::mt19937_64 rng(3);
  std::shuffle(order.begin(), order.end(), rng);
  std::size_t i = 0;
  for (auto _ : state) {
    const StateUpdate u = l.table->onPacket(order[i], Direction::kIn, 0x10);
    benchmark::DoNotOptimize(u);
    i = (i + 1) & (order.size() - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OnPacketEstablished);

void BM_InsertEraseChurn(benchmark::State& state) {
  // A 1M table kept at half load: each iteration creates one connection
  // (insert + first-packet update) and erases the oldest.
  ConnTableConfig cfg;
  cfg.capacity = kFlows;
  ConnTable table(cfg);
  const uint32_t live = kFlows / 2;
  std::vector<ConnId> ring(live);
  for (uint32_t i = 0; i < live; ++i) {
    ring[i] = table.insert(flow(i)).id;
  }
  uint32_t next = live;
  uint32_t oldest = 0;
  for (auto _ : state) {
    const InsertResult r = table.insert(flow(next++ & (4 * kFlows - 1)));
    table.onPacket(r.id, Direction::kIn, 0x02);
    table.erase(ring[oldest]);
    ring[oldest] = r.id;
    oldest = oldest + 1 == live ? 0 : oldest + 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InsertEraseChurn);

void BM_AdvanceExpire(benchmark::State& state) {
  // Timer wheel expiry cost per entry: 256K UDP connections due at once,
  // expired in budgets of 64 per advance().
  NullSink sink;
  for (auto _ : state) {
    state.PauseTiming();
    ConnTableConfig cfg;
    cfg.capacity = 1u << 18;
    auto table = std::make_unique<ConnTable>(cfg);
    for (uint32_t i = 0; i < cfg.capacity; ++i) {
      NewConn c = flow(i);
      c.proto = L4Proto::kUdp;
      table->onPacket(table->insert(c).id, Direction::kIn, 0);
    }
    state.ResumeTiming();
    const uint64_t later = 400ull * 1'000'000'000ull;
    while (!table->advance(later, 64, sink).caughtUp) {
    }
  }
  state.SetItemsProcessed(state.iterations() * (1 << 18));
}
BENCHMARK(BM_AdvanceExpire)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dplb::dp

BENCHMARK_MAIN();
