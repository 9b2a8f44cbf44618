// DR: table-driven {what, input, expected output, expected verdict}; the
// expected frames are from-scratch builds with only the MACs and TTL changed.

#include "dplb/dr/dr.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "mode_test_util.h"
#include "packet_builder.h"
#include "pkt_test_util.h"

namespace dplb::dr {
namespace {

using pkt::Verdict;
using test::Bytes;
using test::FrameBuilder;
using test::ip4;

constexpr test::Mac kClientRouterMac{0x02, 0, 0, 0, 0, 0x01};
constexpr test::Mac kLbMac{0x02, 0, 0, 0, 0, 0x02};
constexpr test::Mac kRsMac{0x02, 0, 0, 0, 1, 0x0b};
constexpr test::Mac kPortMac{0x02, 0, 0, 0, 0, 0x03};
const DrTarget kTarget{pkt::MacAddr{kRsMac}, pkt::MacAddr{kPortMac}};

struct DrCase {
  std::string what;
  Bytes input;
  Bytes expected;
  Verdict verdict;
};

// The same datagram before (client router -> LB) and after (port -> RS).
struct Variant {
  uint8_t ttl = 64;
  bool vlan = false;
  test::Bytes options;
  bool udp = false;
  bool firstFragment = false;
  size_t padTo = 0;
};

Bytes frame(const Variant& v, bool after) {
  FrameBuilder f;
  f.eth({.dst = after ? kRsMac : kLbMac, .src = after ? kPortMac : kClientRouterMac});
  if (v.vlan) {
    f.vlan(0x0123);
  }
  const uint8_t ttl = after ? static_cast<uint8_t>(v.ttl - 1) : v.ttl;
  f.ipv4({.src = ip4(198, 51, 100, 7),
          .dst = ip4(203, 0, 113, 10),
          .ttl = ttl,
          .tos = 0x2e,
          .id = 4,
          .df = !v.firstFragment,
          .mf = v.firstFragment,
          .options = v.options});
  if (v.udp) {
    f.udp({.sport = 1111, .dport = 53});
  } else {
    f.tcp({.sport = 40000, .dport = 80, .flags = test::kTcpSynFlag});
  }
  return f.payload("payload bytes").padTo(v.padTo).build();
}

std::vector<DrCase> cases() {
  std::vector<DrCase> c;
  auto fwd = [&](std::string what, Variant v) {
    c.push_back({std::move(what), frame(v, false), frame(v, true), Verdict::forward()});
  };
  fwd("tcp syn", {});
  fwd("udp", {.udp = true});
  fwd("ttl 2", {.ttl = 2});
  fwd("ttl 255", {.ttl = 255});
  fwd("vlan tag kept", {.vlan = true});
  fwd("IPv4 options kept", {.options = {0x94, 0x04, 0, 0}});
  fwd("first fragment forwarded as is", {.udp = true, .firstFragment = true});
  fwd("Ethernet padding kept", {.padTo = 60});
  for (uint8_t ttl : {uint8_t{1}, uint8_t{0}}) {
    const Bytes in = frame({.ttl = ttl}, false);
    c.push_back({"ttl " + std::to_string(ttl) + " expires", in, in, Verdict::timeExceeded()});
  }
  const Bytes arp = FrameBuilder().arp({}).build();
  c.push_back(
      {"arp is not forwarded", arp, arp, Verdict::drop(pkt::DropReason::kUnsupportedEthertype)});
  return c;
}

TEST(Dr, Table) {
  for (const DrCase& c : cases()) {
    SCOPED_TRACE(c.what);
    auto out = test::applyRewrite(c.input, [](pkt::PacketView& v) { return forward(v, kTarget); });
    EXPECT_EQ(out.verdict, c.verdict);
    test::expectFrameEq(out.frame, c.expected);
  }
}

// Only bytes 0..11 (MACs), the TTL byte and the header checksum may differ.
TEST(Dr, NothingElseChangesOnRandomFrames) {
  std::mt19937 rng(3);
  for (int iter = 0; iter < 500; ++iter) {
    Variant v{.ttl = static_cast<uint8_t>(2 + rng() % 254),
              .vlan = rng() % 2 == 0,
              .options = Bytes(4 * (rng() % 4), 1),
              .udp = rng() % 2 == 0};
    const Bytes in = frame(v, false);
    auto out = test::applyRewrite(in, [](pkt::PacketView& pv) { return forward(pv, kTarget); });
    ASSERT_EQ(out.verdict, Verdict::forward());
    const size_t l3 = v.vlan ? 18 : 14;
    for (size_t i = 12; i < in.size(); ++i) {
      if (i == l3 + 8 || i == l3 + 10 || i == l3 + 11) {
        continue;
      }
      ASSERT_EQ(out.frame[i], in[i]) << "byte " << i;
    }
    ASSERT_EQ(out.frame[l3 + 8], v.ttl - 1);
    ASSERT_EQ(test::checksumProblems(out.frame), "");
  }
}

}  // namespace
}  // namespace dplb::dr
