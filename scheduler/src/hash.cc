#include "dplb/sched/hash.h"

namespace dplb::sched {

namespace {

// SipHash initialisation constants ("somepseudorandomlygeneratedbytes").
constexpr uint64_t kSip0 = 0x736f6d6570736575ull;
constexpr uint64_t kSip1 = 0x646f72616e646f6dull;
constexpr uint64_t kSip2 = 0x6c7967656e657261ull;
constexpr uint64_t kSip3 = 0x7465646279746573ull;

constexpr uint64_t rotl(uint64_t x, unsigned s) {
  return (x << s) | (x >> (64 - s));
}

struct SipState {
  uint64_t v0, v1, v2, v3;

  SipState(const HsiphashKey& key)
      : v0(kSip0 ^ key.k0), v1(kSip1 ^ key.k1), v2(kSip2 ^ key.k0), v3(kSip3 ^ key.k1) {}

  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }

  // One compression round per 8-byte word ("1" of SipHash-1-3).
  void compress(uint64_t m) {
    v3 ^= m;
    round();
    v0 ^= m;
  }

  // Last word, then three finalisation rounds ("3" of SipHash-1-3).
  uint32_t finish(uint64_t b) {
    v3 ^= b;
    round();
    v0 ^= b;
    v2 ^= 0xff;
    round();
    round();
    round();
    return static_cast<uint32_t>((v0 ^ v1) ^ (v2 ^ v3));
  }
};

uint64_t loadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

}  // namespace

uint32_t hsiphash(const uint8_t* data, size_t len, const HsiphashKey& key) {
  SipState s(key);
  const size_t whole = len - (len % 8);
  for (size_t i = 0; i < whole; i += 8) {
    s.compress(loadLe64(data + i));
  }
  uint64_t b = static_cast<uint64_t>(len) << 56;
  for (size_t i = whole; i < len; ++i) {
    b |= static_cast<uint64_t>(data[i]) << (8 * (i - whole));
  }
  return s.finish(b);
}

uint32_t hsiphash1u32(uint32_t value, const HsiphashKey& key) {
  SipState s(key);
  return s.finish((uint64_t{4} << 56) | value);
}

}  // namespace dplb::sched
