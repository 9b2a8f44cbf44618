// ConnTable index: insert, lookup in both directions, erase, a full table, a
// full index, forced collisions, bulk and pipelined lookups, dead real servers.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <vector>

#include "conn_test_util.h"
#include "dplb/dp/conn_table.h"

namespace dplb::dp {
namespace {

using testing::drConn;
using testing::inbound;
using testing::ip;
using testing::natConn;
using testing::outbound;
using testing::RecordingSink;
using testing::smallConfig;

TEST(ConnTable, EntryIsOneCacheLine) {
  EXPECT_EQ(sizeof(Conn), 64u);
  EXPECT_EQ(alignof(Conn), 64u);
}

TEST(ConnTable, NatConnectionIsFoundFromBothDirections) {
  ConnTable table(smallConfig());
  const NewConn nc =
      natConn(ip(192, 168, 1, 5), 40000, ip(10, 0, 0, 100), 80, ip(10, 0, 1, 11), 8080);
  const InsertResult ins = table.insert(nc);
  ASSERT_EQ(ins.status, InsertStatus::kInserted);
  EXPECT_EQ(table.size(), 1u);

  const LookupResult in = table.lookup(inbound(nc));
  ASSERT_TRUE(in.hit());
  EXPECT_EQ(in.id, ins.id);
  EXPECT_EQ(in.dir, Direction::kIn);

  const LookupResult out = table.lookup(outbound(nc));
  ASSERT_TRUE(out.hit());
  EXPECT_EQ(out.id, ins.id);
  EXPECT_EQ(out.dir, Direction::kOut);

  const Conn& c = table.conn(ins.id);
  EXPECT_EQ(c.proto(), L4Proto::kTcp);
  EXPECT_EQ(c.clientAddr(), ip(192, 168, 1, 5));
  EXPECT_EQ(c.clientPort(), 40000);
  EXPECT_EQ(c.vipAddr(), ip(10, 0, 0, 100));
  EXPECT_EQ(c.vipPort(), 80);
  EXPECT_EQ(c.rsAddr(), ip(10, 0, 1, 11));
  EXPECT_EQ(c.rsPort(), 8080);
  EXPECT_EQ(c.forwardMode(), ForwardMode::kNat);
  EXPECT_EQ(c.serviceId(), 7u);
  EXPECT_EQ(c.realServerId(), 3u);
  EXPECT_EQ(c.destGeneration(), 1u);
  EXPECT_EQ(c.tcpState(), TcpState::kNone);
  EXPECT_FALSE(c.isTemplate());
  EXPECT_FALSE(c.isActive());
  EXPECT_FALSE(c.isInputOnly());
  EXPECT_EQ(c.controlTemplate(), kNoConn);

  // Near misses: the reverse of each direction, another port, another
  // protocol, the VIP as a source.
  EXPECT_FALSE(
      table.lookup(FiveTuple{nc.vipAddr, nc.clientAddr, nc.vipPort, nc.clientPort, L4Proto::kTcp})
          .hit());
  EXPECT_FALSE(
      table.lookup(FiveTuple{nc.clientAddr, nc.rsAddr, nc.clientPort, nc.rsPort, L4Proto::kTcp})
          .hit());
  FiveTuple otherPort = inbound(nc);
  otherPort.srcPort = 40001;
  EXPECT_FALSE(table.lookup(otherPort).hit());
  FiveTuple udp = inbound(nc);
  udp.proto = L4Proto::kUdp;
  EXPECT_FALSE(table.lookup(udp).hit());
}

TEST(ConnTable, DrAndTunIndexOnlyTheClientHalf) {
  ConnTable table(smallConfig());
  for (ForwardMode fwd : {ForwardMode::kDr, ForwardMode::kTun}) {
    const NewConn nc = drConn(ip(192, 168, 1, 5), fwd == ForwardMode::kDr ? 1 : 2, fwd);
    const InsertResult ins = table.insert(nc);
    ASSERT_TRUE(ins.ok());
    EXPECT_EQ(table.lookup(inbound(nc)).id, ins.id);
    EXPECT_FALSE(table.lookup(outbound(nc)).hit());
    EXPECT_TRUE(table.conn(ins.id).isInputOnly());
    EXPECT_EQ(table.conn(ins.id).forwardMode(), fwd);
  }
}

TEST(ConnTable, SameInboundKeyReportsTheExistingEntry) {
  ConnTable table(smallConfig());
  const NewConn nc = natConn(ip(1, 1, 1, 1), 1234);
  const InsertResult first = table.insert(nc);
  ASSERT_TRUE(first.ok());
  NewConn again = nc;
  again.rsAddr = ip(10, 0, 1, 99);  // another server: still the same client flow
  const InsertResult second = table.insert(again);
  EXPECT_EQ(second.status, InsertStatus::kExists);
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(table.size(), 1u);
}

TEST(ConnTable, SharedOutboundKeyAnswersWithOneOfTheConnections) {
  // Two VIPs NATed to one RS:port, reached from one client port: replies are
  // ambiguous (in IPVS too); one of the two answers, and the other once the
  // first is gone.
  ConnTable table(smallConfig());
  const NewConn a = natConn(ip(1, 1, 1, 1), 1234, ip(10, 0, 0, 100), 80, ip(10, 0, 1, 11), 8080);
  const NewConn b = natConn(ip(1, 1, 1, 1), 1234, ip(10, 0, 0, 101), 80, ip(10, 0, 1, 11), 8080);
  const InsertResult ia = table.insert(a);
  const InsertResult ib = table.insert(b);
  ASSERT_TRUE(ia.ok());
  ASSERT_TRUE(ib.ok());
  EXPECT_EQ(table.lookup(inbound(a)).id, ia.id);
  EXPECT_EQ(table.lookup(inbound(b)).id, ib.id);
  const LookupResult reply = table.lookup(outbound(a));
  EXPECT_TRUE(reply.id == ia.id || reply.id == ib.id);
  EXPECT_EQ(reply.dir, Direction::kOut);
  ASSERT_TRUE(table.erase(ia.id));
  EXPECT_EQ(table.lookup(outbound(b)).id, ib.id);
  EXPECT_EQ(table.lookup(outbound(b)).dir, Direction::kOut);
}

TEST(ConnTable, FullTableRefusesNewEntriesAndKeepsOldOnesWorking) {
  ConnTable table(smallConfig(4));
  std::vector<NewConn> conns;
  std::vector<ConnId> ids;
  for (uint16_t p = 1; p <= 4; ++p) {
    conns.push_back(natConn(ip(1, 1, 1, 1), p));
    const InsertResult r = table.insert(conns.back());
    ASSERT_TRUE(r.ok());
    ids.push_back(r.id);
  }
  const NewConn extra = natConn(ip(1, 1, 1, 1), 5);
  const InsertResult full = table.insert(extra);
  EXPECT_EQ(full.status, InsertStatus::kTableFull);
  EXPECT_EQ(full.id, kNoConn);
  EXPECT_FALSE(table.lookup(inbound(extra)).hit());
  NewTemplate t;
  t.key =
      TemplateKey::forService(L4Proto::kTcp, ip(1, 1, 1, 1), 0xFFFFFFFFu, ip(10, 0, 0, 100), 80);
  EXPECT_EQ(table.insertTemplate(t).status, InsertStatus::kTableFull);
  EXPECT_EQ(table.size(), 4u);
  for (std::size_t i = 0; i < conns.size(); ++i) {
    EXPECT_EQ(table.lookup(inbound(conns[i])).id, ids[i]);
    EXPECT_EQ(table.lookup(outbound(conns[i])).id, ids[i]);
    table.onPacket(ids[i], Direction::kIn, kTcpSyn);
    EXPECT_EQ(table.conn(ids[i]).tcpState(), TcpState::kSynRecv);
  }
  ASSERT_TRUE(table.erase(ids[1]));
  const InsertResult again = table.insert(extra);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(table.lookup(inbound(extra)).id, again.id);
}

TEST(ConnTable, EraseRemovesBothKeysAndFreesTheEntry) {
  ConnTable table(smallConfig(2));
  const NewConn a = natConn(ip(1, 1, 1, 1), 1);
  const NewConn b = natConn(ip(1, 1, 1, 1), 2);
  const InsertResult ia = table.insert(a);
  const InsertResult ib = table.insert(b);
  ASSERT_TRUE(ia.ok() && ib.ok());
  ASSERT_TRUE(table.erase(ia.id));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_FALSE(table.lookup(inbound(a)).hit());
  EXPECT_FALSE(table.lookup(outbound(a)).hit());
  EXPECT_EQ(table.lookup(inbound(b)).id, ib.id);
  EXPECT_EQ(table.lookup(outbound(b)).id, ib.id);
  // The freed entry is reused.
  const NewConn c = natConn(ip(1, 1, 1, 1), 3);
  const InsertResult ic = table.insert(c);
  ASSERT_TRUE(ic.ok());
  EXPECT_EQ(ic.id, ia.id);
  EXPECT_EQ(table.conn(ic.id).clientPort(), 3);
}

TEST(ConnTable, OneBucketHoldsEightKeysThenTheIndexIsFull) {
  ConnTableConfig cfg = smallConfig(16);
  cfg.buckets = 1;
  ConnTable table(cfg);
  EXPECT_EQ(table.bucketCount(), 1u);
  std::vector<NewConn> conns;
  std::vector<ConnId> ids;
  for (uint16_t p = 1; p <= 4; ++p) {  // 4 NAT connections = 8 keys
    conns.push_back(natConn(ip(1, 1, 1, 1), p));
    const InsertResult r = table.insert(conns.back());
    ASSERT_TRUE(r.ok()) << p;
    ids.push_back(r.id);
  }
  const NewConn nat = natConn(ip(1, 1, 1, 1), 5);
  EXPECT_EQ(table.insert(nat).status, InsertStatus::kIndexFull);
  EXPECT_EQ(table.insert(drConn(ip(1, 1, 1, 1), 6)).status, InsertStatus::kIndexFull);
  EXPECT_EQ(table.size(), 4u);
  EXPECT_FALSE(table.lookup(inbound(nat)).hit());
  for (std::size_t i = 0; i < conns.size(); ++i) {
    EXPECT_EQ(table.lookup(inbound(conns[i])).id, ids[i]);
    EXPECT_EQ(table.lookup(outbound(conns[i])).id, ids[i]);
  }
  // A NAT insert that finds room for its inbound key only rolls back.
  ASSERT_TRUE(table.erase(ids[0]));
  ASSERT_TRUE(table.insert(drConn(ip(2, 2, 2, 2), 1)).ok());
  EXPECT_EQ(table.insert(nat).status, InsertStatus::kIndexFull);
  EXPECT_FALSE(table.lookup(inbound(nat)).hit());
  ASSERT_TRUE(table.insert(drConn(ip(2, 2, 2, 2), 2)).ok());
}

TEST(ConnTable, OverflowChainsAcrossBucketsStayConsistent) {
  // 4 buckets × 8 slots, 28 keys: most keys live away from their home bucket.
  ConnTableConfig cfg = smallConfig(40);
  cfg.buckets = 4;
  ConnTable table(cfg);
  std::vector<NewConn> conns;
  std::vector<ConnId> ids;
  for (uint16_t p = 1; p <= 28; ++p) {
    conns.push_back(drConn(ip(3, 3, 3, 3), p));
    const InsertResult r = table.insert(conns.back());
    ASSERT_TRUE(r.ok()) << p;
    ids.push_back(r.id);
  }
  for (uint16_t p = 100; p < 200; ++p) {
    EXPECT_FALSE(table.lookup(inbound(drConn(ip(3, 3, 3, 3), p))).hit()) << p;
  }
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = round % 2; i < conns.size(); i += 2) {
      ASSERT_TRUE(table.erase(ids[i]));
    }
    for (std::size_t i = 0; i < conns.size(); ++i) {
      const bool erased = (i % 2) == static_cast<std::size_t>(round % 2);
      EXPECT_EQ(table.lookup(inbound(conns[i])).hit(), !erased) << i;
      if (!erased) {
        EXPECT_EQ(table.lookup(inbound(conns[i])).id, ids[i]);
      }
    }
    for (std::size_t i = round % 2; i < conns.size(); i += 2) {
      const InsertResult r = table.insert(conns[i]);
      ASSERT_TRUE(r.ok());
      ids[i] = r.id;
    }
    for (std::size_t i = 0; i < conns.size(); ++i) {
      EXPECT_EQ(table.lookup(inbound(conns[i])).id, ids[i]) << i;
    }
  }
  // Four keys more fill the index exactly; one more does not fit although
  // entries are free.
  for (uint16_t p = 29; p <= 32; ++p) {
    ASSERT_TRUE(table.insert(drConn(ip(3, 3, 3, 3), p)).ok());
  }
  EXPECT_EQ(table.size(), 32u);
  EXPECT_EQ(table.insert(drConn(ip(3, 3, 3, 3), 33)).status, InsertStatus::kIndexFull);
  for (uint16_t p = 1; p <= 32; ++p) {
    EXPECT_TRUE(table.lookup(inbound(drConn(ip(3, 3, 3, 3), p))).hit()) << p;
  }
  EXPECT_EQ(table.indexStats().keys, 32u);
  EXPECT_GT(table.indexStats().overflow, 0u);
  // Emptied, the index forgets every overflow: misses stop at home again.
  for (uint16_t p = 1; p <= 32; ++p) {
    ASSERT_TRUE(table.erase(table.lookup(inbound(drConn(ip(3, 3, 3, 3), p))).id));
  }
  EXPECT_EQ(table.indexStats().keys, 0u);
  EXPECT_EQ(table.indexStats().overflow, 0u);
}

TEST(ConnTable, EqualSignaturesInOneBucketAreToldApartByTheFullKey) {
  ConnTableConfig cfg = smallConfig(8);
  cfg.buckets = 1;
  ConnTable table(cfg);
  // Pigeonhole over 16-bit signatures: among 65537 client ports of
  // distinct keys two share a signature.
  std::map<uint16_t, uint32_t> seen;
  NewConn a;
  NewConn b;
  bool found = false;
  for (uint32_t i = 0; i <= 70000 && !found; ++i) {
    const NewConn c = drConn(ip(5, 5, static_cast<uint8_t>(i >> 16), 5), static_cast<uint16_t>(i));
    const uint16_t sig = static_cast<uint16_t>(table.hashOf(inbound(c)) >> 48);
    if (auto it = seen.find(sig); it != seen.end()) {
      const uint32_t j = it->second;
      a = drConn(ip(5, 5, static_cast<uint8_t>(j >> 16), 5), static_cast<uint16_t>(j));
      b = c;
      found = true;
    } else {
      seen.emplace(sig, i);
    }
  }
  ASSERT_TRUE(found);
  ASSERT_EQ(table.hashOf(inbound(a)) >> 48, table.hashOf(inbound(b)) >> 48);
  const InsertResult ia = table.insert(a);
  ASSERT_TRUE(ia.ok());
  EXPECT_FALSE(table.lookup(inbound(b)).hit());
  const InsertResult ib = table.insert(b);
  ASSERT_TRUE(ib.ok()) << "a signature clash is not a duplicate";
  EXPECT_EQ(table.lookup(inbound(a)).id, ia.id);
  EXPECT_EQ(table.lookup(inbound(b)).id, ib.id);
  ASSERT_TRUE(table.erase(ia.id));
  EXPECT_FALSE(table.lookup(inbound(a)).hit());
  EXPECT_EQ(table.lookup(inbound(b)).id, ib.id);
}

TEST(ConnTable, ProtocolsHaveSeparateKeys) {
  ConnTable table(smallConfig());
  const NewConn tcp =
      natConn(ip(1, 1, 1, 1), 53, ip(10, 0, 0, 1), 53, ip(10, 0, 1, 1), 53, L4Proto::kTcp);
  NewConn udp = tcp;
  udp.proto = L4Proto::kUdp;
  NewConn icmp = tcp;
  icmp.proto = L4Proto::kIcmp;
  const InsertResult it = table.insert(tcp);
  const InsertResult iu = table.insert(udp);
  const InsertResult ii = table.insert(icmp);
  ASSERT_TRUE(it.ok() && iu.ok() && ii.ok());
  EXPECT_EQ(table.lookup(inbound(tcp)).id, it.id);
  EXPECT_EQ(table.lookup(inbound(udp)).id, iu.id);
  EXPECT_EQ(table.lookup(inbound(icmp)).id, ii.id);
  EXPECT_EQ(table.lookup(outbound(udp)).id, iu.id);
}

TEST(ConnTable, BulkAndPipelinedLookupsAgreeWithSingleLookups) {
  ConnTableConfig cfg = smallConfig(2000);
  ConnTable table(cfg);
  std::vector<FiveTuple> probes;
  for (uint32_t i = 0; i < 1500; ++i) {
    const NewConn nc =
        (i % 3 == 0) ? drConn(ip(7, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)),
                              static_cast<uint16_t>(1024 + i))
                     : natConn(ip(8, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)),
                               static_cast<uint16_t>(2048 + i));
    ASSERT_TRUE(table.insert(nc).ok());
    probes.push_back(inbound(nc));
    probes.push_back(outbound(nc));  // a miss for DR
    probes.push_back(FiveTuple{nc.clientAddr, nc.vipAddr, static_cast<uint16_t>(nc.clientPort + 1),
                               nc.vipPort, nc.proto});
  }
  // Odd sizes: partial groups of the bulk path.
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{31}, std::size_t{77}, probes.size()}) {
    std::vector<LookupResult> bulk(n + 1);
    bulk[n].id = 12345;  // beyond the input: left alone
    table.lookupBulk(std::span(probes.data(), n), bulk);
    EXPECT_EQ(bulk[n].id, 12345u);
    int hits = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const LookupResult one = table.lookup(probes[i]);
      EXPECT_EQ(bulk[i].id, one.id) << i;
      EXPECT_EQ(bulk[i].dir, one.dir) << i;
      hits += one.hit();
    }
    if (n == probes.size()) {
      // 1500 inbound hits + 1000 NAT outbound hits; the +1 ports are misses
      // unless they hit another client's flow (they cannot: ports differ by 1024).
      EXPECT_EQ(hits, 2500);
    }
  }
  // hash i+1 / prefetch / lookup i, as a worker loop does.
  uint64_t next = table.hashOf(probes[0]);
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const uint64_t h = next;
    if (i + 1 < probes.size()) {
      next = table.hashOf(probes[i + 1]);
      table.prefetch(next);
    }
    EXPECT_EQ(table.lookupHashed(probes[i], h).id, table.lookup(probes[i]).id);
  }
}

TEST(ConnTable, AutoSizedIndexIsAtMostHalfFullWithTwoKeysPerEntry) {
  ConnTableConfig cfg = smallConfig(1000);
  EXPECT_EQ(ConnTable(cfg).bucketCount(), 512u);  // 2000 keys / 4096 slots
  cfg.capacity = 1;
  EXPECT_EQ(ConnTable(cfg).bucketCount(), 1u);
  cfg.capacity = 1u << 16;
  EXPECT_EQ(ConnTable(cfg).bucketCount(), 1u << 15);
}

TEST(ConnTable, BadConfigIsRefusedAtConstruction) {
  ConnTableConfig cfg = smallConfig();
  cfg.capacity = 0;
  EXPECT_THROW(ConnTable{cfg}, std::invalid_argument);
  cfg = smallConfig();
  cfg.buckets = 3;
  EXPECT_THROW(ConnTable{cfg}, std::invalid_argument);
  cfg = smallConfig();
  cfg.wheelSlots = 100;
  EXPECT_THROW(ConnTable{cfg}, std::invalid_argument);
  cfg = smallConfig();
  cfg.tick = std::chrono::nanoseconds{0};
  EXPECT_THROW(ConnTable{cfg}, std::invalid_argument);
}

TEST(ConnTable, DeadDestinationIsDetectedByGeneration) {
  ConnTable table(smallConfig());
  NewConn nc = natConn(ip(1, 1, 1, 1), 1);
  nc.realServerId = 2;
  nc.destGeneration = 5;
  const InsertResult ins = table.insert(nc);
  ASSERT_TRUE(ins.ok());
  std::vector<uint32_t> gens = {0, 0, 5};
  EXPECT_TRUE(table.destAlive(ins.id, gens));
  gens[2] = 6;  // server 2 deleted (or its id reused)
  EXPECT_FALSE(table.destAlive(ins.id, gens));
  EXPECT_FALSE(table.destAlive(ins.id, std::span(gens.data(), 2))) << "unknown id is dead";
}

TEST(ConnTable, ExpireNowReportsFreesAndLetsTheFlowStartAgain) {
  // expire_nodest_conn = 1: the connection goes on its next packet and a SYN
  // on the same tuple is scheduled afresh.
  ConnTable table(smallConfig());
  const NewConn nc = natConn(ip(1, 1, 1, 1), 1);
  const InsertResult ins = table.insert(nc);
  table.onPacket(ins.id, Direction::kIn, kTcpSyn);
  table.onPacket(ins.id, Direction::kIn, kTcpAck);
  ASSERT_TRUE(table.conn(ins.id).isActive());
  RecordingSink sink;
  ASSERT_TRUE(table.expireNow(ins.id, sink));
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].id, ins.id);
  EXPECT_TRUE(sink.records[0].conn.isActive()) << "the sink decrements activeconns";
  EXPECT_EQ(sink.records[0].conn.rsAddr(), nc.rsAddr);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_FALSE(table.lookup(inbound(nc)).hit());
  EXPECT_FALSE(table.lookup(outbound(nc)).hit());
  NewConn fresh = nc;
  fresh.rsAddr = ip(10, 0, 1, 12);
  const InsertResult again = table.insert(fresh);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(table.lookup(outbound(fresh)).id, again.id);
}

TEST(ConnTable, StateNamesForTheConnectionListing) {
  ConnTable table(smallConfig());
  const InsertResult tcp = table.insert(natConn(ip(1, 1, 1, 1), 1));
  const InsertResult udp = table.insert(
      natConn(ip(1, 1, 1, 1), 2, ip(10, 0, 0, 1), 53, ip(10, 0, 1, 1), 53, L4Proto::kUdp));
  const InsertResult icmp = table.insert(
      natConn(ip(1, 1, 1, 1), 3, ip(10, 0, 0, 1), 0, ip(10, 0, 1, 1), 0, L4Proto::kIcmp));
  NewTemplate t;
  t.key =
      TemplateKey::forService(L4Proto::kTcp, ip(1, 1, 1, 1), 0xFFFFFFFFu, ip(10, 0, 0, 100), 80);
  const InsertResult tpl = table.insertTemplate(t);
  EXPECT_EQ(connStateName(table.conn(tcp.id)), "NONE");
  table.onPacket(tcp.id, Direction::kIn, kTcpSyn);
  EXPECT_EQ(connStateName(table.conn(tcp.id)), "SYN_RECV");
  table.onPacket(udp.id, Direction::kIn, 0);
  EXPECT_EQ(connStateName(table.conn(udp.id)), "UDP");
  EXPECT_EQ(connStateName(table.conn(icmp.id)), "ICMP");
  EXPECT_EQ(connStateName(table.conn(tpl.id)), "NONE");
}

TEST(ConnTable, ForEachVisitsEveryLiveEntry) {
  ConnTable table(smallConfig(8));
  for (uint16_t p = 1; p <= 5; ++p) {
    ASSERT_TRUE(table.insert(natConn(ip(1, 1, 1, 1), p)).ok());
  }
  ASSERT_TRUE(table.erase(table.lookup(inbound(natConn(ip(1, 1, 1, 1), 3))).id));
  std::vector<uint16_t> ports;
  table.forEach([&](ConnId, const Conn& c) { ports.push_back(c.clientPort()); });
  std::sort(ports.begin(), ports.end());
  EXPECT_EQ(ports, (std::vector<uint16_t>{1, 2, 4, 5}));
}

}  // namespace
}  // namespace dplb::dp
