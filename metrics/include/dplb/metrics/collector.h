#pragma once

// What /metrics shows: dplbd's numbers as Prometheus families (prefix dplb_,
// base units, counters ending in _total).
//
// Contract: gather() copies everything a scrape needs out of the running
// daemon; render() turns such a copy into the text format and does no I/O,
// so the unit tests feed it synthetic inputs. Reading the workers' counters
// takes no lock and adds nothing to the packet path: they are single-writer
// relaxed atomics (dp::Counter). Labels identify configuration objects only
// (service, vip, port, protocol, server, server_port; port name; worker
// index; drop reason), never a connection or a client, so the number of
// series is bounded by the configuration. Every drop reason is rendered, zero
// or not, so rate() works from the first scrape.

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
std::string render(const MetricsInput& input);
// gather() + render(): what the exposer serves.
std::string scrape(const control::Daemon& daemon);

}  // namespace dplb::metrics
