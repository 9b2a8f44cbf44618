#include "dplb/dp/routes.h"

#include <algorithm>

namespace dplb::dp {

void RouteTable::add(uint32_t prefix, uint8_t len, uint32_t via, int port) {
  uint32_t mask = len == 0 ? 0 : (len >= 32 ? 0xFFFFFFFFu : ~((1u << (32 - len)) - 1u));
  Route r{prefix & mask, mask, len, via, port};
  // Longest prefix first; among equal lengths the first added wins (connected
  // routes are added before static ones).
  auto pos =
      std::find_if(routes_.begin(), routes_.end(), [&](const Route& x) { return x.len < len; });
  routes_.insert(pos, r);
}

}  // namespace dplb::dp
