// Scrape cost (issue 8, item 3): one /metrics render of a configuration with
// 1000 real servers must take < 50 ms. Measures metrics::scrape() -- gather()
// (listServices over the running snapshot, per-worker counter sums, health
// views, port stats) plus render() -- on a started Dataplane (EAL --no-huge,
// ring ports, 2 workers) and a Daemon, with no HTTP in the way. Two cases:
// every server unchecked (no histograms) and every server health-checked (a
// 12-bucket probe latency histogram per server, the largest output). Prints
// numbers; never part of the pass/fail suite.

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "dplb/conf/loader.h"
#include "dplb/control/daemon.h"
#include "dplb/dp/dataplane.h"
#include "dplb/metrics/collector.h"

namespace dplb::bench {
namespace {

constexpr unsigned kServices = 20;
constexpr unsigned kServersPerService = 50;  // 1000 real servers in all
constexpr unsigned kWorkers = 2;

std::string benchConfig(const std::string& wan, const std::string& lan) {
  std::string c = fmt::format(R"(
dataplane:
  lcores: "0"
  exception_path: false
  conn_table: {{ capacity: 4096 }}
  ports:
    - {{ name: wan, device: "{}", addresses: [10.0.0.2/24] }}
    - {{ name: lan, device: "{}", addresses: [10.1.0.1/16] }}
services:)",
                              wan, lan);
  for (unsigned s = 0; s < kServices; ++s) {
    c += fmt::format(R"(
  - name: svc{}
    vip: 10.0.0.100
    port: {}
    protocol: tcp
    scheduler: wlc
    forward: nat
    real_servers:)",
                     s, 1000 + s);
    for (unsigned r = 0; r < kServersPerService; ++r) {
      c += fmt::format("\n      - {{ address: 10.1.{}.{}, port: 8080 }}", 1 + s, 10 + r);
    }
  }
  c += "\nmetrics: { listen: \"\" }\n";
  return c;
}

struct RingPort {
  std::string ethName;
  std::vector<rte_ring*> rings;

  bool create(const std::string& name) {
    ethName = "net_ring_" + name;
    std::vector<rte_ring*> rx, tx;
    for (unsigned q = 0; q < kWorkers; ++q) {
      rx.push_back(rte_ring_create((name + "_rx" + std::to_string(q)).c_str(), 1024, SOCKET_ID_ANY,
                                   RING_F_SP_ENQ | RING_F_SC_DEQ));
      tx.push_back(rte_ring_create((name + "_tx" + std::to_string(q)).c_str(), 1024, SOCKET_ID_ANY,
                                   RING_F_SP_ENQ | RING_F_SC_DEQ));
    }
    rings = rx;
    rings.insert(rings.end(), tx.begin(), tx.end());
    if (std::count(rings.begin(), rings.end(), nullptr) != 0) {
      return false;
    }
    return rte_eth_from_rings(name.c_str(), rx.data(), kWorkers, tx.data(), kWorkers,
                              SOCKET_ID_ANY) >= 0;
  }
};

// Every server checked, with a full histogram: the largest scrape.
std::vector<control::ServerHealth> checkedHealth(const conf::Config& cfg) {
  std::vector<control::ServerHealth> out;
  for (const auto& svc : cfg.services) {
    for (const auto& rs : svc.realServers) {
      control::ServerHealth h;
      h.service = svc.name;
      h.vip = svc.vip;
      h.vipPort = svc.port;
      h.protocol = svc.protocol;
      h.addr = rs.address;
      h.port = rs.port;
      h.checked = true;
      h.check = "tcp";
      h.configuredWeight = rs.weight;
      h.weight = rs.weight;
      h.transitions = 3;
      h.probes = 123456;
      h.latencySumSeconds = 61.5;
      for (size_t i = 0; i < h.latencyBuckets.size(); ++i) {
        h.latencyBuckets[i] = 1000 * (i + 1);
      }
      out.push_back(std::move(h));
    }
  }
  return out;
}

struct Rig {
  RingPort wan, lan;
  dp::Dataplane dataplane;
  conf::Config config;
  std::unique_ptr<control::Daemon> daemon;

  bool start() {
    const std::string tag = std::to_string(getpid());
    if (!wan.create("mw" + tag) || !lan.create("ml" + tag)) {
      std::fprintf(stderr, "cannot create ring ports\n");
      return false;
    }
    auto lr = conf::loadConfigString(benchConfig(wan.ethName, lan.ethName), "bench.yaml");
    if (!lr.ok()) {
      std::fprintf(stderr, "config: %s\n", lr.errors[0].str().c_str());
      return false;
    }
    config = *lr.config;
    dp::DataplaneOptions opts;
    opts.workers = kWorkers;
    opts.clock = [] { return uint64_t{1}; };
    if (std::string e = dataplane.start(config, opts); !e.empty()) {
      std::fprintf(stderr, "dataplane: %s\n", e.c_str());
      return false;
    }
    daemon = std::make_unique<control::Daemon>("bench.yaml", config, dataplane);
    return true;
  }
};

Rig* gRig = nullptr;

void scrapeCase(benchmark::State& state, bool checked) {
  control::Daemon& d = *gRig->daemon;
  if (checked) {
    auto health = checkedHealth(gRig->config);
    d.setHealthSource([health] { return health; }, {});
  } else {
    d.setHealthSource({}, {});
  }
  size_t bytes = 0, lines = 0;
  for (auto _ : state) {
    std::string text = metrics::scrape(d);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  std::string text = metrics::scrape(d);
  lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["lines"] = static_cast<double>(lines);
  state.counters["servers"] = kServices * kServersPerService;
}

void BM_Scrape1000ServersUnchecked(benchmark::State& state) {
  scrapeCase(state, false);
}
void BM_Scrape1000ServersChecked(benchmark::State& state) {
  scrapeCase(state, true);
}
BENCHMARK(BM_Scrape1000ServersUnchecked)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Scrape1000ServersChecked)->Unit(benchmark::kMillisecond);

bool initEal() {
  std::vector<std::string> args{"dplb_bench_metrics",
                                "--no-huge",
                                "-m",
                                "512",
                                "--no-pci",
                                "-l",
                                "0",
                                "--file-prefix",
                                "dplbmbench" + std::to_string(getpid()),
                                "--log-level=error",
                                "--no-telemetry"};
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  return rte_eal_init(static_cast<int>(argv.size()), argv.data()) >= 0;
}

}  // namespace
}  // namespace dplb::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!dplb::bench::initEal()) {
    std::fprintf(stderr, "EAL initialisation failed\n");
    return 1;
  }
  int rc = 1;
  {
    dplb::bench::Rig rig;
    if (rig.start()) {
      dplb::bench::gRig = &rig;
      benchmark::RunSpecifiedBenchmarks();
      benchmark::Shutdown();
      rc = 0;
      rig.daemon.reset();
      rig.dataplane.stop();
    }
  }
  rte_eal_cleanup();
  return rc;
}
