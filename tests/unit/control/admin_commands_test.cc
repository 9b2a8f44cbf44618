// dplbadm's mutations (admin/PROTOCOL.md) on the config model, with IPVS's
// error words, and the rule that the result must still validate.

#include <gtest/gtest.h>

#include "dplb/conf/loader.h"
#include "dplb/control/admin_commands.h"

namespace dplb::control {
namespace {

using nlohmann::json;

conf::Config base() {
  auto r = conf::loadConfigString(R"(
dataplane:
  ports: [{ name: wan, device: "net_null0", addresses: [10.0.0.2/24] }]
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    scheduler: rr
    forward: nat
    real_servers: [{ address: 10.0.0.11, port: 8080 }]
)",
                                  "t.yaml");
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  return *r.config;
}

json svc(uint16_t port) {
  return {{"protocol", "tcp"}, {"address", "10.0.0.100"}, {"port", port}};
}

TEST(AdminCommands, AddServiceWithIpvsadmDefaults) {
  conf::Config c = base();
  ASSERT_EQ(applyAdminCommand(c, {{"cmd", "add_service"}, {"service", svc(443)}}), "");
  ASSERT_EQ(c.services.size(), 2u);
  const conf::Service& s = c.services[1];
  EXPECT_EQ(s.port, 443);
  EXPECT_EQ(s.scheduler, conf::Scheduler::Wlc) << "ipvsadm's default scheduler";
  EXPECT_FALSE(s.persistence);
  EXPECT_EQ(s.name, "tcp-10.0.0.100-443");
  EXPECT_TRUE(conf::validateConfig(c).empty());
}

TEST(AdminCommands, ServiceErrorsUseIpvsWords) {
  conf::Config c = base();
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "add_service"}, {"service", svc(80)}}),
            "Service already exists");
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "edit_service"}, {"service", svc(81)}}),
            "No such service");
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "delete_service"}, {"service", svc(81)}}),
            "No such service");
  json bad = svc(443);
  bad["scheduler"] = "fastest";
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "add_service"}, {"service", bad}}),
            "Scheduler not found");
  json addr = svc(443);
  addr["address"] = "10.0.0.300";
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "add_service"}, {"service", addr}}), "Invalid argument");
  json negative = svc(443);
  negative["port"] = -1;
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "add_service"}, {"service", negative}}),
            "Invalid argument");
  json tooBig = svc(443);
  tooBig["port"] = 65536;
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "add_service"}, {"service", tooBig}}),
            "Invalid argument");
}

TEST(AdminCommands, PersistenceAndFlags) {
  conf::Config c = base();
  json s = svc(80);
  s["scheduler"] = "sh";
  s["sched_flags"] = {"sh-port"};
  s["persistent"] = true;
  s["timeout"] = 600;
  s["netmask"] = "255.255.255.0";
  ASSERT_EQ(applyAdminCommand(c, {{"cmd", "edit_service"}, {"service", s}}), "");
  const conf::Service& e = c.services[0];
  EXPECT_EQ(e.scheduler, conf::Scheduler::Sh);
  EXPECT_TRUE(e.schedulerFlags.shPort);
  ASSERT_TRUE(e.persistence);
  EXPECT_EQ(e.persistence->timeout, std::chrono::seconds(600));
  EXPECT_EQ(e.persistence->netmask.str(), "255.255.255.0");
  EXPECT_EQ(e.realServers.size(), 1u) << "editing a service keeps its servers";
}

TEST(AdminCommands, ServersAddEditDelete) {
  conf::Config c = base();
  json rs{{"address", "10.0.0.12"}, {"port", 8080}, {"forward", "nat"}, {"weight", 3}};
  ASSERT_EQ(applyAdminCommand(c, {{"cmd", "add_server"}, {"service", svc(80)}, {"server", rs}}),
            "");
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "add_server"}, {"service", svc(80)}, {"server", rs}}),
            "Destination already exists");
  json w{{"address", "10.0.0.12"}, {"port", 8080}, {"weight", 0}};
  ASSERT_EQ(applyAdminCommand(c, {{"cmd", "edit_server"}, {"service", svc(80)}, {"server", w}}),
            "");
  const conf::RealServer& r = c.services[0].realServers[1];
  EXPECT_EQ(r.weight, 0u);
  EXPECT_EQ(r.forward, conf::Forward::Nat) << "an edit keeps what it does not name";
  json gone{{"address", "10.0.0.99"}, {"port", 8080}};
  EXPECT_EQ(
      applyAdminCommand(c, {{"cmd", "delete_server"}, {"service", svc(80)}, {"server", gone}}),
      "No such destination");
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "add_server"}, {"service", svc(81)}, {"server", rs}}),
            "No such service");
  ASSERT_EQ(applyAdminCommand(c, {{"cmd", "delete_server"}, {"service", svc(80)}, {"server", w}}),
            "");
  EXPECT_EQ(c.services[0].realServers.size(), 1u);
  EXPECT_TRUE(conf::validateConfig(c).empty());
}

TEST(AdminCommands, ServerDefaultsFollowIpvsadm) {
  conf::Config c = base();
  ASSERT_EQ(
      applyAdminCommand(
          c, {{"cmd", "add_server"}, {"service", svc(80)}, {"server", {{"address", "10.0.0.13"}}}}),
      "");
  const conf::RealServer& r = c.services[0].realServers[1];
  EXPECT_EQ(r.port, 80) << "the service port";
  EXPECT_EQ(r.forward, conf::Forward::Dr) << "-g is ipvsadm's default";
  EXPECT_EQ(r.weight, 1u);
}

TEST(AdminCommands, ValidationStillAppliesToTheResult) {
  conf::Config c = base();
  // DR cannot map ports (ipvsadm forces them equal): the validator refuses.
  ASSERT_EQ(applyAdminCommand(
                c, {{"cmd", "add_server"},
                    {"service", svc(80)},
                    {"server", {{"address", "10.0.0.14"}, {"port", 8080}, {"forward", "dr"}}}}),
            "");
  EXPECT_FALSE(conf::validateConfig(c).empty());
}

TEST(AdminCommands, RestoreNamesTheFailingCommand) {
  conf::Config c = base();
  json req{{"cmd", "restore"},
           {"commands",
            {{{"cmd", "clear"}},
             {{"cmd", "add_service"}, {"service", svc(80)}},
             {{"cmd", "add_service"}, {"service", svc(80)}}}}};
  EXPECT_EQ(applyRestore(c, req), "restore: command 3 (add_service): Service already exists");
  conf::Config d = base();
  json ok{
      {"cmd", "restore"},
      {"commands",
       {{{"cmd", "clear"}},
        {{"cmd", "add_service"}, {"service", svc(8080)}},
        {{"cmd", "add_server"}, {"service", svc(8080)}, {"server", {{"address", "10.0.0.11"}}}}}}};
  ASSERT_EQ(applyRestore(d, ok), "");
  ASSERT_EQ(d.services.size(), 1u);
  EXPECT_EQ(d.services[0].port, 8080);
  EXPECT_EQ(d.services[0].realServers.size(), 1u);
}

TEST(AdminCommands, ClearAndUnsupported) {
  conf::Config c = base();
  ASSERT_EQ(applyAdminCommand(c, {{"cmd", "clear"}}), "");
  EXPECT_TRUE(c.services.empty());
  EXPECT_TRUE(isMutation("restore"));
  EXPECT_FALSE(isMutation("list"));
}

TEST(AdminCommands, SetTimeoutChangesOnlyNonZeroValues) {
  conf::Config c = base();
  const conf::Timeouts before = c.dataplane.timeouts;
  ASSERT_EQ(applyAdminCommand(c, {{"cmd", "set_timeout"}, {"tcp", 60}, {"tcpfin", 0}, {"udp", 7}}),
            "");
  EXPECT_EQ(c.dataplane.timeouts.tcpEstablished, std::chrono::seconds(60));
  EXPECT_EQ(c.dataplane.timeouts.tcpFinWait, before.tcpFinWait) << "0 = unchanged (ipvsadm)";
  EXPECT_EQ(c.dataplane.timeouts.udp, std::chrono::seconds(7));
  EXPECT_EQ(c.dataplane.timeouts.tcpTimeWait, before.tcpTimeWait);
  EXPECT_TRUE(conf::validateConfig(c).empty());
  EXPECT_TRUE(isMutation("set_timeout"));
}

TEST(AdminCommands, SetTimeoutRejectsOutOfRangeValues) {
  conf::Config c = base();
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "set_timeout"}, {"tcp", 2678401}}), "Invalid argument");
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "set_timeout"}, {"tcp", -1}}), "Invalid argument");
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "set_timeout"}, {"udp", "300"}}), "Invalid argument");
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "set_timeout"}, {"tcp", 2678400}}), "");
}

TEST(AdminCommands, ZeroChecksTheServiceAndChangesNoConfig) {
  conf::Config c = base();
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "zero"}}), "");
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "zero"}, {"service", svc(80)}}), "");
  EXPECT_EQ(applyAdminCommand(c, {{"cmd", "zero"}, {"service", svc(81)}}), "No such service");
  EXPECT_TRUE(c == base());
  EXPECT_FALSE(isMutation("zero")) << "zero is answered by the Daemon, not published";
}

TEST(AdminCommands, RestoreAcceptsZeroAndSetTimeoutLines) {
  conf::Config c = base();
  json req{{"cmd", "restore"},
           {"commands",
            {{{"cmd", "set_timeout"}, {"tcp", 100}, {"tcpfin", 10}, {"udp", 20}},
             {{"cmd", "zero"}, {"service", svc(80)}},
             {{"cmd", "zero"}, {"service", svc(81)}}}}};
  EXPECT_EQ(applyRestore(c, req), "restore: command 3 (zero): No such service");
  conf::Config d = base();
  req["commands"].erase(2);
  ASSERT_EQ(applyRestore(d, req), "");
  EXPECT_EQ(d.dataplane.timeouts.tcpFinWait, std::chrono::seconds(10));
}

}  // namespace
}  // namespace dplb::control
