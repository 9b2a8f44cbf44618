#pragma once

#include <cstddef>
#include <cstdint>

namespace dplb::sched {

// Linux include/linux/hash.h hash_32(): multiply by GOLDEN_RATIO_32 and keep
// the top `bits` bits. IPVS dh, sh, lblc and lblcr index their tables with it.
inline constexpr uint32_t kGoldenRatio32 = 0x61C88647u;

inline constexpr uint32_t hash32(uint32_t value, unsigned bits) {
  return (value * kGoldenRatio32) >> (32 - bits);
}

// Linux hsiphash() as compiled on 64-bit kernels, where lib/siphash.c makes
// "HalfSipHash-1-3" actually SipHash-1-3 with two 64-bit key words and
// returns the low 32 bits of the 64-bit result. (32-bit kernels run real
// HalfSipHash and so build different Maglev tables; dplb follows x86_64.)
// The input bytes are read little-endian, as on x86_64.
struct HsiphashKey {
  uint64_t k0;
  uint64_t k1;
};

// hsiphash over an arbitrary byte string (used to check the implementation
// against the kernel's own test vectors, lib/test_siphash.c).
uint32_t hsiphash(const uint8_t* data, size_t len, const HsiphashKey& key);

// hsiphash of one u32, i.e. the kernel's hsiphash(&v, sizeof(v), key) on a
// little-endian machine (hsiphash_1u32). No allocation, no branches on data.
uint32_t hsiphash1u32(uint32_t value, const HsiphashKey& key);

}  // namespace dplb::sched
