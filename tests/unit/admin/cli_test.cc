// ipvsadm's command line as dplbadm parses it: every command and option into
// the request of admin/PROTOCOL.md, and every error with ipvsadm's wording.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "admin_test_util.h"
#include "dplb/admin/cli.h"

namespace dplb::admin {
namespace {

using nlohmann::json;
using test::parseErr;
using test::parseOk;

const char* const kTry = "Try `dplbadm -h' or 'dplbadm --help' for more information.";

json svcKey(const char* proto, const char* addr, int port) {
  return {{"protocol", proto}, {"address", addr}, {"port", port}};
}

json fullService(const char* proto, const char* addr, int port, const char* sched, bool persist,
                 int timeout, const char* mask, json flags = json::array()) {
  json s = svcKey(proto, addr, port);
  s["scheduler"] = sched;
  s["sched_flags"] = flags;
  s["persistent"] = persist;
  s["timeout"] = timeout;
  s["netmask"] = mask;
  return s;
}

json server(const char* addr, int port, const char* fwd, int weight, int x = 0, int y = 0) {
  json s = {{"address", addr},  {"port", port},     {"forward", fwd},
            {"weight", weight}, {"u_threshold", x}, {"l_threshold", y}};
  if (std::string(fwd) == "tun") {
    s["tun_type"] = "ipip";
  }
  return s;
}

struct RequestCase {
  const char* what;
  const char* line;
  json expected;
};

class RequestTest : public ::testing::TestWithParam<RequestCase> {};

TEST_P(RequestTest, BuildsTheRequest) {
  const auto& c = GetParam();
  Invocation inv = parseOk(c.line);
  EXPECT_EQ(inv.request, c.expected) << c.what << "\n got " << inv.request.dump();
}

const json kKey80 = svcKey("tcp", "10.0.0.100", 80);

INSTANTIATE_TEST_SUITE_P(
    Commands, RequestTest,
    ::testing::Values(
        RequestCase{"no argument lists", "", {{"cmd", "list"}}},
        RequestCase{"-L -n", "-L -n", {{"cmd", "list"}}},
        RequestCase{"-l clustered with -n", "-ln", {{"cmd", "list"}}},
        RequestCase{
            "list one service", "-L -n -t 10.0.0.100:80", {{"cmd", "list"}, {"service", kKey80}}},
        RequestCase{"list connections", "-L -n -c", {{"cmd", "connections"}}},
        RequestCase{"list timeouts", "-L --timeout", {{"cmd", "get_timeout"}}},
        RequestCase{"--sort is a no-op", "-L -n --sort", {{"cmd", "list"}}},
        RequestCase{"add service defaults: wlc, not persistent",
                    "-A -t 10.0.0.100:80",
                    {{"cmd", "add_service"},
                     {"service",
                      fullService("tcp", "10.0.0.100", 80, "wlc", false, 0, "255.255.255.255")}}},
        RequestCase{"-p alone means 360 s",
                    "-A -t 10.0.0.100:80 -s rr -p",
                    {{"cmd", "add_service"},
                     {"service",
                      fullService("tcp", "10.0.0.100", 80, "rr", true, 360, "255.255.255.255")}}},
        RequestCase{
            "-p with a separate value and -M",
            "-A -t 10.0.0.100:80 -p 600 -M 255.255.255.0",
            {{"cmd", "add_service"},
             {"service", fullService("tcp", "10.0.0.100", 80, "wlc", true, 600, "255.255.255.0")}}},
        RequestCase{"-p with an attached value",
                    "-A -t 10.0.0.100:80 -p600",
                    {{"cmd", "add_service"},
                     {"service",
                      fullService("tcp", "10.0.0.100", 80, "wlc", true, 600, "255.255.255.255")}}},
        RequestCase{
            "-p followed by an option takes the default",
            "-A -t 10.0.0.100:80 -p -M 255.255.0.0",
            {{"cmd", "add_service"},
             {"service", fullService("tcp", "10.0.0.100", 80, "wlc", true, 360, "255.255.0.0")}}},
        RequestCase{
            "long options with = and sched flags",
            "--add-service --tcp-service=10.0.0.100:80 --scheduler=sh "
            "--sched-flags sh-fallback,sh-port",
            {{"cmd", "add_service"},
             {"service", fullService("tcp", "10.0.0.100", 80, "sh", false, 0, "255.255.255.255",
                                     json::array({"sh-fallback", "sh-port"}))}}},
        RequestCase{"generic flag-1 of mh is mh-fallback",
                    "-A -t 10.0.0.100:80 -s mh -b flag-1",
                    {{"cmd", "add_service"},
                     {"service", fullService("tcp", "10.0.0.100", 80, "mh", false, 0,
                                             "255.255.255.255", json::array({"mh-fallback"}))}}},
        RequestCase{"port 0 service when persistent",
                    "-A -u 10.0.0.100 -p",
                    {{"cmd", "add_service"},
                     {"service",
                      fullService("udp", "10.0.0.100", 0, "wlc", true, 360, "255.255.255.255")}}},
        RequestCase{
            "edit service",
            "-E -t 10.0.0.100:80 -s rr",
            {{"cmd", "edit_service"},
             {"service", fullService("tcp", "10.0.0.100", 80, "rr", false, 0, "255.255.255.255")}}},
        RequestCase{"delete service",
                    "-D -u 10.0.0.100:53",
                    {{"cmd", "delete_service"}, {"service", svcKey("udp", "10.0.0.100", 53)}}},
        RequestCase{"clear", "-C", {{"cmd", "clear"}}},
        RequestCase{"add server defaults: -g, weight 1, service port",
                    "-a -t 10.0.0.100:80 -r 10.0.0.11",
                    {{"cmd", "add_server"},
                     {"service", kKey80},
                     {"server", server("10.0.0.11", 80, "dr", 1)}}},
        RequestCase{"NAT keeps its own port, thresholds",
                    "-a -t 10.0.0.100:80 -r 10.0.0.11:8080 -m -w 3 -x 100 -y 10",
                    {{"cmd", "add_server"},
                     {"service", kKey80},
                     {"server", server("10.0.0.11", 8080, "nat", 3, 100, 10)}}},
        RequestCase{"NAT without a port takes the service port",
                    "-a -t 10.0.0.100:80 -r 10.0.0.11 -m",
                    {{"cmd", "add_server"},
                     {"service", kKey80},
                     {"server", server("10.0.0.11", 80, "nat", 1)}}},
        RequestCase{"DR forces the service port",
                    "-a -t 10.0.0.100:80 -r 10.0.0.11:8080 -g",
                    {{"cmd", "add_server"},
                     {"service", kKey80},
                     {"server", server("10.0.0.11", 80, "dr", 1)}}},
        RequestCase{"default DR forces the service port",
                    "-a -t 10.0.0.100:80 -r 10.0.0.11:8080",
                    {{"cmd", "add_server"},
                     {"service", kKey80},
                     {"server", server("10.0.0.11", 80, "dr", 1)}}},
        RequestCase{"tunnel forces the service port, --tun-type ipip",
                    "-a -t 10.0.0.100:80 -r 10.0.0.11:8080 -i --tun-type ipip",
                    {{"cmd", "add_server"},
                     {"service", kKey80},
                     {"server", server("10.0.0.11", 80, "tun", 1)}}},
        RequestCase{"-r before -t still defaults to the service port",
                    "-a -r 10.0.0.11 -t 10.0.0.100:80 -m",
                    {{"cmd", "add_server"},
                     {"service", kKey80},
                     {"server", server("10.0.0.11", 80, "nat", 1)}}},
        RequestCase{"long server options",
                    "--add-server --tcp-service 10.0.0.100:80 --real-server 10.0.0.11:81 "
                    "--masquerading --weight 5 --u-threshold 9 --l-threshold 2",
                    {{"cmd", "add_server"},
                     {"service", kKey80},
                     {"server", server("10.0.0.11", 81, "nat", 5, 9, 2)}}},
        RequestCase{"edit server, weight 0 quiesces",
                    "-e -t 10.0.0.100:80 -r 10.0.0.11:80 -m -w 0",
                    {{"cmd", "edit_server"},
                     {"service", kKey80},
                     {"server", server("10.0.0.11", 80, "nat", 0)}}},
        RequestCase{"delete server, default port",
                    "-d -t 10.0.0.100:80 -r 10.0.0.11",
                    {{"cmd", "delete_server"},
                     {"service", kKey80},
                     {"server", {{"address", "10.0.0.11"}, {"port", 80}}}}},
        RequestCase{"delete server with its own port",
                    "-d -t 10.0.0.100:80 -r 10.0.0.11:8080",
                    {{"cmd", "delete_server"},
                     {"service", kKey80},
                     {"server", {{"address", "10.0.0.11"}, {"port", 8080}}}}},
        RequestCase{"zero all", "-Z", {{"cmd", "zero"}}},
        RequestCase{
            "zero one service", "-Z -t 10.0.0.100:80", {{"cmd", "zero"}, {"service", kKey80}}},
        RequestCase{"set timeouts",
                    "--set 900 120 300",
                    {{"cmd", "set_timeout"}, {"tcp", 900}, {"tcpfin", 120}, {"udp", 300}}},
        RequestCase{"save lists", "-S -n", {{"cmd", "list"}}},
        RequestCase{"save without -n", "-S", {{"cmd", "list"}}},
        RequestCase{"reload", "--reload", {{"cmd", "reload"}}},
        RequestCase{"status", "--status", {{"cmd", "status"}}}));

TEST(CliTest, CommandsAndFormats) {
  EXPECT_EQ(parseOk("").command, Command::kList);
  EXPECT_EQ(parseOk("-R").command, Command::kRestore);
  EXPECT_TRUE(parseOk("-R").request.is_null());
  EXPECT_EQ(parseOk("-h").command, Command::kHelp);
  EXPECT_EQ(parseOk("--help").command, Command::kHelp);
  EXPECT_EQ(parseOk("-v").command, Command::kVersion);
  EXPECT_EQ(parseOk("--version").command, Command::kVersion);
  EXPECT_EQ(parseOk("-S -n").command, Command::kSave);
  EXPECT_EQ(parseOk("-C").command, Command::kClear);
  EXPECT_EQ(parseOk("-Z").command, Command::kZero);
  EXPECT_EQ(parseOk("--set 1 2 3").command, Command::kSetTimeout);

  ListFormat f = parseOk("-L -n --stats --exact").format;
  EXPECT_TRUE(f.numeric && f.stats && f.exact);
  EXPECT_FALSE(f.rate || f.thresholds || f.persistentConn || f.connections || f.oneService);
  EXPECT_TRUE(parseOk("-L -n --rate").format.rate);
  EXPECT_TRUE(parseOk("-L -n --thresholds").format.thresholds);
  EXPECT_TRUE(parseOk("-L -n --persistent-conn").format.persistentConn);
  EXPECT_TRUE(parseOk("-L -n --nosort").format.noSort);
  EXPECT_TRUE(parseOk("-L -n -X").format.exact);
  EXPECT_TRUE(parseOk("-L -n -c").format.connections);
  EXPECT_TRUE(parseOk("-L --timeout").format.timeout);
  EXPECT_TRUE(parseOk("-L -t 10.0.0.100:80").format.oneService);
  EXPECT_TRUE(parseOk("-Lnc").format.connections);
}

struct ErrorCase {
  const char* line;
  const char* message;
};

class ErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorTest, RejectsWithIpvsadmsMessage) {
  EXPECT_EQ(parseErr(GetParam().line), GetParam().message) << GetParam().line;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ErrorTest,
    ::testing::Values(
        ErrorCase{"-n -L", kTry}, ErrorCase{"foo", kTry}, ErrorCase{"-Q", kTry},
        ErrorCase{"--bogus -L", kTry}, ErrorCase{"-L -Q", "-Q: unknown option"},
        ErrorCase{"-L --bogus", "--bogus: unknown option"},
        ErrorCase{"-L --stats=1", "--stats=1: option does not take an argument"},
        ErrorCase{"-A -t", "-t: missing argument"},
        ErrorCase{"-A -L", "multiple commands specified"},
        ErrorCase{"-A",
                  "You need to supply the 'service-address' option for the "
                  "'add-service' command"},
        ErrorCase{"-E -s rr",
                  "You need to supply the 'service-address' option for the "
                  "'edit-service' command"},
        ErrorCase{"-D",
                  "You need to supply the 'service-address' option for the "
                  "'delete-service' command"},
        ErrorCase{"-A -t 10.0.0.100:80 -n",
                  "Illegal 'numeric' option with the 'add-service' command"},
        ErrorCase{"-A -t 10.0.0.100:80 -r 10.0.0.11",
                  "Illegal 'real-server' option with the 'add-service' command"},
        ErrorCase{"-A -t 10.0.0.100:80 -m",
                  "Illegal 'forwarding-method' option with the 'add-service' command"},
        ErrorCase{"-A -t 10.0.0.100:80 -w 1",
                  "Illegal 'weight' option with the 'add-service' command"},
        ErrorCase{"-A -t 10.0.0.100:80 -t 10.0.0.101:80",
                  "multiple 'service-address' options specified"},
        ErrorCase{"-A -t 10.0.0.100:80 -u 10.0.0.101:80",
                  "multiple 'service-address' options specified"},
        ErrorCase{"-A -t 10.0.0.300:80", "illegal virtual server address[:port] specified"},
        ErrorCase{"-A -t 10.0.0.100:99999", "illegal virtual server address[:port] specified"},
        ErrorCase{"-A -t 80", "illegal virtual server address[:port] specified"},
        ErrorCase{"-A -t 10.0.0.100:80 -p 0", "invalid timeout value `0' specified"},
        ErrorCase{"-A -t 10.0.0.100:80 -p 2678401", "invalid timeout value `2678401' specified"},
        ErrorCase{"-A -t 10.0.0.100:80 -p 5x", "invalid timeout value `5x' specified"},
        ErrorCase{"-A -t 10.0.0.100:80 -p 360 -M 255.255.255.256",
                  "illegal virtual server persistent mask specified"},
        ErrorCase{"-A -t 10.0.0.100", "Zero port specified for non-persistent service"},
        ErrorCase{"-E -t 10.0.0.100:0", "Zero port specified for non-persistent service"},
        ErrorCase{"-A -t 10.0.0.100:80 -s rr -b sh-port", "incompatible scheduler flag `sh-port'"},
        ErrorCase{"-A -t 10.0.0.100:80 -s sh -b mh-port", "incompatible scheduler flag `mh-port'"},
        ErrorCase{"-A -t 10.0.0.100:80 -s sh -b bogus", "invalid scheduler flag `bogus'"},
        ErrorCase{"-A -t 10.0.0.100:80 -s rr -s wrr", "multiple 'scheduler' options specified"},
        ErrorCase{"-A -t 10.0.0.100:80 -p -p", "multiple 'persistent' options specified"},
        ErrorCase{"-a -t 10.0.0.100:80",
                  "You need to supply the 'real-server' option for the "
                  "'add-server' command"},
        ErrorCase{"-e -t 10.0.0.100:80",
                  "You need to supply the 'real-server' option for the "
                  "'edit-server' command"},
        ErrorCase{"-d -r 10.0.0.11",
                  "You need to supply the 'service-address' option for the "
                  "'delete-server' command"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -w 65536", "illegal weight specified"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -w -1", "illegal weight specified"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -w abc", "illegal weight specified"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -x 1.5", "illegal u_threshold specified"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -y x", "illegal l_threshold specified"},
        ErrorCase{"-a -t 10.0.0.100:80 -r bogus", "illegal real server address[:port] specified"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11:70000",
                  "illegal real server address[:port] specified"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -m -g",
                  "multiple 'forwarding-method' options specified"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -s rr",
                  "Illegal 'scheduler' option with the 'add-server' command"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -p",
                  "Illegal 'persistent' option with the 'add-server' command"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -m --tun-type ipip",
                  "tun-type is only valid with ipip forwarding (-i)"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -i --tun-type gue",
                  "tunnel type `gue' is not supported by dplb (only ipip)"},
        ErrorCase{"-a -t 10.0.0.100:80 -r 10.0.0.11 -i --tun-type foo",
                  "illegal tunnel type `foo' specified"},
        ErrorCase{"-d -t 10.0.0.100:80 -r 10.0.0.11 -w 2",
                  "Illegal 'weight' option with the 'delete-server' command"},
        ErrorCase{"-d -t 10.0.0.100:80 -r 10.0.0.11 -m",
                  "Illegal 'forwarding-method' option with the 'delete-server' command"},
        ErrorCase{"-D -t 10.0.0.100:80 -s rr",
                  "Illegal 'scheduler' option with the 'delete-service' command"},
        ErrorCase{"-C -n", "Illegal 'numeric' option with the 'flush' command"},
        ErrorCase{"-C -t 10.0.0.100:80",
                  "Illegal 'service-address' option with the 'flush' command"},
        ErrorCase{"-L -c -t 10.0.0.100:80",
                  "The option 'service-address' conflicts with the 'connection' option in the "
                  "'list' command"},
        ErrorCase{"-L -c --timeout",
                  "The option 'timeout' conflicts with the 'connection' option in the 'list' "
                  "command"},
        ErrorCase{"-L -c --stats", "options conflicts in the list command"},
        ErrorCase{"-L --timeout --rate", "options conflicts in the list command"},
        ErrorCase{"-L -s rr", "Illegal 'scheduler' option with the 'list' command"},
        ErrorCase{"-L -r 10.0.0.11", "Illegal 'real-server' option with the 'list' command"},
        ErrorCase{"-L -n -n", "multiple 'numeric' options specified"},
        ErrorCase{"-L --stats --stats", "multiple 'stats' options specified"},
        ErrorCase{"-S --stats", "Illegal 'stats' option with the 'save' command"},
        ErrorCase{"-S -t 10.0.0.100:80",
                  "Illegal 'service-address' option with the 'save' command"},
        ErrorCase{"-Z -n", "Illegal 'numeric' option with the 'zero' command"},
        ErrorCase{"-R -n", "Illegal 'numeric' option with the 'restore' command"},
        ErrorCase{"--set 900 120", "--set option requires 3 timeout values"},
        ErrorCase{"--set 900 120 x", "invalid timeout value `x' specified"},
        ErrorCase{"--set 900 120 -5", "-5: unknown option"},
        ErrorCase{"--set 1 2 3 4", "unexpected argument 4"},
        ErrorCase{"--set 1 2 3 -n", "Illegal 'numeric' option with the 'set' command"},
        ErrorCase{"-L extra", "unexpected argument extra"},
        ErrorCase{"-A -f 1", "option '-f' is not supported by dplb"},
        ErrorCase{"-L --daemon", "option '--daemon' is not supported by dplb"},
        ErrorCase{"--reload -n", "Illegal 'numeric' option with the 'reload' command"},
        ErrorCase{"--status -t 10.0.0.100:80",
                  "Illegal 'service-address' option with the 'status' command"}));

TEST(CliTest, ExtractSocket) {
  std::vector<std::string> args = {"-L", "--socket", "/tmp/x.sock", "-n"};
  std::string socket = "/from/env";
  EXPECT_EQ(extractSocket(args, socket), "");
  EXPECT_EQ(socket, "/tmp/x.sock");
  EXPECT_EQ(args, (std::vector<std::string>{"-L", "-n"}));

  args = {"--socket=/tmp/y.sock", "--status"};
  EXPECT_EQ(extractSocket(args, socket), "");
  EXPECT_EQ(socket, "/tmp/y.sock");
  EXPECT_EQ(args, (std::vector<std::string>{"--status"}));

  args = {"-L", "-n"};
  socket = "/from/env";
  EXPECT_EQ(extractSocket(args, socket), "");
  EXPECT_EQ(socket, "/from/env");

  args = {"-L", "--socket"};
  EXPECT_EQ(extractSocket(args, socket), "--socket: missing argument");
  args = {"-L", "--socket="};
  EXPECT_EQ(extractSocket(args, socket), "--socket: missing argument");
}

TEST(CliTest, UsageNamesEveryCommand) {
  const std::string u = usage("dplbadm", "0.1.0");
  for (const char* opt :
       {"--add-service", "--edit-service", "--delete-service", "--clear", "--restore", "--save",
        "--add-server", "--edit-server", "--delete-server", "--list", "--zero", "--set", "--reload",
        "--status", "--version", "--help", "--socket"}) {
    EXPECT_NE(u.find(opt), std::string::npos) << opt;
  }
}

}  // namespace
}  // namespace dplb::admin
