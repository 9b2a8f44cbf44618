#pragma once
// gtest glue for dplb::pkt types: readable names in failure messages, and a
// parse helper that hands the parser an exact-size heap copy so ASan catches
// any read past the frame.

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <vector>

#include "dplb/pkt/drop_reason.h"
#include "dplb/pkt/parser.h"
#include "dplb/pkt/verdict.h"

namespace dplb::pkt {

inline void PrintTo(DropReason r, std::ostream* os) {
  *os << dropReasonName(r);
}
inline void PrintTo(Action a, std::ostream* os) {
  *os << actionName(a);
}
inline void PrintTo(const Verdict& v, std::ostream* os) {
  *os << actionName(v.action);
  if (!v.forwarded()) {
    *os << "(" << dropReasonName(v.reason) << ")";
  }
  if (v.mtu != 0) {
    *os << " mtu=" << v.mtu;
  }
}
inline void PrintTo(const ParseResult& r, std::ostream* os) {
  if (r.ok) {
    *os << "ok";
  } else {
    *os << "drop(" << dropReasonName(r.reason) << ")";
  }
}
inline bool operator==(const ParseResult& a, const ParseResult& b) {
  return a.ok == b.ok && (a.ok || a.reason == b.reason);
}

}  // namespace dplb::pkt

namespace dplb::test {

// A frame in its own exact-size allocation (ASan redzones right after the
// last byte) and its parse.
struct ParsedFrame {
  std::vector<uint8_t> bytes;
  pkt::PacketView view;
  pkt::ParseResult result;

  explicit ParsedFrame(const std::vector<uint8_t>& frame,
                       const pkt::ParseOptions& opts = pkt::ParseOptions{})
      : bytes(frame) {
    bytes.shrink_to_fit();
    result = pkt::parsePacket(bytes.data(), static_cast<uint32_t>(bytes.size()), view, opts);
  }
  ParsedFrame(const ParsedFrame&) = delete;
  ParsedFrame& operator=(const ParsedFrame&) = delete;
};

}  // namespace dplb::test
