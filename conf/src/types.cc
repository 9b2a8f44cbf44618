#include "dplb/conf/types.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <limits>

namespace dplb::conf {
namespace {

constexpr std::string_view kIpv6NotSupported = "IPv6 is not supported yet";

void setWhy(std::string* why, std::string text) {
  if (why != nullptr) {
    *why = std::move(text);
  }
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isDigit);
}

// An address-ish text with two or more colons, or a bracketed one, is an
// IPv6 address the operator meant; say so instead of "malformed".
bool looksLikeIpv6(std::string_view s) {
  if (!s.empty() && s.front() == '[') {
    return true;
  }
  if (std::count(s.begin(), s.end(), ':') < 2) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.' || c == '/' ||
           c == '%';
  });
}

// Decimal number without sign or leading zeros, at most maxDigits digits.
std::optional<uint64_t> parseDecimal(std::string_view s, size_t maxDigits) {
  if (!allDigits(s) || s.size() > maxDigits || (s.size() > 1 && s[0] == '0')) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : s) {
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

// ---------------------------------------------------------------------- Ipv4

std::optional<Ipv4> Ipv4::parse(std::string_view text, std::string* why) {
  if (looksLikeIpv6(text)) {
    setWhy(why, std::string(kIpv6NotSupported));
    return std::nullopt;
  }
  uint32_t value = 0;
  size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    size_t end = text.find('.', start);
    if (i < 3 && end == std::string_view::npos) {
      setWhy(why, "an IPv4 address has four dot-separated numbers");
      return std::nullopt;
    }
    if (i == 3) {
      if (end != std::string_view::npos) {
        setWhy(why, "an IPv4 address has four dot-separated numbers");
        return std::nullopt;
      }
      end = text.size();
    }
    std::string_view part = text.substr(start, end - start);
    if (!allDigits(part)) {
      setWhy(why, part.empty() ? "empty number between dots"
                               : fmt::format("\"{}\" is not a decimal number", part));
      return std::nullopt;
    }
    if (part.size() > 1 && part[0] == '0') {
      setWhy(why, fmt::format("leading zero in \"{}\" is ambiguous (octal?)", part));
      return std::nullopt;
    }
    auto octet = parseDecimal(part, 3);
    if (!octet || *octet > 255) {
      setWhy(why, fmt::format("{} is out of range 0..255", part));
      return std::nullopt;
    }
    value = (value << 8) | static_cast<uint32_t>(*octet);
    start = end + 1;
  }
  return Ipv4(value);
}

std::string Ipv4::str() const {
  return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 0xFF, (value >> 8) & 0xFF,
                     value & 0xFF);
}

bool Ipv4::isUnicastUsable() const {
  const uint32_t top = value >> 24;
  return value != 0 && top != 0 && top != 127 && top < 224;
}

// -------------------------------------------------------------------- Prefix

std::optional<Prefix> Prefix::parse(std::string_view text, std::string* why) {
  if (looksLikeIpv6(text)) {
    setWhy(why, std::string(kIpv6NotSupported));
    return std::nullopt;
  }
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    setWhy(why, "missing the /length, e.g. 10.0.0.2/24");
    return std::nullopt;
  }
  auto addr = Ipv4::parse(text.substr(0, slash), why);
  if (!addr) {
    return std::nullopt;
  }
  auto len = parseDecimal(text.substr(slash + 1), 2);
  if (!len || *len > 32) {
    setWhy(why, fmt::format("prefix length \"{}\" is not a number 0..32", text.substr(slash + 1)));
    return std::nullopt;
  }
  Prefix p;
  p.addr = *addr;
  p.len = static_cast<uint8_t>(*len);
  return p;
}

std::string Prefix::str() const {
  return fmt::format("{}/{}", addr.str(), len);
}

// ------------------------------------------------------------------- MacAddr

std::optional<MacAddr> MacAddr::parse(std::string_view text, std::string* why) {
  MacAddr mac;
  if (text.size() != 17) {
    setWhy(why, "a MAC address is six colon-separated two-digit hex numbers");
    return std::nullopt;
  }
  for (size_t i = 0; i < 6; ++i) {
    const int hi = hexValue(text[i * 3]);
    const int lo = hexValue(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) {
      setWhy(why, "a MAC address is six colon-separated two-digit hex numbers");
      return std::nullopt;
    }
    mac.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return mac;
}

std::string MacAddr::str() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2],
                     bytes[3], bytes[4], bytes[5]);
}

bool MacAddr::isZero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

// ------------------------------------------------------------------ Endpoint

std::optional<Endpoint> Endpoint::parse(std::string_view text, std::string* why) {
  if (looksLikeIpv6(text)) {
    setWhy(why, std::string(kIpv6NotSupported));
    return std::nullopt;
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    setWhy(why, "missing the :port, e.g. 127.0.0.1:9550");
    return std::nullopt;
  }
  auto addr = Ipv4::parse(text.substr(0, colon), why);
  if (!addr) {
    return std::nullopt;
  }
  auto port = parseDecimal(text.substr(colon + 1), 5);
  if (!port || *port == 0 || *port > 65535) {
    setWhy(why, fmt::format("port \"{}\" is not a number 1..65535", text.substr(colon + 1)));
    return std::nullopt;
  }
  return Endpoint{*addr, static_cast<uint16_t>(*port)};
}

std::string Endpoint::str() const {
  return fmt::format("{}:{}", addr.str(), port);
}

// ----------------------------------------------------------------- durations

std::optional<FineDuration> parseDuration(std::string_view text, std::string* why) {
  constexpr uint64_t kMaxUs = 1000ULL * 24 * 3600 * 1000000;  // 1000 days
  const std::string_view kForm = "not a number followed by a unit us, ms, s, m or h";
  if (text.empty()) {
    setWhy(why, "empty");
    return std::nullopt;
  }
  if (allDigits(text)) {
    // A plain integer means seconds (keepalived and ipvsadm speak seconds).
    if (text.size() > 9) {
      setWhy(why, "longer than 1000 days");
      return std::nullopt;
    }
    uint64_t s = 0;
    for (char c : text) {
      s = s * 10 + static_cast<uint64_t>(c - '0');
    }
    if (s * 1000000 > kMaxUs) {
      setWhy(why, "longer than 1000 days");
      return std::nullopt;
    }
    return FineDuration(static_cast<int64_t>(s * 1000000));
  }
  if (text[0] == '-') {
    setWhy(why, "a duration cannot be negative");
    return std::nullopt;
  }
  uint64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && isDigit(text[j])) {
      ++j;
    }
    if (j == i) {
      setWhy(why, std::string(kForm));
      return std::nullopt;
    }
    if (j < text.size() && (text[j] == '.' || text[j] == ',')) {
      setWhy(why, "fractions are not accepted; use a smaller unit, e.g. 1500ms for 1.5s");
      return std::nullopt;
    }
    if (j - i > 12) {
      setWhy(why, "longer than 1000 days");
      return std::nullopt;
    }
    uint64_t n = 0;
    for (size_t k = i; k < j; ++k) {
      n = n * 10 + static_cast<uint64_t>(text[k] - '0');
    }
    size_t u = j;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u])) != 0) {
      ++u;
    }
    const std::string_view unit = text.substr(j, u - j);
    uint64_t scale = 0;
    if (unit == "us") {
      scale = 1;
    } else if (unit == "ms") {
      scale = 1000;
    } else if (unit == "s") {
      scale = 1000000;
    } else if (unit == "m") {
      scale = 60ULL * 1000000;
    } else if (unit == "h") {
      scale = 3600ULL * 1000000;
    } else if (unit.empty()) {
      setWhy(why, u < text.size() && text[u] == ' '
                      ? std::string("no spaces inside a duration, e.g. 2s")
                      : fmt::format("missing unit after {}", n));
      return std::nullopt;
    } else {
      setWhy(why, fmt::format("unknown unit \"{}\"", unit));
      return std::nullopt;
    }
    if (n > kMaxUs / scale || total + n * scale > kMaxUs) {
      setWhy(why, "longer than 1000 days");
      return std::nullopt;
    }
    total += n * scale;
    i = u;
  }
  return FineDuration(static_cast<int64_t>(total));
}

std::string formatDuration(FineDuration d) {
  const int64_t us = d.count();
  if (us == 0) {
    return "0s";
  }
  if (us < 0) {
    return "-" + formatDuration(FineDuration(-us));
  }
  if (us % 1000000 != 0) {
    return us % 1000 == 0 ? fmt::format("{}ms", us / 1000) : fmt::format("{}us", us);
  }
  int64_t s = us / 1000000;
  std::string out;
  if (s >= 3600) {
    out += fmt::format("{}h", s / 3600);
    s %= 3600;
  }
  if (s >= 60) {
    out += fmt::format("{}m", s / 60);
    s %= 60;
  }
  if (s > 0) {
    out += fmt::format("{}s", s);
  }
  return out;
}

// -------------------------------------------------------------------- lcores

std::optional<std::vector<unsigned>> expandLcores(std::string_view text, std::string* why) {
  constexpr unsigned kMaxLcore = 1023;
  std::vector<unsigned> out;
  if (text.empty()) {
    setWhy(why, "the lcore list is empty");
    return std::nullopt;
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view item = text.substr(start, end - start);
    const size_t dash = item.find('-');
    const std::string_view first = item.substr(0, dash);
    const std::string_view last = dash == std::string_view::npos ? first : item.substr(dash + 1);
    if (!allDigits(first) || !allDigits(last) || first.size() > 4 || last.size() > 4) {
      setWhy(why, item.empty()
                      ? std::string("empty item between commas")
                      : fmt::format("\"{}\" is not an lcore id or a range like 0-3", item));
      return std::nullopt;
    }
    const unsigned lo = static_cast<unsigned>(std::stoul(std::string(first)));
    const unsigned hi = static_cast<unsigned>(std::stoul(std::string(last)));
    if (lo > kMaxLcore || hi > kMaxLcore) {
      setWhy(why, fmt::format("lcore id {} is above {}", std::max(lo, hi), kMaxLcore));
      return std::nullopt;
    }
    if (lo > hi) {
      setWhy(why, fmt::format("range \"{}\" runs backwards", item));
      return std::nullopt;
    }
    for (unsigned id = lo; id <= hi; ++id) {
      out.push_back(id);
    }
    start = end + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ------------------------------------------------------------------- helpers

bool isPrime(uint64_t n) {
  if (n < 2) {
    return false;
  }
  if (n % 2 == 0) {
    return n == 2;
  }
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) {
      return false;
    }
  }
  return true;
}

unsigned editDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  // Three rolling rows: the transposition step looks two rows back.
  std::vector<unsigned> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) {
    prev[j] = static_cast<unsigned>(j);
  }
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = static_cast<unsigned>(i);
    for (size_t j = 1; j <= m; ++j) {
      const unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
  };
  const std::string lw = lower(word);
  std::string_view best;
  unsigned bestDistance = std::numeric_limits<unsigned>::max();
  for (std::string_view c : candidates) {
    const unsigned d = editDistance(lw, lower(c));
    // Distance must stay below the candidate's length, or "ip" would
    // "suggest" any two-letter key.
    if (d < bestDistance && d <= 2 && d < c.size()) {
      best = c;
      bestDistance = d;
    }
  }
  if (!best.empty()) {
    return std::string(best);
  }
  // Truncations and extensions ("real" for real_servers, "warning" for warn).
  for (std::string_view c : candidates) {
    const std::string lc = lower(c);
    const size_t shorter = std::min(lc.size(), lw.size());
    if (shorter >= 3 && lc.compare(0, shorter, lw, 0, shorter) == 0) {
      return std::string(c);
    }
  }
  return {};
}

}  // namespace dplb::conf
