#pragma once

// Shared helpers for the dplb_conn unit tests.

#include <chrono>
#include <cstdint>
#include <vector>

#include "dplb/dp/conn_table.h"

namespace dplb::dp::testing {

// Records every entry the table reports as expired (a copy, since the id is
// reused right after).
class RecordingSink final : public ConnExpirySink {
 public:
  struct Record {
    ConnId id;
    Conn conn;
  };
  void onExpired(ConnId id, const Conn& conn) override { records.push_back({id, conn}); }
  bool saw(ConnId id) const {
    for (const Record& r : records) {
      if (r.id == id) {
        return true;
      }
    }
    return false;
  }
  std::vector<Record> records;
};

inline constexpr uint64_t kSec = 1'000'000'000ull;
inline constexpr uint64_t kMs = 1'000'000ull;

inline uint32_t ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

inline NewConn natConn(uint32_t client, uint16_t cport, uint32_t vip = ip(10, 0, 0, 100),
                       uint16_t vport = 80, uint32_t rs = ip(10, 0, 1, 11), uint16_t rport = 8080,
                       L4Proto proto = L4Proto::kTcp) {
  NewConn c;
  c.proto = proto;
  c.clientAddr = client;
  c.clientPort = cport;
  c.vipAddr = vip;
  c.vipPort = vport;
  c.rsAddr = rs;
  c.rsPort = rport;
  c.fwd = ForwardMode::kNat;
  c.serviceId = 7;
  c.realServerId = 3;
  c.destGeneration = 1;
  return c;
}

inline NewConn drConn(uint32_t client, uint16_t cport, ForwardMode fwd = ForwardMode::kDr) {
  NewConn c = natConn(client, cport, ip(10, 0, 0, 100), 80, ip(10, 0, 1, 11), 80);
  c.fwd = fwd;
  return c;
}

// The packet tuples of each direction of a connection.
inline FiveTuple inbound(const NewConn& c) {
  return FiveTuple{c.clientAddr, c.vipAddr, c.clientPort, c.vipPort, c.proto};
}
inline FiveTuple outbound(const NewConn& c) {
  return FiveTuple{c.rsAddr, c.clientAddr, c.rsPort, c.clientPort, c.proto};
}

// A small table with 1 s ticks: simple arithmetic in timer tests.
inline ConnTableConfig smallConfig(uint32_t capacity = 64) {
  ConnTableConfig cfg;
  cfg.capacity = capacity;
  cfg.tick = std::chrono::seconds{1};
  cfg.wheelSlots = 64;
  cfg.hashSeed = 42;
  return cfg;
}

}  // namespace dplb::dp::testing
