// The IPVS TCP state machine against the kernel's tables, written out again
// here by hand from net/netfilter/ipvs/ip_vs_proto_tcp.c (tcp_states and
// tcp_states_dos), independently of the implementation's copy.

#include <gtest/gtest.h>

#include <map>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "conn_test_util.h"
#include "dplb/dp/conn_table.h"
#include "dplb/dp/tcp_state.h"

namespace dplb::dp {
namespace {

using testing::ip;
using testing::natConn;
using testing::RecordingSink;

// Kernel names, kernel order.
enum K : uint8_t { NO, ES, SS, SR, FW, TW, CL, CW, LA, LI, SA };

// [direction: INPUT, OUTPUT, INPUT-ONLY][row: syn, fin, ack, rst][state]
// clang-format off
constexpr K kKernelNormal[3][4][11] = {
  /* INPUT         sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA */
  {/*syn*/        {SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR},
   /*fin*/        {CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW},
   /*ack*/        {ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES},
   /*rst*/        {CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR}},
  /* OUTPUT */
  {/*syn*/        {SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR},
   /*fin*/        {TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW},
   /*ack*/        {ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES},
   /*rst*/        {CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL}},
  /* INPUT-ONLY */
  {/*syn*/        {SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR},
   /*fin*/        {CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW},
   /*ack*/        {ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES},
   /*rst*/        {CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL}},
};

constexpr K kKernelSecure[3][4][11] = {
  /* INPUT         sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA */
  {/*syn*/        {SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA},
   /*fin*/        {CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA},
   /*ack*/        {ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA},
   /*rst*/        {CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL}},
  /* OUTPUT */
  {/*syn*/        {SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA},
   /*fin*/        {TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW},
   /*ack*/        {ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES},
   /*rst*/        {CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL}},
  /* INPUT-ONLY */
  {/*syn*/        {SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA},
   /*fin*/        {CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW},
   /*ack*/        {ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES},
   /*rst*/        {CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL}},
};
// clang-format on

constexpr uint8_t kRowFlags[4] = {kTcpSyn, kTcpFin, kTcpAck, kTcpRst};
constexpr const char* kRowName[4] = {"syn", "fin", "ack", "rst"};
constexpr const char* kDirName[3] = {"INPUT", "OUTPUT", "INPUT-ONLY"};

const K (&kernelTable(TcpTableSet set))[3][4][11] {
  return set == TcpTableSet::kSecure ? kKernelSecure : kKernelNormal;
}

TEST(TcpStateTable, EveryCellMatchesTheKernel) {
  int checked = 0;
  for (TcpTableSet set : {TcpTableSet::kNormal, TcpTableSet::kSecure}) {
    for (int dir = 0; dir < 3; ++dir) {
      for (int row = 0; row < 4; ++row) {
        for (int state = 0; state < 11; ++state) {
          const TcpState got = nextTcpState(set, static_cast<TcpTableDir>(dir),
                                            static_cast<TcpState>(state), kRowFlags[row]);
          EXPECT_EQ(static_cast<int>(got), kernelTable(set)[dir][row][state])
              << (set == TcpTableSet::kSecure ? "secure " : "normal ") << kDirName[dir] << " "
              << kRowName[row] << " from " << tcpStateName(static_cast<TcpState>(state));
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 3 * 4 * 11);
}

TEST(TcpStateTable, FlagPrecedenceIsRstSynFinAck) {
  // tcp_state_idx: rst → 3, then syn → 0, then fin → 1, then ack → 2.
  struct Case {
    const char* what;
    uint8_t flags;
    int row;  // -1: no table row, the kernel's CLOSE fallback
  };
  const Case cases[] = {
      {"RST|SYN|FIN|ACK", kTcpRst | kTcpSyn | kTcpFin | kTcpAck, 3},
      {"RST|ACK", kTcpRst | kTcpAck, 3},
      {"SYN|ACK", kTcpSyn | kTcpAck, 0},
      {"SYN|FIN", kTcpSyn | kTcpFin, 0},
      {"FIN|ACK", kTcpFin | kTcpAck, 1},
      {"ACK|PSH", kTcpAck | 0x08, 2},
      {"ACK|URG|ECE|CWR", kTcpAck | 0x20 | 0x40 | 0x80, 2},
      {"PSH only", 0x08, -1},
      {"no flags", 0x00, -1},
  };
  for (const Case& c : cases) {
    for (int dir = 0; dir < 3; ++dir) {
      for (int state = 0; state < 11; ++state) {
        const TcpState got = nextTcpState(TcpTableSet::kNormal, static_cast<TcpTableDir>(dir),
                                          static_cast<TcpState>(state), c.flags);
        const int want = c.row < 0 ? CL : kKernelNormal[dir][c.row][state];
        EXPECT_EQ(static_cast<int>(got), want) << c.what << " " << kDirName[dir] << " from "
                                               << tcpStateName(static_cast<TcpState>(state));
      }
    }
  }
}

TEST(TcpStateTable, NamesAreIpvsadms) {
  const std::pair<TcpState, const char*> names[] = {
      {TcpState::kNone, "NONE"},        {TcpState::kEstablished, "ESTABLISHED"},
      {TcpState::kSynSent, "SYN_SENT"}, {TcpState::kSynRecv, "SYN_RECV"},
      {TcpState::kFinWait, "FIN_WAIT"}, {TcpState::kTimeWait, "TIME_WAIT"},
      {TcpState::kClose, "CLOSE"},      {TcpState::kCloseWait, "CLOSE_WAIT"},
      {TcpState::kLastAck, "LAST_ACK"}, {TcpState::kListen, "LISTEN"},
      {TcpState::kSynAck, "SYNACK"},
  };
  for (const auto& [state, name] : names) {
    EXPECT_EQ(tcpStateName(state), name);
  }
}

TEST(TcpStateTable, ActivePolicies) {
  for (int s = 0; s < 11; ++s) {
    const auto state = static_cast<TcpState>(s);
    EXPECT_EQ(tcpStateActive(ActiveStates::kEstablishedOnly, state), s == ES) << s;
    // The kernel's tcp_state_active_table.
    EXPECT_EQ(tcpStateActive(ActiveStates::kKernelTable, state),
              s == ES || s == SS || s == SR || s == SA)
        << s;
  }
}

// ---- every reachable transition through ConnTable::onPacket ----
//
// A BFS over (state, input-only flag) nodes from a new connection, driving
// real entries: each edge is checked for the new state (kernel table chosen
// as set_tcp_state does, including the NOOUTPUT switch), the active/inactive
// report, and the re-armed timeout of the new state.

struct Event {
  Direction dir;
  int row;
};

struct Node {
  int state;
  bool inputOnly;
  bool operator<(const Node& o) const {
    return std::pair(state, inputOnly) < std::pair(o.state, o.inputOnly);
  }
};

Node expectedNext(TcpTableSet set, Node n, Event e) {
  int dir = e.dir == Direction::kIn ? 0 : 1;
  bool inputOnly = n.inputOnly;
  if (inputOnly) {
    if (e.dir == Direction::kOut) {
      inputOnly = false;
    } else {
      dir = 2;
    }
  }
  return Node{kernelTable(set)[dir][e.row][n.state], inputOnly};
}

bool activeIn(ActiveStates policy, int state) {
  return state == ES ||
         (policy == ActiveStates::kKernelTable && (state == SS || state == SR || state == SA));
}

struct BfsParam {
  TcpTableSet set;
  ForwardMode fwd;
  ActiveStates policy;
};

class TcpTransitionsThroughTable : public ::testing::TestWithParam<BfsParam> {};

TEST_P(TcpTransitionsThroughTable, EveryReachableEdge) {
  const BfsParam p = GetParam();
  ConnTableConfig cfg = testing::smallConfig(16);
  cfg.tcpTables = p.set;
  cfg.activeStates = p.policy;
  ConnTable table(cfg);
  const ConnTimeouts timeouts;

  // DR/TUN never index the server's half, but the NOOUTPUT switch is part
  // of set_tcp_state, so server-side packets are walked for them too.
  std::vector<Event> events;
  for (Direction d : {Direction::kIn, Direction::kOut}) {
    for (int row = 0; row < 4; ++row) {
      events.push_back({d, row});
    }
  }

  const Node start{NO, p.fwd != ForwardMode::kNat};
  std::map<Node, std::vector<Event>> pathTo{{start, {}}};
  std::queue<Node> work;
  work.push(start);
  uint16_t port = 1000;
  int edges = 0;
  while (!work.empty()) {
    const Node n = work.front();
    work.pop();
    for (const Event& e : events) {
      NewConn nc = natConn(ip(192, 168, 0, 1), ++port);
      nc.fwd = p.fwd;
      const InsertResult ins = table.insert(nc);
      ASSERT_TRUE(ins.ok());
      for (const Event& step : pathTo[n]) {
        table.onPacket(ins.id, step.dir, kRowFlags[step.row]);
      }
      ASSERT_EQ(table.conn(ins.id).state(), n.state);
      ASSERT_EQ(table.conn(ins.id).isInputOnly(), n.inputOnly);

      const Node want = expectedNext(p.set, n, e);
      const StateUpdate u = table.onPacket(ins.id, e.dir, kRowFlags[e.row]);
      const Conn& c = table.conn(ins.id);
      const std::string where = std::string(tcpStateName(static_cast<TcpState>(n.state))) +
                                (n.inputOnly ? " (input-only) " : " ") +
                                (e.dir == Direction::kIn ? "in " : "out ") + kRowName[e.row];
      EXPECT_EQ(u.oldState, n.state) << where;
      EXPECT_EQ(u.newState, want.state) << where;
      EXPECT_EQ(c.state(), want.state) << where;
      EXPECT_EQ(c.isInputOnly(), want.inputOnly) << where;

      const bool wasActive = activeIn(p.policy, n.state);
      const bool isActive = activeIn(p.policy, want.state);
      const Activity act = wasActive == isActive ? Activity::kUnchanged
                           : isActive            ? Activity::kBecameActive
                                                 : Activity::kBecameInactive;
      EXPECT_EQ(u.activity, act) << where;
      EXPECT_EQ(c.isActive(), isActive) << where;

      // Re-armed with the new state's timeout (+1 tick: never early).
      EXPECT_EQ(table.remaining(ins.id), timeouts.tcp[want.state] + cfg.tick) << where;

      ASSERT_TRUE(table.erase(ins.id));
      ++edges;
      if (!pathTo.contains(want)) {
        std::vector<Event> path = pathTo[n];
        path.push_back(e);
        pathTo[want] = path;
        work.push(want);
      }
    }
  }
  // Sanity: the walk covered the protocol's main states.
  EXPECT_TRUE(pathTo.contains(Node{ES, false}) || pathTo.contains(Node{ES, true}));
  EXPECT_TRUE(pathTo.contains(Node{TW, false}) || pathTo.contains(Node{TW, true}));
  EXPECT_GE(edges, 8 * 8);
  EXPECT_EQ(table.size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    AllTables, TcpTransitionsThroughTable,
    ::testing::Values(
        BfsParam{TcpTableSet::kNormal, ForwardMode::kNat, ActiveStates::kEstablishedOnly},
        BfsParam{TcpTableSet::kNormal, ForwardMode::kDr, ActiveStates::kEstablishedOnly},
        BfsParam{TcpTableSet::kNormal, ForwardMode::kTun, ActiveStates::kKernelTable},
        BfsParam{TcpTableSet::kSecure, ForwardMode::kNat, ActiveStates::kKernelTable},
        BfsParam{TcpTableSet::kSecure, ForwardMode::kDr, ActiveStates::kEstablishedOnly},
        BfsParam{TcpTableSet::kNormal, ForwardMode::kNat, ActiveStates::kKernelTable}));

TEST(TcpTransitions, NatHandshakeAndCloseReportActivity) {
  ConnTable table(testing::smallConfig());
  const InsertResult ins = table.insert(natConn(ip(1, 2, 3, 4), 5555));
  ASSERT_TRUE(ins.ok());
  const ConnId id = ins.id;
  EXPECT_FALSE(table.conn(id).isActive()) << "a new connection starts inactive";

  struct Step {
    Direction dir;
    uint8_t flags;
    TcpState state;
    Activity activity;
  };
  const Step steps[] = {
      {Direction::kIn, kTcpSyn, TcpState::kSynRecv, Activity::kUnchanged},
      {Direction::kOut, kTcpSyn | kTcpAck, TcpState::kSynRecv, Activity::kUnchanged},
      {Direction::kIn, kTcpAck, TcpState::kEstablished, Activity::kBecameActive},
      {Direction::kIn, kTcpAck | 0x08, TcpState::kEstablished, Activity::kUnchanged},
      {Direction::kOut, kTcpAck, TcpState::kEstablished, Activity::kUnchanged},
      {Direction::kIn, kTcpFin | kTcpAck, TcpState::kCloseWait, Activity::kBecameInactive},
      {Direction::kOut, kTcpFin | kTcpAck, TcpState::kTimeWait, Activity::kUnchanged},
      {Direction::kIn, kTcpAck, TcpState::kTimeWait, Activity::kUnchanged},
  };
  for (const Step& s : steps) {
    const StateUpdate u = table.onPacket(id, s.dir, s.flags);
    EXPECT_EQ(table.conn(id).tcpState(), s.state) << tcpStateName(s.state);
    EXPECT_EQ(u.activity, s.activity) << tcpStateName(s.state);
  }
}

TEST(TcpTransitions, DrSwitchesToOutputTablesOnAServerPacket) {
  ConnTable table(testing::smallConfig());
  const InsertResult ins = table.insert(testing::drConn(ip(1, 2, 3, 4), 5555));
  ASSERT_TRUE(ins.ok());
  EXPECT_TRUE(table.conn(ins.id).isInputOnly());
  // INPUT-ONLY: FIN on ESTABLISHED goes to FIN_WAIT (INPUT would say CLOSE_WAIT).
  table.onPacket(ins.id, Direction::kIn, kTcpSyn);
  table.onPacket(ins.id, Direction::kIn, kTcpAck);
  EXPECT_EQ(table.conn(ins.id).tcpState(), TcpState::kEstablished);
  table.onPacket(ins.id, Direction::kOut, kTcpAck);
  EXPECT_FALSE(table.conn(ins.id).isInputOnly());
  table.onPacket(ins.id, Direction::kIn, kTcpFin | kTcpAck);
  EXPECT_EQ(table.conn(ins.id).tcpState(), TcpState::kCloseWait);
}

TEST(TcpTransitions, SecureTablesCanBeSwitchedAtRuntime) {
  ConnTable table(testing::smallConfig());
  const InsertResult a = table.insert(testing::drConn(ip(1, 2, 3, 4), 1));
  table.onPacket(a.id, Direction::kIn, kTcpSyn);
  EXPECT_EQ(table.conn(a.id).tcpState(), TcpState::kSynRecv);
  table.setTcpTables(TcpTableSet::kSecure);
  const InsertResult b = table.insert(testing::drConn(ip(1, 2, 3, 4), 2));
  table.onPacket(b.id, Direction::kIn, kTcpSyn);
  EXPECT_EQ(table.conn(b.id).tcpState(), TcpState::kSynAck);
}

}  // namespace
}  // namespace dplb::dp
