// Loading valid configurations: defaults, derived values, examples, and the
// error reporting that is not a single-mistake case (see bad_config_test.cc).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "dplb/conf/loader.h"

namespace dplb::conf {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// One line: the smallest valid dataplane, so that YAML texts below can give
// line numbers that read straight from the literal (it is line 1).
#define DP "dataplane: {ports: [{name: wan0, device: net_tap0, addresses: [10.0.0.2/24]}]}\n"

std::string allErrors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) {
    out += e.str() + "\n";
  }
  return out;
}

Config mustLoad(std::string_view yaml) {
  auto r = loadConfigString(yaml, "test.yaml");
  EXPECT_TRUE(r.ok()) << allErrors(r);
  EXPECT_TRUE(r.errors.empty());
  return r.config.value_or(Config{});
}

TEST(LoaderTest, MinimalConfigGetsEveryDefault) {
  const Config c = mustLoad(DP R"(services:
  - name: web
    vip: 10.0.0.100
    port: 80
    real_servers:
      - address: 10.0.1.11
)");
  const auto& dp = c.dataplane;
  EXPECT_EQ(dp.lcores, "0-1");
  EXPECT_EQ(dp.lcoreList, (std::vector<unsigned>{0, 1}));
  EXPECT_TRUE(dp.ealArgs.empty());
  EXPECT_EQ(dp.idleSleep, 100us);
  ASSERT_EQ(dp.ports.size(), 1u);
  EXPECT_EQ(dp.ports[0].name, "wan0");
  EXPECT_EQ(dp.ports[0].device, "net_tap0");
  EXPECT_FALSE(dp.ports[0].mac);
  EXPECT_EQ(dp.ports[0].mtu, 1500);
  EXPECT_TRUE(dp.ports[0].exceptionPath);
  ASSERT_EQ(dp.ports[0].addresses.size(), 1u);
  EXPECT_EQ(dp.ports[0].addresses[0].str(), "10.0.0.2/24");
  EXPECT_TRUE(dp.routes.empty());
  EXPECT_TRUE(dp.neighbours.empty());
  EXPECT_EQ(dp.connTable.capacity, 262144u);
  EXPECT_EQ(dp.reassembly.maxFlows, 1024u);
  EXPECT_EQ(dp.reassembly.timeout, 5s);
  EXPECT_TRUE(dp.exceptionPath);
  EXPECT_FALSE(dp.expireNodestConn);
  EXPECT_FALSE(dp.expireQuiescentTemplate);
  // IPVS-SEMANTICS.md §2.
  const Timeouts& t = dp.timeouts;
  EXPECT_EQ(t.tcpNone, 2s);
  EXPECT_EQ(t.tcpEstablished, 900s);
  EXPECT_EQ(t.tcpSynSent, 120s);
  EXPECT_EQ(t.tcpSynRecv, 60s);
  EXPECT_EQ(t.tcpFinWait, 120s);
  EXPECT_EQ(t.tcpTimeWait, 120s);
  EXPECT_EQ(t.tcpClose, 10s);
  EXPECT_EQ(t.tcpCloseWait, 60s);
  EXPECT_EQ(t.tcpLastAck, 30s);
  EXPECT_EQ(t.tcpListen, 120s);
  EXPECT_EQ(t.tcpSynAck, 120s);
  EXPECT_EQ(t.udp, 300s);
  EXPECT_EQ(t.icmp, 60s);

  ASSERT_EQ(c.services.size(), 1u);
  const Service& s = c.services[0];
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.vip.str(), "10.0.0.100");
  EXPECT_EQ(s.port, 80);
  EXPECT_EQ(s.protocol, Protocol::Tcp);
  EXPECT_EQ(s.scheduler, Scheduler::Wlc);
  EXPECT_EQ(s.schedulerFlags, SchedulerFlags{});
  EXPECT_EQ(s.mhTableSize, 65537u);
  EXPECT_EQ(s.forward, Forward::Nat);
  EXPECT_FALSE(s.persistence);
  EXPECT_FALSE(s.healthCheck);
  EXPECT_EQ(s.quorum, 1u);
  EXPECT_FALSE(s.sorryServer);
  EXPECT_FALSE(s.nodeport);
  ASSERT_EQ(s.realServers.size(), 1u);
  const RealServer& rs = s.realServers[0];
  EXPECT_EQ(rs.address.str(), "10.0.1.11");
  EXPECT_EQ(rs.port, 80);  // the service port
  EXPECT_EQ(rs.forward, Forward::Nat);
  EXPECT_EQ(rs.weight, 1u);
  EXPECT_EQ(rs.uThreshold, 0u);
  EXPECT_EQ(rs.lThreshold, 0u);
  EXPECT_FALSE(rs.healthCheck);

  EXPECT_EQ(c.admin.socket, "/run/dplb/dplb.sock");
  ASSERT_TRUE(c.metrics.listen);
  EXPECT_EQ(c.metrics.listen->str(), "127.0.0.1:9550");
  EXPECT_EQ(c.logging.level, LogLevel::Info);
}

TEST(LoaderTest, HealthCheckAndPersistenceDefaults) {
  const Config c = mustLoad(DP R"(services:
  - name: web
    vip: 10.0.0.100
    port: 80
    persistence: {}
    health_check: {type: http}
)");
  const Service& s = c.services.at(0);
  ASSERT_TRUE(s.persistence);
  EXPECT_EQ(s.persistence->timeout, 360s);
  EXPECT_EQ(s.persistence->netmask.str(), "255.255.255.255");
  ASSERT_TRUE(s.healthCheck);
  const HealthCheck& hc = *s.healthCheck;
  EXPECT_EQ(hc.type, HealthCheckType::Http);
  EXPECT_EQ(hc.interval, 2s);
  EXPECT_EQ(hc.timeout, 1s);
  EXPECT_EQ(hc.rise, 2u);
  EXPECT_EQ(hc.fall, 3u);
  EXPECT_EQ(hc.retry, 0u);
  EXPECT_EQ(hc.retryDelay, 1s);
  EXPECT_EQ(hc.warmup, 0s);
  EXPECT_EQ(hc.onFailure, OnFailure::Quiesce);
  EXPECT_EQ(hc.port, 0);
  EXPECT_EQ(hc.http.path, "/");
  EXPECT_EQ(hc.http.host, "");
  EXPECT_EQ(hc.http.status, (std::vector<StatusRange>{{200, 299}}));
  EXPECT_FALSE(hc.http.digest);
  EXPECT_TRUE(hc.tls.verify);
  EXPECT_EQ(hc.udp.expectMatch, ExpectMatch::Exact);
  EXPECT_EQ(hc.dns.queryType, "A");
  EXPECT_EQ(hc.dns.queryTypeCode, 1);
  EXPECT_FALSE(hc.exec.dynamic);
}

TEST(LoaderTest, EveryKeyIsRead) {
  const Config c = mustLoad(R"(dataplane:
  lcores: "0,2-3"
  eal_args: ["--no-huge", "-m", "256"]
  idle_sleep: 250us
  exception_path: false
  expire_nodest_conn: yes
  expire_quiescent_template: true
  ports:
    - name: wan0
      device: "0000:01:00.1"
      mac: "02:AA:00:00:00:01"
      addresses: [10.0.0.2/24, 10.0.9.1/31]
      mtu: 9000
    - name: lan0
      device: "net_af_packet0,iface=veth0,qpairs=1"
      addresses: [10.1.0.2/16]
      exception_path: true
  routes:
    - {prefix: 0.0.0.0/0, via: 10.0.0.1}
    - {prefix: 192.168.0.0/16, via: 10.1.255.254, port: lan0}
  neighbours:
    - {ip: 10.1.0.11, mac: "02:00:00:00:01:0b"}
  conn_table: {capacity: 4096}
  reassembly: {max_flows: 64, timeout: 2s}
  timeouts: {tcp_none: 3s, tcp_established: 1h, tcp_syn_sent: 1m, tcp_syn_recv: 30,
             tcp_fin_wait: 90s, tcp_time_wait: 1m, tcp_close: 5s, tcp_close_wait: 30s,
             tcp_last_ack: 20s, tcp_listen: 1m, tcp_synack: 1m, udp: 2m, icmp: 10s}
services:
  - name: svc.a
    vip: 10.0.0.100
    port: 443
    protocol: udp
    scheduler: mh
    scheduler_flags: [mh-port, mh-fallback]
    mh_table_size: 251
    forward: tun
    persistence: {timeout: 1h, netmask: 255.255.0.0}
    quorum: 3
    sorry_server: {address: 10.1.0.99}
    health_check:
      type: https
      interval: 5s
      timeout: 2s
      rise: 4
      fall: 5
      retry: 2
      retry_delay: 500ms
      warmup: 10s
      on_failure: remove
      port: 8443
      path: /ready?full=1
      host: a.example
      status: [200, "301-302"]
      digest: {sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08}
      contains: ready
      ca_file: /etc/ca.pem
      verify: false
      server_name: a.example
      client_cert: /etc/c.pem
      client_key: /etc/k.pem
    real_servers:
      - {address: 10.1.0.11, weight: 65535, u_threshold: 100, l_threshold: 50}
      - {address: 10.1.0.12, weight: 0, forward: nat, port: 8443}
admin: {socket: /tmp/dplb.sock}
metrics: {listen: 0.0.0.0:9100}
logging: {level: debug}
)");
  const auto& dp = c.dataplane;
  EXPECT_EQ(dp.lcoreList, (std::vector<unsigned>{0, 2, 3}));
  EXPECT_EQ(dp.ealArgs, (std::vector<std::string>{"--no-huge", "-m", "256"}));
  EXPECT_EQ(dp.idleSleep, 250us);
  EXPECT_FALSE(dp.exceptionPath);
  EXPECT_TRUE(dp.expireNodestConn);
  EXPECT_TRUE(dp.expireQuiescentTemplate);
  ASSERT_EQ(dp.ports.size(), 2u);
  EXPECT_EQ(dp.ports[0].mac->str(), "02:aa:00:00:00:01");
  EXPECT_EQ(dp.ports[0].mtu, 9000);
  EXPECT_FALSE(dp.ports[0].exceptionPath);  // inherits dataplane.exception_path
  EXPECT_TRUE(dp.ports[1].exceptionPath);   // its own override
  EXPECT_EQ(dp.ports[0].addresses.at(1).str(), "10.0.9.1/31");
  ASSERT_EQ(dp.routes.size(), 2u);
  EXPECT_EQ(dp.routes[0].port, "wan0");  // resolved from the via
  EXPECT_EQ(dp.routes[1].port, "lan0");
  ASSERT_EQ(dp.neighbours.size(), 1u);
  EXPECT_EQ(dp.neighbours[0].port, "lan0");
  EXPECT_EQ(dp.neighbours[0].mac.str(), "02:00:00:00:01:0b");
  EXPECT_EQ(dp.connTable.capacity, 4096u);
  EXPECT_EQ(dp.reassembly.maxFlows, 64u);
  EXPECT_EQ(dp.reassembly.timeout, 2s);
  EXPECT_EQ(dp.timeouts.tcpNone, 3s);
  EXPECT_EQ(dp.timeouts.tcpEstablished, 1h);
  EXPECT_EQ(dp.timeouts.tcpSynRecv, 30s);  // plain integer = seconds
  EXPECT_EQ(dp.timeouts.tcpFinWait, 90s);
  EXPECT_EQ(dp.timeouts.icmp, 10s);

  const Service& s = c.services.at(0);
  EXPECT_EQ(s.protocol, Protocol::Udp);
  EXPECT_EQ(s.scheduler, Scheduler::Mh);
  EXPECT_TRUE(s.schedulerFlags.mhPort);
  EXPECT_TRUE(s.schedulerFlags.mhFallback);
  EXPECT_FALSE(s.schedulerFlags.shPort);
  EXPECT_EQ(s.mhTableSize, 251u);
  EXPECT_EQ(s.forward, Forward::Tun);
  EXPECT_EQ(s.persistence->timeout, 1h);
  EXPECT_EQ(s.persistence->netmask.str(), "255.255.0.0");
  EXPECT_EQ(s.quorum, 3u);
  EXPECT_EQ(s.sorryServer->address.str(), "10.1.0.99");
  EXPECT_EQ(s.sorryServer->port, 443);
  const HealthCheck& hc = *s.healthCheck;
  EXPECT_EQ(hc.type, HealthCheckType::Https);
  EXPECT_EQ(hc.interval, 5s);
  EXPECT_EQ(hc.timeout, 2s);
  EXPECT_EQ(hc.rise, 4u);
  EXPECT_EQ(hc.fall, 5u);
  EXPECT_EQ(hc.retry, 2u);
  EXPECT_EQ(hc.retryDelay, 500ms);
  EXPECT_EQ(hc.warmup, 10s);
  EXPECT_EQ(hc.onFailure, OnFailure::Remove);
  EXPECT_EQ(hc.port, 8443);
  EXPECT_EQ(hc.http.path, "/ready?full=1");
  EXPECT_EQ(hc.http.host, "a.example");
  EXPECT_EQ(hc.http.status, (std::vector<StatusRange>{{200, 200}, {301, 302}}));
  ASSERT_TRUE(hc.http.digest);
  EXPECT_EQ(hc.http.digest->algo, DigestAlgo::Sha256);
  EXPECT_EQ(hc.http.digest->hex,
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(hc.http.contains, "ready");
  EXPECT_EQ(hc.tls.caFile, "/etc/ca.pem");
  EXPECT_FALSE(hc.tls.verify);
  EXPECT_EQ(hc.tls.serverName, "a.example");
  EXPECT_EQ(hc.tls.clientCert, "/etc/c.pem");
  EXPECT_EQ(hc.tls.clientKey, "/etc/k.pem");
  ASSERT_EQ(s.realServers.size(), 2u);
  EXPECT_EQ(s.realServers[0].port, 443);
  EXPECT_EQ(s.realServers[0].forward, Forward::Tun);
  EXPECT_EQ(s.realServers[0].weight, 65535u);
  EXPECT_EQ(s.realServers[0].uThreshold, 100u);
  EXPECT_EQ(s.realServers[0].lThreshold, 50u);
  EXPECT_EQ(s.realServers[0].healthCheck, s.healthCheck);  // inherits the service's check
  EXPECT_EQ(s.realServers[1].forward, Forward::Nat);       // per-server override (ipvsadm -m)
  EXPECT_EQ(s.realServers[1].port, 8443);
  EXPECT_EQ(s.realServers[1].weight, 0u);

  EXPECT_EQ(c.admin.socket, "/tmp/dplb.sock");
  EXPECT_EQ(c.metrics.listen->str(), "0.0.0.0:9100");
  EXPECT_EQ(c.logging.level, LogLevel::Debug);
}

TEST(LoaderTest, OtherHealthCheckTypes) {
  const Config c = mustLoad(DP R"(services:
  - name: u
    vip: 10.0.0.100
    port: 53
    protocol: udp
    health_check: {type: udp, payload: "ping\x00", expect: pong, expect_match: prefix}
  - name: d
    vip: 10.0.0.101
    port: 53
    protocol: udp
    health_check: {type: dns, name: example.com., query_type: aaaa}
  - name: e
    vip: 10.0.0.102
    port: 80
    health_check: {type: exec, command: [/bin/check, "--port", "80"], dynamic: true}
  - name: t
    vip: 10.0.0.103
    port: 80
    health_check: {type: tcp, port: 81, on_failure: remove}
)");
  const auto& u = c.services.at(0).healthCheck->udp;
  EXPECT_EQ(u.payload, std::string("ping\0", 5));
  EXPECT_EQ(u.expect, "pong");
  EXPECT_EQ(u.expectMatch, ExpectMatch::Prefix);
  const auto& d = c.services.at(1).healthCheck->dns;
  EXPECT_EQ(d.name, "example.com.");
  EXPECT_EQ(d.queryType, "AAAA");
  EXPECT_EQ(d.queryTypeCode, 28);
  const auto& e = c.services.at(2).healthCheck->exec;
  EXPECT_EQ(e.command, (std::vector<std::string>{"/bin/check", "--port", "80"}));
  EXPECT_TRUE(e.dynamic);
  const auto& t = *c.services.at(3).healthCheck;
  EXPECT_EQ(t.type, HealthCheckType::Tcp);
  EXPECT_EQ(t.port, 81);
  EXPECT_EQ(t.onFailure, OnFailure::Remove);
}

TEST(LoaderTest, RealServerHealthCheckIsMergedOverTheService) {
  const Config c = mustLoad(DP R"(services:
  - name: web
    vip: 10.0.0.100
    port: 80
    health_check: {type: http, path: /health, host: web.example, interval: 3s, fall: 2}
    real_servers:
      - {address: 10.0.0.11}
      - {address: 10.0.0.12, health_check: {path: /canary, fall: 1}}
      - {address: 10.0.0.13, health_check: {type: tcp, port: 81}}
)");
  const Service& s = c.services.at(0);
  ASSERT_EQ(s.realServers.size(), 3u);
  EXPECT_EQ(s.realServers[0].healthCheck, s.healthCheck);
  const HealthCheck& canary = *s.realServers[1].healthCheck;
  EXPECT_EQ(canary.type, HealthCheckType::Http);
  EXPECT_EQ(canary.http.path, "/canary");      // overridden
  EXPECT_EQ(canary.fall, 1u);                  // overridden
  EXPECT_EQ(canary.http.host, "web.example");  // inherited
  EXPECT_EQ(canary.interval, 3s);              // inherited
  const HealthCheck& tcp = *s.realServers[2].healthCheck;
  EXPECT_EQ(tcp.type, HealthCheckType::Tcp);
  EXPECT_EQ(tcp.port, 81);
  EXPECT_EQ(tcp.interval, 3s);  // common keys are inherited across a type change
  EXPECT_EQ(tcp.fall, 2u);
  EXPECT_EQ(tcp.http, HttpCheck{});  // type-specific ones are not
}

TEST(LoaderTest, NodePortServiceExpandsNodesAndImpliesItsCheck) {
  const Config c = mustLoad(DP R"(services:
  - name: k8s
    vip: 10.0.0.101
    port: 443
    nodeport: {port: 31443, health_check_node_port: 32000, nodes: [10.0.0.21, 10.0.0.22]}
)");
  const Service& s = c.services.at(0);
  ASSERT_TRUE(s.nodeport);
  EXPECT_EQ(s.nodeport->path, "/healthz");
  EXPECT_TRUE(s.realServersFromNodePort);
  ASSERT_EQ(s.realServers.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(s.realServers[i].address, s.nodeport->nodes[i]);
    EXPECT_EQ(s.realServers[i].port, 31443);
    EXPECT_EQ(s.realServers[i].weight, 1u);
    EXPECT_EQ(s.realServers[i].forward, Forward::Nat);
    EXPECT_EQ(s.realServers[i].healthCheck, s.healthCheck);
  }
  ASSERT_TRUE(s.healthCheck);
  EXPECT_EQ(s.healthCheck->type, HealthCheckType::NodePort);
  EXPECT_EQ(s.healthCheck->port, 32000);
  EXPECT_EQ(s.healthCheck->http.path, "/healthz");
  EXPECT_EQ(s.healthCheck->http.status, (std::vector<StatusRange>{{200, 200}}));
  // A loaded config passes the model-level validator too.
  EXPECT_TRUE(validateConfig(c).empty());
}

TEST(LoaderTest, ExplicitNodePortCheckTakesPathAndPortFromTheNodePortSection) {
  const Config c = mustLoad(DP R"(services:
  - name: k8s
    vip: 10.0.0.101
    port: 80
    nodeport: {port: 30080, health_check_node_port: 32001, nodes: [10.0.0.21], path: /hz}
    health_check: {type: nodeport, interval: 5s}
)");
  const HealthCheck& hc = *c.services.at(0).healthCheck;
  EXPECT_EQ(hc.type, HealthCheckType::NodePort);
  EXPECT_EQ(hc.port, 32001);
  EXPECT_EQ(hc.http.path, "/hz");
  EXPECT_EQ(hc.interval, 5s);
}

TEST(LoaderTest, PortZeroServiceWithPersistence) {
  const Config c = mustLoad(DP R"(services:
  - name: all
    vip: 10.0.0.100
    port: 0
    forward: dr
    persistence: {timeout: 60}
    real_servers: [{address: 10.0.0.11}]
)");
  EXPECT_EQ(c.services.at(0).port, 0);
  EXPECT_EQ(c.services.at(0).realServers.at(0).port, 0);  // = the port the client used
  EXPECT_EQ(c.services.at(0).persistence->timeout, 60s);
}

TEST(LoaderTest, MetricsCanBeTurnedOffAndEmptySectionsAreDefaults) {
  const Config c = mustLoad(DP R"(services:
metrics: {listen: ""}
admin:
logging: {}
)");
  EXPECT_TRUE(c.services.empty());
  EXPECT_FALSE(c.metrics.listen);
  EXPECT_EQ(c.admin.socket, "/run/dplb/dplb.sock");
  EXPECT_EQ(c.logging.level, LogLevel::Info);
}

// Port 0 lets the kernel choose a free port (tests read the bound address
// from dplbd's log or `dplbadm --status`).
TEST(LoaderTest, MetricsListenAcceptsPortZero) {
  const Config c = mustLoad(DP "metrics: {listen: 127.0.0.1:0}\n");
  ASSERT_TRUE(c.metrics.listen);
  EXPECT_EQ(c.metrics.listen->port, 0);
  EXPECT_EQ(c.metrics.listen->str(), "127.0.0.1:0");
}

TEST(LoaderTest, SchedulerFlagsInIpvsadmCommaForm) {
  const Config c = mustLoad(DP R"(services:
  - {name: s, vip: 10.0.0.100, port: 80, scheduler: sh, scheduler_flags: "sh-fallback,sh-port"}
)");
  EXPECT_TRUE(c.services.at(0).schedulerFlags.shFallback);
  EXPECT_TRUE(c.services.at(0).schedulerFlags.shPort);
}

TEST(LoaderTest, ConfigsCompareByValue) {
  const std::string yaml = DP "services: [{name: s, vip: 10.0.0.100, port: 80}]\n";
  EXPECT_EQ(mustLoad(yaml), mustLoad(yaml));
  EXPECT_NE(mustLoad(yaml), mustLoad(DP "services: [{name: s, vip: 10.0.0.100, port: 81}]\n"));
}

// ------------------------------------------------------------------ errors

TEST(LoaderErrorsTest, EmptyFile) {
  for (const char* text : {"", "\n\n", "# nothing but a comment\n", "---\n", "~\n"}) {
    auto r = loadConfigString(text, "empty.yaml");
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u) << text;
    EXPECT_EQ(r.errors[0].line, 1);
    EXPECT_EQ(r.errors[0].column, 1);
    EXPECT_EQ(r.errors[0].path, "");
    EXPECT_THAT(r.errors[0].str(), HasSubstr("empty.yaml:1:1: the configuration is empty"));
  }
}

TEST(LoaderErrorsTest, YamlSyntaxErrorHasPosition) {
  auto r = loadConfigString(DP "services:\n  - name: web\n    vip: [10.0.0.1\n    port: 80\n",
                            "syn.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  const ConfigError& e = r.errors[0];
  EXPECT_EQ(e.path, "");
  EXPECT_THAT(e.message, HasSubstr("YAML syntax error"));
  EXPECT_THAT(e.message, HasSubstr("flow"));
  // yaml-cpp notices the unclosed '[' where the flow sequence runs into the
  // next block key: line 5, "port" at column 5 ... reported at the ':'.
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.column, 9);

  auto bad = loadConfigString("a: 1\n  b: 2\n", "indent.yaml");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].str(), "indent.yaml:2:4: YAML syntax error: illegal map value");
}

TEST(LoaderErrorsTest, MissingFileIsReported) {
  auto r = loadConfigFile("/nonexistent/dplb.yaml");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(), "/nonexistent/dplb.yaml: cannot open: No such file or directory");
}

TEST(LoaderErrorsTest, FileErrorsUseThePathAsGiven) {
  const std::string path = ::testing::TempDir() + "dplb_conf_bad.yaml";
  {
    std::ofstream out(path);
    out << DP << "services:\n  - {name: web, vip: 10.0.0.100, port: 80, scheduler: rrr}\n";
  }
  auto r = loadConfigFile(path);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, path);
  EXPECT_THAT(r.errors[0].str(),
              HasSubstr(path + ":3:55: services[0].scheduler: unknown scheduler \"rrr\""));
  std::remove(path.c_str());
}

TEST(LoaderErrorsTest, ErrorStringFormat) {
  ConfigError e{"demo.yaml", 14, 9, "services[0].real_servers[1].weight",
                "expected an integer 0..65535, got \"heavy\""};
  EXPECT_EQ(e.str(),
            "demo.yaml:14:9: services[0].real_servers[1].weight: expected an integer 0..65535, "
            "got \"heavy\"");
  EXPECT_EQ((ConfigError{"f.yaml", 0, 0, "", "cannot open"}).str(), "f.yaml: cannot open");
  EXPECT_EQ((ConfigError{"", 0, 0, "services[1]", "dup"}).str(), "services[1]: dup");
}

TEST(LoaderErrorsTest, IssueExampleMessage) {
  // The tracker issue's example: weight "heavy" of the second server.
  auto r = loadConfigString(DP R"(services:
  - name: web
    vip: 10.0.0.100
    port: 80
    real_servers:
      - address: 10.0.1.11
      - address: 10.0.1.12
        weight: heavy
)",
                            "demo.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(),
            "demo.yaml:9:17: services[0].real_servers[1].weight: expected an integer 0..65535, "
            "got \"heavy\"");
}

TEST(LoaderErrorsTest, TenDifferentMistakesGiveTenPreciseErrors) {
  auto r = loadConfigString(R"(dataplane:
  lcores: "0-"
  ports:
    - name: wan0
      device: net_tap0
      addresses: [10.0.0.2/24]
      mtu: 20000
  routes:
    - {prefix: 10.9.0.0/16, via: 10.0.0.1, port: lan0}
services:
  - name: web
    vip: 10.0.0.300
    port: 80
    scheduler: wrrr
    forward: dr
    health_check: {type: tcp, path: /healthz}
    real_servers:
      - {address: 10.0.1.11, port: 8080}
      - {address: 10.0.1.12, wieght: 2}
      - {address: 10.0.1.13, u_threshold: 5, l_threshold: 10}
logging: {level: verbose}
)",
                            "ten.yaml");
  EXPECT_FALSE(r.ok());
  struct Expect {
    int line;
    int column;
    const char* path;
    const char* words;
  };
  const Expect expected[] = {
      {2, 11, "dataplane.lcores", "lcore list"},
      {7, 12, "dataplane.ports[0].mtu", "68..9216"},
      {9, 50, "dataplane.routes[0].port", "unknown port \"lan0\""},
      {12, 10, "services[0].vip", "out of range 0..255"},
      {14, 16, "services[0].scheduler", "did you mean 'wrr'?"},
      {16, 31, "services[0].health_check.path", "is not a key of tcp health checks"},
      {18, 36, "services[0].real_servers[0].port", "must be the service port 80, got 8080"},
      {19, 30, "services[0].real_servers[1].wieght", "did you mean 'weight'?"},
      {20, 59, "services[0].real_servers[2].l_threshold", "above u_threshold 5"},
      {21, 18, "logging.level", "unknown log level \"verbose\""},
  };
  static_assert(std::size(expected) == 10);
  ASSERT_EQ(r.errors.size(), 10u) << allErrors(r);
  for (size_t i = 0; i < r.errors.size(); ++i) {
    SCOPED_TRACE(r.errors[i].str());
    EXPECT_EQ(r.errors[i].line, expected[i].line);
    EXPECT_EQ(r.errors[i].column, expected[i].column);
    EXPECT_EQ(r.errors[i].path, expected[i].path);
    EXPECT_THAT(r.errors[i].message, HasSubstr(expected[i].words));
  }
}

TEST(LoaderErrorsTest, NoFollowUpErrorsFromABrokenItem) {
  // A VIP that does not parse is not reported again as a duplicate, a broken
  // service check does not make each server's override complain about its
  // missing type, and an unknown forward mode does not trigger port rules.
  auto r = loadConfigString(DP R"(services:
  - {name: a, vip: 10.0.0.999, port: 80}
  - {name: b, vip: 10.0.0.999, port: 80}
  - name: c
    vip: 10.0.0.100
    port: 80
    forward: direct
    health_check: {type: htp}
    real_servers:
      - {address: 10.0.0.11, port: 8080, health_check: {fall: 1}}
)",
                            "t.yaml");
  ASSERT_EQ(r.errors.size(), 4u) << allErrors(r);
  EXPECT_EQ(r.errors[0].path, "services[0].vip");
  EXPECT_EQ(r.errors[1].path, "services[1].vip");
  EXPECT_EQ(r.errors[2].path, "services[2].forward");
  EXPECT_THAT(r.errors[2].message, HasSubstr("direct routing (gatewaying) is dr"));
  EXPECT_EQ(r.errors[3].path, "services[2].health_check.type");
  EXPECT_THAT(r.errors[3].message, HasSubstr("did you mean 'http'?"));
}

TEST(LoaderErrorsTest, ErrorsAreSortedByPosition) {
  auto r = loadConfigString(DP R"(services:
  - {name: a, vip: 10.0.0.100, port: 80}
  - {name: a, vip: 10.0.0.100, port: 80, bogus: 1}
)",
                            "t.yaml");
  ASSERT_EQ(r.errors.size(), 3u) << allErrors(r);
  // Found in the order: unknown key (reader), then duplicate name and
  // duplicate service (validator); reported in file order.
  EXPECT_EQ(r.errors[0].path, "services[1]");
  EXPECT_EQ(r.errors[0].column, 5);
  EXPECT_EQ(r.errors[1].path, "services[1].name");
  EXPECT_EQ(r.errors[2].path, "services[1].bogus");
}

TEST(ValidateConfigTest, ChecksAConfigBuiltInCode) {
  Config c;
  Port port;
  port.name = "wan0";
  port.device = "net_tap0";
  port.addresses.push_back(*Prefix::parse("10.0.0.2/24"));
  c.dataplane.lcoreList = {0, 1};
  c.dataplane.ports.push_back(port);
  Service s;
  s.name = "web";
  s.vip = *Ipv4::parse("10.0.0.100");
  s.port = 80;
  s.forward = Forward::Dr;
  RealServer rs;
  rs.address = *Ipv4::parse("10.0.0.11");
  rs.port = 80;
  rs.forward = Forward::Dr;
  s.realServers.push_back(rs);
  c.services.push_back(s);
  EXPECT_TRUE(validateConfig(c).empty());

  c.services[0].realServers[0].port = 8080;
  c.services[0].realServers[0].weight = 70000;
  c.services.push_back(c.services[0]);
  const auto errors = validateConfig(c);
  std::vector<std::string> lines;
  for (const auto& e : errors) {
    EXPECT_EQ(e.line, 0);
    lines.push_back(e.str());
  }
  EXPECT_THAT(lines,
              ::testing::ElementsAre(
                  HasSubstr("services[0].real_servers[0].port: forward dr delivers packets "
                            "unchanged"),
                  HasSubstr("services[0].real_servers[0].weight: expected an integer 0..65535"),
                  "services[1].name: duplicate service name \"web\" (also services[0])",
                  "services[1]: duplicate service tcp 10.0.0.100:80 (also services[0] \"web\")",
                  HasSubstr("services[1].real_servers[0].port"),
                  HasSubstr("services[1].real_servers[0].weight")));
}

// ---------------------------------------------------------------- examples

class ExampleTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ExampleTest, LoadsCleanly) {
  const std::string path = std::string(DPLB_SOURCE_DIR) + "/conf/examples/" + GetParam();
  auto r = loadConfigFile(path);
  ASSERT_TRUE(r.ok()) << allErrors(r);
  EXPECT_TRUE(validateConfig(*r.config).empty());
  EXPECT_FALSE(r.config->services.empty());
  for (const auto& s : r.config->services) {
    EXPECT_FALSE(s.realServers.empty()) << s.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleTest,
                         ::testing::Values("demo.yaml", "nat.yaml", "dr.yaml", "tun.yaml",
                                           "nodeport.yaml"),
                         [](const auto& info) {
                           std::string n = info.param;
                           return n.substr(0, n.find('.'));
                         });

TEST(ExamplesTest, DemoHasANatAndADrServiceOverThreeServers) {
  auto r = loadConfigFile(std::string(DPLB_SOURCE_DIR) + "/conf/examples/demo.yaml");
  ASSERT_TRUE(r.ok()) << allErrors(r);
  const auto& services = r.config->services;
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0].forward, Forward::Nat);
  EXPECT_EQ(services[0].scheduler, Scheduler::Wrr);
  EXPECT_EQ(services[1].forward, Forward::Dr);
  EXPECT_NE(services[1].scheduler, Scheduler::Wrr);
  for (const auto& s : services) {
    ASSERT_EQ(s.realServers.size(), 3u);
    EXPECT_TRUE(s.healthCheck);
    for (const auto& rs : s.realServers) {
      EXPECT_EQ(rs.address.value >> 24, 10u);
    }
  }
}

TEST(ExamplesTest, TunExampleMixesAServiceCheckAndAnExecOverride) {
  auto r = loadConfigFile(std::string(DPLB_SOURCE_DIR) + "/conf/examples/tun.yaml");
  ASSERT_TRUE(r.ok()) << allErrors(r);
  const Service& s = r.config->services.at(0);
  EXPECT_EQ(s.forward, Forward::Tun);
  EXPECT_EQ(s.realServers.at(0).healthCheck->type, HealthCheckType::Https);
  const HealthCheck& own = *s.realServers.at(3).healthCheck;
  EXPECT_EQ(own.type, HealthCheckType::Exec);
  EXPECT_EQ(own.interval, 5s);  // common keys inherited from the service's check
  EXPECT_EQ(own.timeout, 3s);
  EXPECT_EQ(own.tls, TlsCheck{});
}

}  // namespace
}  // namespace dplb::conf
