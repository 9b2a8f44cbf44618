// Deterministic replay of the packet fuzz entry point: ~200k seeded inputs,
// mutations of valid frames (truncations, bit flips, byte overwrites in the
// headers, appended bytes) plus random frames, in a bounded loop. Runs in the
// unit suite (and under ASan+UBSan in the _asan twin); a property violation
// aborts the test binary with its description.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "fuzz_packet.h"
#include "packet_builder.h"

namespace dplb::fuzz {
namespace {

using test::Bytes;
using test::FrameBuilder;
using test::ip4;

constexpr int kIterations = 200000;

std::vector<Bytes> seedFrames() {
  std::vector<Bytes> s;
  const uint32_t c = ip4(198, 51, 100, 7);
  const uint32_t v = ip4(203, 0, 113, 10);
  const Bytes data(300, 0x61);
  s.push_back(FrameBuilder().ipv4({.src = c, .dst = v, .df = true}).tcp({}).padTo(60).build());
  s.push_back(FrameBuilder()
                  .vlan(7)
                  .ipv4({.src = c, .dst = v, .ttl = 2, .options = {0x94, 4, 0, 0}})
                  .tcp({.flags = test::kTcpAckFlag, .options = {2, 4, 5, 0xb4}})
                  .payload(data)
                  .build());
  s.push_back(FrameBuilder().ipv4({.src = c, .dst = v}).udp({}).payload(data).build());
  s.push_back(
      FrameBuilder().ipv4({.src = c, .dst = v}).udp({.zeroChecksum = true}).payload("x").build());
  s.push_back(FrameBuilder()
                  .ipv4({.src = c, .dst = v, .mf = true})
                  .udp({.length = 2000})
                  .payload(data)
                  .build());
  s.push_back(FrameBuilder()
                  .ipv4({.src = c, .dst = v, .fragOffset = 1480, .protocol = test::kProtoUdp})
                  .rawL4(data)
                  .build());
  s.push_back(
      FrameBuilder().ipv4({.src = c, .dst = v, .ttl = 1}).icmp({.type = 8}).payload(data).build());
  const Bytes quoted =
      FrameBuilder().ipv4({.src = v, .dst = c}).tcp({.sport = 80}).payload(data).buildIp();
  s.push_back(FrameBuilder()
                  .ipv4({.src = ip4(192, 0, 2, 1), .dst = v})
                  .icmp({.type = 3, .code = 4, .rest = 1400})
                  .payload(Bytes(quoted.begin(), quoted.begin() + 28))
                  .build());
  const Bytes quotedUdp = FrameBuilder().ipv4({.src = c, .dst = v}).udp({}).payload(data).buildIp();
  s.push_back(FrameBuilder()
                  .vlan(3)
                  .ipv4({.src = ip4(10, 0, 1, 1), .dst = c})
                  .icmp({.type = 11})
                  .payload(Bytes(quotedUdp.begin(), quotedUdp.begin() + 100))
                  .build());
  s.push_back(FrameBuilder().ipv4({.src = c, .dst = v}).tcp({}).payload(Bytes(1460, 0x42)).build());
  s.push_back(FrameBuilder().arp({}).padTo(60).build());
  return s;
}

Bytes mutate(const Bytes& seed, std::mt19937& rng) {
  Bytes f = seed;
  switch (rng() % 8) {
    case 0:  // unchanged: the valid paths must keep running
      break;
    case 1:  // truncation
      f.resize(rng() % (f.size() + 1));
      break;
    case 2: {  // a few bit flips anywhere
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips && !f.empty(); ++i) {
        f[rng() % f.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
      }
      break;
    }
    case 3: {  // byte overwrites in the headers (first 80 bytes)
      const int n = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < n && !f.empty(); ++i) {
        f[rng() % std::min<size_t>(f.size(), 80)] = static_cast<uint8_t>(rng());
      }
      break;
    }
    case 4: {  // interesting values in 16-bit header fields
      static constexpr uint16_t kValues[] = {0, 1, 7, 8, 19, 20, 0x45, 0x0800, 0x7FFF, 0xFFFF};
      if (f.size() >= 2) {
        const size_t off = rng() % std::min<size_t>(f.size() - 1, 80);
        test::wr16(f, off, kValues[rng() % std::size(kValues)]);
      }
      break;
    }
    case 5: {  // appended bytes (padding or garbage)
      const size_t n = rng() % 64;
      for (size_t i = 0; i < n; ++i) {
        f.push_back(static_cast<uint8_t>(rng()));
      }
      break;
    }
    case 6: {  // flip + truncate
      if (!f.empty()) {
        f[rng() % f.size()] ^= static_cast<uint8_t>(rng());
      }
      f.resize(rng() % (f.size() + 1));
      break;
    }
    default: {  // random frame with a plausible Ethernet/IPv4 start
      f.resize(rng() % 200);
      for (auto& b : f) {
        b = static_cast<uint8_t>(rng());
      }
      if (f.size() >= 15 && rng() % 2) {
        f[12] = 0x08;
        f[13] = 0x00;
        f[14] = 0x45;
      }
      break;
    }
  }
  return f;
}

TEST(PacketFuzzReplay, SeededMutationsKeepEveryProperty) {
  const std::vector<Bytes> seeds = seedFrames();
  std::mt19937 rng(0xD91B);
  stats() = Stats{};
  for (int i = 0; i < kIterations; ++i) {
    const Bytes f = mutate(seeds[rng() % seeds.size()], rng);
    LLVMFuzzerTestOneInput(f.data(), f.size());
  }
  const Stats& s = stats();
  EXPECT_EQ(s.inputs, static_cast<uint64_t>(kIterations));
  // The generator must keep reaching every path, or this test proves little.
  EXPECT_GT(s.parsedIpv4, s.inputs / 5);
  EXPECT_GT(s.parsedArp, 1000u);
  EXPECT_GT(s.natForwarded, 10000u);
  EXPECT_GT(s.drForwarded, 5000u);
  EXPECT_GT(s.tunForwarded, 1000u);
  EXPECT_GT(s.tunFragmented, 100u);
  EXPECT_GT(s.icmpErrorsBuilt, 1000u);
  EXPECT_GT(s.echoReplies, 500u);
  EXPECT_GT(s.icmpTranslated, 500u);
  EXPECT_GT(s.fragmented, 1000u);
}

TEST(PacketFuzzReplay, EdgeInputs) {
  LLVMFuzzerTestOneInput(nullptr, 0);
  const uint8_t one = 0;
  LLVMFuzzerTestOneInput(&one, 1);
  const Bytes big = FrameBuilder().ipv4({}).udp({}).payload(Bytes(65000, 1)).build();
  LLVMFuzzerTestOneInput(big.data(), big.size());
  SUCCEED();
}

}  // namespace
}  // namespace dplb::fuzz
