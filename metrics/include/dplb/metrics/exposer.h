#pragma once

// The HTTP endpoint Prometheus scrapes: GET /metrics on metrics.listen,
// served by prometheus-cpp's Exposer (Debian prometheus-cpp-dev).
//
// Contract: start() binds the address (port 0 = a free port the kernel picks;
// boundAddress() tells which) and serves until stop() or destruction; it
// returns "" or why it could not listen, with nothing left running. Each
// scrape of /metrics calls the collectable's Collect() on one of the
// exposer's own threads (kThreads); any other path is 404. prometheus-cpp
// adds its own exposer_* families (scrapes, bytes, latency) to the page.

#include <prometheus/collectable.h>

#include <memory>
#include <string>

#include "dplb/conf/config.h"

namespace prometheus {
class Exposer;
}

namespace dplb::metrics {

class Exposer {
 public:
  static constexpr size_t kThreads = 2;

  Exposer();
  ~Exposer();
  Exposer(const Exposer&) = delete;
  Exposer& operator=(const Exposer&) = delete;

  std::string start(const conf::Endpoint& listen,
                    std::shared_ptr<prometheus::Collectable> collectable);
  void stop();

  // "ip:port" actually bound ("" before start()).
  const std::string& boundAddress() const { return bound_; }

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Collectable> collectable_;
  std::string bound_;
};

}  // namespace dplb::metrics
