// dplbadm's output against text written by hand from ipvsadm's printf formats
// (IPVS-SEMANTICS.md §3): column widths and trailing spaces byte for byte.
// The widths of each expected line are spelled out in the comment above it.

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <tuple>
#include <variant>

#include "dplb/admin/cli.h"
#include "dplb/admin/format.h"

namespace dplb::admin {
namespace {

using nlohmann::json;

json stats(uint64_t conns, uint64_t inpkts, uint64_t outpkts, uint64_t inbytes, uint64_t outbytes) {
  return {{"conns", conns},
          {"inpkts", inpkts},
          {"outpkts", outpkts},
          {"inbytes", inbytes},
          {"outbytes", outbytes}};
}

json rates(uint64_t cps, uint64_t inpps, uint64_t outpps, uint64_t inbps, uint64_t outbps) {
  return {{"cps", cps}, {"inpps", inpps}, {"outpps", outpps}, {"inbps", inbps}, {"outbps", outbps}};
}

// Services and servers deliberately out of order: the formatter sorts.
json listReply() {
  json s80 = {{"protocol", "tcp"},
              {"address", "10.0.0.100"},
              {"port", 80},
              {"scheduler", "wlc"},
              {"sched_flags", json::array()},
              {"persistent", true},
              {"timeout", 360},
              {"netmask", "255.255.255.0"},
              {"stats", stats(123, 99999999, 100000000, 123456789012ULL, 5000000000000000ULL)},
              {"rates", rates(2, 40, 38, 4800, 123456789)},
              {"servers",
               {{{"address", "10.0.0.12"},
                 {"port", 80},
                 {"forward", "nat"},
                 {"weight", 1},
                 {"active", 0},
                 {"inactive", 1},
                 {"persistent", 0},
                 {"u_threshold", 0},
                 {"l_threshold", 0},
                 {"stats", stats(0, 0, 0, 0, 0)},
                 {"rates", rates(0, 0, 0, 0, 0)}},
                {{"address", "10.0.0.11"},
                 {"port", 80},
                 {"forward", "nat"},
                 {"weight", 1},
                 {"active", 3},
                 {"inactive", 12},
                 {"persistent", 4},
                 {"u_threshold", 100},
                 {"l_threshold", 10},
                 {"stats", stats(0, 2500000000ULL, 999999999, 99999999999ULL, 100000000000000ULL)},
                 {"rates", rates(1, 20, 19, 2400, 100000000)}}}}};
  json s53 = {{"protocol", "udp"},
              {"address", "10.0.0.100"},
              {"port", 53},
              {"scheduler", "rr"},
              {"persistent", false},
              {"servers",
               {{{"address", "10.0.0.21"},
                 {"port", 53},
                 {"forward", "dr"},
                 {"weight", 2},
                 {"active", 0},
                 {"inactive", 7}}}}};
  json s443 = {{"protocol", "tcp"},
               {"address", "10.0.0.101"},
               {"port", 443},
               {"scheduler", "sh"},
               {"sched_flags", {"sh-port", "sh-fallback"}},
               {"persistent", false},
               {"servers",
                {{{"address", "10.0.0.31"},
                  {"port", 443},
                  {"forward", "tun"},
                  {"weight", 65535},
                  {"active", 1234567},
                  {"inactive", 0}}}}};
  // 10.0.0.9 sorts before 10.0.0.100 (numerically, not as text).
  json s9 = {{"protocol", "tcp"},
             {"address", "10.0.0.9"},
             {"port", 8080},
             {"scheduler", "rr"},
             {"servers", json::array()}};
  return {{"ok", true},
          {"version", "0.1.0"},
          {"conn_table_size", 4096},
          {"services", {s53, s443, s80, s9}}};
}

ListFormat fmt() {
  ListFormat f;
  f.numeric = true;
  return f;
}

TEST(FormatTest, ListPlain) {
  const std::string expected =
      "dplb version 0.1.0 (size=4096)\n"
      "Prot LocalAddress:Port Scheduler Flags\n"
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
      "TCP  10.0.0.9:8080 rr\n"
      "TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0\n"
      // "  -> " + %-28s (12 + 16) + " " + %-7s + " " + %-6d + " " + %-10u + " " + %-10u
      "  -> 10.0.0.11:80                 Masq    1      3          12        \n"
      "  -> 10.0.0.12:80                 Masq    1      0          1         \n"
      "TCP  10.0.0.101:443 sh (sh-fallback,sh-port)\n"
      // 13 + 15 pad; Tunnel + 1 pad; 65535 + 1 pad; 1234567 + 3 pad; 0 + 9 pad
      "  -> 10.0.0.31:443                Tunnel  65535  1234567    0         \n"
      "UDP  10.0.0.100:53 rr\n"
      "  -> 10.0.0.21:53                 Route   2      0          7         \n";
  EXPECT_EQ(formatList(listReply(), fmt(), "9.9.9"), expected);
}

TEST(FormatTest, ListStatsShortensLargeNumbers) {
  ListFormat f = fmt();
  f.stats = true;
  json reply = listReply();
  reply["services"] = {reply["services"][2]};
  const std::string expected =
      "dplb version 0.1.0 (size=4096)\n"
      // %-33s then " %8s" x5
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
      "  -> RemoteAddress:Port\n"
      // %-33s then %9llu / %8llu+letter: 123 | 99999999 | 100000000 -> 100000K |
      // 123456789012 -> 123G | 5e15 -> 5000T
      "TCP  10.0.0.100:80                     123 99999999  100000K     123G    5000T\n"
      // "  -> %-28s": 0 | 2.5e9 -> 2500M | 999999999 -> 999999K | 99999999999 -> 99999M |
      // 1e14 -> 100T
      "  -> 10.0.0.11:80                        0    2500M  999999K   99999M     100T\n"
      "  -> 10.0.0.12:80                        0        0        0        0        0\n";
  EXPECT_EQ(formatList(reply, f, "0.1.0"), expected);
}

TEST(FormatTest, ListStatsExact) {
  ListFormat f = fmt();
  f.stats = true;
  f.exact = true;
  json reply = listReply();
  reply["services"] = {reply["services"][2]};
  reply["services"][0]["servers"] = json::array();
  const std::string expected =
      "dplb version 0.1.0 (size=4096)\n"
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
      "  -> RemoteAddress:Port\n"
      // up to 8 digits: %9llu; longer: one space then the digits
      "TCP  10.0.0.100:80                     123 99999999 100000000 123456789012 "
      "5000000000000000\n";
  EXPECT_EQ(formatList(reply, f, "0.1.0"), expected);
}

TEST(FormatTest, ListRate) {
  ListFormat f = fmt();
  f.rate = true;
  json reply = listReply();
  reply["services"] = {reply["services"][2]};
  const std::string expected =
      "dplb version 0.1.0 (size=4096)\n"
      "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n"
      "  -> RemoteAddress:Port\n"
      "TCP  10.0.0.100:80                       2       40       38     4800  123456K\n"
      "  -> 10.0.0.11:80                        1       20       19     2400  100000K\n"
      "  -> 10.0.0.12:80                        0        0        0        0        0\n";
  EXPECT_EQ(formatList(reply, f, "0.1.0"), expected);
}

TEST(FormatTest, ListThresholds) {
  ListFormat f = fmt();
  f.thresholds = true;
  json reply = listReply();
  reply["services"] = {reply["services"][2]};
  const std::string expected =
      "dplb version 0.1.0 (size=4096)\n"
      // %-33s " %-10s" x4: InActConn carries one trailing space
      "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n"
      "  -> RemoteAddress:Port\n"
      "TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0\n"
      "  -> 10.0.0.11:80                 100        10         3          12        \n"
      "  -> 10.0.0.12:80                 0          0          0          1         \n";
  EXPECT_EQ(formatList(reply, f, "0.1.0"), expected);
}

TEST(FormatTest, ListPersistentConn) {
  ListFormat f = fmt();
  f.persistentConn = true;
  json reply = listReply();
  reply["services"] = {reply["services"][2]};
  const std::string expected =
      "dplb version 0.1.0 (size=4096)\n"
      // %-33s " %-9s %-11s %-10s %-10s"
      "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n"
      "  -> RemoteAddress:Port\n"
      "TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0\n"
      "  -> 10.0.0.11:80                 1         4           3          12        \n"
      "  -> 10.0.0.12:80                 1         0           0          1         \n";
  EXPECT_EQ(formatList(reply, f, "0.1.0"), expected);
}

TEST(FormatTest, ListOneServiceHasNoVersionLine) {
  ListFormat f = fmt();
  f.oneService = true;
  json reply = listReply();
  reply["services"] = {reply["services"][0]};
  const std::string expected =
      "Prot LocalAddress:Port Scheduler Flags\n"
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
      "UDP  10.0.0.100:53 rr\n"
      "  -> 10.0.0.21:53                 Route   2      0          7         \n";
  EXPECT_EQ(formatList(reply, f, "0.1.0"), expected);
}

TEST(FormatTest, ListUsesTheClientVersionWhenTheReplyHasNone) {
  json reply = {{"ok", true}, {"conn_table_size", 1048576}, {"services", json::array()}};
  EXPECT_EQ(formatList(reply, fmt(), "0.2.0"),
            "dplb version 0.2.0 (size=1048576)\n"
            "Prot LocalAddress:Port Scheduler Flags\n"
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
}

TEST(FormatTest, NoSortKeepsTheDaemonsOrder) {
  ListFormat f = fmt();
  f.noSort = true;
  json reply = listReply();
  reply["services"] = {reply["services"][3], reply["services"][0]};
  const std::string out = formatList(reply, f, "0.1.0");
  EXPECT_LT(out.find("TCP  10.0.0.9:8080"), out.find("UDP  10.0.0.100:53"));
  reply["services"] = {reply["services"][1], reply["services"][0]};
  const std::string swapped = formatList(reply, f, "0.1.0");
  EXPECT_GT(swapped.find("TCP  10.0.0.9:8080"), swapped.find("UDP  10.0.0.100:53"));
}

TEST(FormatTest, LargeNumbers) {
  struct Case {
    uint64_t value;
    bool exact;
    const char* text;
  } cases[] = {
      {0, false, "        0"},
      {99999999, false, " 99999999"},
      {100000000, false, "  100000K"},
      {999999999, false, "  999999K"},
      {1000000000, false, "    1000M"},
      {99999999999ULL, false, "   99999M"},
      {100000000000ULL, false, "     100G"},
      {99999999999999ULL, false, "   99999G"},
      {100000000000000ULL, false, "     100T"},
      // %8llu of 18446744 fills all 8 columns: no space before it, as in ipvsadm
      {18446744073709551615ULL, false, "18446744T"},
      {0, true, "        0"},
      {12345678, true, " 12345678"},
      {123456789, true, " 123456789"},
      {18446744073709551615ULL, true, " 18446744073709551615"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(formatLargeNum(c.value, c.exact), c.text) << c.value << " exact=" << c.exact;
  }
}

TEST(FormatTest, Connections) {
  json reply = {{"ok", true},
                {"connections",
                 {{{"protocol", "tcp"},
                   {"state", "ESTABLISHED"},
                   {"expire", 898},
                   {"client", {{"address", "10.1.1.5"}, {"port", 51514}}},
                   {"virtual", {{"address", "10.0.0.100"}, {"port", 80}}},
                   {"server", {{"address", "10.0.0.11"}, {"port", 80}}}},
                  {{"protocol", "udp"},
                   {"state", "UDP"},
                   {"expire", 5},
                   {"client", {{"address", "10.1.1.6"}, {"port", 40000}}},
                   {"virtual", {{"address", "10.0.0.100"}, {"port", 53}}},
                   {"server", {{"address", "10.0.0.21"}, {"port", 53}}}},
                  {{"protocol", "tcp"},
                   {"state", "SYN_RECV"},
                   {"expire", 6000},
                   {"client", {{"address", "192.168.100.200"}, {"port", 65535}}},
                   {"virtual", {{"address", "10.0.0.100"}, {"port", 80}}},
                   {"server", {{"address", "10.0.0.12"}, {"port", 80}}}}}}};
  const std::string expected =
      "IPVS connection entries\n"
      "pro expire state       source             virtual            destination\n"
      // %-3s %-6s %-11s %-18s %-18s %s
      "TCP 14:58  ESTABLISHED 10.1.1.5:51514     10.0.0.100:80      10.0.0.11:80\n"
      "UDP 00:05  UDP         10.1.1.6:40000     10.0.0.100:53      10.0.0.21:53\n"
      // a 21-character source overflows its 18 columns, as in ipvsadm
      "TCP 100:00 SYN_RECV    192.168.100.200:65535 10.0.0.100:80      10.0.0.12:80\n";
  EXPECT_EQ(formatConnections(reply), expected);
  EXPECT_EQ(formatConnections({{"ok", true}, {"connections", json::array()}}),
            "IPVS connection entries\n"
            "pro expire state       source             virtual            destination\n");
}

TEST(FormatTest, Timeout) {
  EXPECT_EQ(formatTimeout({{"ok", true}, {"tcp", 900}, {"tcpfin", 120}, {"udp", 300}}),
            "Timeout (tcp tcpfin udp): 900 120 300\n");
}

const char* const kSaved =
    "-A -t 10.0.0.9:8080 -s rr\n"
    "-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0\n"
    "-a -t 10.0.0.100:80 -r 10.0.0.11:80 -m -w 1 -x 100 -y 10\n"
    "-a -t 10.0.0.100:80 -r 10.0.0.12:80 -m -w 1\n"
    "-A -t 10.0.0.101:443 -s sh -b sh-fallback,sh-port\n"
    "-a -t 10.0.0.101:443 -r 10.0.0.31:443 -i -w 65535 --tun-type ipip\n"
    "-A -u 10.0.0.100:53 -s rr\n"
    "-a -u 10.0.0.100:53 -r 10.0.0.21:53 -g -w 2\n";

TEST(FormatTest, Save) {
  EXPECT_EQ(formatSave(listReply(), fmt()), kSaved);
}

TEST(FormatTest, SaveOfAPersistentServiceWithAHostMask) {
  json reply = {{"services",
                 {{{"protocol", "udp"},
                   {"address", "10.0.0.1"},
                   {"port", 0},
                   {"scheduler", "wlc"},
                   {"persistent", true},
                   {"timeout", 3600},
                   {"netmask", "255.255.255.255"}}}}};
  EXPECT_EQ(formatSave(reply, fmt()), "-A -u 10.0.0.1:0 -s wlc -p 3600\n");
}

// A stand-in for the daemon: applies restore commands to a table and answers
// "list" the way PROTOCOL.md says, so -S output can be read back by -R.
json applyCommands(const json& commands) {
  using Key = std::tuple<std::string, std::string, int>;
  std::map<Key, json> services;
  auto keyOf = [](const json& s) {
    return Key{s.at("protocol"), s.at("address"), s.at("port").get<int>()};
  };
  for (const auto& c : commands) {
    const std::string cmd = c.at("cmd");
    if (cmd == "add_service") {
      json s = c.at("service");
      s["servers"] = json::array();
      services[keyOf(s)] = s;
    } else if (cmd == "add_server") {
      services.at(keyOf(c.at("service")))["servers"].push_back(c.at("server"));
    } else {
      ADD_FAILURE() << "unexpected command " << cmd;
    }
  }
  json reply = {{"ok", true}, {"services", json::array()}};
  for (auto& [k, s] : services) {
    reply["services"].push_back(s);
  }
  return reply;
}

TEST(FormatTest, SaveThenRestoreGivesBackTheSameState) {
  auto restored = parseRestore(kSaved);
  ASSERT_TRUE(std::holds_alternative<Invocation>(restored));
  const json commands = std::get<Invocation>(restored).request.at("commands");
  ASSERT_EQ(commands.size(), 8u);
  EXPECT_EQ(formatSave(applyCommands(commands), fmt()), kSaved);
}

TEST(FormatTest, Status) {
  json reply = {{"ok", true},
                {"version", "0.1.0"},
                {"uptime_s", 90061.5},
                {"workers", 2},
                {"conns", 17},
                {"rx_packets", 1000},
                {"tx_packets", 990},
                {"drops", {{"no_destination", 3}}},
                {"ports", json::array()}};
  EXPECT_EQ(formatStatus(reply),
            "dplbd version 0.1.0\n"
            "uptime: 1d 01h01m01s\n"
            "workers: 2\n"
            "connections: 17\n"
            "packets: rx 1000 tx 990\n"
            "drops:\n"
            "  no_destination           3\n");
}

TEST(FormatTest, MissingRequiredKeyThrows) {
  json reply = {{"services", {{{"protocol", "tcp"}, {"port", 80}, {"scheduler", "rr"}}}}};
  EXPECT_THROW(formatList(reply, fmt(), "0.1.0"), nlohmann::json::exception);
}

}  // namespace
}  // namespace dplb::admin
