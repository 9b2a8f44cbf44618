// dplb-schedsim's engine in-process: the scenario language, the connection
// bookkeeping behind the counts, and malformed input. Expected outputs are
// derived by hand in the comments. (The binary itself is run on the files in
// scenarios/ by ctest.)

#include <gtest/gtest.h>

#include <sstream>

#include "schedsim.h"

namespace dplb::sched::sim {
namespace {

struct SimRun {
  int rc;
  std::string out;
  std::string err;
};

SimRun run(const std::string& scenario) {
  std::istringstream in(scenario);
  std::ostringstream out;
  std::ostringstream err;
  const int rc = runScenario(in, out, err, SimOptions{});
  return {rc, out.str(), err.str()};
}

void expectMalformed(const std::string& scenario, const std::string& where) {
  const SimRun r = run(scenario);
  EXPECT_EQ(r.rc, kExitMalformed) << scenario;
  EXPECT_EQ(r.out, "") << scenario;
  EXPECT_NE(r.err.find(where), std::string::npos) << "stderr: " << r.err;
}

TEST(SchedsimTest, CommentsBlankLinesAndOneLinePerConn) {
  // rr over list .2 .1: .2, .1, .2
  const SimRun r =
      run("# a scenario\n"
          "\n"
          "service tcp 10.0.0.100:80 sched rr\n"
          "   \t\n"
          "add 10.0.1.1:80 weight 1\n"
          "add 10.0.1.2:80 weight 1   # trailing comment\r\n"
          "conn c1 192.168.0.1:1000\n"
          "conn c2 192.168.0.1:1001\n"
          "conn c3 192.168.0.1:1002");  // no final newline
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out, "c1 10.0.1.2:80\nc2 10.0.1.1:80\nc3 10.0.1.2:80\n");
  EXPECT_EQ(r.err, "");
}

TEST(SchedsimTest, NoServerPrintsNone) {
  const SimRun r =
      run("service tcp 10.0.0.100:80 sched wlc\n"
          "conn 1 1.1.1.1:1\n"
          "established 1\n"  // never bound: ignored
          "add 10.0.1.1:80 weight 0\n"
          "conn 2 1.1.1.1:2\n");
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out, "1 none\n2 none\n");
}

TEST(SchedsimTest, DelDropsItsConnectionsAndReAddStartsFresh) {
  // lc, list B A (B = .2).
  // 1: both 0 -> B (B=1). 2: A (0 < 1). 3: tie 1/1 -> B (B=2).
  // del B: connections 1 and 3 vanish. Re-add B: fresh, list B A.
  // 4: B 0 < A 1 -> B. closed 1: gone with the old B, ignored.
  // conn 1 again (id free): B 1, A 1 -> B (B=2). closed 2: A=0. 5: A.
  const SimRun r =
      run("service tcp 10.0.0.100:80 sched lc\n"
          "add 10.0.1.1:80 weight 1\n"
          "add 10.0.1.2:80 weight 1\n"
          "conn 1 1.1.1.1:1\n"
          "conn 2 1.1.1.1:2\n"
          "conn 3 1.1.1.1:3\n"
          "del 10.0.1.2:80\n"
          "add 10.0.1.2:80 weight 1\n"
          "conn 4 1.1.1.1:4\n"
          "closed 1\n"
          "conn 1 1.1.1.1:9\n"
          "closed 2\n"
          "conn 5 1.1.1.1:5\n");
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "1 10.0.1.2:80\n2 10.0.1.1:80\n3 10.0.1.2:80\n4 10.0.1.2:80\n1 10.0.1.2:80\n"
            "5 10.0.1.1:80\n");
}

TEST(SchedsimTest, EstablishedMakesTcpActiveButNotUdp) {
  // lc, list B A. u1 -> B. established u1: TCP B = 256, UDP B stays 1.
  // u2 -> A (0 is least either way). u3: TCP A 1 < B 256 -> A; UDP tie 1/1 -> B.
  const std::string body =
      " 10.0.0.100:53 sched lc\n"
      "add 10.0.1.1:53 weight 1\n"
      "add 10.0.1.2:53 weight 1\n"
      "conn u1 1.1.1.1:1\n"
      "established u1\n"
      "conn u2 1.1.1.1:2\n"
      "conn u3 1.1.1.1:3\n";
  EXPECT_EQ(run("service tcp" + body).out, "u1 10.0.1.2:53\nu2 10.0.1.1:53\nu3 10.0.1.1:53\n");
  EXPECT_EQ(run("service udp" + body).out, "u1 10.0.1.2:53\nu2 10.0.1.1:53\nu3 10.0.1.2:53\n");
}

TEST(SchedsimTest, FinMakesActiveInactiveAgain) {
  // lc, list B A. 1 -> B, established: B 256. 2 -> A (A 1). fin 1: B 1.
  // 3: B 1, A 1 -> B (first).
  const SimRun r =
      run("service tcp 10.0.0.100:80 sched lc\n"
          "add 10.0.1.1:80 weight 1\n"
          "add 10.0.1.2:80 weight 1\n"
          "conn 1 1.1.1.1:1\n"
          "established 1\n"
          "conn 2 1.1.1.1:2\n"
          "fin 1\n"
          "conn 3 1.1.1.1:3\n");
  EXPECT_EQ(r.out, "1 10.0.1.2:80\n2 10.0.1.1:80\n3 10.0.1.2:80\n");
}

TEST(SchedsimTest, ThresholdsSetAndClearOverload) {
  // rr, A = .1 with uthreshold 2, list B A.
  // 1 B, 2 A (A 1), 3 B, 4 A (A 2 >= 2: overloaded), 5 B (wrap),
  // 6 B (A skipped, wrap back to B), closed 2: A 1, 4 < 6: cleared, 7 A.
  const SimRun r =
      run("service tcp 10.0.0.100:80 sched rr\n"
          "add 10.0.1.1:80 weight 1 uthreshold 2\n"
          "add 10.0.1.2:80 weight 1\n"
          "conn 1 1.1.1.1:1\nconn 2 1.1.1.1:2\nconn 3 1.1.1.1:3\nconn 4 1.1.1.1:4\n"
          "conn 5 1.1.1.1:5\nconn 6 1.1.1.1:6\n"
          "closed 2\n"
          "conn 7 1.1.1.1:7\n");
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "1 10.0.1.2:80\n2 10.0.1.1:80\n3 10.0.1.2:80\n4 10.0.1.1:80\n5 10.0.1.2:80\n"
            "6 10.0.1.2:80\n7 10.0.1.1:80\n");
}

TEST(SchedsimTest, EditKeepsOmittedThresholds) {
  // rr, A (.1) uthreshold 1, list B A. 1 B, 2 A (overloaded at 1).
  // edit A weight 2 (u stays 1, not larger: flag kept). 3 B, 4 B.
  // edit A weight 2 uthreshold 5 (larger: cleared). 5 A.
  const SimRun r =
      run("service tcp 10.0.0.100:80 sched rr\n"
          "add 10.0.1.1:80 weight 1 uthreshold 1\n"
          "add 10.0.1.2:80 weight 1\n"
          "conn 1 1.1.1.1:1\nconn 2 1.1.1.1:2\n"
          "edit 10.0.1.1:80 weight 2\n"
          "conn 3 1.1.1.1:3\nconn 4 1.1.1.1:4\n"
          "edit 10.0.1.1:80 weight 2 uthreshold 5\n"
          "conn 5 1.1.1.1:5\n");
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out, "1 10.0.1.2:80\n2 10.0.1.1:80\n3 10.0.1.2:80\n4 10.0.1.2:80\n5 10.0.1.1:80\n");
}

TEST(SchedsimTest, RefusedCommandsWarnAndChangeNothing) {
  // rr: the refused add (exists), add (l > u), edit and del (unknown) leave
  // the list as B A: 1 B, 2 A.
  const SimRun r =
      run("service tcp 10.0.0.100:80 sched rr\n"
          "add 10.0.1.1:80 weight 1\n"
          "add 10.0.1.2:80 weight 1\n"
          "add 10.0.1.2:80 weight 7\n"
          "add 10.0.1.3:80 weight 1 lthreshold 5\n"
          "edit 10.0.1.9:80 weight 1\n"
          "edit 10.0.1.1:80 weight 1 uthreshold 3 lthreshold 4\n"
          "del 10.0.1.9:80\n"
          "conn 1 1.1.1.1:1\n"
          "conn 2 1.1.1.1:2\n");
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_EQ(r.out, "1 10.0.1.2:80\n2 10.0.1.1:80\n");
  EXPECT_NE(r.err.find("line 4: warning"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 5: warning"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 6: warning"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 7: warning"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 8: warning"), std::string::npos) << r.err;
}

TEST(SchedsimTest, DstDefaultsToTheVipAndTimeAdvances) {
  // lblc, list B A. c1 (dst VIP) -> B, cached. c2 dst .200 -> wlc: B 1 vs
  // A 0 -> A, cached. time 86400 (two steps, one with decimals): the full
  // check at 86400 s drops both entries (last use 0). c3 (VIP): wlc, B 1 vs
  // A 1 -> B. c4 (VIP) hit -> B.
  const SimRun r =
      run("service tcp 10.0.0.100:80 sched lblc\n"
          "add 10.0.1.1:80 weight 1\n"
          "add 10.0.1.2:80 weight 1\n"
          "conn c1 1.1.1.1:1\n"
          "conn c2 1.1.1.1:2 dst 10.0.0.200\n"
          "time 86399.5\n"
          "time 0.5\n"
          "conn c3 1.1.1.1:3 dst 10.0.0.200\n"
          "conn c4 1.1.1.1:4\n");
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  // c3 misses (entry dropped): B 1 vs A 1 -> B; c4 misses: B 2 vs A 1 -> A.
  EXPECT_EQ(r.out, "c1 10.0.1.2:80\nc2 10.0.1.1:80\nc3 10.0.1.2:80\nc4 10.0.1.1:80\n");
}

TEST(SchedsimTest, MalformedScenariosNameTheLine) {
  expectMalformed("conn c1 1.2.3.4:5\n", "line 1:");
  expectMalformed("\n# x\nservice tcp 10.0.0.100:80 sched nope\n", "line 3:");
  expectMalformed("service tcp 10.0.0.100:80 sched rr flags sh-port\n", "line 1:");
  expectMalformed("service sctp 10.0.0.100:80 sched rr\n", "line 1:");
  expectMalformed("service tcp 10.0.0.100 sched rr\n", "line 1:");
  expectMalformed("service tcp 10.0.0.100:80 sched rr\nservice tcp 10.0.0.1:80 sched rr\n",
                  "line 2:");
  const std::string svc = "service tcp 10.0.0.100:80 sched rr\n";
  expectMalformed(svc + "add 10.0.1.1:80 weight x\n", "line 2:");
  expectMalformed(svc + "add 10.0.1.1:80 weight -1\n", "line 2:");
  expectMalformed(svc + "add 10.0.1.1 weight 1\n", "line 2:");
  expectMalformed(svc + "add 10.0.1.256:80 weight 1\n", "line 2:");
  expectMalformed(svc + "add 10.0.1.01:80 weight 1\n", "line 2:");
  expectMalformed(svc + "add 10.0.1.1:65536 weight 1\n", "line 2:");
  expectMalformed(svc + "add 10.0.1.1:80\n", "line 2:");
  expectMalformed(svc + "add 10.0.1.1:80 weight 1 uthreshold\n", "line 2:");
  expectMalformed(svc + "add 10.0.1.1:80 weight 1 uthreshold 1 uthreshold 2\n", "line 2:");
  expectMalformed(svc + "edit 10.0.1.1:80 weight 1 speed 3\n", "line 2:");
  expectMalformed(svc + "del 10.0.1.1:80 now\n", "line 2:");
  expectMalformed(svc + "frobnicate\n", "line 2:");
  expectMalformed(svc + "conn c1\n", "line 2:");
  expectMalformed(svc + "conn c1 1.1.1.1:1 src 1.2.3.4\n", "line 2:");
  expectMalformed(svc + "time -5\n", "line 2:");
  expectMalformed(svc + "time 1.2.3\n", "line 2:");
  expectMalformed(svc + "time 1.1234567891\n", "line 2:");
  expectMalformed(svc + "established\n", "line 2:");
  // A bound id reused: malformed, and nothing printed for earlier conns.
  expectMalformed(svc + "add 10.0.1.1:80 weight 1\nconn c1 1.1.1.1:1\nconn c1 1.1.1.1:2\n",
                  "line 4:");
}

}  // namespace
}  // namespace dplb::sched::sim
