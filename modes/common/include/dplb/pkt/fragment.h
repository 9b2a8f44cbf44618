#pragma once
// IPv4 fragmentation (RFC 791 3.2, RFC 815 for the receiving side) into
// caller-provided buffers, for packets a mode made larger than the egress MTU
// without DF (TUN encapsulation).
//
// Contract: pure; reads [frame, frame + len), writes only the slots. Each
// slot receives a copy of the frame's first `l3Offset` bytes (the L2 header,
// so every fragment is a ready frame) followed by one fragment. The first
// fragment keeps the whole IPv4 header; later ones keep only the options
// whose "copied" flag is set, padded to 4 bytes. Fragment data lengths are
// multiples of 8 except the last; offsets add to the packet's own offset
// and the last fragment keeps the packet's own MF, so an already fragmented
// packet can be split further. ID, TOS, TTL, protocol and addresses are
// copied; DF is copied too (splitting a DF packet is the caller's decision);
// the header checksum is recomputed per fragment. A packet that already fits
// is copied to one slot.

#include <cstdint>
#include <span>

namespace dplb::pkt {

struct FragmentSlot {
  uint8_t* data = nullptr;
  uint32_t capacity = 0;
  uint32_t len = 0;  // set by fragmentIpv4
};

// How many fragments fragmentIpv4 produces for the datagram at frame +
// l3Offset with this (IP) MTU; 0 when it cannot (malformed header or options,
// MTU below header + 8 bytes, datagram beyond `len`, offsets past 65535).
uint32_t fragmentCount(const uint8_t* frame, uint32_t l3Offset, uint32_t len, uint32_t mtu);

// Splits the datagram into slots[0..n) and returns n; 0 (nothing promised
// about the slots) when fragmentCount is 0, there are fewer than n slots, or
// a slot is too small.
uint32_t fragmentIpv4(const uint8_t* frame, uint32_t l3Offset, uint32_t len, uint32_t mtu,
                      std::span<FragmentSlot> slots);

}  // namespace dplb::pkt
