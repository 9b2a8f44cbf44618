#pragma once
// Internet checksum arithmetic (RFC 1071) and incremental updates (RFC 1624).
//
// Values are host-order integers of the big-endian 16-bit words the checksum
// is defined over: a "sum" is an unfolded 32-bit accumulation of such words,
// `foldChecksum` reduces it to 16 bits with end-around carry, and the value
// stored in a header field is the complement of the folded sum. Everything is
// inline: the parser and the mode rewrites call these once or twice per
// packet.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dplb/pkt/byte_order.h"

namespace dplb::pkt {

// Reduces a 32-bit accumulation to 16 bits with end-around carry (never
// complements). Two rounds suffice for any 32-bit input.
constexpr uint16_t foldChecksum(uint32_t sum) {
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// One's-complement sum of `len` bytes taken as big-endian 16-bit words (an
// odd trailing byte is the high byte of a word padded with zero), added to
// `initial`. Chain calls over several buffers only at even lengths.
//
// The sum runs over native-order 32-bit words and is byte-swapped once at the
// end: one's-complement addition is byte-order independent (RFC 1071 2.B).
inline uint32_t checksumPartial(const uint8_t* data, size_t len, uint32_t initial = 0) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    uint32_t w;
    std::memcpy(&w, data + i, 4);
    sum += w;
  }
  if (i + 2 <= len) {
    uint16_t w;
    std::memcpy(&w, data + i, 2);
    sum += w;
    i += 2;
  }
  if (i < len) {
    // In memory the trailing byte comes first in its (zero-padded) word, so
    // it lands in the right half whatever the host byte order.
    uint8_t pair[2] = {data[i], 0};
    uint16_t w;
    std::memcpy(&w, pair, 2);
    sum += w;
  }
  sum = (sum & 0xFFFFFFFFu) + (sum >> 32);
  sum = (sum & 0xFFFFFFFFu) + (sum >> 32);
  uint16_t folded = foldChecksum(static_cast<uint32_t>(sum));
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>((folded >> 8) | (folded << 8));
  }
  return initial + folded;
}

// The checksum field value for `len` bytes whose checksum field is zero (or
// excluded by the caller): ~fold(sum).
inline uint16_t internetChecksum(const uint8_t* data, size_t len, uint32_t initial = 0) {
  return static_cast<uint16_t>(~foldChecksum(checksumPartial(data, len, initial)));
}

// True when `len` bytes including their checksum field sum to 0xFFFF.
inline bool checksumValid(const uint8_t* data, size_t len, uint32_t initial = 0) {
  return foldChecksum(checksumPartial(data, len, initial)) == 0xFFFF;
}

// The IPv4 pseudo-header of TCP/UDP (RFC 9293 3.1, RFC 768): source,
// destination, zero, protocol, L4 length. Addresses host order.
constexpr uint32_t pseudoHeaderSum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4Len) {
  return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + l4Len;
}

// Full IPv4 header checksum (`headerLen` bytes at `ip`), skipping the current
// checksum field so the caller need not zero it first.
inline uint16_t ipv4HeaderChecksum(const uint8_t* ip, size_t headerLen) {
  uint32_t sum = checksumPartial(ip, 10) + checksumPartial(ip + 12, headerLen - 12);
  return static_cast<uint16_t>(~foldChecksum(sum));
}

// Full TCP/UDP checksum over `l4Len` bytes at `l4` with the IPv4 pseudo
// header, skipping the checksum field at `checksumOffset` (6 for UDP, 16 for
// TCP). For UDP apply `udpChecksumFixup` to the result.
inline uint16_t l4Checksum(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t* l4,
                           size_t l4Len, size_t checksumOffset) {
  uint32_t sum = pseudoHeaderSum(src, dst, proto, static_cast<uint16_t>(l4Len));
  sum = checksumPartial(l4, checksumOffset, sum);
  sum = checksumPartial(l4 + checksumOffset + 2, l4Len - checksumOffset - 2, sum);
  return static_cast<uint16_t>(~foldChecksum(sum));
}

// UDP over IPv4 sends a computed checksum of 0 as 0xFFFF, since 0 means "no
// checksum" (RFC 768). Both are one's-complement zero, so receivers accept it.
constexpr uint16_t udpChecksumFixup(uint16_t csum) {
  return csum == 0 ? 0xFFFF : csum;
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit word m -> m'.
constexpr uint16_t checksumReplace16(uint16_t csum, uint16_t oldWord, uint16_t newWord) {
  uint32_t sum = static_cast<uint16_t>(~csum);
  sum += static_cast<uint16_t>(~oldWord);
  sum += newWord;
  return static_cast<uint16_t>(~foldChecksum(sum));
}

// RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address): two 16-bit words.
constexpr uint16_t checksumReplace32(uint16_t csum, uint32_t oldValue, uint32_t newValue) {
  uint32_t sum = static_cast<uint16_t>(~csum);
  sum += static_cast<uint16_t>(~(oldValue >> 16));
  sum += static_cast<uint16_t>(~oldValue);
  sum += newValue >> 16;
  sum += newValue & 0xFFFF;
  return static_cast<uint16_t>(~foldChecksum(sum));
}

// Several field changes under one checksum, applied once (NAT changes an
// address and a port under the TCP checksum, an address and the TTL under the
// IPv4 one). Each replace adds ~old + new; `apply` is RFC 1624 eqn. 3.
class ChecksumDelta {
 public:
  constexpr void replace16(uint16_t oldWord, uint16_t newWord) {
    sum_ += static_cast<uint16_t>(~oldWord);
    sum_ += newWord;
  }
  constexpr void replace32(uint32_t oldValue, uint32_t newValue) {
    replace16(static_cast<uint16_t>(oldValue >> 16), static_cast<uint16_t>(newValue >> 16));
    replace16(static_cast<uint16_t>(oldValue), static_cast<uint16_t>(newValue));
  }
  // Folded delta, to carry into another checksum that covers the same words
  // (an ICMP checksum covering a quoted header).
  constexpr uint16_t folded() const { return foldChecksum(sum_); }
  constexpr uint16_t apply(uint16_t csum) const {
    uint32_t sum = static_cast<uint16_t>(~csum);
    sum += foldChecksum(sum_);
    return static_cast<uint16_t>(~foldChecksum(sum));
  }

 private:
  // At most a handful of replaces per packet: no overflow before fold.
  uint32_t sum_ = 0;
};

}  // namespace dplb::pkt
