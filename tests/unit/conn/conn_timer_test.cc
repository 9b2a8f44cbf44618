// Expiry: per-state timeouts with an injected clock, lazy re-arming, bounded
// work per advance(), clock jumps.

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "conn_test_util.h"
#include "dplb/dp/conn_table.h"

namespace dplb::dp {
namespace {

using testing::drConn;
using testing::inbound;
using testing::ip;
using testing::kMs;
using testing::kSec;
using testing::natConn;
using testing::RecordingSink;
using testing::smallConfig;

struct Packet {
  Direction dir;
  uint8_t flags;
};

struct StateRecipe {
  TcpState state;
  ForwardMode fwd;
  TcpTableSet set;
  std::vector<Packet> packets;
};

std::vector<StateRecipe> recipes() {
  const Packet inSyn{Direction::kIn, kTcpSyn};
  const Packet inAck{Direction::kIn, kTcpAck};
  const Packet inFin{Direction::kIn, kTcpFin | kTcpAck};
  const Packet inRst{Direction::kIn, kTcpRst};
  const Packet outSyn{Direction::kOut, kTcpSyn};
  const Packet outFin{Direction::kOut, kTcpFin | kTcpAck};
  // LAST_ACK and LISTEN have no way in through the tables (the kernel only
  // sets LISTEN from ip_vs_tcp_conn_listen); SYNACK only through secure_tcp.
  return {
      {TcpState::kSynRecv, ForwardMode::kNat, TcpTableSet::kNormal, {inSyn}},
      {TcpState::kEstablished, ForwardMode::kNat, TcpTableSet::kNormal, {inSyn, inAck}},
      {TcpState::kSynSent, ForwardMode::kNat, TcpTableSet::kNormal, {outSyn}},
      {TcpState::kFinWait, ForwardMode::kNat, TcpTableSet::kNormal, {inSyn, inAck, outFin}},
      {TcpState::kTimeWait, ForwardMode::kNat, TcpTableSet::kNormal, {inSyn, inAck, outFin, inFin}},
      {TcpState::kClose, ForwardMode::kNat, TcpTableSet::kNormal, {inSyn, inAck, inRst}},
      {TcpState::kCloseWait, ForwardMode::kNat, TcpTableSet::kNormal, {inSyn, inAck, inFin}},
      {TcpState::kFinWait, ForwardMode::kDr, TcpTableSet::kNormal, {inSyn, inAck, inFin}},
      {TcpState::kSynAck, ForwardMode::kDr, TcpTableSet::kSecure, {inSyn}},
  };
}

class StateTimeouts : public ::testing::TestWithParam<ConnTableConfig> {};

TEST_P(StateTimeouts, EveryReachableTcpStateExpiresAfterItsTimeoutNotBefore) {
  const ConnTimeouts timeouts;
  for (const StateRecipe& r : recipes()) {
    ConnTableConfig cfg = GetParam();
    cfg.tcpTables = r.set;
    ConnTable table(cfg);
    RecordingSink sink;
    // Start between two ticks: rounding must never make a timeout short.
    const uint64_t t0 = 10 * kSec + 370 * kMs;
    table.advance(t0, 1000, sink);
    NewConn nc = natConn(ip(1, 2, 3, 4), 1000);
    nc.fwd = r.fwd;
    const InsertResult ins = table.insert(nc);
    ASSERT_TRUE(ins.ok());
    for (const Packet& p : r.packets) {
      table.onPacket(ins.id, p.dir, p.flags);
    }
    ASSERT_EQ(table.conn(ins.id).tcpState(), r.state) << tcpStateName(r.state);
    const auto timeoutNs = static_cast<uint64_t>(
        std::chrono::nanoseconds(timeouts.tcp[static_cast<int>(r.state)]).count());
    const uint64_t tickNs = static_cast<uint64_t>(cfg.tick.count());

    table.advance(t0 + timeoutNs - 1, 1u << 20, sink);
    EXPECT_TRUE(sink.records.empty()) << tcpStateName(r.state) << " expired early";
    EXPECT_EQ(table.lookup(inbound(nc)).id, ins.id);

    table.advance(t0 + timeoutNs + 2 * tickNs, 1u << 20, sink);
    ASSERT_EQ(sink.records.size(), 1u) << tcpStateName(r.state) << " did not expire";
    EXPECT_EQ(sink.records[0].id, ins.id);
    EXPECT_EQ(sink.records[0].conn.tcpState(), r.state);
    EXPECT_FALSE(table.lookup(inbound(nc)).hit());
    EXPECT_EQ(table.size(), 0u);
  }
}

ConnTableConfig defaultTick() {
  ConnTableConfig cfg;
  cfg.capacity = 64;
  return cfg;  // 100 ms × 16384 slots
}

INSTANTIATE_TEST_SUITE_P(Wheels, StateTimeouts,
                         ::testing::Values(smallConfig(),  // 1 s × 64 slots: most timeouts lap it
                                           defaultTick()));

TEST(ConnTimers, NewConnectionWithoutItsFirstPacketLivesThreeSeconds) {
  ConnTable table(smallConfig());
  RecordingSink sink;
  const InsertResult ins = table.insert(natConn(ip(1, 2, 3, 4), 1));
  table.advance(3 * kSec - 1, 100, sink);
  EXPECT_TRUE(sink.records.empty());
  table.advance(5 * kSec, 100, sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].id, ins.id);
}

TEST(ConnTimers, UdpAndIcmpUseTheirTimeouts) {
  for (const auto& [proto, seconds] :
       {std::pair{L4Proto::kUdp, uint64_t{300}}, std::pair{L4Proto::kIcmp, uint64_t{60}}}) {
    ConnTable table(smallConfig());
    RecordingSink sink;
    NewConn nc = natConn(ip(1, 2, 3, 4), 53, ip(10, 0, 0, 1), 53, ip(10, 0, 1, 1), 53, proto);
    const InsertResult ins = table.insert(nc);
    const StateUpdate u = table.onPacket(ins.id, Direction::kIn, 0);
    EXPECT_EQ(u.activity, Activity::kUnchanged);
    EXPECT_EQ(u.newState, 0);
    table.advance(seconds * kSec - 1, 100, sink);
    EXPECT_TRUE(sink.records.empty()) << static_cast<int>(proto);
    table.advance((seconds + 2) * kSec, 100, sink);
    ASSERT_EQ(sink.records.size(), 1u) << static_cast<int>(proto);
    EXPECT_FALSE(sink.records[0].conn.isActive()) << "UDP/ICMP are never active";
  }
}

TEST(ConnTimers, ConfiguredAndRuntimeTimeoutsApply) {
  ConnTableConfig cfg = smallConfig();
  cfg.timeouts.tcp[static_cast<int>(TcpState::kEstablished)] = std::chrono::seconds{5};
  ConnTable table(cfg);
  RecordingSink sink;
  const InsertResult a = table.insert(natConn(ip(1, 2, 3, 4), 1));
  table.onPacket(a.id, Direction::kIn, kTcpSyn);
  table.onPacket(a.id, Direction::kIn, kTcpAck);
  table.advance(5 * kSec - 1, 100, sink);
  EXPECT_TRUE(sink.records.empty());
  table.advance(7 * kSec, 100, sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_TRUE(sink.records[0].conn.isActive());

  // ipvsadm --set 20 0 0: from the next re-arm on.
  ConnTimeouts t = cfg.timeouts;
  t.tcp[static_cast<int>(TcpState::kEstablished)] = std::chrono::seconds{20};
  table.setTimeouts(t);
  const InsertResult b = table.insert(natConn(ip(1, 2, 3, 4), 2));
  table.onPacket(b.id, Direction::kIn, kTcpSyn);
  table.onPacket(b.id, Direction::kIn, kTcpAck);
  table.advance(7 * kSec + 20 * kSec - 1, 100, sink);
  EXPECT_EQ(sink.records.size(), 1u);
  table.advance(7 * kSec + 22 * kSec, 100, sink);
  EXPECT_EQ(sink.records.size(), 2u);
}

TEST(ConnTimers, PacketsKeepAConnectionAliveAcrossManyWheelRevolutions) {
  // 64 one-second slots and a 900 s ESTABLISHED timeout: the entry's slot
  // fires long before its expiry and it is re-slotted, never expired early.
  ConnTable table(smallConfig());
  RecordingSink sink;
  const InsertResult ins = table.insert(natConn(ip(1, 2, 3, 4), 1));
  table.onPacket(ins.id, Direction::kIn, kTcpSyn);
  table.onPacket(ins.id, Direction::kIn, kTcpAck);
  uint32_t rearmed = 0;
  uint64_t now = 0;
  for (int i = 0; i < 20; ++i) {
    now += 500 * kSec;
    for (uint64_t t = now - 500 * kSec + kSec; t <= now; t += 7 * kSec) {
      rearmed += table.advance(t, 1000, sink).rearmed;
    }
    rearmed += table.advance(now, 1000, sink).rearmed;
    ASSERT_TRUE(sink.records.empty()) << "at " << now / kSec << " s";
    table.onPacket(ins.id, Direction::kIn, kTcpAck);  // re-arm: 900 s from now
  }
  EXPECT_GT(rearmed, 0u);
  EXPECT_LT(rearmed, 400u) << "about one re-slot per revolution, not per tick";
  EXPECT_EQ(table.remaining(ins.id), std::chrono::seconds{901});
  table.advance(now + 900 * kSec - 1, 1000, sink);
  EXPECT_TRUE(sink.records.empty());
  table.advance(now + 902 * kSec, 1000, sink);
  EXPECT_EQ(sink.records.size(), 1u);
}

TEST(ConnTimers, AShorterTimeoutTakesEffectAtOnce) {
  // ESTABLISHED (900 s) → RST → CLOSE (10 s): the entry is moved to an
  // earlier slot instead of waiting for its old one.
  ConnTable table(smallConfig());
  RecordingSink sink;
  const InsertResult ins = table.insert(natConn(ip(1, 2, 3, 4), 1));
  table.onPacket(ins.id, Direction::kIn, kTcpSyn);
  table.onPacket(ins.id, Direction::kIn, kTcpAck);
  table.advance(100 * kSec, 1000, sink);
  const StateUpdate u = table.onPacket(ins.id, Direction::kIn, kTcpRst);
  EXPECT_EQ(u.activity, Activity::kBecameInactive);
  table.advance(110 * kSec - 1, 1000, sink);
  EXPECT_TRUE(sink.records.empty());
  table.advance(112 * kSec, 1000, sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_FALSE(sink.records[0].conn.isActive());
  EXPECT_EQ(sink.records[0].conn.tcpState(), TcpState::kClose);
}

TEST(ConnTimers, AdvanceDoesBoundedWork) {
  ConnTableConfig cfg = smallConfig(1000);
  ConnTable table(cfg);
  RecordingSink sink;
  for (uint16_t p = 0; p < 1000; ++p) {
    const InsertResult r = table.insert(
        natConn(ip(1, 2, 3, 4), p, ip(10, 0, 0, 1), 53, ip(10, 0, 1, 1), 53, L4Proto::kUdp));
    ASSERT_TRUE(r.ok());
    table.onPacket(r.id, Direction::kIn, 0);
  }
  const uint64_t late = 400 * kSec;
  for (int call = 0; call < 10; ++call) {
    const AdvanceResult r = table.advance(late, 100, sink);
    EXPECT_EQ(r.expired + r.rearmed, 100u) << call;
    EXPECT_EQ(r.expired, 100u) << call;
    // The call that empties the slot then finishes the walk up to now.
    EXPECT_EQ(r.caughtUp, call == 9) << call;
    EXPECT_EQ(table.size(), 1000u - 100u * (call + 1));
  }
  const AdvanceResult last = table.advance(late, 100, sink);
  EXPECT_EQ(last.expired, 0u);
  EXPECT_TRUE(last.caughtUp);
  EXPECT_EQ(sink.records.size(), 1000u);

  // Re-slotting counts against the budget too: 1000 long-lived entries
  // whose slots fire before their expiry (each at most once per 64-slot
  // revolution: linked at its 3 s first timeout, then at +63 ticks).
  for (uint16_t p = 0; p < 1000; ++p) {
    const InsertResult r = table.insert(natConn(ip(1, 2, 3, 5), p));
    table.onPacket(r.id, Direction::kIn, kTcpSyn);
    table.onPacket(r.id, Direction::kIn, kTcpAck);
  }
  uint32_t rearmed = 0;
  for (int call = 0; call < 100; ++call) {
    const AdvanceResult r = table.advance(late + 100 * kSec, 50, sink);
    EXPECT_LE(r.expired + r.rearmed, 50u);
    EXPECT_EQ(r.expired, 0u);
    rearmed += r.rearmed;
  }
  EXPECT_GE(rearmed, 1000u);
  EXPECT_LE(rearmed, 3000u);
  EXPECT_EQ(table.size(), 1000u);
  // Budget 0 only moves the clock.
  const AdvanceResult none = table.advance(late + 2000 * kSec, 0, sink);
  EXPECT_EQ(none.expired + none.rearmed, 0u);
  EXPECT_FALSE(none.caughtUp);
}

TEST(ConnTimers, ClockJumpsAndStalledWorkersAreHandled) {
  ConnTable table(smallConfig(16));
  RecordingSink sink;
  const InsertResult udp = table.insert(
      natConn(ip(1, 2, 3, 4), 1, ip(10, 0, 0, 1), 53, ip(10, 0, 1, 1), 53, L4Proto::kUdp));
  table.onPacket(udp.id, Direction::kIn, 0);
  NewTemplate t;
  t.key = TemplateKey::forService(L4Proto::kTcp, ip(1, 2, 3, 4), 0xFFFFFFFFu, ip(10, 0, 0, 1), 80);
  t.timeout = std::chrono::seconds{20000};
  const InsertResult tpl = table.insertTemplate(t);
  ASSERT_TRUE(tpl.ok());

  // 10000 s in one step: 156 revolutions of the 64-slot wheel.
  const AdvanceResult r = table.advance(10000 * kSec, 1000, sink);
  EXPECT_TRUE(r.caughtUp);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].id, udp.id);
  EXPECT_EQ(table.findTemplate(t.key), tpl.id);

  // Time does not run backwards.
  table.advance(5000 * kSec, 1000, sink);
  EXPECT_EQ(table.remaining(tpl.id), std::chrono::seconds{10001});

  // Entries made after the jump keep exact timing.
  const InsertResult c = table.insert(natConn(ip(1, 2, 3, 4), 2));
  table.onPacket(c.id, Direction::kIn, kTcpSyn);  // SYN_RECV, 60 s
  table.advance(10060 * kSec - 1, 1000, sink);
  EXPECT_EQ(sink.records.size(), 1u);
  table.advance(10062 * kSec, 1000, sink);
  EXPECT_EQ(sink.records.size(), 2u);

  table.advance(20000 * kSec - 1, 1000, sink);
  EXPECT_EQ(table.findTemplate(t.key), tpl.id);
  table.advance(20002 * kSec, 1000, sink);
  EXPECT_EQ(table.findTemplate(t.key), kNoConn);
  EXPECT_EQ(table.size(), 0u);
}

TEST(ConnTimers, DefaultTickIsATenthOfASecond) {
  ConnTableConfig cfg;
  cfg.capacity = 16;
  cfg.startNs = 5 * kSec;  // the injected clock's reading at construction
  ConnTable table(cfg);
  RecordingSink sink;
  table.advance(5 * kSec + 40 * kMs, 100, sink);
  const InsertResult ins = table.insert(natConn(ip(1, 2, 3, 4), 1));
  table.onPacket(ins.id, Direction::kIn, kTcpSyn);  // SYN_RECV, 60 s
  table.advance(5 * kSec + 40 * kMs + 60 * kSec - 1, 100, sink);
  EXPECT_TRUE(sink.records.empty());
  table.advance(5 * kSec + 40 * kMs + 60 * kSec + 200 * kMs, 100, sink);
  EXPECT_EQ(sink.records.size(), 1u);
}

TEST(ConnTimers, RemainingCountsDown) {
  ConnTable table(smallConfig());
  RecordingSink sink;
  const InsertResult ins = table.insert(drConn(ip(1, 2, 3, 4), 1));
  table.onPacket(ins.id, Direction::kIn, kTcpSyn);
  EXPECT_EQ(table.remaining(ins.id), std::chrono::seconds{61});
  table.advance(30 * kSec, 100, sink);
  EXPECT_EQ(table.remaining(ins.id), std::chrono::seconds{31});
}

}  // namespace
}  // namespace dplb::dp
