// Persistence templates as IPVS keeps them: keyed by (proto, client & netmask,
// VIP, service port or 0), controlling connections, kept alive while they
// control any, expiring after the persistence timeout otherwise.

#include <gtest/gtest.h>

#include <vector>

#include "conn_test_util.h"
#include "dplb/dp/conn_table.h"

namespace dplb::dp {
namespace {

using testing::inbound;
using testing::ip;
using testing::kSec;
using testing::natConn;
using testing::outbound;
using testing::RecordingSink;
using testing::smallConfig;

constexpr uint32_t kMask24 = 0xFFFFFF00u;
constexpr uint32_t kMask32 = 0xFFFFFFFFu;
const uint32_t kVip = ip(10, 0, 0, 100);

NewTemplate tpl(uint32_t client, uint32_t mask, uint16_t servicePort,
                std::chrono::seconds timeout = std::chrono::seconds{360},
                L4Proto proto = L4Proto::kTcp) {
  NewTemplate t;
  t.key = TemplateKey::forService(proto, client, mask, kVip, servicePort);
  t.rsAddr = ip(10, 0, 1, 11);
  t.rsPort = servicePort == 0 ? 0 : 8080;
  t.fwd = ForwardMode::kNat;
  t.serviceId = 1;
  t.realServerId = 4;
  t.destGeneration = 9;
  t.timeout = timeout;
  return t;
}

NewConn under(ConnId t, uint32_t client, uint16_t cport, uint16_t vport = 80,
              L4Proto proto = L4Proto::kTcp) {
  NewConn c =
      natConn(client, cport, kVip, vport, ip(10, 0, 1, 11), vport == 80 ? 8080 : vport, proto);
  c.controlTemplate = t;
  return c;
}

TEST(Templates, NetmaskGroupsClientsOfOneNetwork) {
  ConnTable table(smallConfig());
  const InsertResult t = table.insertTemplate(tpl(ip(192, 168, 1, 5), kMask24, 80));
  ASSERT_TRUE(t.ok());
  const Conn& c = table.conn(t.id);
  EXPECT_TRUE(c.isTemplate());
  EXPECT_FALSE(c.isActive());
  EXPECT_EQ(c.clientAddr(), ip(192, 168, 1, 0));
  EXPECT_EQ(c.clientPort(), 0);
  EXPECT_EQ(c.vipAddr(), kVip);
  EXPECT_EQ(c.vipPort(), 80);
  EXPECT_EQ(c.rsAddr(), ip(10, 0, 1, 11));
  EXPECT_EQ(c.rsPort(), 8080);
  EXPECT_EQ(c.realServerId(), 4u);

  auto find = [&](uint32_t client, uint32_t mask, uint16_t port, L4Proto proto = L4Proto::kTcp) {
    return table.findTemplate(TemplateKey::forService(proto, client, mask, kVip, port));
  };
  EXPECT_EQ(find(ip(192, 168, 1, 77), kMask24, 80), t.id);
  EXPECT_EQ(find(ip(192, 168, 1, 255), kMask24, 80), t.id);
  EXPECT_EQ(find(ip(192, 168, 2, 5), kMask24, 80), kNoConn);
  EXPECT_EQ(find(ip(192, 168, 1, 5), kMask32, 80), kNoConn) << "/32 is another key";
  EXPECT_EQ(find(ip(192, 168, 1, 5), kMask24, 443), kNoConn);
  EXPECT_EQ(find(ip(192, 168, 1, 5), kMask24, 80, L4Proto::kUdp), kNoConn);

  // Same key again: the existing template.
  const InsertResult again = table.insertTemplate(tpl(ip(192, 168, 1, 9), kMask24, 80));
  EXPECT_EQ(again.status, InsertStatus::kExists);
  EXPECT_EQ(again.id, t.id);
}

TEST(Templates, PortZeroServiceSharesOneTemplateAcrossPorts) {
  ConnTable table(smallConfig());
  const InsertResult any = table.insertTemplate(tpl(ip(192, 168, 1, 5), kMask32, 0));
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(table.conn(any.id).vipPort(), 0);
  EXPECT_EQ(table.conn(any.id).rsPort(), 0) << "connections keep the packet's port";
  // Connections to :80 and :443 of the VIP find the same template.
  const TemplateKey k =
      TemplateKey::forService(L4Proto::kTcp, ip(192, 168, 1, 5), kMask32, kVip, 0);
  EXPECT_EQ(table.findTemplate(k), any.id);
  const InsertResult c80 = table.insert(under(any.id, ip(192, 168, 1, 5), 1000, 80));
  const InsertResult c443 = table.insert(under(any.id, ip(192, 168, 1, 5), 1001, 443));
  ASSERT_TRUE(c80.ok() && c443.ok());
  EXPECT_EQ(table.conn(any.id).controlledCount(), 2u);
  // A port-80 service's template is a different key.
  const InsertResult p80 = table.insertTemplate(tpl(ip(192, 168, 1, 5), kMask32, 80));
  ASSERT_TRUE(p80.ok());
  EXPECT_NE(p80.id, any.id);
}

TEST(Templates, TemplateAndConnectionWithClientPortZeroCoexist) {
  ConnTable table(smallConfig());
  const InsertResult t = table.insertTemplate(tpl(ip(192, 168, 1, 5), kMask32, 80));
  NewConn c = natConn(ip(192, 168, 1, 5), 0, kVip, 80);  // same tuple as the template's key
  const InsertResult ci = table.insert(c);
  ASSERT_TRUE(t.ok() && ci.ok());
  EXPECT_EQ(table.lookup(inbound(c)).id, ci.id);
  EXPECT_EQ(table.findTemplate(
                TemplateKey::forService(L4Proto::kTcp, ip(192, 168, 1, 5), kMask32, kVip, 80)),
            t.id);
  ASSERT_TRUE(table.erase(ci.id));
  EXPECT_FALSE(table.lookup(inbound(c)).hit());
  EXPECT_EQ(table.findTemplate(
                TemplateKey::forService(L4Proto::kTcp, ip(192, 168, 1, 5), kMask32, kVip, 80)),
            t.id);
}

TEST(Templates, IdleTemplateExpiresAfterThePersistenceTimeout) {
  ConnTable table(smallConfig());
  RecordingSink sink;
  const NewTemplate nt = tpl(ip(192, 168, 1, 5), kMask24, 80);
  const InsertResult t = table.insertTemplate(nt);
  table.advance(360 * kSec - 1, 100, sink);
  EXPECT_EQ(table.findTemplate(nt.key), t.id);
  EXPECT_TRUE(sink.records.empty());
  table.advance(362 * kSec, 100, sink);
  EXPECT_EQ(table.findTemplate(nt.key), kNoConn);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_TRUE(sink.records[0].conn.isTemplate()) << "the sink decrements persistconns";
  EXPECT_EQ(sink.records[0].conn.realServerId(), 4u);
}

TEST(Templates, LongPersistenceOutlivesManyWheelRevolutions) {
  ConnTable table(smallConfig());  // 64 one-second slots
  RecordingSink sink;
  const NewTemplate nt = tpl(ip(192, 168, 1, 5), kMask24, 80, std::chrono::hours{2});
  table.insertTemplate(nt);
  for (uint64_t t = 0; t < 7200; t += 13) {
    table.advance(t * kSec, 100, sink);
  }
  table.advance(7200 * kSec - 1, 100, sink);
  EXPECT_TRUE(sink.records.empty());
  table.advance(7202 * kSec, 100, sink);
  EXPECT_EQ(sink.records.size(), 1u);
}

TEST(Templates, NewConnectionRearmsTheTemplate) {
  ConnTable table(smallConfig());
  RecordingSink sink;
  const NewTemplate nt =
      tpl(ip(192, 168, 1, 5), kMask24, 80, std::chrono::seconds{360}, L4Proto::kUdp);
  const InsertResult t = table.insertTemplate(nt);
  table.advance(300 * kSec, 100, sink);
  const InsertResult c = table.insert(under(t.id, ip(192, 168, 1, 6), 5000, 80, L4Proto::kUdp));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(table.conn(c.id).controlTemplate(), t.id);
  EXPECT_EQ(table.conn(t.id).controlledCount(), 1u);
  EXPECT_EQ(table.remaining(t.id), std::chrono::seconds{361});
  table.onPacket(c.id, Direction::kIn, 0);  // UDP 300 s → expires at 601

  table.advance(602 * kSec, 100, sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].id, c.id);
  EXPECT_EQ(table.conn(t.id).controlledCount(), 0u);
  EXPECT_EQ(table.findTemplate(nt.key), t.id);
  table.advance(660 * kSec - 1, 100, sink);
  EXPECT_EQ(table.findTemplate(nt.key), t.id);
  table.advance(662 * kSec, 100, sink);
  EXPECT_EQ(table.findTemplate(nt.key), kNoConn);
  EXPECT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(table.size(), 0u);
}

TEST(Templates, ControlledConnectionsKeepTheTemplateAliveAsTheKernelDoes) {
  ConnTable table(smallConfig());
  RecordingSink sink;
  const NewTemplate nt = tpl(ip(192, 168, 1, 5), kMask24, 80);
  const InsertResult t = table.insertTemplate(nt);
  const InsertResult c = table.insert(under(t.id, ip(192, 168, 1, 5), 5000));
  table.onPacket(c.id, Direction::kIn, kTcpSyn);
  table.onPacket(c.id, Direction::kOut, kTcpSyn | kTcpAck);
  table.onPacket(c.id, Direction::kIn, kTcpAck);
  EXPECT_TRUE(table.conn(t.id).isAssured()) << "a controlled connection reached ESTABLISHED";

  // The connection stays busy well past the 360 s persistence timeout.
  uint64_t now = 0;
  for (; now <= 1000; now += 10) {
    table.advance(now * kSec, 100, sink);
    ASSERT_EQ(table.findTemplate(nt.key), t.id) << now;
    table.onPacket(c.id, Direction::kIn, kTcpAck);
  }
  EXPECT_TRUE(sink.records.empty());
  // Its timer fired with a controlled connection: re-armed for 60 s, and
  // that becomes the template's timeout (ip_vs_conn_expire's expire_later).
  EXPECT_LE(table.remaining(t.id), std::chrono::seconds{61});

  // A second connection under it re-arms it with that 60 s.
  const InsertResult c2 = table.insert(under(t.id, ip(192, 168, 1, 7), 6000));
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(table.remaining(t.id), std::chrono::seconds{61});
  EXPECT_EQ(table.conn(t.id).controlledCount(), 2u);
  table.onPacket(c2.id, Direction::kIn, kTcpRst);  // CLOSE: 10 s

  // Last packet on c at ~1000 s: it expires at 1000 + 900 (ESTABLISHED).
  const uint64_t lastPacket = now - 10;
  const uint64_t connExpiry = lastPacket + 900 + 1;
  table.advance((connExpiry - 1) * kSec, 1000, sink);
  ASSERT_EQ(sink.records.size(), 1u);  // c2 only
  EXPECT_EQ(sink.records[0].id, c2.id);
  EXPECT_EQ(table.findTemplate(nt.key), t.id);
  table.advance(connExpiry * kSec, 1000, sink);
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].id, c.id);
  EXPECT_EQ(table.conn(t.id).controlledCount(), 0u);
  // Idle now: gone within one more 60 s re-arm period.
  table.advance((connExpiry + 62) * kSec, 1000, sink);
  EXPECT_EQ(table.findTemplate(nt.key), kNoConn);
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[2].id, t.id);
}

TEST(Templates, BusyTemplateCannotBeErasedOrExpiredNow) {
  ConnTable table(smallConfig());
  RecordingSink sink;
  const InsertResult t = table.insertTemplate(tpl(ip(192, 168, 1, 5), kMask24, 80));
  const InsertResult c = table.insert(under(t.id, ip(192, 168, 1, 5), 5000));
  EXPECT_FALSE(table.erase(t.id));
  EXPECT_FALSE(table.expireNow(t.id, sink));
  EXPECT_TRUE(sink.records.empty());
  EXPECT_EQ(table.remaining(t.id), std::chrono::seconds{61}) << "re-armed as expire_later";
  ASSERT_TRUE(table.erase(c.id));
  EXPECT_EQ(table.conn(t.id).controlledCount(), 0u);
  EXPECT_TRUE(table.expireNow(t.id, sink));
  EXPECT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(table.size(), 0u);
}

TEST(Templates, InvalidatedTemplateLeavesTheIndexButLivesWhileBusy) {
  // ip_vs_check_template: the template's server is gone; the next
  // connection must schedule afresh while old connections keep their link.
  ConnTable table(smallConfig());
  RecordingSink sink;
  const NewTemplate nt = tpl(ip(192, 168, 1, 5), kMask24, 80);
  const InsertResult t = table.insertTemplate(nt);
  const InsertResult c = table.insert(under(t.id, ip(192, 168, 1, 5), 5000));
  table.onPacket(c.id, Direction::kIn, kTcpSyn);  // SYN_RECV: 60 s

  std::vector<uint32_t> gens(8, 0);
  gens[4] = 9;
  EXPECT_TRUE(table.destAlive(t.id, gens));
  gens[4] = 10;  // server 4 deleted
  ASSERT_FALSE(table.destAlive(t.id, gens));
  table.invalidateTemplate(t.id);
  table.invalidateTemplate(t.id);  // idempotent
  EXPECT_TRUE(table.conn(t.id).isInvalidated());
  EXPECT_EQ(table.findTemplate(nt.key), kNoConn);

  NewTemplate fresh = nt;
  fresh.realServerId = 5;
  fresh.rsAddr = ip(10, 0, 1, 12);
  const InsertResult t2 = table.insertTemplate(fresh);
  ASSERT_TRUE(t2.ok());
  EXPECT_NE(t2.id, t.id);
  EXPECT_EQ(table.findTemplate(nt.key), t2.id);
  EXPECT_EQ(table.conn(c.id).controlTemplate(), t.id);
  EXPECT_EQ(table.size(), 3u);

  // The old connection times out; the old template follows at its timer.
  table.advance(62 * kSec, 100, sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].id, c.id);
  table.advance(362 * kSec, 100, sink);
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_TRUE(sink.saw(t.id));
  EXPECT_TRUE(sink.saw(t2.id));
  EXPECT_EQ(table.size(), 0u);
}

TEST(Templates, UdpReplyAssuresTheTemplate) {
  ConnTable table(smallConfig());
  const InsertResult t = table.insertTemplate(
      tpl(ip(192, 168, 1, 5), kMask24, 53, std::chrono::seconds{360}, L4Proto::kUdp));
  const NewConn nc = under(t.id, ip(192, 168, 1, 5), 5000, 53, L4Proto::kUdp);
  const InsertResult c = table.insert(nc);
  table.onPacket(c.id, Direction::kIn, 0);
  EXPECT_FALSE(table.conn(t.id).isAssured());
  const LookupResult reply = table.lookup(outbound(nc));
  ASSERT_EQ(reply.id, c.id);
  table.onPacket(reply.id, reply.dir, 0);
  EXPECT_TRUE(table.conn(t.id).isAssured());
}

}  // namespace
}  // namespace dplb::dp
