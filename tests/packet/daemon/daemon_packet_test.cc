// The Daemon's answers over a real dataplane driven by hand: -Z zeroes what
// dplbadm lists while the dataplane's totals keep counting, --rate follows
// IPVS's estimator, --set changes get_timeout and the connection table, and a
// reload of an invalid file changes nothing.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "dp_harness.h"
#include "dplb/control/daemon.h"
#include "packet_builder.h"

namespace dplb::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr Mac kClientMac{0x02, 0xc1, 0, 0, 0, 0x05};
const uint32_t kClient = ip4(10, 0, 0, 5);
const uint32_t kVip = ip4(10, 0, 0, 100);

// {WAN}/{LAN} are the ring devices; {TCP} the established timeout.
const char* kConfig = R"(
dataplane:
  lcores: "0"
  exception_path: false
  ports:
    - { name: wan, device: "{WAN}", addresses: [10.0.0.2/24] }
    - { name: lan, device: "{LAN}", addresses: [10.0.1.1/24] }
  neighbours:
    - { ip: 10.0.0.5, mac: "02:c1:00:00:00:05" }
    - { ip: 10.0.1.11, mac: "02:00:00:00:01:0b" }
    - { ip: 10.0.1.12, mac: "02:00:00:00:01:0c" }
  timeouts: { tcp_established: {TCP}, tcp_fin_wait: 120s, udp: 300s }
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    protocol: tcp
    scheduler: rr
    forward: nat
    real_servers:
      - { address: 10.0.1.11, port: 8080 }
      - { address: 10.0.1.12, port: 8080 }
  - name: dns
    vip: 10.0.0.100
    port: 53
    protocol: udp
    scheduler: rr
    forward: nat
    real_servers:
      - { address: 10.0.1.11, port: 5353 }
)";

json svcKey(const char* proto, uint16_t port) {
  return {{"protocol", proto}, {"address", "10.0.0.100"}, {"port", port}};
}

const json* findService(const json& reply, const char* proto, uint16_t port) {
  for (const auto& s : reply["services"]) {
    if (s["protocol"] == proto && s["port"] == port) {
      return &s;
    }
  }
  return nullptr;
}

class DaemonPacketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string cfg = kConfig;
    DataplaneHarness::replace(cfg, "{TCP}", "900s");
    h_.start(cfg);
    wanMac_ = h_.portMac(0);
    file_ = "/tmp/dplb-daemon-test-" + std::to_string(getpid()) + ".yaml";
    writeFile(900);
    daemon_ = std::make_unique<control::Daemon>(file_, h_.config(), h_.dp());
  }
  void TearDown() override {
    daemon_.reset();
    h_.stop();
    std::remove(file_.c_str());
  }
  // The running config as a file (the ring device names are this run's).
  void writeFile(int tcpSeconds, const std::string& extra = "") {
    std::string cfg = kConfig;
    DataplaneHarness::replace(cfg, "{WAN}", h_.config().dataplane.ports[0].device);
    DataplaneHarness::replace(cfg, "{LAN}", h_.config().dataplane.ports[1].device);
    DataplaneHarness::replace(cfg, "{TCP}", std::to_string(tcpSeconds) + "s");
    std::ofstream(file_) << cfg << extra;
  }
  void syn(uint16_t sport, uint16_t dport = 80) {
    h_.inject(0, FrameBuilder()
                     .eth({.dst = wanMac_, .src = kClientMac})
                     .ipv4({.src = kClient, .dst = kVip, .ttl = 64})
                     .tcp({.sport = sport, .dport = dport, .seq = 1, .flags = kTcpSynFlag})
                     .payload("0123456789")
                     .build());
    h_.pollAll();
    h_.collect(1);
  }
  json list(json req = {{"cmd", "list"}}) { return daemon_->handle(req); }

  DataplaneHarness h_;
  Mac wanMac_{};
  std::string file_;
  std::unique_ptr<control::Daemon> daemon_;
};

TEST_F(DaemonPacketTest, ZeroResetsTheListedCountersNotTheDataplanes) {
  for (uint16_t p = 0; p < 4; ++p) {
    syn(50000 + p);
  }
  json before = list();
  ASSERT_EQ(before["ok"], true);
  EXPECT_EQ((*findService(before, "tcp", 80))["stats"]["conns"], 4);
  EXPECT_EQ((*findService(before, "tcp", 80))["stats"]["inpkts"], 4);

  ASSERT_EQ(daemon_->handle({{"cmd", "zero"}})["ok"], true);
  json zeroed = list();
  const json& web = *findService(zeroed, "tcp", 80);
  EXPECT_EQ(web["stats"],
            json({{"conns", 0}, {"inpkts", 0}, {"outpkts", 0}, {"inbytes", 0}, {"outbytes", 0}}));
  for (const auto& rs : web["servers"]) {
    EXPECT_EQ(rs["stats"]["conns"], 0);
    EXPECT_EQ(rs["stats"]["inbytes"], 0);
  }
  // /metrics reads the dataplane (listServices): still monotonic.
  for (const auto& sv : h_.dp().listServices()) {
    if (sv.port == 80) {
      EXPECT_EQ(sv.stats.conns, 4u);
      EXPECT_EQ(sv.servers[0].stats.conns + sv.servers[1].stats.conns, 4u);
    }
  }

  syn(50010);
  json after = list();
  EXPECT_EQ((*findService(after, "tcp", 80))["stats"]["conns"], 1);
  EXPECT_EQ((*findService(after, "tcp", 80))["stats"]["inbytes"], 20 + 20 + 10);
  EXPECT_EQ(h_.dp().serviceTotals(kVip, 80, dp::L4Proto::kTcp).conns, 5u);
}

TEST_F(DaemonPacketTest, ZeroOneServiceLeavesTheOthers) {
  syn(50000);
  syn(50001, 53);  // no UDP service on 53/tcp: dropped, counts nothing
  daemon_->handle({{"cmd", "zero"}, {"service", svcKey("udp", 53)}});
  EXPECT_EQ((*findService(list(), "tcp", 80))["stats"]["conns"], 1);
  json r = daemon_->handle({{"cmd", "zero"}, {"service", svcKey("tcp", 81)}});
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"], "No such service");
  daemon_->handle({{"cmd", "zero"}, {"service", svcKey("tcp", 80)}});
  EXPECT_EQ((*findService(list(), "tcp", 80))["stats"]["conns"], 0);
}

TEST_F(DaemonPacketTest, ListOfOneService) {
  json one = list({{"cmd", "list"}, {"service", svcKey("udp", 53)}});
  ASSERT_EQ(one["ok"], true);
  ASSERT_EQ(one["services"].size(), 1u);
  EXPECT_EQ(one["services"][0]["protocol"], "udp");
  json none = list({{"cmd", "list"}, {"service", svcKey("udp", 54)}});
  EXPECT_EQ(none["ok"], false);
  EXPECT_EQ(none["error"], "No such service");
}

TEST_F(DaemonPacketTest, RatesFollowTheEstimatorAndZeroResetsThem) {
  daemon_->tickRates();  // first sight: the estimators start here
  for (uint16_t p = 0; p < 8; ++p) {
    syn(51000 + p);
  }
  daemon_->tickRates();
  // 8 conns in one 2 s interval: (8 << 9) / 4 = 1024 -> (1024 + 511) >> 10 = 1.
  // 8 * 50 bytes: (400 << 4) / 4 = 1600 -> (1600 + 15) >> 5 = 50.
  const json listed = list();
  const json& web = *findService(listed, "tcp", 80);
  EXPECT_EQ(web["rates"],
            json({{"cps", 1}, {"inpps", 1}, {"outpps", 0}, {"inbps", 50}, {"outbps", 0}}));
  EXPECT_EQ(web["servers"][0]["rates"]["inbps"], 25) << "rr: half of it per server";
  daemon_->handle({{"cmd", "zero"}});
  EXPECT_EQ((*findService(list(), "tcp", 80))["rates"]["inbps"], 0);
  daemon_->tickRates();  // nothing since the zero
  EXPECT_EQ((*findService(list(), "tcp", 80))["rates"]["inbps"], 0);
}

TEST_F(DaemonPacketTest, SetTimeoutChangesGetTimeoutAndReloadRestoresTheFile) {
  json t = daemon_->handle({{"cmd", "get_timeout"}});
  EXPECT_EQ(t, json({{"ok", true}, {"tcp", 900}, {"tcpfin", 120}, {"udp", 300}}));
  json r = daemon_->handle({{"cmd", "set_timeout"}, {"tcp", 60}, {"tcpfin", 0}, {"udp", 30}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  t = daemon_->handle({{"cmd", "get_timeout"}});
  EXPECT_EQ(t, json({{"ok", true}, {"tcp", 60}, {"tcpfin", 120}, {"udp", 30}}));
  // A new UDP connection times out after 30 s instead of 300 s.
  h_.inject(0, FrameBuilder()
                   .eth({.dst = wanMac_, .src = kClientMac})
                   .ipv4({.src = kClient, .dst = kVip, .ttl = 64})
                   .udp({.sport = 52000, .dport = 53})
                   .payload("q")
                   .build());
  h_.pollAll();
  ASSERT_EQ(h_.dp().connCount(), 1u);
  h_.advance(29s);
  h_.pollAll();
  EXPECT_EQ(h_.dp().connCount(), 1u);
  h_.advance(2s);
  h_.pollAll();
  EXPECT_EQ(h_.dp().connCount(), 0u);
  ASSERT_TRUE(daemon_->reload().empty());
  t = daemon_->handle({{"cmd", "get_timeout"}});
  EXPECT_EQ(t, json({{"ok", true}, {"tcp", 900}, {"tcpfin", 120}, {"udp", 300}}))
      << "a reload brings back the file's timeouts";
}

TEST_F(DaemonPacketTest, ReloadOfAnInvalidFileChangesNothing) {
  syn(53000);
  syn(53001);
  daemon_->handle({{"cmd", "zero"}, {"service", svcKey("udp", 53)}});
  const json before = list();
  const uint32_t conns = h_.dp().connCount();
  ASSERT_EQ(conns, 2u);
  writeFile(900, "  - name: broken\n    vip: 10.0.0.300\n    port: 80\n");
  json r = daemon_->handle({{"cmd", "reload"}});
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"], "reload refused, nothing changed");
  ASSERT_FALSE(r["errors"].empty());
  const std::string first = r["errors"][0];
  EXPECT_EQ(first.rfind(file_ + ":", 0), 0u) << first;
  EXPECT_NE(first.find("services[2]"), std::string::npos) << first;
  EXPECT_EQ(list(), before) << "services and counters unchanged";
  EXPECT_EQ(h_.dp().connCount(), conns);
  EXPECT_EQ(daemon_->stats().reloadFailures, 1u);
  EXPECT_EQ(daemon_->stats().lastReloadOk, false);
  // The next valid reload works and keeps the counters of unchanged services.
  writeFile(900);
  ASSERT_EQ(daemon_->handle({{"cmd", "reload"}})["ok"], true);
  EXPECT_EQ((*findService(list(), "tcp", 80))["stats"]["conns"], 2);
  EXPECT_EQ(h_.dp().connCount(), conns);
}

TEST_F(DaemonPacketTest, ReloadThatRemovesAServiceForgetsItsBaseline) {
  syn(54000);
  daemon_->handle({{"cmd", "zero"}});
  // Delete and re-add web through dplbadm: it comes back with fresh counters,
  // and the old baseline must not be subtracted from them.
  json del = daemon_->handle({{"cmd", "delete_service"}, {"service", svcKey("tcp", 80)}});
  ASSERT_EQ(del["ok"], true) << del.dump();
  json svc = svcKey("tcp", 80);
  svc["scheduler"] = "rr";
  ASSERT_EQ(daemon_->handle({{"cmd", "add_service"}, {"service", svc}})["ok"], true);
  json srv = {{"address", "10.0.1.11"}, {"port", 8080}, {"forward", "nat"}};
  ASSERT_EQ(daemon_->handle(
                {{"cmd", "add_server"}, {"service", svcKey("tcp", 80)}, {"server", srv}})["ok"],
            true);
  syn(54001);
  syn(54002);
  EXPECT_EQ((*findService(list(), "tcp", 80))["stats"]["conns"], 2);
}

TEST_F(DaemonPacketTest, RestoreWithAZeroLine) {
  syn(55000);
  json r = daemon_->handle({{"cmd", "restore"},
                            {"commands",
                             {{{"cmd", "set_timeout"}, {"tcp", 100}, {"tcpfin", 0}, {"udp", 0}},
                              {{"cmd", "zero"}, {"service", svcKey("tcp", 80)}}}}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ((*findService(list(), "tcp", 80))["stats"]["conns"], 0);
  EXPECT_EQ(daemon_->handle({{"cmd", "get_timeout"}})["tcp"], 100);
}

}  // namespace
}  // namespace dplb::test
