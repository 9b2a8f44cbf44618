#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dplb/sched/hash.h"

namespace dplb::sched {

// Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software
// Network Load Balancer", NSDI 2016, section 3.4), as Linux IPVS implements
// it in net/netfilter/ipvs/ip_vs_mh.c.
//
// The table is a pure function of (table size, servers in list order with
// their address, port and last non-zero weight): every dplb process given the
// same service configuration builds the same table, so a fleet behind ECMP
// sends a client to the same real server without sharing state.
//
// Hashing: the kernel's hsiphash (SipHash-1-3 on 64-bit kernels, see hash.h)
// of one u32 with fixed keys. For a server, v = port + address (host order,
// 32-bit wrap-around); offset = hsiphash(v, kMhKey1) % M and
// skip = hsiphash(v, kMhKey2) % (M - 1) + 1. For a lookup,
// v = address (+ source port with mh-port) (+ probe offset with mh-fallback)
// and slot = hsiphash(v, kMhKey1) % M.

// Paper's table size: a prime well above 100x the number of backends keeps
// every backend within about 1% of its fair share. (IPVS's compile-time
// default is the prime 4093; dplb makes the size a per-service setting.)
inline constexpr uint32_t kDefaultMhTableSize = 65537;
inline constexpr uint32_t kMaxMhTableSize = 1u << 24;

// generate_hash_secret() in ip_vs_mh.c.
inline constexpr HsiphashKey kMhKey1{2654435761u, 2654435761u};
inline constexpr HsiphashKey kMhKey2{2654446892u, 2654446892u};

// IP_VS_MH_TAB_BITS with the kernel's default CONFIG_IP_VS_MH_TAB_INDEX (12):
// weights are divided by their gcd, then shifted right until the largest fits
// in this many bits (ip_vs_mh_shift_weight), so ratios beyond 63:1 are
// quantized, as in IPVS.
inline constexpr int kMhWeightBits = 6;

inline constexpr uint32_t kNoSlotOwner = 0xFFFFFFFFu;

struct MaglevServer {
  uint32_t addr;       // host order
  uint16_t port;       // host order
  int32_t lastWeight;  // RealServer::lastWeight(); 0 = takes no slot
};

bool isPrime(uint32_t n);

// Fills `table` (resized to m) with, for each slot, the index in `servers`
// of its owner, or kNoSlotOwner everywhere when no server has a non-zero
// weight. `servers` is in IPVS list order (newest first). m must be prime.
void buildMaglevTable(std::span<const MaglevServer> servers, uint32_t m,
                      std::vector<uint32_t>& table);

// The lookup slot for a client: address (+ port) (+ fallback probe offset).
inline uint32_t maglevSlot(uint32_t clientAddr, uint16_t port, uint32_t offset, uint32_t m) {
  return hsiphash1u32(offset + port + clientAddr, kMhKey1) % m;
}

}  // namespace dplb::sched
