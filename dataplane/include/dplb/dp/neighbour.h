#pragma once

// Per-worker ARP neighbour table with bounded queues of packets waiting for
// resolution (ARCHITECTURE "Neighbours, routes, exception path").
//
// Contract: fixed size, allocated once; lookups and inserts never allocate.
// Every worker keeps its own table (no locks); ARP packets a worker receives
// are copied to the other workers so all tables learn the same answers.
// Static entries (config `neighbours`) are never replaced by ARP.
// A resolution sends a request at once, retries every kRetryInterval up to
// kMaxRetries times, then drops the waiting packets (counted arp_timeout).
// A reachable entry older than kReachableTime stays usable but is refreshed
// with a new request, at most once per kRetryInterval. Entries that failed,
// and reachable ones unused for kUnusedTime, are removed (backward-shift
// deletion keeps every probe chain intact), so addresses that never answer
// (a spoofed flood) cannot fill the table for good.

#include <cstdint>

#include "dplb/pkt/headers.h"

struct rte_mbuf;

namespace dplb::dp {

class NeighbourTable {
 public:
  static constexpr uint32_t kSize = 1024;  // power of two
  static constexpr uint32_t kMaxPending = 8;
  static constexpr uint64_t kRetryInterval = 1'000'000'000;    // 1 s
  static constexpr uint64_t kReachableTime = 300'000'000'000;  // 5 min
  static constexpr uint64_t kUnusedTime = 600'000'000'000;     // 10 min
  static constexpr uint8_t kMaxRetries = 3;

  enum class State : uint8_t { kFree, kIncomplete, kReachable, kStatic, kFailed };

  struct Entry {
    uint32_t ip = 0;
    State state = State::kFree;
    uint8_t retries = 0;
    uint8_t pendingCount = 0;
    int8_t port = -1;
    pkt::MacAddr mac;
    uint64_t updatedNs = 0;
    uint64_t lastRequestNs = 0;
    uint64_t lastUsedNs = 0;
    rte_mbuf* pending[kMaxPending] = {};
  };

  Entry* find(uint32_t ip) {
    for (uint32_t i = 0, h = hash(ip); i < kProbe; ++i, h = (h + 1) & (kSize - 1)) {
      Entry& e = entries_[h];
      if (e.state == State::kFree) {
        return nullptr;
      }
      if (e.ip == ip) {
        return &e;
      }
    }
    return nullptr;
  }
  // The entry for ip, a new kFailed-state one if absent (caller sets state),
  // or nullptr when the probe window is full.
  Entry* findOrCreate(uint32_t ip) {
    for (uint32_t i = 0, h = hash(ip); i < kProbe; ++i, h = (h + 1) & (kSize - 1)) {
      Entry& e = entries_[h];
      if (e.state == State::kFree) {
        e = Entry{};
        e.ip = ip;
        e.state = State::kFailed;
        return &e;
      }
      if (e.ip == ip) {
        return &e;
      }
    }
    return nullptr;
  }
  // Removes `e` (its pending packets must have been handed on or freed).
  // Later entries of the probe chain move back, so an entry may change slot:
  // callers iterating the table may see a moved entry again or miss it until
  // the next pass, never lose it.
  void erase(Entry* e) {
    uint32_t i = static_cast<uint32_t>(e - entries_);
    for (uint32_t j = (i + 1) & (kSize - 1);; j = (j + 1) & (kSize - 1)) {
      Entry& next = entries_[j];
      if (next.state == State::kFree) {
        break;
      }
      const uint32_t home = hash(next.ip);
      // `next` may fill the hole at i when its home is not in (i, j].
      const bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (!between) {
        entries_[i] = next;
        i = j;
      }
    }
    entries_[i] = Entry{};
  }
  Entry* begin() { return entries_; }
  Entry* end() { return entries_ + kSize; }

 private:
  static constexpr uint32_t kProbe = 16;
  static uint32_t hash(uint32_t ip) { return (ip * 0x9E3779B1u) >> 22; }  // top 10 bits

  Entry entries_[kSize];
};

}  // namespace dplb::dp
