#include "dplb/metrics/exposer.h"

#include <fmt/format.h>
#include <prometheus/exposer.h>

#include <exception>

namespace dplb::metrics {

Exposer::Exposer() = default;

Exposer::~Exposer() {
  stop();
}

std::string Exposer::start(const conf::Endpoint& listen,
                           std::shared_ptr<prometheus::Collectable> collectable) {
  if (exposer_ != nullptr) {
    return "metrics exposer already started";
  }
  const std::string address = listen.str();
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, kThreads);
  } catch (const std::exception& e) {
    // prometheus-cpp (civetweb underneath) throws when it cannot bind.
    return fmt::format("metrics.listen: cannot serve on {}: {}", address, e.what());
  }
  const std::vector<int> ports = exposer_->GetListeningPorts();
  if (ports.empty()) {
    stop();
    return fmt::format("metrics.listen: no port bound for {}", address);
  }
  bound_ = fmt::format("{}:{}", listen.addr.str(), ports.front());
  collectable_ = std::move(collectable);
  exposer_->RegisterCollectable(collectable_, "/metrics");
  return {};
}

void Exposer::stop() {
  // Destroying the exposer stops its server and joins its threads.
  exposer_.reset();
  collectable_.reset();
}

}  // namespace dplb::metrics
