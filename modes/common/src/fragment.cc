#include "dplb/pkt/fragment.h"

#include <cstring>

#include "dplb/pkt/byte_order.h"
#include "dplb/pkt/checksum.h"
#include "dplb/pkt/headers.h"

namespace dplb::pkt {
namespace {

struct Plan {
  uint32_t count = 0;
  uint32_t headerLen = 0;       // first fragment
  uint32_t laterHeaderLen = 0;  // later fragments (20 + copied options)
  uint32_t dataLen = 0;
  uint32_t firstChunk = 0;  // data bytes per fragment, multiples of 8
  uint32_t laterChunk = 0;
  uint32_t baseOffset = 0;  // the packet's own fragment offset, bytes
  uint8_t copiedOptions[kIpv4MaxHeaderLen - kIpv4MinHeaderLen] = {};
  uint32_t copiedLen = 0;  // padded to 4
};

// Collects the options with the copied flag (RFC 791: they go into every
// fragment). False on a malformed option list.
bool collectCopiedOptions(const uint8_t* opts, uint32_t len, Plan& plan) {
  uint32_t i = 0;
  while (i < len) {
    const uint8_t type = opts[i];
    if (type == kIpv4OptEnd) {
      break;
    }
    if (type == kIpv4OptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= len) {
      return false;
    }
    const uint32_t optLen = opts[i + 1];
    if (optLen < 2 || i + optLen > len) {
      return false;
    }
    if ((type & kIpv4OptCopiedFlag) != 0) {
      std::memcpy(plan.copiedOptions + plan.copiedLen, opts + i, optLen);
      plan.copiedLen += optLen;
    }
    i += optLen;
  }
  plan.copiedLen = (plan.copiedLen + 3) & ~3u;  // zero bytes = EOL padding
  return true;
}

bool makePlan(const uint8_t* frame, uint32_t l3Offset, uint32_t len, uint32_t mtu, Plan& plan) {
  if (l3Offset > len || len - l3Offset < kIpv4MinHeaderLen) {
    return false;
  }
  const auto* ip = reinterpret_cast<const Ipv4Header*>(frame + l3Offset);
  const uint32_t hl = ip->headerLen();
  const uint32_t total = ip->totalLength.get();
  if (ip->version() != 4 || hl < kIpv4MinHeaderLen || total < hl || total > len - l3Offset) {
    return false;
  }
  plan.headerLen = hl;
  plan.dataLen = total - hl;
  plan.baseOffset = ip->fragmentOffset();
  if (total <= mtu) {
    plan.count = 1;
    return true;
  }
  if (!collectCopiedOptions(frame + l3Offset + kIpv4MinHeaderLen, hl - kIpv4MinHeaderLen, plan)) {
    return false;
  }
  plan.laterHeaderLen = kIpv4MinHeaderLen + plan.copiedLen;
  if (mtu < hl + 8) {
    return false;
  }
  plan.firstChunk = (mtu - hl) & ~7u;
  plan.laterChunk = (mtu - plan.laterHeaderLen) & ~7u;   // laterHeaderLen <= hl
  const uint32_t rest = plan.dataLen - plan.firstChunk;  // dataLen > firstChunk here
  plan.count = 1 + (rest + plan.laterChunk - 1) / plan.laterChunk;
  // The last fragment's offset must fit the 13-bit field.
  if (plan.baseOffset + plan.dataLen - 1 > 0xFFFFu) {
    return false;
  }
  return true;
}

}  // namespace

uint32_t fragmentCount(const uint8_t* frame, uint32_t l3Offset, uint32_t len, uint32_t mtu) {
  Plan plan;
  return makePlan(frame, l3Offset, len, mtu, plan) ? plan.count : 0;
}

uint32_t fragmentIpv4(const uint8_t* frame, uint32_t l3Offset, uint32_t len, uint32_t mtu,
                      std::span<FragmentSlot> slots) {
  Plan plan;
  if (!makePlan(frame, l3Offset, len, mtu, plan) || slots.size() < plan.count) {
    return 0;
  }
  const uint8_t* ip = frame + l3Offset;
  const uint16_t origFrag = loadBe16(ip + 6);
  const bool origMf = (origFrag & kIpv4FlagMf) != 0;
  const uint16_t keptFlags = origFrag & (kIpv4FlagDf | kIpv4FlagReserved);
  const uint8_t* data = ip + plan.headerLen;

  uint32_t offset = 0;
  for (uint32_t i = 0; i < plan.count; ++i) {
    const bool first = i == 0;
    const uint32_t hl = first ? plan.headerLen : plan.laterHeaderLen;
    const uint32_t chunkMax = plan.count == 1 ? plan.dataLen
                              : first         ? plan.firstChunk
                                              : plan.laterChunk;
    const uint32_t chunk = plan.dataLen - offset < chunkMax ? plan.dataLen - offset : chunkMax;
    FragmentSlot& slot = slots[i];
    if (slot.data == nullptr || slot.capacity < l3Offset + hl + chunk) {
      return 0;
    }
    uint8_t* out = slot.data;
    std::memcpy(out, frame, l3Offset);
    uint8_t* oip = out + l3Offset;
    std::memcpy(oip, ip, kIpv4MinHeaderLen);
    if (first) {
      std::memcpy(oip + kIpv4MinHeaderLen, ip + kIpv4MinHeaderLen,
                  plan.headerLen - kIpv4MinHeaderLen);
    } else {
      std::memcpy(oip + kIpv4MinHeaderLen, plan.copiedOptions, plan.copiedLen);
    }
    oip[0] = static_cast<uint8_t>(0x40 | (hl / 4));
    storeBe16(oip + 2, static_cast<uint16_t>(hl + chunk));
    const bool last = offset + chunk == plan.dataLen;
    const uint16_t mf = (!last || origMf) ? kIpv4FlagMf : 0;
    storeBe16(oip + 6, static_cast<uint16_t>(keptFlags | mf | ((plan.baseOffset + offset) / 8)));
    storeBe16(oip + 10, ipv4HeaderChecksum(oip, hl));
    std::memcpy(oip + hl, data + offset, chunk);
    slot.len = l3Offset + hl + chunk;
    offset += chunk;
  }
  return plan.count;
}

}  // namespace dplb::pkt
