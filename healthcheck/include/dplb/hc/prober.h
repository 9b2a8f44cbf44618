#pragma once

// Runs health probes concurrently in ONE event-loop thread.
//
// Contract: a Prober owns one thread running an epoll loop. submit() may be
// called from any thread; it queues the probe and returns at once. Each probe
// is a small state machine over a non-blocking socket (or, for exec, a child
// process watched through a pidfd) with a deadline of `check.timeout`; the
// callback runs exactly once, ON THE LOOP THREAD, with the verdict. Callbacks
// must be quick and must not block. The destructor stops the loop; probes
// still in flight are abandoned without calling their callbacks (exec
// children are killed and reaped).
//
// Checkers (IPVS-SEMANTICS.md §4, issue 7): tcp connect; http GET (HTTP/1.1,
// Host, Connection: close, status ranges, md5/sha256 digest, substring);
// https = http over TLS with SNI and certificate verification against
// tls.caFile (or the system store) and the expected host name, optional client
// certificate, `verify: false` honoured; udp payload/expect with ICMP port
// unreachable => down; dns query (id, QR, rcode 0); exec (argv, no shell,
// killed on timeout, DPLB_* environment, dynamic weights); nodeport (GET,
// up only on 200, kube-proxy's localEndpoints recorded).

#include <functional>
#include <memory>
#include <string>

#include "dplb/conf/config.h"
#include "dplb/hc/probe_result.h"

namespace dplb::hc {

struct ProbeTarget {
  conf::Ipv4 address;
  uint16_t serverPort = 0;  // the real server's port; used when check.port is 0
  conf::HealthCheck check;
  std::string service;  // for logs and the exec environment (DPLB_SERVICE)

  uint16_t probePort() const { return check.port != 0 ? check.port : serverPort; }
};

class Prober {
 public:
  using Callback = std::function<void(const ProbeResult&)>;

  Prober();
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Queues one probe. Thread-safe; `done` runs later on the loop thread.
  void submit(ProbeTarget target, Callback done);

  // Probes currently in flight (for tests and status).
  size_t inFlight() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dplb::hc
