// -R: a hand-written ipvsadm-save file (with what a real `ipvsadm-save -n`
// writes: -p, -M, -b, -x, -y, --tun-type ipip) into one atomic request, and
// whole-input rejection naming the bad line.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <variant>

#include "dplb/admin/cli.h"

namespace dplb::admin {
namespace {

using nlohmann::json;

const char* const kSaveFile =
    "# written by hand in the format of ipvsadm-save -n\n"
    "-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0\n"
    "-a -t 10.0.0.100:80 -r 10.0.0.11:80 -m -w 1\n"
    "-a -t 10.0.0.100:80 -r 10.0.0.12:8080 -m -w 2 -x 500 -y 100\n"
    "\n"
    "-A -t 10.0.0.101:443 -s sh -b sh-fallback,sh-port\n"
    "-a -t 10.0.0.101:443 -r 10.0.0.31:443 -i -w 1 --tun-type ipip\n"
    "-A -u 10.0.0.100:53 -s rr\n"
    "-a -u 10.0.0.100:53 -r 10.0.0.21:53 -g -w 0\n"
    "--set 900 120 300\n";

json commandsOf(const ParseResult& r) {
  if (const auto* e = std::get_if<ParseError>(&r)) {
    ADD_FAILURE() << "rejected: " << e->message;
    return json::array();
  }
  const auto& req = std::get<Invocation>(r).request;
  EXPECT_EQ(req.at("cmd"), "restore");
  return req.at("commands");
}

std::string errorOf(const ParseResult& r) {
  if (const auto* e = std::get_if<ParseError>(&r)) {
    EXPECT_NE(e->exitCode, 0);
    return e->message;
  }
  ADD_FAILURE() << "accepted: " << std::get<Invocation>(r).request.dump();
  return "";
}

TEST(RestoreTest, ReadsAnIpvsadmSaveFile) {
  const json cmds = commandsOf(parseRestore(kSaveFile));
  ASSERT_EQ(cmds.size(), 8u);

  EXPECT_EQ(cmds[0], (json{{"cmd", "add_service"},
                           {"service",
                            {{"protocol", "tcp"},
                             {"address", "10.0.0.100"},
                             {"port", 80},
                             {"scheduler", "wlc"},
                             {"sched_flags", json::array()},
                             {"persistent", true},
                             {"timeout", 360},
                             {"netmask", "255.255.255.0"}}}}));
  EXPECT_EQ(cmds[1]["cmd"], "add_server");
  EXPECT_EQ(cmds[1]["server"], (json{{"address", "10.0.0.11"},
                                     {"port", 80},
                                     {"forward", "nat"},
                                     {"weight", 1},
                                     {"u_threshold", 0},
                                     {"l_threshold", 0}}));
  EXPECT_EQ(cmds[2]["server"], (json{{"address", "10.0.0.12"},
                                     {"port", 8080},
                                     {"forward", "nat"},
                                     {"weight", 2},
                                     {"u_threshold", 500},
                                     {"l_threshold", 100}}));
  EXPECT_EQ(cmds[3]["service"]["scheduler"], "sh");
  EXPECT_EQ(cmds[3]["service"]["sched_flags"], json::array({"sh-fallback", "sh-port"}));
  EXPECT_EQ(cmds[3]["service"]["persistent"], false);
  EXPECT_EQ(cmds[4]["server"]["forward"], "tun");
  EXPECT_EQ(cmds[4]["server"]["tun_type"], "ipip");
  EXPECT_EQ(cmds[4]["service"],
            (json{{"protocol", "tcp"}, {"address", "10.0.0.101"}, {"port", 443}}));
  EXPECT_EQ(cmds[5]["service"]["protocol"], "udp");
  EXPECT_EQ(cmds[6]["server"]["forward"], "dr");
  EXPECT_EQ(cmds[6]["server"]["weight"], 0);
  EXPECT_EQ(cmds[7], (json{{"cmd", "set_timeout"}, {"tcp", 900}, {"tcpfin", 120}, {"udp", 300}}));
}

TEST(RestoreTest, EmptyInputIsAnEmptyRestore) {
  EXPECT_EQ(commandsOf(parseRestore("")), json::array());
  EXPECT_EQ(commandsOf(parseRestore("\n# nothing\n   \n")), json::array());
}

TEST(RestoreTest, AcceptsCrlfAndTabs) {
  const json cmds = commandsOf(parseRestore("-C\r\n-A\t-t 10.0.0.1:80\t-s rr\r\n"));
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[0], (json{{"cmd", "clear"}}));
  EXPECT_EQ(cmds[1]["service"]["scheduler"], "rr");
}

TEST(RestoreTest, ABadLineRejectsTheWholeInput) {
  struct Case {
    const char* input;
    const char* message;
  } cases[] = {
      {"-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11 -m -w 1\n\n"
       "-a -t 10.0.0.100:80 -r 10.0.0.13:80 -m -w 70000\n",
       "restore: line 4: illegal weight specified"},
      {"-A -t 10.0.0.100:80\n-L -n\n",
       "restore: line 2: only -A -E -D -C -a -e -d -Z --set may appear in restore input"},
      {"-S -n\n",
       "restore: line 1: only -A -E -D -C -a -e -d -Z --set may appear in restore input"},
      {"-R\n", "restore: line 1: Try `dplbadm -h' or 'dplbadm --help' for more information."},
      {"-h\n", "restore: line 1: Try `dplbadm -h' or 'dplbadm --help' for more information."},
      {"# ok\n-A -t 10.0.0.100\n",
       "restore: line 2: Zero port specified for non-persistent service"},
      {"-A -t 10.0.0.100:80 -s wlc\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -m -w 1 extra\n",
       "restore: line 2: unexpected argument extra"},
      // ipvsadm -R parses each line as the arguments after the program name.
      {"ipvsadm -A -t 10.0.0.100:80\n", "restore: line 1: unexpected argument ipvsadm"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(errorOf(parseRestore(c.input)), c.message) << c.input;
  }
}

}  // namespace
}  // namespace dplb::admin
