#pragma once
// Shared by the mode tests: run a rewrite on an exact-size copy of a frame
// and check that the view it leaves behind describes the bytes it wrote.

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "dplb/pkt/parser.h"
#include "dplb/pkt/verdict.h"
#include "packet_builder.h"
#include "pkt_test_util.h"

namespace dplb::test {

struct RewriteOutcome {
  pkt::Verdict verdict;
  Bytes frame;  // the buffer after the rewrite (whole, padding included)
};

// Parses `input`, applies `fn`, and on a forwarding verdict re-parses the
// output to check the updated view against a fresh parse.
inline RewriteOutcome applyRewrite(const Bytes& input,
                                   const std::function<pkt::Verdict(pkt::PacketView&)>& fn) {
  ParsedFrame p(input);
  EXPECT_TRUE(p.result.ok) << "input does not parse";
  RewriteOutcome out{fn(p.view), p.bytes};
  if (out.verdict.forwarded()) {
    ParsedFrame again(out.frame);
    EXPECT_TRUE(again.result.ok) << "output does not parse: "
                                 << pkt::dropReasonName(again.result.reason);
    EXPECT_EQ(p.view.srcAddr, again.view.srcAddr);
    EXPECT_EQ(p.view.dstAddr, again.view.dstAddr);
    EXPECT_EQ(p.view.srcPort, again.view.srcPort);
    EXPECT_EQ(p.view.dstPort, again.view.dstPort);
    EXPECT_EQ(p.view.ttl, again.view.ttl);
    EXPECT_EQ(p.view.tos, again.view.tos);
    EXPECT_EQ(p.view.proto, again.view.proto);
    EXPECT_EQ(p.view.ipTotalLen, again.view.ipTotalLen);
    EXPECT_EQ(p.view.l4Offset, again.view.l4Offset);
    EXPECT_EQ(p.view.payloadOffset, again.view.payloadOffset);
  }
  return out;
}

// Field-by-field comparison first (readable failures), then every byte.
inline void expectFrameEq(const Bytes& got, const Bytes& want) {
  const DecodedFrame g = decodeFrame(got);
  const DecodedFrame w = decodeFrame(want);
  EXPECT_EQ(macStr(g.ethDst), macStr(w.ethDst));
  EXPECT_EQ(macStr(g.ethSrc), macStr(w.ethSrc));
  EXPECT_EQ(g.vlanTci, w.vlanTci);
  EXPECT_EQ(g.etherType, w.etherType);
  if (g.valid && w.valid) {
    EXPECT_EQ(ip4Str(g.ip.src), ip4Str(w.ip.src));
    EXPECT_EQ(ip4Str(g.ip.dst), ip4Str(w.ip.dst));
    EXPECT_EQ(g.ip.ttl, w.ip.ttl);
    EXPECT_EQ(g.ip.tos, w.ip.tos);
    EXPECT_EQ(g.ip.id, w.ip.id);
    EXPECT_EQ(g.ip.df, w.ip.df);
    EXPECT_EQ(g.ip.mf, w.ip.mf);
    EXPECT_EQ(g.ip.fragOffset, w.ip.fragOffset);
    EXPECT_EQ(g.ip.totalLength, w.ip.totalLength);
    EXPECT_EQ(g.ip.protocol, w.ip.protocol);
    EXPECT_EQ(g.ip.options, w.ip.options);
    EXPECT_EQ(g.ip.checksum, w.ip.checksum) << "IPv4 header checksum";
    EXPECT_EQ(g.tcp.has_value(), w.tcp.has_value());
    if (g.tcp && w.tcp) {
      EXPECT_EQ(g.tcp->sport, w.tcp->sport);
      EXPECT_EQ(g.tcp->dport, w.tcp->dport);
      EXPECT_EQ(g.tcp->seq, w.tcp->seq);
      EXPECT_EQ(g.tcp->ack, w.tcp->ack);
      EXPECT_EQ(g.tcp->flags, w.tcp->flags);
      EXPECT_EQ(g.tcp->checksum, w.tcp->checksum) << "TCP checksum";
    }
    EXPECT_EQ(g.udp.has_value(), w.udp.has_value());
    if (g.udp && w.udp) {
      EXPECT_EQ(g.udp->sport, w.udp->sport);
      EXPECT_EQ(g.udp->dport, w.udp->dport);
      EXPECT_EQ(g.udp->length, w.udp->length);
      EXPECT_EQ(g.udp->checksum, w.udp->checksum) << "UDP checksum";
    }
    EXPECT_EQ(g.icmp.has_value(), w.icmp.has_value());
    if (g.icmp && w.icmp) {
      EXPECT_EQ(g.icmp->type, w.icmp->type);
      EXPECT_EQ(g.icmp->code, w.icmp->code);
      EXPECT_EQ(g.icmp->rest, w.icmp->rest);
      EXPECT_EQ(g.icmp->checksum, w.icmp->checksum) << "ICMP checksum";
    }
  }
  EXPECT_EQ(hexDump(got), hexDump(want));
}

}  // namespace dplb::test
