#pragma once

// What /metrics shows: dplbd's numbers as Prometheus families (prefix dplb_,
// base units, counters ending in _total).
//
// Contract: gather() copies everything a scrape needs out of the running
// daemon; collect() turns such a copy into prometheus-cpp metric families and
// does no I/O, so the unit tests feed it synthetic inputs; DaemonMetrics is
// the prometheus::Collectable the exposer calls at every scrape. Reading the workers' counters
// takes no lock and adds nothing to the packet path: they are single-writer
// relaxed atomics (dp::Counter). Labels identify configuration objects only
// (service, vip, port, protocol, server, server_port; port name; worker
// index; drop reason), never a connection or a client, so the number of
// series is bounded by the configuration. Every drop reason is rendered, zero
// or not, so rate() works from the first scrape.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dplb/control/daemon.h"
#include "dplb/control/health_view.h"
#include "dplb/dp/counters.h"
#include "dplb/dp/dataplane.h"

namespace dplb::metrics {

// One WorkerStats counter as a metric: adding a counter to WorkerStats is one
// line in kWorkerCounters (collector.cc). `drops` is not in the table: it is
// rendered as dplb_drops_total{reason}.
struct WorkerCounterMetric {
  dp::Counter dp::WorkerStats::*field;
  std::string_view name;  // full family name, ends in _total
  std::string_view help;
};
std::span<const WorkerCounterMetric> workerCounterMetrics();

// Everything one scrape renders, copied out of the daemon.
struct MetricsInput {
  std::string version;
  control::DaemonStats daemon;
  std::vector<dp::ServiceView> services;  // dataplane's view: weights, conns, traffic
  std::vector<control::ServerHealth> serverHealth;
  std::vector<control::ServiceHealth> serviceHealth;
  std::vector<dp::PortCounters> ports;
  // Not owned; each outlives the render (the dataplane's workers, or a test's).
  std::vector<const dp::WorkerStats*> workers;
  std::vector<uint64_t> neighbourEntries;  // per worker (each keeps a copy of the table)
  std::vector<uint64_t> drops;             // by pkt::DropReason index, summed over workers
  uint64_t connEntries = 0;
  uint64_t connCapacity = 0;
};

MetricsInput gather(const control::Daemon& daemon);
std::vector<prometheus::MetricFamily> collect(const MetricsInput& input);
// collect() in the text format (prometheus-cpp's TextSerializer).
std::string render(const MetricsInput& input);
// gather() + render(): the text one scrape returns (without the exposer's own
// exposer_* families).
std::string scrape(const control::Daemon& daemon);

// What /metrics serves: the daemon's families, gathered at each scrape (on
// the exposer's threads; nothing is kept between scrapes).
class DaemonMetrics final : public prometheus::Collectable {
 public:
  explicit DaemonMetrics(const control::Daemon& daemon) : daemon_(daemon) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const control::Daemon& daemon_;
};

}  // namespace dplb::metrics
