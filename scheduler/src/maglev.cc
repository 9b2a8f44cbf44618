#include "dplb/sched/maglev.h"

#include <algorithm>
#include <bit>
#include <numeric>

namespace dplb::sched {

bool isPrime(uint32_t n) {
  if (n < 2) {
    return false;
  }
  for (uint32_t d = 2; static_cast<uint64_t>(d) * d <= n; ++d) {
    if (n % d == 0) {
      return false;
    }
  }
  return true;
}

void buildMaglevTable(std::span<const MaglevServer> servers, uint32_t m,
                      std::vector<uint32_t>& table) {
  table.assign(m, kNoSlotOwner);

  // ip_vs_mh_gcd_weight: gcd of the positive last weights, 0 when none.
  int32_t g = 0;
  int32_t maxWeight = 0;
  for (const MaglevServer& s : servers) {
    if (s.lastWeight > 0) {
      g = g > 0 ? std::gcd(s.lastWeight, g) : s.lastWeight;
    }
    maxWeight = std::max(maxWeight, s.lastWeight);
  }
  if (g < 1) {
    return;  // IPVS resets the lookup table: every lookup finds no server.
  }
  // ip_vs_mh_shift_weight: shift = fls(max/gcd) - IP_VS_MH_TAB_BITS, >= 0.
  const int fls = std::bit_width(static_cast<uint32_t>(maxWeight / g));
  const int rshift = std::max(0, fls - kMhWeightBits);

  struct Setup {
    uint32_t perm;  // next preferred slot
    uint32_t skip;
    int32_t turns;  // slots taken per round
  };
  std::vector<Setup> setup;
  setup.reserve(servers.size());
  for (const MaglevServer& s : servers) {
    const uint32_t v = static_cast<uint32_t>(s.port) + s.addr;
    const uint32_t offset = hsiphash1u32(v, kMhKey1) % m;
    const uint32_t skip = hsiphash1u32(v, kMhKey2) % (m - 1) + 1;
    const int32_t lw = s.lastWeight;
    int32_t turns = (lw / g) >> rshift;
    if (turns == 0) {
      turns = lw != 0 ? 1 : 0;
    }
    setup.push_back({offset, skip, turns});
  }

  // ip_vs_mh_populate: rounds over the list; each server claims `turns`
  // slots per round, each its next preferred slot not yet taken.
  std::vector<bool> taken(m, false);
  uint32_t filled = 0;
  while (true) {
    for (size_t i = 0; i < setup.size(); ++i) {
      Setup& ds = setup[i];
      for (int32_t t = 0; t < ds.turns; ++t) {
        uint32_t c = ds.perm;
        while (taken[c]) {
          ds.perm += ds.skip;
          if (ds.perm >= m) {
            ds.perm -= m;
          }
          c = ds.perm;
        }
        taken[c] = true;
        table[c] = static_cast<uint32_t>(i);
        if (++filled == m) {
          return;
        }
      }
    }
  }
}

}  // namespace dplb::sched
