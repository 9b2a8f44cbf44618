#pragma once

// The HTTP endpoint Prometheus scrapes: GET /metrics on metrics.listen.
//
// Contract: start() binds the address (port 0 = a free port the kernel picks;
// boundAddress() tells which) and serves until stop() or destruction; it
// returns "" or why it could not listen, with nothing left running. Each
// request to /metrics calls the render function on one of the server's own
// threads (at most kThreads scrapes at once) and answers with the text format
// 0.0.4; any other path is 404, a method other than GET/HEAD is 405. The
// HTTP server is civetweb (Debian libcivetweb-dev), the same embedded server
// prometheus-cpp's exposer uses; prometheus-cpp itself is not packaged in
// Debian, and the text format is small enough to write (exposition.h).

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "dplb/conf/config.h"

struct mg_context;
struct mg_connection;

namespace dplb::metrics {

class Exposer {
 public:
  using Render = std::function<std::string()>;
  static constexpr int kThreads = 2;

  Exposer() = default;
  ~Exposer();
  Exposer(const Exposer&) = delete;
  Exposer& operator=(const Exposer&) = delete;

  std::string start(const conf::Endpoint& listen, Render render);
  void stop();

  // "ip:port" actually bound ("" before start()).
  const std::string& boundAddress() const { return bound_; }
  uint64_t scrapes() const { return scrapes_.load(std::memory_order_relaxed); }

 private:
  static int handle(mg_connection* conn, void* self);

  mg_context* ctx_ = nullptr;
  Render render_;
  std::string bound_;
  std::atomic<uint64_t> scrapes_{0};
};

}  // namespace dplb::metrics
