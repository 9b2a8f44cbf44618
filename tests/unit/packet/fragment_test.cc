// IPv4 fragmentation: every fragment is checked on its own (size, offsets,
// flags, options, header checksum) and an independent reassembler must give
// back the original datagram byte for byte.

#include "dplb/pkt/fragment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "packet_builder.h"

namespace dplb::pkt {
namespace {

using test::Bytes;
using test::FrameBuilder;
using test::ip4;

struct Fragmented {
  std::vector<Bytes> frames;  // each with its L2 header
  uint32_t count = 0;
};

Fragmented split(const Bytes& frame, uint32_t l3, uint32_t mtu, size_t slots = 64,
                 uint32_t capacity = 2048) {
  std::vector<Bytes> storage(slots, Bytes(capacity));
  std::vector<FragmentSlot> s(slots);
  for (size_t i = 0; i < slots; ++i) {
    s[i] = {storage[i].data(), capacity, 0};
  }
  Fragmented out;
  out.count = fragmentIpv4(frame.data(), l3, static_cast<uint32_t>(frame.size()), mtu, s);
  for (uint32_t i = 0; i < out.count; ++i) {
    storage[i].resize(s[i].len);
    out.frames.push_back(storage[i]);
  }
  return out;
}

// Copied options of an option list (reference: a plain walk of RFC 791).
Bytes copiedOptions(const Bytes& opts) {
  Bytes out;
  for (size_t i = 0; i < opts.size();) {
    if (opts[i] == 0) {
      break;
    }
    if (opts[i] == 1) {
      ++i;
      continue;
    }
    if (opts[i] & 0x80) {
      out.insert(out.end(), opts.begin() + static_cast<long>(i),
                 opts.begin() + static_cast<long>(i + opts[i + 1]));
    }
    i += opts[i + 1];
  }
  while (out.size() % 4) {
    out.push_back(0);
  }
  return out;
}

// Checks every fragment and reassembles (RFC 815 style hole filling, but
// simpler: fragments must tile the datagram exactly).
::testing::AssertionResult reassemblesTo(const Fragmented& f, const Bytes& original, uint32_t l3,
                                         uint32_t mtu) {
  const test::DecodedFrame orig = test::decodeIp(original, l3);
  std::map<uint32_t, Bytes> pieces;
  for (size_t i = 0; i < f.frames.size(); ++i) {
    const Bytes& fr = f.frames[i];
    if (!std::equal(fr.begin(), fr.begin() + l3, original.begin())) {
      return ::testing::AssertionFailure() << "fragment " << i << ": L2 header differs";
    }
    const test::DecodedFrame d = test::decodeIp(fr, l3);
    if (!d.valid || d.ip.totalLength + l3 != fr.size()) {
      return ::testing::AssertionFailure() << "fragment " << i << ": bad lengths";
    }
    if (d.ip.totalLength > mtu) {
      return ::testing::AssertionFailure()
             << "fragment " << i << " is " << d.ip.totalLength << " bytes, above the MTU";
    }
    if (test::refSum(fr, l3, d.ip.ihl * 4u) != 0xFFFF) {
      return ::testing::AssertionFailure() << "fragment " << i << ": header checksum";
    }
    if (d.ip.id != orig.ip.id || d.ip.src != orig.ip.src || d.ip.dst != orig.ip.dst ||
        d.ip.protocol != orig.ip.protocol || d.ip.ttl != orig.ip.ttl || d.ip.tos != orig.ip.tos ||
        d.ip.df != orig.ip.df) {
      return ::testing::AssertionFailure() << "fragment " << i << ": copied fields differ";
    }
    const Bytes wantOpts = i == 0 ? orig.ip.options : copiedOptions(orig.ip.options);
    if (d.ip.options != wantOpts) {
      return ::testing::AssertionFailure()
             << "fragment " << i << ": options " << test::hexDump(d.ip.options);
    }
    const bool last = i + 1 == f.frames.size();
    if (!last && (!d.ip.mf || d.l4Bytes.size() % 8 != 0)) {
      return ::testing::AssertionFailure() << "fragment " << i << ": MF/length";
    }
    if (last && d.ip.mf != orig.ip.mf) {
      return ::testing::AssertionFailure() << "last fragment: MF must be the original's";
    }
    pieces[d.ip.fragOffset] = d.l4Bytes;
  }
  Bytes data;
  uint32_t next = orig.ip.fragOffset;
  for (const auto& [off, bytes] : pieces) {
    if (off != next) {
      return ::testing::AssertionFailure() << "gap or overlap at offset " << off;
    }
    data.insert(data.end(), bytes.begin(), bytes.end());
    next += static_cast<uint32_t>(bytes.size());
  }
  if (data != orig.l4Bytes) {
    return ::testing::AssertionFailure() << "reassembled data differs";
  }
  // The first fragment's header with the original length/flags is the
  // original header.
  Bytes header(f.frames[0].begin() + l3, f.frames[0].begin() + l3 + orig.ip.ihl * 4);
  test::wr16(header, 2, orig.ip.totalLength);
  test::wr16(header, 6, test::rd16(original, l3 + 6));
  test::wr16(header, 10, test::refChecksum(header, 0, header.size(), 10));
  if (!std::equal(header.begin(), header.end(), original.begin() + l3)) {
    return ::testing::AssertionFailure() << "first header differs from the original";
  }
  return ::testing::AssertionSuccess();
}

Bytes datagram(size_t payload, Bytes options = {}, bool df = false, bool mf = false,
               uint16_t fragOffset = 0, bool vlan = false) {
  Bytes data(payload);
  for (size_t i = 0; i < payload; ++i) {
    data[i] = static_cast<uint8_t>(i * 13 + 1);
  }
  FrameBuilder f;
  if (vlan) {
    f.vlan(33);
  }
  return f
      .ipv4({.src = ip4(10, 0, 0, 2),
             .dst = ip4(10, 0, 1, 11),
             .ttl = 63,
             .tos = 0x12,
             .id = 0xbeef,
             .df = df,
             .mf = mf,
             .fragOffset = fragOffset,
             .options = std::move(options),
             .protocol = test::kProtoIpip})
      .rawL4(data)
      .build();
}

struct FragCase {
  std::string what;
  Bytes frame;
  uint32_t l3;
  uint32_t mtu;
  uint32_t count;  // expected number of fragments
};

TEST(Fragment, SplitsAndReassembles) {
  const Bytes opts = {0x94, 0x04, 0x00, 0x00,                              // router alert (copied)
                      0x07, 0x07, 0x04, 0,    0, 0, 0,                     // record route (not)
                      0x01,                                                // nop
                      0x83, 0x07, 0x04, 10,   0, 0, 1, 0x00, 0x00, 0x00};  // LSRR (copied), EOL pad
  const std::vector<FragCase> cases = {
      {"fits: one copy", datagram(1480), 14, 1500, 1},
      {"one byte over", datagram(1481), 14, 1500, 2},
      {"tunnel-sized (1520 into 1500)", datagram(1500), 14, 1500, 2},
      {"exact multiple", datagram(1480 * 3), 14, 1500, 3},
      {"minimum mtu 68", datagram(500), 14, 68, 11},
      {"mtu 576", datagram(3000), 14, 576, 6},
      {"odd mtu rounds data down to 8", datagram(1000), 14, 1003, 2},
      {"vlan header copied into each", datagram(3000, {}, false, false, 0, true), 18, 1280, 3},
      {"options: copied ones repeat", datagram(2000, opts), 14, 600, 4},
      {"DF kept (caller's choice)", datagram(2000, {}, true), 14, 1500, 2},
      {"an already fragmented packet splits further", datagram(2000, {}, false, true, 8000), 14,
       1500, 2},
      {"last piece of a fragmented packet", datagram(2000, {}, false, false, 4000), 14, 1000, 3},
  };
  for (const FragCase& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(fragmentCount(c.frame.data(), c.l3, static_cast<uint32_t>(c.frame.size()), c.mtu),
              c.count);
    const Fragmented f = split(c.frame, c.l3, c.mtu);
    ASSERT_EQ(f.count, c.count);
    EXPECT_TRUE(reassemblesTo(f, c.frame, c.l3, c.mtu));
    if (c.count == 1) {
      EXPECT_EQ(f.frames[0], c.frame);
    }
  }
}

TEST(Fragment, RandomizedReassembly) {
  std::mt19937 rng(791);
  for (int iter = 0; iter < 300; ++iter) {
    Bytes opts(4 * (rng() % 4), 1);  // NOPs: not copied
    if (rng() % 2 && opts.size() >= 4) {
      opts[0] = 0x94;
      opts[1] = 4;
      opts[2] = opts[3] = 0;
    }
    const Bytes frame = datagram(1 + rng() % 6000, opts, false, rng() % 4 == 0,
                                 static_cast<uint16_t>(8 * (rng() % 100)), rng() % 2 == 0);
    const uint32_t l3 = test::rd16(frame, 12) == 0x8100 ? 18 : 14;
    const uint32_t mtu = 68 + rng() % 1500;
    SCOPED_TRACE("iteration " + std::to_string(iter) + " mtu " + std::to_string(mtu));
    const Fragmented f = split(frame, l3, mtu, 128);
    ASSERT_GT(f.count, 0u);
    ASSERT_EQ(f.count, fragmentCount(frame.data(), l3, static_cast<uint32_t>(frame.size()), mtu));
    ASSERT_TRUE(reassemblesTo(f, frame, l3, mtu));
  }
}

TEST(Fragment, RefusesWhatItCannotSplit) {
  const Bytes big = datagram(3000);
  EXPECT_EQ(split(big, 14, 27).count, 0u) << "mtu below header + 8";
  EXPECT_EQ(split(big, 14, 1500, 2).count, 0u) << "three fragments, two slots";
  EXPECT_EQ(split(big, 14, 1500, 3, 1000).count, 0u) << "slots too small";
  EXPECT_EQ(split(big, 14, 1500, 3, 1514).count, 3u) << "slots exactly big enough";
  Bytes truncated = big;
  truncated.resize(1000);
  EXPECT_EQ(split(truncated, 14, 576).count, 0u) << "datagram beyond the buffer";
  Bytes badOpt = datagram(3000, {0x83, 0x09, 0, 0});  // option length beyond the header
  EXPECT_EQ(split(badOpt, 14, 1500).count, 0u);
  Bytes zeroLenOpt = datagram(3000, {0x83, 0x00, 0, 0});
  EXPECT_EQ(split(zeroLenOpt, 14, 1500).count, 0u);
  Bytes notIpv4 = big;
  notIpv4[14] = 0x65;
  EXPECT_EQ(split(notIpv4, 14, 1500).count, 0u);
  const Bytes nearTop = datagram(3000, {}, false, false, 65000);
  EXPECT_EQ(split(nearTop, 14, 1500).count, 0u) << "offsets past 65535";
  EXPECT_EQ(fragmentCount(big.data(), 14, 10, 1500), 0u);
}

}  // namespace
}  // namespace dplb::pkt
