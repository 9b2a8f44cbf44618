// Checksum arithmetic: known answers, the fast sum against the reference sum
// of packet_builder.h, and every incremental update against a full
// recomputation over seeded random inputs.

#include "dplb/pkt/checksum.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "packet_builder.h"

namespace dplb::pkt {
namespace {

using test::Bytes;
using test::refChecksum;
using test::refSum;

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 section 3: these 8 bytes sum to 0xddf2.
  const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(foldChecksum(checksumPartial(data, sizeof(data))), 0xddf2);
  EXPECT_EQ(internetChecksum(data, sizeof(data)), static_cast<uint16_t>(~0xddf2));
}

TEST(Checksum, KnownIpv4Header) {
  // A captured header (192.168.0.1 -> 192.168.0.199, UDP) whose checksum is 0xb861.
  uint8_t hdr[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                   0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_TRUE(checksumValid(hdr, sizeof(hdr)));
  EXPECT_EQ(ipv4HeaderChecksum(hdr, sizeof(hdr)), 0xb861);
  hdr[8] = 0x3f;  // TTL 63
  EXPECT_FALSE(checksumValid(hdr, sizeof(hdr)));
}

TEST(Checksum, OddLengthPadsTheLastByteAsHighOrder) {
  const uint8_t data[] = {0x12, 0x34, 0x56};
  EXPECT_EQ(foldChecksum(checksumPartial(data, 3)), 0x1234 + 0x5600);
  EXPECT_EQ(foldChecksum(checksumPartial(data, 1)), 0x1200);
  EXPECT_EQ(foldChecksum(checksumPartial(data, 0)), 0);
}

TEST(Checksum, FoldHandlesCarries) {
  EXPECT_EQ(foldChecksum(0x0001FFFF), 0x0001);
  EXPECT_EQ(foldChecksum(0xFFFFFFFF), 0xFFFF);
  EXPECT_EQ(foldChecksum(0x00010000), 0x0001);
  EXPECT_EQ(foldChecksum(0), 0);
}

TEST(Checksum, UdpZeroBecomesAllOnes) {
  EXPECT_EQ(udpChecksumFixup(0), 0xFFFF);
  EXPECT_EQ(udpChecksumFixup(0x1234), 0x1234);
  EXPECT_EQ(udpChecksumFixup(0xFFFF), 0xFFFF);
}

TEST(Checksum, PseudoHeaderSum) {
  const uint32_t src = test::ip4(10, 1, 2, 3);
  const uint32_t dst = test::ip4(192, 168, 7, 9);
  EXPECT_EQ(foldChecksum(pseudoHeaderSum(src, dst, 6, 40)), test::refPseudo(src, dst, 6, 40));
}

// The fast sum equals the reference sum for random lengths, contents and
// (mis)alignments.
TEST(Checksum, PartialSumMatchesReferenceOnRandomBuffers) {
  std::mt19937 rng(1071);
  for (int iter = 0; iter < 5000; ++iter) {
    const size_t len = rng() % 1600;
    const size_t shift = rng() % 8;
    Bytes buf(len + shift);
    for (auto& b : buf) {
      b = static_cast<uint8_t>(rng());
    }
    const uint16_t fast = foldChecksum(checksumPartial(buf.data() + shift, len));
    const uint16_t ref = refSum(buf, shift, len);
    // 0 and 0xFFFF are both one's-complement zero; the reference never folds
    // a non-empty non-zero sum to 0, and neither does the fast path.
    ASSERT_EQ(fast, ref) << "len " << len << " shift " << shift;
  }
}

TEST(Checksum, ChainingAtEvenSplitsEqualsOneSum) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 2000; ++iter) {
    Bytes buf(1 + rng() % 600);
    for (auto& b : buf) {
      b = static_cast<uint8_t>(rng());
    }
    const size_t split = (rng() % (buf.size() + 1)) & ~size_t{1};
    const uint32_t chained =
        checksumPartial(buf.data() + split, buf.size() - split, checksumPartial(buf.data(), split));
    ASSERT_EQ(foldChecksum(chained), foldChecksum(checksumPartial(buf.data(), buf.size())));
  }
}

TEST(Checksum, Ipv4HeaderChecksumIgnoresTheCurrentField) {
  std::mt19937 rng(791);
  for (int iter = 0; iter < 1000; ++iter) {
    const size_t hl = 20 + 4 * (rng() % 11);
    Bytes hdr(hl);
    for (auto& b : hdr) {
      b = static_cast<uint8_t>(rng());
    }
    ASSERT_EQ(ipv4HeaderChecksum(hdr.data(), hl), refChecksum(hdr, 0, hl, 10));
  }
}

TEST(Checksum, L4ChecksumMatchesReference) {
  std::mt19937 rng(768);
  for (int iter = 0; iter < 1000; ++iter) {
    const bool tcp = rng() % 2;
    const size_t csumOff = tcp ? 16 : 6;
    Bytes l4(csumOff + 2 + rng() % 1400);
    for (auto& b : l4) {
      b = static_cast<uint8_t>(rng());
    }
    const uint32_t src = rng();
    const uint32_t dst = rng();
    const uint8_t proto = tcp ? 6 : 17;
    const uint16_t got = l4Checksum(src, dst, proto, l4.data(), l4.size(), csumOff);
    const uint16_t want =
        refChecksum(l4, 0, l4.size(), csumOff,
                    test::refPseudo(src, dst, proto, static_cast<uint32_t>(l4.size())));
    ASSERT_EQ(got, want);
  }
}

// RFC 1624: an incremental update of one 16-bit word, one 32-bit field, or
// several fields through ChecksumDelta, equals recomputing from scratch.
TEST(Checksum, IncrementalUpdatesEqualFullRecompute) {
  std::mt19937 rng(1624);
  for (int iter = 0; iter < 20000; ++iter) {
    const size_t words = 10 + rng() % 200;
    Bytes buf(words * 2);
    for (auto& b : buf) {
      b = static_cast<uint8_t>(rng());
    }
    // Word 0 holds the checksum.
    test::wr16(buf, 0, refChecksum(buf, 0, buf.size(), 0));
    uint16_t csum = test::rd16(buf, 0);
    const int kind = static_cast<int>(rng() % 3);
    if (kind == 0) {
      const size_t w = 1 + rng() % (words - 1);
      const uint16_t oldV = test::rd16(buf, w * 2);
      // Edge values matter: 0x0000 and 0xFFFF are the two zeros.
      const uint16_t pick[] = {0x0000, 0xFFFF, static_cast<uint16_t>(rng()), oldV};
      const uint16_t newV = pick[rng() % 4];
      test::wr16(buf, w * 2, newV);
      csum = checksumReplace16(csum, oldV, newV);
    } else if (kind == 1) {
      const size_t w = 1 + rng() % (words - 2);
      const uint32_t oldV = test::rd32(buf, w * 2);
      const uint32_t newV = rng();
      test::wr32(buf, w * 2, newV);
      csum = checksumReplace32(csum, oldV, newV);
    } else {
      ChecksumDelta delta;
      const int changes = 1 + static_cast<int>(rng() % 6);
      for (int c = 0; c < changes; ++c) {
        const size_t w = 1 + rng() % (words - 2);
        if (rng() % 2) {
          const uint16_t oldV = test::rd16(buf, w * 2);
          const uint16_t newV = static_cast<uint16_t>(rng());
          test::wr16(buf, w * 2, newV);
          delta.replace16(oldV, newV);
        } else {
          const uint32_t oldV = test::rd32(buf, w * 2);
          const uint32_t newV = rng();
          test::wr32(buf, w * 2, newV);
          delta.replace32(oldV, newV);
        }
      }
      csum = delta.apply(csum);
    }
    ASSERT_EQ(csum, refChecksum(buf, 0, buf.size(), 0)) << "iteration " << iter << " kind " << kind;
    test::wr16(buf, 0, csum);
    ASSERT_EQ(refSum(buf, 0, buf.size()), 0xFFFF);
  }
}

TEST(Checksum, DeltaFoldedCarriesIntoAnotherChecksum) {
  // The ICMP checksum covers a quoted header: the quoted header's own delta,
  // folded, updates the outer sum too.
  ChecksumDelta d;
  d.replace32(0x0A000001, 0x0A000102);
  d.replace16(0x1F90, 0x0050);
  EXPECT_EQ(d.apply(0x1234),
            checksumReplace16(checksumReplace32(0x1234, 0x0A000001, 0x0A000102), 0x1F90, 0x0050));
  ChecksumDelta none;
  EXPECT_EQ(none.apply(0xBEEF), 0xBEEF);
}

}  // namespace
}  // namespace dplb::pkt
