#include "dplb/dp/ports.h"

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <regex>

namespace dplb::dp {
namespace {

constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;
constexpr unsigned kMbufCache = 256;

// "0000:01:00.0" or "01:00.0" optionally followed by ",devargs".
bool isPciAddress(const std::string& device) {
  static const std::regex re(R"(^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7](,.*)?$)");
  return std::regex_match(device, re);
}

std::string deviceName(const std::string& device) {
  return device.substr(0, device.find(','));
}

}  // namespace

int PortSet::indexOf(uint16_t portId) const {
  for (size_t i = 0; i < ports_.size(); ++i) {
    if (ports_[i].portId == portId) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::string PortSet::open(const conf::DataplaneConfig& dp, unsigned workers, unsigned extraMbufs) {
  close();
  // Enough buffers for every rx and tx ring, the per-lcore caches, the
  // handoff rings and tx buffers, and packets parked waiting for ARP.
  unsigned perPort = (kRxDesc + kTxDesc) * std::max(1u, workers);
  // 4096-entry handoff ring per ordered pair of workers, 512 parked packets
  // per worker (worker.cc), generated packets and slack.
  unsigned n = perPort * static_cast<unsigned>(dp.ports.size()) + workers * workers * 4096 +
               workers * 512 + 8192 + kMbufCache * (rte_lcore_count() + 1) + extraMbufs;
  pool_ = rte_pktmbuf_pool_create("dplb_mbufs", n, kMbufCache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                  static_cast<int>(rte_socket_id()));
  if (pool_ == nullptr) {
    return fmt::format("dataplane: cannot create the packet buffer pool ({} mbufs): {}", n,
                       rte_strerror(rte_errno));
  }
  for (size_t i = 0; i < dp.ports.size(); ++i) {
    PortInfo info;
    std::string err = openOne(dp.ports[i], i, workers, info);
    if (!err.empty()) {
      close();
      return err;
    }
    ports_.push_back(info);
  }
  return {};
}

std::string PortSet::openOne(const conf::Port& p, size_t index, unsigned workers, PortInfo& out) {
  const std::string key = fmt::format("dataplane.ports[{}]", index);
  const std::string name = deviceName(p.device);
  uint16_t portId = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &portId) != 0) {
    int rc = rte_dev_probe(p.device.c_str());
    if (rc < 0) {
      return fmt::format("{}.device: cannot probe \"{}\": {}", key, p.device, rte_strerror(-rc));
    }
    if (!isPciAddress(p.device)) {
      probed_.push_back(name);  // vdevs we created are removed again on close
    }
    if (rte_eth_dev_get_port_by_name(name.c_str(), &portId) != 0) {
      // A PCI device's ethdev is named after the canonical address.
      const std::string canonical =
          isPciAddress(p.device) && name.size() == 7 ? "0000:" + name : name;
      if (rte_eth_dev_get_port_by_name(canonical.c_str(), &portId) != 0) {
        return fmt::format("{}.device: \"{}\" was probed but created no ethernet port", key,
                           p.device);
      }
    }
  }
  rte_eth_dev_info devInfo{};
  if (int rc = rte_eth_dev_info_get(portId, &devInfo); rc != 0) {
    return fmt::format("{}.device: cannot query \"{}\": {}", key, p.device, rte_strerror(-rc));
  }
  uint16_t rxq = static_cast<uint16_t>(std::min<unsigned>(workers, devInfo.max_rx_queues));
  uint16_t txq = static_cast<uint16_t>(std::min<unsigned>(workers, devInfo.max_tx_queues));
  if (rxq == 0 || txq < workers) {
    return fmt::format(
        "{}.device: \"{}\" offers {} rx / {} tx queues but {} workers need one tx queue each "
        "(give the vdev more queues, e.g. qpairs=N for net_af_packet)",
        key, p.device, devInfo.max_rx_queues, devInfo.max_tx_queues, workers);
  }
  rte_eth_conf conf{};
  const uint64_t cksum =
      RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  out.txCksumOffload = (devInfo.tx_offload_capa & cksum) == cksum;
  if (rxq > 1 && devInfo.flow_type_rss_offloads != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        devInfo.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
  }
  if (int rc = rte_eth_dev_configure(portId, rxq, txq, &conf); rc != 0) {
    return fmt::format("{}.device: cannot configure \"{}\" with {} rx / {} tx queues: {}", key,
                       p.device, rxq, txq, rte_strerror(-rc));
  }
  uint16_t nbRx = kRxDesc;
  uint16_t nbTx = kTxDesc;
  rte_eth_dev_adjust_nb_rx_tx_desc(portId, &nbRx, &nbTx);
  int socket = rte_eth_dev_socket_id(portId);
  if (socket < 0) {
    socket = static_cast<int>(rte_socket_id());
  }
  for (uint16_t q = 0; q < rxq; ++q) {
    if (int rc = rte_eth_rx_queue_setup(portId, q, nbRx, socket, nullptr, pool_); rc != 0) {
      return fmt::format("{}.device: rx queue {} setup failed: {}", key, q, rte_strerror(-rc));
    }
  }
  for (uint16_t q = 0; q < txq; ++q) {
    if (int rc = rte_eth_tx_queue_setup(portId, q, nbTx, socket, nullptr); rc != 0) {
      return fmt::format("{}.device: tx queue {} setup failed: {}", key, q, rte_strerror(-rc));
    }
  }
  if (p.mac) {
    rte_ether_addr mac;
    std::memcpy(mac.addr_bytes, p.mac->bytes.data(), 6);
    // Virtual PMDs without a MAC of their own (ring, pcap) cannot take one:
    // like the MTU, it is then applied in software only (the workers match
    // and write it; such ports deliver every frame anyway).
    if (int rc = rte_eth_dev_default_mac_addr_set(portId, &mac); rc != 0 && rc != -ENOTSUP) {
      return fmt::format("{}.mac: cannot set {} on \"{}\": {}", key, p.mac->str(), p.device,
                         rte_strerror(-rc));
    }
  }
  // Not every PMD can change its MTU (pcap, ring): then the MTU is enforced
  // in software only (the workers never send more). Any other failure to set
  // a non-default MTU is fatal.
  if (int rc = rte_eth_dev_set_mtu(portId, p.mtu); rc != 0 && rc != -ENOTSUP && p.mtu != 1500) {
    return fmt::format("{}.mtu: cannot set MTU {} on \"{}\": {}", key, p.mtu, p.device,
                       rte_strerror(-rc));
  }
  if (int rc = rte_eth_dev_start(portId); rc != 0) {
    return fmt::format("{}.device: cannot start \"{}\": {}", key, p.device, rte_strerror(-rc));
  }
  out.name = p.name;
  out.portId = portId;
  out.mtu = p.mtu;
  out.rxQueues = rxq;
  out.txQueues = txq;
  rte_eth_macaddr_get(portId, &out.mac);
  if (p.mac) {
    std::memcpy(out.mac.addr_bytes, p.mac->bytes.data(), 6);
  }
  return {};
}

void PortSet::close() {
  for (const auto& p : ports_) {
    rte_eth_dev_stop(p.portId);
    rte_eth_dev_close(p.portId);
  }
  ports_.clear();
  for (const auto& name : probed_) {
    rte_eal_hotplug_remove("vdev", name.c_str());
  }
  probed_.clear();
  if (pool_ != nullptr) {
    rte_mempool_free(pool_);
    pool_ = nullptr;
  }
}

}  // namespace dplb::dp
