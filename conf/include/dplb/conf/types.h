#pragma once

// Small value types shared by the config model and by every part of dplb that
// consumes it: IPv4 addresses and prefixes, MAC addresses, endpoints,
// durations and the EAL lcore list.
//
// Contract: every parse function is strict (it accepts exactly one canonical
// spelling and nothing around it), never throws, and on failure returns
// std::nullopt and, when `why` is not null, a short human-readable reason
// ("octet 256 is out of range 0..255"). Formatting functions produce the
// canonical spelling that the parse function accepts, so parse(str(x)) == x.
//
// Addresses are kept as host-order uint32_t (10.0.0.1 == 0x0A000001): the
// dataplane converts to network order at its boundary.

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dplb::conf {

// An IPv4 address, host byte order.
struct Ipv4 {
  uint32_t value = 0;

  constexpr Ipv4() = default;
  constexpr explicit Ipv4(uint32_t hostOrder) : value(hostOrder) {}
  static constexpr Ipv4 fromOctets(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return Ipv4((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | uint32_t{d});
  }

  // Dotted quad, four decimal octets 0..255 without leading zeros (a leading
  // zero means octal to inet_aton, so "010.0.0.1" is refused as ambiguous).
  // An IPv6-looking text gets the reason "IPv6 is not supported yet".
  static std::optional<Ipv4> parse(std::string_view text, std::string* why = nullptr);
  std::string str() const;

  // 0.0.0.0, 127/8, 224/4 (multicast), 240/4 (reserved, incl. broadcast):
  // addresses a VIP or a real server can never be.
  bool isUnicastUsable() const;

  friend constexpr auto operator<=>(Ipv4, Ipv4) = default;
};

// The netmask for a prefix length 0..32 (host order).
constexpr uint32_t prefixMask(unsigned len) {
  return len == 0 ? 0u : (len >= 32 ? 0xFFFFFFFFu : ~((1u << (32 - len)) - 1u));
}

// addr/len. Used both for routes and connected networks (host bits must be
// zero: `isNetwork()`) and for interface addresses like 10.0.0.2/24 (the
// address keeps its host bits).
struct Prefix {
  Ipv4 addr;
  uint8_t len = 0;

  // "a.b.c.d/len" with len 0..32. A bare address is refused: the length is
  // never implied (an operator who writes 10.0.0.2 for a port address almost
  // always meant a /24 or similar, not a /32).
  static std::optional<Prefix> parse(std::string_view text, std::string* why = nullptr);
  std::string str() const;

  uint32_t mask() const { return prefixMask(len); }
  Ipv4 network() const { return Ipv4(addr.value & mask()); }
  bool isNetwork() const { return (addr.value & ~mask()) == 0; }
  bool contains(Ipv4 a) const { return (a.value & mask()) == network().value; }

  friend constexpr auto operator<=>(const Prefix&, const Prefix&) = default;
};

// An Ethernet address, written "02:00:00:00:01:0b" (six two-digit hex groups,
// colon-separated, either case).
struct MacAddr {
  std::array<uint8_t, 6> bytes{};

  static std::optional<MacAddr> parse(std::string_view text, std::string* why = nullptr);
  std::string str() const;  // lower case
  bool isZero() const;
  bool isMulticast() const { return (bytes[0] & 0x01) != 0; }

  friend constexpr auto operator<=>(const MacAddr&, const MacAddr&) = default;
};

// address:port, e.g. the metrics listen address "127.0.0.1:9550".
struct Endpoint {
  Ipv4 addr;
  uint16_t port = 0;

  // "a.b.c.d:port", port 1..65535. "[::1]:9550" gets "IPv6 is not supported yet".
  static std::optional<Endpoint> parse(std::string_view text, std::string* why = nullptr);
  std::string str() const;

  friend constexpr auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

// Every duration in the model is in milliseconds; only dataplane.idle_sleep
// needs finer resolution and is kept in microseconds.
using Duration = std::chrono::milliseconds;
using FineDuration = std::chrono::microseconds;

// Durations are written as one or more <integer><unit> groups, unit one of
// us, ms, s, m, h ("2s", "500ms", "1m", "1h30m"), or as a plain non-negative
// integer meaning seconds ("300" == "300s"). Fractions, negative values,
// spaces and other units are refused. Result in microseconds; the caller
// decides whether sub-millisecond precision is acceptable. Values up to
// 1000 days are accepted (anything longer is surely a typo).
std::optional<FineDuration> parseDuration(std::string_view text, std::string* why = nullptr);
// Shortest exact spelling: 360000ms -> "6m", 1500ms -> "1500ms", 0 -> "0s".
std::string formatDuration(FineDuration d);
inline std::string formatDuration(Duration d) {
  return formatDuration(FineDuration(d));
}

// EAL lcore list as DPDK's -l option takes it: comma-separated ids and
// inclusive ranges ("0-1", "0,2", "0-3,8"). Returns the ids sorted, without
// duplicates. Ids are limited to 0..1023 here; the EAL checks its own
// RTE_MAX_LCORE at start-up.
std::optional<std::vector<unsigned>> expandLcores(std::string_view text,
                                                  std::string* why = nullptr);

// Small helpers used by the validator, exposed because the admin CLI needs
// the same rules.
bool isPrime(uint64_t n);
// Optimal-string-alignment edit distance (Levenshtein plus adjacent
// transposition), case-sensitive.
unsigned editDistance(std::string_view a, std::string_view b);
// The candidate an operator most likely meant by `word`: the nearest one at
// edit distance <= 2 (and shorter than the candidate itself), or a candidate
// that equals `word` ignoring case. Empty string when nothing is close.
std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace dplb::conf
