// The collector on synthetic inputs: which series exist, with which labels
// and values; the exposition's structure (one HELP/TYPE per family, samples
// together, counters named _total); every drop reason and every worker
// counter rendered.

#include "dplb/metrics/collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "dplb/metrics/exposition.h"
#include "dplb/pkt/drop_reason.h"

namespace dplb::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// "name{labels}" -> value text, and the families in order of appearance.
struct Parsed {
  std::map<std::string, std::string> series;
  std::vector<std::string> families;
  std::map<std::string, std::string> types;
};

// Parses the text format strictly enough to catch a misplaced sample.
Parsed parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  std::string current;
  const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$)");
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      current = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_EQ(std::count(p.families.begin(), p.families.end(), current), 0)
          << "family twice: " << current;
      p.families.push_back(current);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      EXPECT_EQ(name, current) << "TYPE without its HELP: " << line;
      p.types[name] = type;
      if (type == "counter") {
        EXPECT_TRUE(name.ends_with("_total")) << name;
      }
      continue;
    }
    std::smatch m;
    EXPECT_TRUE(std::regex_match(line, m, sample)) << "bad line: " << line;
    if (m.empty()) {
      continue;
    }
    std::string name = m[1];
    std::string family = name;
    if (p.types[current] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (name.ends_with(suffix)) {
          family = name.substr(0, name.size() - std::strlen(suffix));
        }
      }
    }
    EXPECT_EQ(family, current) << "sample outside its family: " << line;
    const std::string key = name + std::string(m[2]);
    EXPECT_EQ(p.series.count(key), 0u) << "duplicate series " << key;
    p.series[key] = m[3];
  }
  return p;
}

constexpr const char* kWeb = R"(service="web",vip="10.0.0.100",port="80",protocol="tcp")";
constexpr const char* kDns = R"(service="dns",vip="10.0.0.100",port="53",protocol="udp")";

std::string rs(const char* svc, const char* addr, int port) {
  return std::string(svc) + ",server=\"" + addr + "\",server_port=\"" + std::to_string(port) + "\"";
}

conf::Ipv4 ip(const char* s) {
  return *conf::Ipv4::parse(s);
}

class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    in_.version = "1.2.3";
    in_.daemon.reloadSuccesses = 4;
    in_.daemon.reloadFailures = 1;
    in_.daemon.lastReloadUnixSeconds = 1764042438.5;
    in_.daemon.lastReloadOk = false;
    in_.daemon.startUnixSeconds = 1764000000;

    dp::ServiceView web;
    web.name = "web";
    web.vip = ip("10.0.0.100").value;
    web.port = 80;
    web.proto = dp::L4Proto::kTcp;
    web.stats = {
        .conns = 10, .inPackets = 100, .outPackets = 90, .inBytes = 5000, .outBytes = 9000};
    dp::ServerView a;
    a.addr = ip("10.0.1.11").value;
    a.port = 8080;
    a.weight = 3;
    a.activeConns = 2;
    a.inactiveConns = 5;
    a.persistentConns = 1;
    a.stats = {.conns = 7, .inPackets = 70, .outPackets = 60, .inBytes = 3500, .outBytes = 6000};
    dp::ServerView b = a;
    b.addr = ip("10.0.1.12").value;
    b.weight = 0;  // quiesced
    b.activeConns = 0;
    b.inactiveConns = 1;
    b.stats = {.conns = 3, .inPackets = 30, .outPackets = 30, .inBytes = 1500, .outBytes = 3000};
    web.servers = {a, b};
    dp::ServiceView dns;
    dns.name = "dns";
    dns.vip = web.vip;
    dns.port = 53;
    dns.proto = dp::L4Proto::kUdp;
    in_.services = {web, dns};  // dns has no server in the dataplane: 10.0.1.13 was removed

    control::ServerHealth ha;
    ha.service = "web";
    ha.vip = ip("10.0.0.100");
    ha.vipPort = 80;
    ha.addr = ip("10.0.1.11");
    ha.port = 8080;
    ha.checked = true;
    ha.up = true;
    ha.configuredWeight = 3;
    ha.transitions = 2;
    ha.probes = 5;
    ha.latencySumSeconds = 0.0125;
    ha.latencyBuckets = {0, 1, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5};
    control::ServerHealth hb = ha;
    hb.addr = ip("10.0.1.12");
    hb.checked = false;  // unchecked: no histogram
    hb.transitions = 0;
    control::ServerHealth hc = ha;
    hc.service = "dns";
    hc.vipPort = 53;
    hc.protocol = conf::Protocol::Udp;
    hc.addr = ip("10.0.1.13");
    hc.port = 5353;
    hc.up = false;
    hc.removed = true;
    hc.configuredWeight = 1;
    in_.serverHealth = {ha, hb, hc};

    control::ServiceHealth sw;
    sw.service = "web";
    sw.vip = ip("10.0.0.100");
    sw.port = 80;
    sw.liveWeight = 3;
    sw.quorum = 2;
    control::ServiceHealth sd = sw;
    sd.service = "dns";
    sd.port = 53;
    sd.protocol = conf::Protocol::Udp;
    sd.liveWeight = 0;
    sd.quorum = 1;
    sd.sorryActive = true;
    in_.serviceHealth = {sw, sd};

    dp::PortCounters p;
    p.name = "wan0";
    p.mac = "02:00:00:00:00:01";
    p.rxPackets = 11;
    p.txPackets = 12;
    p.rxBytes = 13;
    p.txBytes = 14;
    p.rxMissed = 15;
    p.rxErrors = 16;
    p.txErrors = 17;
    in_.ports = {p};

    w0_.rxPackets.add(1000);
    w0_.busyLoops.add(7);
    w0_.newConns.add(9);
    w1_.rxPackets.add(1);
    w1_.handoffIn.add(4);
    w1_.drop(pkt::DropReason::kNoRoute);
    in_.workers = {&w0_, &w1_};
    in_.neighbourEntries = {5, 6};
    in_.drops.assign(pkt::kDropReasonCount, 0);
    in_.drops[pkt::dropReasonIndex(pkt::DropReason::kConnTableFull)] = 8;
    in_.drops[pkt::dropReasonIndex(pkt::DropReason::kNoRoute)] = 1;
    in_.connEntries = 12;
    in_.connCapacity = 1024;
  }

  std::string value(const std::string& series) {
    auto it = parsed_.series.find(series);
    EXPECT_NE(it, parsed_.series.end()) << "missing " << series;
    return it == parsed_.series.end() ? "<missing>" : it->second;
  }
  bool has(const std::string& series) { return parsed_.series.count(series) != 0; }
  void renderAndParse() {
    text_ = render(in_);
    parsed_ = parse(text_);
  }

  MetricsInput in_;
  dp::WorkerStats w0_, w1_;
  std::string text_;
  Parsed parsed_;
};

TEST_F(CollectorTest, DaemonBuildAndReloads) {
  renderAndParse();
  EXPECT_EQ(value(R"(dplb_build_info{version="1.2.3"})"), "1");
  EXPECT_EQ(value(R"(dplb_config_reloads_total{result="success"})"), "4");
  EXPECT_EQ(value(R"(dplb_config_reloads_total{result="failure"})"), "1");
  EXPECT_EQ(value("dplb_config_last_reload_timestamp_seconds"), "1764042438.5");
  EXPECT_EQ(value("dplb_config_last_reload_successful"), "0");
  EXPECT_EQ(value("dplb_start_time_seconds"), "1764000000");
}

TEST_F(CollectorTest, ServiceTrafficConnectionsAndHealth) {
  renderAndParse();
  const std::string web = std::string("{") + kWeb + "}";
  EXPECT_EQ(value("dplb_service_connections_total" + web), "10");
  EXPECT_EQ(value("dplb_service_in_packets_total" + web), "100");
  EXPECT_EQ(value("dplb_service_out_packets_total" + web), "90");
  EXPECT_EQ(value("dplb_service_in_bytes_total" + web), "5000");
  EXPECT_EQ(value("dplb_service_out_bytes_total" + web), "9000");
  EXPECT_EQ(value("dplb_service_active_connections" + web), "2");    // 2 + 0
  EXPECT_EQ(value("dplb_service_inactive_connections" + web), "6");  // 5 + 1
  EXPECT_EQ(value("dplb_service_servers" + web), "2");
  EXPECT_EQ(value("dplb_service_servers_up" + web), "2");
  EXPECT_EQ(value("dplb_service_live_weight" + web), "3");
  EXPECT_EQ(value("dplb_service_quorum" + web), "2");
  EXPECT_EQ(value("dplb_service_sorry_active" + web), "0");
  const std::string dns = std::string("{") + kDns + "}";
  EXPECT_EQ(value("dplb_service_connections_total" + dns), "0");
  EXPECT_EQ(value("dplb_service_servers" + dns), "1");
  EXPECT_EQ(value("dplb_service_servers_up" + dns), "0");
  EXPECT_EQ(value("dplb_service_live_weight" + dns), "0");
  EXPECT_EQ(value("dplb_service_sorry_active" + dns), "1");
}

TEST_F(CollectorTest, RealServerTrafficWeightsAndHealth) {
  renderAndParse();
  const std::string a = "{" + rs(kWeb, "10.0.1.11", 8080) + "}";
  const std::string b = "{" + rs(kWeb, "10.0.1.12", 8080) + "}";
  const std::string c = "{" + rs(kDns, "10.0.1.13", 5353) + "}";
  EXPECT_EQ(value("dplb_real_server_connections_total" + a), "7");
  EXPECT_EQ(value("dplb_real_server_in_packets_total" + a), "70");
  EXPECT_EQ(value("dplb_real_server_out_packets_total" + a), "60");
  EXPECT_EQ(value("dplb_real_server_in_bytes_total" + a), "3500");
  EXPECT_EQ(value("dplb_real_server_out_bytes_total" + a), "6000");
  EXPECT_EQ(value("dplb_real_server_connections_total" + b), "3");
  EXPECT_EQ(value("dplb_real_server_active_connections" + a), "2");
  EXPECT_EQ(value("dplb_real_server_inactive_connections" + a), "5");
  EXPECT_EQ(value("dplb_real_server_persistent_connections" + a), "1");
  EXPECT_EQ(value("dplb_real_server_weight" + a), "3");
  EXPECT_EQ(value("dplb_real_server_weight" + b), "0");
  EXPECT_EQ(value("dplb_real_server_configured_weight" + b), "3");
  EXPECT_EQ(value("dplb_real_server_up" + a), "1");
  EXPECT_EQ(value("dplb_real_server_health_checked" + a), "1");
  EXPECT_EQ(value("dplb_real_server_health_checked" + b), "0");
  EXPECT_EQ(value("dplb_real_server_health_transitions_total" + a), "2");
  // Removed by its health check: not in the dataplane, still visible as down
  // with weight 0 and its configured weight; no traffic series.
  EXPECT_EQ(value("dplb_real_server_up" + c), "0");
  EXPECT_EQ(value("dplb_real_server_weight" + c), "0");
  EXPECT_EQ(value("dplb_real_server_configured_weight" + c), "1");
  EXPECT_FALSE(has("dplb_real_server_connections_total" + c));
}

TEST_F(CollectorTest, ProbeLatencyHistogramOnlyForCheckedServers) {
  renderAndParse();
  const std::string a = rs(kWeb, "10.0.1.11", 8080);
  EXPECT_EQ(value("dplb_real_server_probe_latency_seconds_bucket{" + a + ",le=\"0.0005\"}"), "0");
  EXPECT_EQ(value("dplb_real_server_probe_latency_seconds_bucket{" + a + ",le=\"0.001\"}"), "1");
  EXPECT_EQ(value("dplb_real_server_probe_latency_seconds_bucket{" + a + ",le=\"0.0025\"}"), "3");
  EXPECT_EQ(value("dplb_real_server_probe_latency_seconds_bucket{" + a + ",le=\"2.5\"}"), "5");
  EXPECT_EQ(value("dplb_real_server_probe_latency_seconds_bucket{" + a + ",le=\"+Inf\"}"), "5");
  EXPECT_EQ(value("dplb_real_server_probe_latency_seconds_sum{" + a + "}"), "0.0125");
  EXPECT_EQ(value("dplb_real_server_probe_latency_seconds_count{" + a + "}"), "5");
  EXPECT_EQ(parsed_.types["dplb_real_server_probe_latency_seconds"], "histogram");
  const std::string b = rs(kWeb, "10.0.1.12", 8080);
  EXPECT_FALSE(has("dplb_real_server_probe_latency_seconds_count{" + b + "}"));
  // Buckets are cumulative: never decreasing, the last equal to the count.
  size_t n = 0;
  std::string prev = "0";
  for (double le : control::kProbeLatencyBuckets) {
    std::ostringstream les;  // as prometheus-cpp prints a bound
    les.precision(std::numeric_limits<double>::max_digits10 - 1);
    les << le;
    const std::string v =
        value("dplb_real_server_probe_latency_seconds_bucket{" + a + ",le=\"" + les.str() + "\"}");
    EXPECT_LE(std::stoull(prev), std::stoull(v));
    prev = v;
    ++n;
  }
  EXPECT_EQ(n, 12u);
}

TEST_F(CollectorTest, PortsWorkersDropsAndConnTable) {
  renderAndParse();
  EXPECT_EQ(value(R"(dplb_port_info{port="wan0",mac="02:00:00:00:00:01"})"), "1");
  EXPECT_EQ(value(R"(dplb_port_rx_packets_total{port="wan0"})"), "11");
  EXPECT_EQ(value(R"(dplb_port_tx_packets_total{port="wan0"})"), "12");
  EXPECT_EQ(value(R"(dplb_port_rx_bytes_total{port="wan0"})"), "13");
  EXPECT_EQ(value(R"(dplb_port_tx_bytes_total{port="wan0"})"), "14");
  EXPECT_EQ(value(R"(dplb_port_rx_missed_total{port="wan0"})"), "15");
  EXPECT_EQ(value(R"(dplb_port_rx_errors_total{port="wan0"})"), "16");
  EXPECT_EQ(value(R"(dplb_port_tx_errors_total{port="wan0"})"), "17");
  EXPECT_EQ(value(R"(dplb_worker_rx_packets_total{worker="0"})"), "1000");
  EXPECT_EQ(value(R"(dplb_worker_rx_packets_total{worker="1"})"), "1");
  EXPECT_EQ(value(R"(dplb_worker_busy_loops_total{worker="0"})"), "7");
  EXPECT_EQ(value(R"(dplb_worker_handoff_in_packets_total{worker="1"})"), "4");
  EXPECT_EQ(value(R"(dplb_conn_table_new_total{worker="0"})"), "9");
  EXPECT_EQ(value(R"(dplb_neighbour_entries{worker="0"})"), "5");
  EXPECT_EQ(value(R"(dplb_neighbour_entries{worker="1"})"), "6");
  EXPECT_EQ(value(R"(dplb_drops_total{reason="conn_table_full"})"), "8");
  EXPECT_EQ(value(R"(dplb_drops_total{reason="no_route"})"), "1");
  EXPECT_EQ(value("dplb_conn_table_entries"), "12");
  EXPECT_EQ(value("dplb_conn_table_capacity"), "1024");
}

TEST_F(CollectorTest, EveryDropReasonIsRenderedEvenAtZero) {
  in_.drops.clear();  // nothing dropped yet: still one series per reason
  renderAndParse();
  size_t n = 0;
  for (size_t i = 0; i < pkt::kDropReasonCount; ++i) {
    const auto name = pkt::dropReasonName(static_cast<pkt::DropReason>(i));
    EXPECT_EQ(value("dplb_drops_total{reason=\"" + std::string(name) + "\"}"), "0");
  }
  for (const auto& [k, v] : parsed_.series) {
    n += k.rfind("dplb_drops_total{", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(n, pkt::kDropReasonCount);
}

// Every WorkerStats counter has a row in the table: the counters declared in
// counters.h (counted in the source) equal the table's rows, and the rows
// point at distinct counters.
TEST_F(CollectorTest, WorkerCounterTableCoversWorkerStats) {
  std::ifstream f(DPLB_SOURCE_DIR "/dataplane/include/dplb/dp/counters.h");
  ASSERT_TRUE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string src = ss.str();
  const size_t begin = src.find("struct alignas(64) WorkerStats {");
  ASSERT_NE(begin, std::string::npos);
  const std::string body = src.substr(begin, src.find("};", begin) - begin);
  const std::regex counter(R"(\n\s*Counter (\w+);)");
  const auto declared = static_cast<size_t>(std::distance(
      std::sregex_iterator(body.begin(), body.end(), counter), std::sregex_iterator()));
  const auto table = workerCounterMetrics();
  EXPECT_EQ(table.size(), declared) << "a WorkerStats counter has no metric (collector.cc)";
  std::set<const dp::Counter*> fields;
  std::set<std::string_view> names;
  for (const auto& m : table) {
    fields.insert(&(w0_.*m.field));
    names.insert(m.name);
    EXPECT_TRUE(m.name.starts_with("dplb_")) << m.name;
    EXPECT_TRUE(m.name.ends_with("_total")) << m.name;
    EXPECT_FALSE(m.help.empty()) << m.name;
  }
  EXPECT_EQ(fields.size(), table.size());
  EXPECT_EQ(names.size(), table.size());
  renderAndParse();
  for (const auto& m : table) {
    EXPECT_TRUE(has(std::string(m.name) + "{worker=\"0\"}")) << m.name;
    EXPECT_TRUE(has(std::string(m.name) + "{worker=\"1\"}")) << m.name;
  }
}

TEST_F(CollectorTest, LabelValuesFromTheConfigAreEscaped) {
  in_.services[0].name = "we\"b\\1";
  in_.serviceHealth[0].service = "we\"b\\1";
  renderAndParse();
  EXPECT_THAT(text_, HasSubstr(R"(dplb_service_connections_total{service="we\"b\\1",)"));
}

// promtool (Debian package prometheus) on the synthetic scrape, which unlike
// the packet-tier live scrape has health-checked servers (histograms), a
// removed server and escaped label values.
TEST_F(CollectorTest, PromtoolFindsNothingToComplainAbout) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (scripts/setup.sh installs it)";
  }
  in_.services[0].name = "we\"b\\1\n";
  in_.serviceHealth[0].service = in_.services[0].name;
  renderAndParse();
  const std::string path = ::testing::TempDir() + "dplb_metrics_promtool.prom";
  {
    std::ofstream f(path);
    f << text_;
  }
  FILE* p = popen(("promtool check metrics < " + path + " 2>&1; echo rc=$?").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) {
    out += buf;
  }
  pclose(p);
  std::remove(path.c_str());
  EXPECT_EQ(out, "rc=0\n") << "promtool complained";
}

TEST_F(CollectorTest, EmptyDaemonStillRendersTheFixedFamilies) {
  in_ = MetricsInput{};
  in_.version = "0";
  renderAndParse();
  EXPECT_EQ(value(R"(dplb_build_info{version="0"})"), "1");
  EXPECT_EQ(value(R"(dplb_drops_total{reason="no_service"})"), "0");
  EXPECT_EQ(value("dplb_conn_table_entries"), "0");
  EXPECT_THAT(text_, Not(HasSubstr("server=")));
  // A family with no series keeps its HELP/TYPE (harmless; promtool accepts it).
  EXPECT_EQ(parsed_.types["dplb_real_server_up"], "gauge");
}

}  // namespace
}  // namespace dplb::metrics
