#pragma once
// Explicit network byte order for wire-format fields.
//
// Wire structs hold big-endian fields as byte arrays (Be16, Be32), so every
// struct has alignment 1: a header may start at any offset of a frame (an
// IPv4 header after a 14-byte Ethernet header is only 2-byte aligned, after
// an ICMP quote it can be anywhere) without undefined behaviour. The shift
// forms below compile to a single load + bswap (or movbe) with g++ -O2.
//
// Convention for the whole library: every address, port, length or id that
// crosses an API is a host-order integer; only the wire structs hold network
// order.

#include <cstdint>

namespace dplb::pkt {

constexpr uint16_t loadBe16(const uint8_t* p) {
  return static_cast<uint16_t>((static_cast<uint16_t>(p[0]) << 8) | p[1]);
}

constexpr uint32_t loadBe32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

constexpr void storeBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

constexpr void storeBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// A 16-bit big-endian wire field.
struct Be16 {
  uint8_t raw[2];

  constexpr uint16_t get() const { return loadBe16(raw); }
  constexpr void set(uint16_t v) { storeBe16(raw, v); }
};

// A 32-bit big-endian wire field.
struct Be32 {
  uint8_t raw[4];

  constexpr uint32_t get() const { return loadBe32(raw); }
  constexpr void set(uint32_t v) { storeBe32(raw, v); }
};

static_assert(sizeof(Be16) == 2 && alignof(Be16) == 1);
static_assert(sizeof(Be32) == 4 && alignof(Be32) == 1);

}  // namespace dplb::pkt
