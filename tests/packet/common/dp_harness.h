#pragma once
// Packet-tier harness: a real EAL (--no-huge), ring-backed ethdev ports that
// the test feeds and drains, and a Dataplane whose workers the test polls on
// its own thread with an injected clock. Deterministic: no threads, no sleeps.

#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "dplb/conf/loader.h"
#include "dplb/dp/dataplane.h"
#include "dplb/dp/worker.h"
#include "packet_builder.h"

namespace dplb::test {

inline void ensureEal() {
  static bool done = [] {
    std::string prefix = "dplbpkt" + std::to_string(getpid());
    std::vector<std::string> args{"dplb-packet-test",
                                  "--no-huge",
                                  "-m",
                                  "256",
                                  "--no-pci",
                                  "-l",
                                  "0",
                                  "--file-prefix",
                                  prefix,
                                  "--log-level=error"};
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    return rte_eal_init(static_cast<int>(argv.size()), argv.data()) >= 0;
  }();
  ASSERT_TRUE(done) << "EAL initialisation failed";
}

// One ring-backed port with `queues` rx and tx queues.
struct RingPort {
  std::string name;
  std::vector<rte_ring*> rx;
  std::vector<rte_ring*> tx;

  // rte_eth_from_rings() names the ethdev "net_ring_<n>"; `name` is that.
  void create(const std::string& n, unsigned queues) {
    name = "net_ring_" + n;
    for (unsigned q = 0; q < queues; ++q) {
      rx.push_back(rte_ring_create((n + "_rx" + std::to_string(q)).c_str(), 1024, SOCKET_ID_ANY,
                                   RING_F_SP_ENQ | RING_F_SC_DEQ));
      tx.push_back(rte_ring_create((n + "_tx" + std::to_string(q)).c_str(), 1024, SOCKET_ID_ANY,
                                   RING_F_SP_ENQ | RING_F_SC_DEQ));
    }
    ASSERT_GE(rte_eth_from_rings(n.c_str(), rx.data(), queues, tx.data(), queues, SOCKET_ID_ANY),
              0);
  }
  void destroy() {
    if (!name.empty()) {
      rte_vdev_uninit(name.c_str());  // frees the port id for later tests
    }
    for (auto* r : rx) {
      drainFree(r);
      rte_ring_free(r);
    }
    for (auto* r : tx) {
      drainFree(r);
      rte_ring_free(r);
    }
    rx.clear();
    tx.clear();
  }
  void drain() {
    for (auto* r : rx) {
      drainFree(r);
    }
    for (auto* r : tx) {
      drainFree(r);
    }
  }
  static void drainFree(rte_ring* r) {
    void* m;
    while (rte_ring_dequeue(r, &m) == 0) {
      rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
  }
};

class DataplaneHarness {
 public:
  // `yamlBody` is the config with the placeholders {WAN} and {LAN} for the
  // two ring device names.
  void start(std::string yaml, unsigned workers = 1, uint32_t capacity = 0) {
    ensureEal();
    static std::atomic<unsigned> seq{0};
    unsigned id = seq++;
    wan_.create("w" + std::to_string(id), workers);
    lan_.create("l" + std::to_string(id), workers);
    replace(yaml, "{WAN}", wan_.name);
    replace(yaml, "{LAN}", lan_.name);
    conf::LoadResult lr = conf::loadConfigString(yaml, "test.yaml");
    ASSERT_TRUE(lr.ok()) << (lr.errors.empty() ? "" : lr.errors[0].str());
    config_ = *lr.config;
    dp::DataplaneOptions opts;
    opts.workers = workers;
    opts.clock = [this] { return nowNs_; };
    opts.connCapacity = capacity;
    std::string err = dp_.start(config_, opts);
    ASSERT_EQ(err, "");
    // Gratuitous ARPs at start are checked by their own test; drop them here.
    pollAll();
    collect(0);
    collect(1);
  }
  void stop() {
    // Frames left in the rings go back to the pool before the pool goes.
    wan_.drain();
    lan_.drain();
    dp_.stop();
    wan_.destroy();
    lan_.destroy();
  }

  void advance(std::chrono::nanoseconds d) { nowNs_ += static_cast<uint64_t>(d.count()); }

  // Port 0 = wan, 1 = lan.
  void inject(int port, const Bytes& frame, unsigned queue = 0) {
    rte_mbuf* m = rte_pktmbuf_alloc(dp_.ports().pool());
    ASSERT_NE(m, nullptr);
    char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
    ASSERT_NE(p, nullptr);
    std::memcpy(p, frame.data(), frame.size());
    ASSERT_EQ(rte_ring_enqueue((port == 0 ? wan_ : lan_).rx[queue], m), 0);
  }
  // Polls every worker until no worker handles anything (bounded).
  void pollAll() {
    for (int round = 0; round < 16; ++round) {
      unsigned n = 0;
      for (unsigned w = 0; w < dp_.workerCount(); ++w) {
        n += dp_.worker(w).pollOnce();
      }
      if (n == 0) {
        // One more pass so handed-off packets are drained.
        for (unsigned w = 0; w < dp_.workerCount(); ++w) {
          dp_.worker(w).pollOnce();
        }
        return;
      }
    }
  }
  // Everything transmitted on a port (all tx queues), in queue order.
  std::vector<Bytes> collect(int port) {
    std::vector<Bytes> out;
    for (rte_ring* r : (port == 0 ? wan_ : lan_).tx) {
      void* v;
      while (rte_ring_dequeue(r, &v) == 0) {
        auto* m = static_cast<rte_mbuf*>(v);
        auto* d = rte_pktmbuf_mtod(m, uint8_t*);
        out.emplace_back(d, d + rte_pktmbuf_data_len(m));
        rte_pktmbuf_free(m);
      }
    }
    return out;
  }
  Bytes send(int inPort, const Bytes& frame, int outPort, unsigned queue = 0) {
    inject(inPort, frame, queue);
    pollAll();
    auto out = collect(outPort);
    EXPECT_EQ(out.size(), 1u) << "expected exactly one frame out; " << dropSummary();
    return out.empty() ? Bytes{} : out[0];
  }

  Mac portMac(int port) {
    rte_ether_addr a;
    rte_eth_macaddr_get(dp_.ports().ports()[port].portId, &a);
    Mac m;
    std::memcpy(m.data(), a.addr_bytes, 6);
    return m;
  }
  uint64_t drops(pkt::DropReason r) { return dp_.drop(r); }
  // Non-zero drop counters and worker counters, for failure messages.
  std::string dropSummary() {
    std::string s = "drops:";
    auto d = dp_.drops();
    for (size_t i = 0; i < d.size(); ++i) {
      if (d[i] != 0) {
        s += " " + std::string(pkt::dropReasonName(static_cast<pkt::DropReason>(i))) + "=" +
             std::to_string(d[i]);
      }
    }
    for (unsigned w = 0; w < dp_.workerCount(); ++w) {
      const auto& st = dp_.workerStats(w);
      s += " | w" + std::to_string(w) + " rx=" + std::to_string(st.rxPackets.get()) +
           " tx=" + std::to_string(st.txPackets.get()) +
           " handoff=" + std::to_string(st.handoffOut.get());
    }
    return s;
  }
  dp::Dataplane& dp() { return dp_; }
  const conf::Config& config() const { return config_; }
  uint64_t nowNs() const { return nowNs_; }

  static void replace(std::string& s, const std::string& from, const std::string& to) {
    for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
      s.replace(pos, from.size(), to);
    }
  }

 private:
  RingPort wan_;
  RingPort lan_;
  dp::Dataplane dp_;
  conf::Config config_;
  uint64_t nowNs_ = 1'000'000'000;
};

}  // namespace dplb::test
