// Randomized differential test: ConnTable against a plain std::unordered_map
// model, over a seeded stream of inserts, lookups (single and bulk), packets,
// erases and clock advances with and without a work budget.
//
// The model keeps the observable contract: inbound keys are unique, a packet
// tuple finds the connection(s) it belongs to, a full table/index refuses,
// and an entry expires once the clock passes last-packet + its state's
// timeout (+1 tick, never early), reported exactly once. The TCP state comes
// from nextTcpState(), which tcp_state_test.cc holds to the kernel's tables.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "conn_test_util.h"
#include "dplb/dp/conn_table.h"

namespace dplb::dp {
namespace {

using testing::inbound;
using testing::ip;
using testing::kSec;
using testing::outbound;
using testing::RecordingSink;

// Addresses in this test are a.0.0.d with a < 16: 12 bits identify them, so
// this packing is collision-free.
uint64_t addrBits(uint32_t a) {
  return ((a >> 16) & 0xF00) | (a & 0xFF);
}

uint64_t tupleKey(const FiveTuple& t) {
  return (addrBits(t.srcAddr) << 52) | (addrBits(t.dstAddr) << 40) | (uint64_t{t.srcPort} << 24) |
         (uint64_t{t.dstPort} << 8) | static_cast<uint8_t>(t.proto);
}

struct ModelConn {
  NewConn nc;
  uint8_t state = 0;
  bool inputOnly = false;
  uint64_t expiryTick = 0;
};

struct DiffParam {
  const char* name;
  uint32_t capacity;
  uint32_t buckets;  // 0 = auto
  uint64_t seed;
  int ops;
};

class ConnTableDifferential : public ::testing::TestWithParam<DiffParam> {};

TEST_P(ConnTableDifferential, MatchesTheModel) {
  const DiffParam p = GetParam();
  ConnTableConfig cfg;
  cfg.capacity = p.capacity;
  cfg.buckets = p.buckets;
  cfg.tick = std::chrono::seconds{1};
  cfg.wheelSlots = 64;  // shorter than most timeouts: lazy re-slotting is exercised
  cfg.hashSeed = p.seed * 7919;
  ConnTable table(cfg);
  const uint32_t indexSlots = table.bucketCount() * 8;
  const ConnTimeouts timeouts;

  std::mt19937_64 rng(p.seed);
  auto pick = [&](uint64_t n) { return static_cast<uint32_t>(rng() % n); };

  std::unordered_map<ConnId, ModelConn> model;
  std::unordered_map<uint64_t, ConnId> byIn;
  std::unordered_map<uint64_t, std::set<ConnId>> byOut;
  uint32_t usedKeys = 0;
  uint64_t nowTick = 0;
  RecordingSink sink;

  auto timeoutTicks = [&](const ModelConn& m) -> uint64_t {
    if (m.nc.proto == L4Proto::kUdp) {
      return static_cast<uint64_t>(timeouts.udp.count());
    }
    return static_cast<uint64_t>(timeouts.tcp[m.state].count());
  };
  auto forget = [&](ConnId id) {
    const ModelConn& m = model.at(id);
    byIn.erase(tupleKey(inbound(m.nc)));
    usedKeys -= 1;
    if (m.nc.fwd == ForwardMode::kNat) {
      auto it = byOut.find(tupleKey(outbound(m.nc)));
      it->second.erase(id);
      if (it->second.empty()) {
        byOut.erase(it);
      }
      usedKeys -= 1;
    }
    model.erase(id);
  };
  auto randomConn = [&]() {
    NewConn nc;
    nc.proto = pick(4) == 0 ? L4Proto::kUdp : L4Proto::kTcp;
    // Disjoint pools: clients 1.x, VIPs 2.x, servers 3.x, so an inbound tuple
    // never equals an outbound one; small pools make key clashes common.
    nc.clientAddr = ip(1, 0, 0, static_cast<uint8_t>(pick(16)));
    nc.clientPort = static_cast<uint16_t>(1000 + pick(20));
    nc.vipAddr = ip(2, 0, 0, static_cast<uint8_t>(pick(3)));
    nc.vipPort = pick(2) == 0 ? 80 : 443;
    nc.rsAddr = ip(3, 0, 0, static_cast<uint8_t>(pick(5)));
    nc.rsPort = pick(2) == 0 ? 8080 : 8443;
    nc.fwd = pick(10) < 7 ? ForwardMode::kNat : (pick(2) ? ForwardMode::kDr : ForwardMode::kTun);
    nc.serviceId = pick(3);
    nc.realServerId = pick(5);
    nc.destGeneration = 1;
    return nc;
  };
  auto randomLive = [&]() -> ConnId {
    auto it = model.begin();
    std::advance(it, pick(model.size()));
    return it->first;
  };
  auto checkLookup = [&](const FiveTuple& t, const LookupResult& got) {
    std::set<std::pair<ConnId, Direction>> ok;
    if (auto it = byIn.find(tupleKey(t)); it != byIn.end()) {
      ok.emplace(it->second, Direction::kIn);
    }
    if (auto it = byOut.find(tupleKey(t)); it != byOut.end()) {
      for (ConnId id : it->second) {
        ok.emplace(id, Direction::kOut);
      }
    }
    if (ok.empty()) {
      EXPECT_FALSE(got.hit());
    } else {
      EXPECT_TRUE(ok.contains({got.id, got.dir}));
    }
  };
  auto randomProbe = [&]() -> FiveTuple {
    if (!model.empty() && pick(3) != 0) {
      const ModelConn& m = model.at(randomLive());
      return (m.nc.fwd == ForwardMode::kNat && pick(2)) ? outbound(m.nc) : inbound(m.nc);
    }
    const NewConn nc = randomConn();
    return pick(2) ? inbound(nc) : outbound(nc);
  };
  auto drainExpired = [&](std::size_t from) {
    for (std::size_t i = from; i < sink.records.size(); ++i) {
      const ConnId id = sink.records[i].id;
      ASSERT_TRUE(model.contains(id)) << "expired twice or never inserted";
      ASSERT_LE(model.at(id).expiryTick, nowTick) << "expired early";
      EXPECT_EQ(sink.records[i].conn.clientPort(), model.at(id).nc.clientPort);
      forget(id);
    }
  };

  int inserted = 0;  // outcome counts, to prove the stream reached each
  int exists = 0;
  int full = 0;
  int expired = 0;
  for (int op = 0; op < p.ops; ++op) {
    if (op % 1000 == 0) {
      ASSERT_EQ(table.indexStats().keys, usedKeys) << op;
    }
    const uint32_t dice = pick(100);
    if (dice < 35) {
      const NewConn nc = randomConn();
      const InsertResult r = table.insert(nc);
      const uint32_t need = nc.fwd == ForwardMode::kNat ? 2 : 1;
      if (auto it = byIn.find(tupleKey(inbound(nc))); it != byIn.end()) {
        ASSERT_EQ(r.status, InsertStatus::kExists);
        ASSERT_EQ(r.id, it->second);
        ++exists;
      } else if (model.size() == p.capacity) {
        ASSERT_EQ(r.status, InsertStatus::kTableFull);
        ++full;
      } else if (indexSlots - usedKeys < need) {
        ASSERT_EQ(r.status, InsertStatus::kIndexFull);
        ++full;
      } else {
        ASSERT_EQ(r.status, InsertStatus::kInserted);
        ASSERT_FALSE(model.contains(r.id));
        ModelConn m;
        m.nc = nc;
        m.inputOnly = nc.fwd != ForwardMode::kNat;
        m.expiryTick = nowTick + 3 + 1;  // the kernel's 3 s before the first packet
        model.emplace(r.id, m);
        byIn.emplace(tupleKey(inbound(nc)), r.id);
        if (nc.fwd == ForwardMode::kNat) {
          byOut[tupleKey(outbound(nc))].insert(r.id);
        }
        usedKeys += need;
        ++inserted;
      }
      ASSERT_EQ(table.size(), model.size());
    } else if (dice < 60) {
      const FiveTuple t = randomProbe();
      checkLookup(t, table.lookup(t));
    } else if (dice < 63) {
      std::vector<FiveTuple> batch(1 + pick(70));
      for (FiveTuple& t : batch) {
        t = randomProbe();
      }
      std::vector<LookupResult> got(batch.size());
      table.lookupBulk(batch, got);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        checkLookup(batch[i], got[i]);
      }
    } else if (dice < 80) {
      if (model.empty()) {
        continue;
      }
      const ConnId id = randomLive();
      ModelConn& m = model.at(id);
      const Direction dir =
          (m.nc.fwd == ForwardMode::kNat && pick(2)) ? Direction::kOut : Direction::kIn;
      const uint8_t flags = static_cast<uint8_t>(rng());
      const StateUpdate u = table.onPacket(id, dir, flags);
      if (m.nc.proto == L4Proto::kTcp) {
        TcpTableDir td = dir == Direction::kIn ? TcpTableDir::kInput : TcpTableDir::kOutput;
        if (m.inputOnly) {
          if (dir == Direction::kOut) {
            m.inputOnly = false;
          } else {
            td = TcpTableDir::kInputOnly;
          }
        }
        m.state = static_cast<uint8_t>(
            nextTcpState(TcpTableSet::kNormal, td, static_cast<TcpState>(m.state), flags));
      }
      ASSERT_EQ(u.newState, m.state);
      ASSERT_EQ(table.conn(id).state(), m.state);
      ASSERT_EQ(table.conn(id).isActive(), m.state == 1 && m.nc.proto == L4Proto::kTcp);
      m.expiryTick = nowTick + timeoutTicks(m) + 1;
    } else if (dice < 85) {
      if (model.empty()) {
        continue;
      }
      const ConnId id = randomLive();
      ASSERT_TRUE(table.erase(id));
      forget(id);
    } else {
      // Mostly small steps so that the table fills; now and then a long one.
      nowTick += pick(200) == 0 ? pick(1200) : (pick(4) == 0 ? 1 : 0);
      const std::size_t before = sink.records.size();
      const bool limited = pick(3) == 0;
      const AdvanceResult r = table.advance(nowTick * kSec, limited ? pick(8) : 1u << 30, sink);
      ASSERT_LE(r.expired + r.rearmed, limited ? 8u : 1u << 30);
      ASSERT_EQ(r.expired, sink.records.size() - before);
      expired += static_cast<int>(r.expired);
      drainExpired(before);
      if (!limited) {
        ASSERT_TRUE(r.caughtUp);
        for (const auto& [id, m] : model) {
          ASSERT_GT(m.expiryTick, nowTick) << "due entry " << id << " was not expired";
        }
      }
      ASSERT_EQ(table.size(), model.size());
    }
  }
  // Everything left expires once the clock passes the longest timeout.
  nowTick += 1000;
  const std::size_t before = sink.records.size();
  table.advance(nowTick * kSec, 1u << 30, sink);
  drainExpired(before);
  EXPECT_TRUE(model.empty());
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.indexStats().keys, 0u);
  EXPECT_EQ(table.indexStats().overflow, 0u);
  // The stream must have exercised each outcome.
  EXPECT_GT(inserted, 100);
  EXPECT_GT(exists, 0);
  RecordProperty("inserted", inserted);
  RecordProperty("exists", exists);
  RecordProperty("full", full);
  RecordProperty("expired", expired);
  EXPECT_GT(expired, 100);
  if (p.capacity < 300 || p.buckets != 0) {
    EXPECT_GT(full, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, ConnTableDifferential,
                         ::testing::Values(DiffParam{"auto", 400, 0, 1, 150000},
                                           DiffParam{"auto2", 400, 0, 2, 150000},
                                           DiffParam{"smallFull", 120, 0, 3, 100000},
                                           DiffParam{"tinyIndex", 400, 16, 4, 100000},
                                           DiffParam{"oneBucket", 50, 1, 5, 20000}),
                         [](const ::testing::TestParamInfo<DiffParam>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace dplb::dp
