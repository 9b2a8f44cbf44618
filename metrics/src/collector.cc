#include "dplb/metrics/collector.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <compare>
#include <exception>
#include <map>
#include <tuple>

#include "dplb/metrics/exposition.h"
#include "dplb/pkt/drop_reason.h"

#ifndef DPLB_VERSION
#define DPLB_VERSION "unknown"
#endif

namespace dplb::metrics {
namespace {

using dp::TrafficTotals;
using dp::WorkerStats;

// clang-format off
constexpr WorkerCounterMetric kWorkerCounters[] = {
    {&WorkerStats::rxPackets, "dplb_worker_rx_packets_total", "Packets the worker received from its rx queues."},
    {&WorkerStats::rxBytes, "dplb_worker_rx_bytes_total", "Bytes (whole frames) the worker received from its rx queues."},
    {&WorkerStats::txPackets, "dplb_worker_tx_packets_total", "Packets the worker handed to the NIC tx queues."},
    {&WorkerStats::txBytes, "dplb_worker_tx_bytes_total", "Bytes (whole frames) the worker handed to the NIC tx queues."},
    {&WorkerStats::handoffOut, "dplb_worker_handoff_out_packets_total", "Packets given to the worker that owns their connection (cross-worker ring)."},
    {&WorkerStats::handoffIn, "dplb_worker_handoff_in_packets_total", "Packets received from another worker (cross-worker ring)."},
    {&WorkerStats::loops, "dplb_worker_loops_total", "Poll loop iterations."},
    {&WorkerStats::busyLoops, "dplb_worker_busy_loops_total", "Poll loop iterations that found at least one packet (busy ratio = rate of this / rate of loops)."},
    {&WorkerStats::newConns, "dplb_conn_table_new_total", "Connection entries created."},
    {&WorkerStats::expiredConns, "dplb_conn_table_expired_total", "Connection entries removed by their timeout."},
    {&WorkerStats::arpRequestsSent, "dplb_arp_requests_sent_total", "ARP requests sent to resolve next hops."},
    {&WorkerStats::arpRepliesSent, "dplb_arp_replies_sent_total", "ARP replies sent for local addresses and VIPs."},
    {&WorkerStats::garpSent, "dplb_arp_gratuitous_sent_total", "Gratuitous ARPs sent for VIPs."},
    {&WorkerStats::arpResolveFailures, "dplb_arp_resolve_failures_total", "Next-hop resolutions that failed after every retry."},
    {&WorkerStats::echoReplies, "dplb_icmp_echo_replies_total", "ICMP echo replies sent for local addresses and VIPs."},
    {&WorkerStats::icmpErrorsSuppressed, "dplb_icmp_errors_suppressed_total", "ICMP errors not generated because of the rate limit."},
    {&WorkerStats::allocFailures, "dplb_alloc_failures_total", "Buffers that could not be allocated for a generated packet or a copy."},
    {&WorkerStats::icmpErrorsSent, "dplb_icmp_errors_sent_total", "ICMP errors generated (time exceeded, fragmentation needed)."},
    {&WorkerStats::icmpErrorsForwarded, "dplb_icmp_errors_forwarded_total", "ICMP errors about a connection forwarded to its client or real server."},
    {&WorkerStats::fragmentsIn, "dplb_reassembly_fragments_total", "IPv4 fragments taken into reassembly (lost ones are in dplb_drops_total{reason=~\"reassembly_.*\"})."},
    {&WorkerStats::datagramsReassembled, "dplb_reassembly_datagrams_total", "IPv4 datagrams reassembled from fragments."},
    {&WorkerStats::toKernel, "dplb_exception_to_kernel_packets_total", "Frames handed to the kernel's exception-path interfaces."},
    {&WorkerStats::fromKernel, "dplb_exception_from_kernel_packets_total", "Frames the kernel sent out of the ports through the exception path."},
};

// IPVS's per-service and per-server statistics (ip_vs_stats). "in" is client
// to real server, "out" real server to client; bytes are IP bytes.
struct TrafficMetric {
  uint64_t TrafficTotals::*field;
  std::string_view suffix;
  std::string_view help;
};
constexpr TrafficMetric kTraffic[] = {
    {&TrafficTotals::conns, "connections_total", "connections scheduled"},
    {&TrafficTotals::inPackets, "in_packets_total", "packets from clients to real servers"},
    {&TrafficTotals::outPackets, "out_packets_total", "packets from real servers to clients"},
    {&TrafficTotals::inBytes, "in_bytes_total", "IP bytes from clients to real servers"},
    {&TrafficTotals::outBytes, "out_bytes_total", "IP bytes from real servers to clients"},
};
// clang-format on

// Identifies a real server within a service across the dataplane's view and
// the health view.
struct ServerKey {
  uint32_t vip = 0;
  uint16_t port = 0;
  uint8_t proto = 0;
  uint32_t addr = 0;
  uint16_t rsPort = 0;
  auto operator<=>(const ServerKey&) const = default;
};

uint8_t protoNumber(conf::Protocol p) {
  return static_cast<uint8_t>(p == conf::Protocol::Udp ? dp::L4Proto::kUdp : dp::L4Proto::kTcp);
}

std::string_view protoName(uint8_t p) {
  return p == static_cast<uint8_t>(dp::L4Proto::kUdp) ? "udp" : "tcp";
}

LabelSet serviceLabels(std::string_view name, uint32_t vip, uint16_t port, uint8_t proto) {
  LabelSet l;
  l.add("service", name)
      .add("vip", conf::Ipv4(vip).str())
      .add("port", fmt::format("{}", port))
      .add("protocol", protoName(proto));
  return l;
}

LabelSet serverLabels(LabelSet service, uint32_t addr, uint16_t port) {
  service.add("server", conf::Ipv4(addr).str()).add("server_port", fmt::format("{}", port));
  return service;
}

// One real server as rendered: its labels and where its numbers come from
// (either may be missing: a server the health manager removed from the
// service is not in the dataplane; a sorry server has no health entry).
struct ServerRow {
  ServerKey key;
  LabelSet labels;
  const dp::ServerView* view = nullptr;
  const control::ServerHealth* health = nullptr;
};

std::vector<ServerRow> serverRows(const MetricsInput& in) {
  std::vector<ServerRow> rows;
  for (const auto& sv : in.services) {
    const LabelSet svc = serviceLabels(sv.name, sv.vip, sv.port, static_cast<uint8_t>(sv.proto));
    for (const auto& rs : sv.servers) {
      ServerRow r;
      r.key = {sv.vip, sv.port, static_cast<uint8_t>(sv.proto), rs.addr, rs.port};
      r.labels = serverLabels(svc, rs.addr, rs.port);
      r.view = &rs;
      rows.push_back(std::move(r));
    }
  }
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return rows[a].key < rows[b].key; });
  for (const auto& h : in.serverHealth) {
    const ServerKey key{h.vip.value, h.vipPort, protoNumber(h.protocol), h.addr.value, h.port};
    auto it = std::lower_bound(order.begin(), order.end(), key,
                               [&](size_t i, const ServerKey& k) { return rows[i].key < k; });
    if (it != order.end() && rows[*it].key == key) {
      rows[*it].health = &h;
      continue;
    }
    ServerRow r;
    r.key = key;
    r.labels =
        serverLabels(serviceLabels(h.service, key.vip, key.port, key.proto), key.addr, key.rsPort);
    r.health = &h;
    rows.push_back(std::move(r));
  }
  return rows;
}

void renderDaemon(const MetricsInput& in, FamilyWriter& w) {
  const LabelSet none;
  w.beginFamily("dplb_build_info", MetricType::Gauge,
                "Always 1; the version label says which dplb is running.");
  w.sample(LabelSet().add("version", in.version), 1);
  w.beginFamily("dplb_start_time_seconds", MetricType::Gauge,
                "When dplbd started, seconds since the Unix epoch.");
  w.sample(none, in.daemon.startUnixSeconds);
  w.beginFamily("dplb_config_reloads_total", MetricType::Counter,
                "Configuration reloads (SIGHUP or dplbadm) by result.");
  w.sample(none, "result", "success", in.daemon.reloadSuccesses);
  w.sample(none, "result", "failure", in.daemon.reloadFailures);
  w.beginFamily("dplb_config_last_reload_timestamp_seconds", MetricType::Gauge,
                "When the last reload was tried, seconds since the Unix epoch (0 = never).");
  w.sample(none, in.daemon.lastReloadUnixSeconds);
  w.beginFamily("dplb_config_last_reload_successful", MetricType::Gauge,
                "1 if the last reload was applied (or none was tried), 0 if it was refused.");
  w.sample(none, in.daemon.lastReloadOk ? 1 : 0);
}

void renderServices(const MetricsInput& in, FamilyWriter& w) {
  std::vector<LabelSet> labels;
  labels.reserve(in.services.size());
  for (const auto& sv : in.services) {
    labels.push_back(serviceLabels(sv.name, sv.vip, sv.port, static_cast<uint8_t>(sv.proto)));
  }
  for (const auto& t : kTraffic) {
    w.beginFamily(fmt::format("dplb_service_{}", t.suffix), MetricType::Counter,
                  fmt::format("Virtual service: {}.", t.help));
    for (size_t i = 0; i < in.services.size(); ++i) {
      w.sample(labels[i], in.services[i].stats.*t.field);
    }
  }
  auto connGauge = [&](std::string_view name, std::string_view help, auto field) {
    w.beginFamily(name, MetricType::Gauge, help);
    for (size_t i = 0; i < in.services.size(); ++i) {
      int64_t n = 0;
      for (const auto& rs : in.services[i].servers) {
        n += rs.*field;
      }
      w.sample(labels[i], n);
    }
  };
  connGauge("dplb_service_active_connections",
            "Virtual service: connections in ESTABLISHED state (IPVS ActiveConn).",
            &dp::ServerView::activeConns);
  connGauge("dplb_service_inactive_connections",
            "Virtual service: connections in any other state (IPVS InActConn).",
            &dp::ServerView::inactiveConns);

  // Health: live weight against quorum, servers up, sorry server.
  std::map<std::tuple<uint32_t, uint16_t, uint8_t>, std::pair<uint64_t, uint64_t>> counts;
  for (const auto& h : in.serverHealth) {
    auto& c = counts[{h.vip.value, h.vipPort, protoNumber(h.protocol)}];
    ++c.first;
    c.second += h.up ? 1 : 0;
  }
  std::vector<LabelSet> hl;
  hl.reserve(in.serviceHealth.size());
  for (const auto& h : in.serviceHealth) {
    hl.push_back(serviceLabels(h.service, h.vip.value, h.port, protoNumber(h.protocol)));
  }
  auto healthGauge = [&](std::string_view name, std::string_view help, auto value) {
    w.beginFamily(name, MetricType::Gauge, help);
    for (size_t i = 0; i < in.serviceHealth.size(); ++i) {
      w.sample(hl[i], value(in.serviceHealth[i]));
    }
  };
  auto count = [&](const control::ServiceHealth& h) -> std::pair<uint64_t, uint64_t> {
    auto it = counts.find({h.vip.value, h.port, protoNumber(h.protocol)});
    return it == counts.end() ? std::pair<uint64_t, uint64_t>{0, 0} : it->second;
  };
  healthGauge("dplb_service_servers", "Virtual service: real servers configured.",
              [&](const control::ServiceHealth& h) { return count(h).first; });
  healthGauge("dplb_service_servers_up",
              "Virtual service: real servers up (unchecked servers count as up).",
              [&](const control::ServiceHealth& h) { return count(h).second; });
  healthGauge("dplb_service_live_weight",
              "Virtual service: sum of the weights of the real servers that are up.",
              [](const control::ServiceHealth& h) { return h.liveWeight; });
  healthGauge("dplb_service_quorum",
              "Virtual service: live weight below which the sorry server takes new connections.",
              [](const control::ServiceHealth& h) { return h.quorum; });
  healthGauge("dplb_service_sorry_active",
              "Virtual service: 1 while the sorry server takes the new connections.",
              [](const control::ServiceHealth& h) { return h.sorryActive ? 1 : 0; });
}

void renderServers(const MetricsInput& in, FamilyWriter& w) {
  const std::vector<ServerRow> rows = serverRows(in);
  for (const auto& t : kTraffic) {
    w.beginFamily(fmt::format("dplb_real_server_{}", t.suffix), MetricType::Counter,
                  fmt::format("Real server: {}.", t.help));
    for (const auto& r : rows) {
      if (r.view != nullptr) {
        w.sample(r.labels, r.view->stats.*t.field);
      }
    }
  }
  auto viewGauge = [&](std::string_view name, std::string_view help, auto field) {
    w.beginFamily(name, MetricType::Gauge, help);
    for (const auto& r : rows) {
      if (r.view != nullptr) {
        w.sample(r.labels, r.view->*field);
      }
    }
  };
  viewGauge("dplb_real_server_active_connections",
            "Real server: connections in ESTABLISHED state (IPVS ActiveConn).",
            &dp::ServerView::activeConns);
  viewGauge("dplb_real_server_inactive_connections",
            "Real server: connections in any other state (IPVS InActConn).",
            &dp::ServerView::inactiveConns);
  viewGauge("dplb_real_server_persistent_connections",
            "Real server: persistence templates pointing at it (IPVS PersistConn).",
            &dp::ServerView::persistentConns);

  w.beginFamily("dplb_real_server_weight", MetricType::Gauge,
                "Real server: weight the scheduler uses now (0 = quiesced or taken out).");
  for (const auto& r : rows) {
    w.sample(r.labels, r.view != nullptr ? int64_t{r.view->weight} : int64_t{0});
  }
  auto healthGauge = [&](std::string_view name, MetricType type, std::string_view help,
                         auto value) {
    w.beginFamily(name, type, help);
    for (const auto& r : rows) {
      if (r.health != nullptr) {
        w.sample(r.labels, value(*r.health));
      }
    }
  };
  healthGauge("dplb_real_server_configured_weight", MetricType::Gauge,
              "Real server: weight in the configuration (or set with dplbadm).",
              [](const control::ServerHealth& h) { return h.configuredWeight; });
  healthGauge("dplb_real_server_up", MetricType::Gauge,
              "Real server: 1 if up, 0 if its health check failed (unchecked servers are up).",
              [](const control::ServerHealth& h) { return h.up ? 1 : 0; });
  healthGauge("dplb_real_server_health_checked", MetricType::Gauge,
              "Real server: 1 if a health check probes it, 0 if none is configured.",
              [](const control::ServerHealth& h) { return h.checked ? 1 : 0; });
  healthGauge("dplb_real_server_health_transitions_total", MetricType::Counter,
              "Real server: health state changes (up to down and down to up).",
              [](const control::ServerHealth& h) { return h.transitions; });
  w.beginFamily("dplb_real_server_probe_latency_seconds", MetricType::Histogram,
                "Real server: health probe duration (checked servers only).");
  for (const auto& r : rows) {
    if (r.health != nullptr && r.health->checked) {
      w.histogram(r.labels, control::kProbeLatencyBuckets, r.health->latencyBuckets,
                  r.health->probes, r.health->latencySumSeconds);
    }
  }
}

void renderPorts(const MetricsInput& in, FamilyWriter& w) {
  struct PortMetric {
    uint64_t dp::PortCounters::*field;
    std::string_view name;
    std::string_view help;
  };
  static constexpr PortMetric kPortMetrics[] = {
      {&dp::PortCounters::rxPackets, "dplb_port_rx_packets_total", "Port: packets received."},
      {&dp::PortCounters::txPackets, "dplb_port_tx_packets_total", "Port: packets transmitted."},
      {&dp::PortCounters::rxBytes, "dplb_port_rx_bytes_total", "Port: bytes received."},
      {&dp::PortCounters::txBytes, "dplb_port_tx_bytes_total", "Port: bytes transmitted."},
      {&dp::PortCounters::rxMissed, "dplb_port_rx_missed_total",
       "Port: packets the NIC dropped because the rx queues were full."},
      {&dp::PortCounters::rxErrors, "dplb_port_rx_errors_total",
       "Port: erroneous received packets."},
      {&dp::PortCounters::txErrors, "dplb_port_tx_errors_total",
       "Port: packets the NIC failed to transmit (dropped on tx)."},
  };
  std::vector<LabelSet> labels;
  for (const auto& p : in.ports) {
    labels.push_back(LabelSet().add("port", p.name));
  }
  w.beginFamily("dplb_port_info", MetricType::Gauge, "Port: always 1; the mac label is its MAC.");
  for (size_t i = 0; i < in.ports.size(); ++i) {
    w.sample(LabelSet(labels[i]).add("mac", in.ports[i].mac), 1);
  }
  for (const auto& m : kPortMetrics) {
    w.beginFamily(m.name, MetricType::Counter, m.help);
    for (size_t i = 0; i < in.ports.size(); ++i) {
      w.sample(labels[i], in.ports[i].*m.field);
    }
  }
}

void renderWorkers(const MetricsInput& in, FamilyWriter& w) {
  std::vector<LabelSet> labels;
  for (size_t i = 0; i < in.workers.size(); ++i) {
    labels.push_back(LabelSet().add("worker", fmt::format("{}", i)));
  }
  for (const auto& m : kWorkerCounters) {
    w.beginFamily(m.name, MetricType::Counter, m.help);
    for (size_t i = 0; i < in.workers.size(); ++i) {
      w.sample(labels[i], (in.workers[i]->*m.field).get());
    }
  }
  w.beginFamily("dplb_neighbour_entries", MetricType::Gauge,
                "Neighbour (ARP) table entries in use; every worker keeps its own copy.");
  for (size_t i = 0; i < in.neighbourEntries.size() && i < labels.size(); ++i) {
    w.sample(labels[i], in.neighbourEntries[i]);
  }
}

void renderTables(const MetricsInput& in, FamilyWriter& w) {
  const LabelSet none;
  w.beginFamily("dplb_drops_total", MetricType::Counter,
                "Packets dropped, by reason (conn_table_full: connection table full).");
  for (size_t i = 0; i < pkt::kDropReasonCount; ++i) {
    w.sample(none, "reason", pkt::dropReasonName(static_cast<pkt::DropReason>(i)),
             i < in.drops.size() ? in.drops[i] : 0);
  }
  w.beginFamily("dplb_conn_table_entries", MetricType::Gauge,
                "Connection table entries in use (all workers).");
  w.sample(none, in.connEntries);
  w.beginFamily("dplb_conn_table_capacity", MetricType::Gauge,
                "Connection table entries all workers can hold.");
  w.sample(none, in.connCapacity);
}

}  // namespace

std::span<const WorkerCounterMetric> workerCounterMetrics() {
  return kWorkerCounters;
}

MetricsInput gather(const control::Daemon& daemon) {
  const dp::Dataplane& dp = daemon.dataplane();
  MetricsInput in;
  in.version = DPLB_VERSION;
  in.daemon = daemon.stats();
  in.services = dp.listServices();
  in.serverHealth = daemon.serverHealth();
  in.serviceHealth = daemon.serviceHealth();
  in.ports = dp.portCounters();
  for (unsigned i = 0; i < dp.workerCount(); ++i) {
    in.workers.push_back(&dp.workerStats(i));
    in.neighbourEntries.push_back(dp.neighbourEntries(i));
  }
  in.drops = dp.drops();
  in.connEntries = dp.connCount();
  in.connCapacity = dp.connCapacity();
  return in;
}

std::vector<prometheus::MetricFamily> collect(const MetricsInput& in) {
  FamilyWriter w;
  renderDaemon(in, w);
  renderServices(in, w);
  renderServers(in, w);
  renderPorts(in, w);
  renderWorkers(in, w);
  renderTables(in, w);
  return w.take();
}

std::string render(const MetricsInput& in) {
  return serialize(collect(in));
}

std::string scrape(const control::Daemon& daemon) {
  return render(gather(daemon));
}

std::vector<prometheus::MetricFamily> DaemonMetrics::Collect() const {
  // Called from the HTTP server's C callbacks: nothing may escape, or a
  // failed scrape (out of memory) would take dplbd down.
  try {
    return collect(gather(daemon_));
  } catch (const std::exception& e) {
    spdlog::error("metrics: scrape failed: {}", e.what());
    return {};
  }
}

}  // namespace dplb::metrics
