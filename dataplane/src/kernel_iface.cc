#include "dplb/dp/kernel_iface.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace dplb::dp {
namespace {

// The TAP PMD reads one frame per readv into a chain of `nb_desc` buffers it
// keeps allocated; 16 x 2 KiB covers a 9216-byte frame.
constexpr uint16_t kTapRxDesc = 16;
// Transmit to a TAP is a synchronous write(): the ring holds nothing.
constexpr uint16_t kTapTxDesc = 512;

std::string macString(const rte_ether_addr& a) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", a.addr_bytes[0], a.addr_bytes[1],
                     a.addr_bytes[2], a.addr_bytes[3], a.addr_bytes[4], a.addr_bytes[5]);
}

// Closes its descriptor on every path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

// An rtnetlink request: header, family message, room for a few attributes.
template <typename Body>
struct NetlinkRequest {
  nlmsghdr nh;
  Body body;
  char attrs[64];
};

template <typename Body>
void addAttr(NetlinkRequest<Body>& req, uint16_t type, const void* data, size_t len) {
  auto* rta =
      reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.nh.nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  std::memcpy(RTA_DATA(rta), data, len);
  req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

// Sends `nh` and reads the kernel's acknowledgement (the request must ask
// for one: NLM_F_ACK). "" with *kernelError = 0 or a negative errno when the
// kernel answered; otherwise what went wrong with the socket.
std::string netlinkTalk(int fd, const nlmsghdr& nh, const char* what, int* kernelError) {
  if (::send(fd, &nh, nh.nlmsg_len, 0) < 0) {
    return fmt::format("rtnetlink send: {}", std::strerror(errno));
  }
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  if (n < 0) {
    return fmt::format("rtnetlink recv: {}", std::strerror(errno));
  }
  auto* answer = reinterpret_cast<nlmsghdr*>(buf);
  if (!NLMSG_OK(answer, static_cast<uint32_t>(n)) || answer->nlmsg_type != NLMSG_ERROR) {
    return fmt::format("rtnetlink: unexpected answer to {}", what);
  }
  *kernelError = static_cast<const nlmsgerr*>(NLMSG_DATA(answer))->error;
  return {};
}

}  // namespace

std::string addKernelAddresses(const std::string& ifname,
                               const std::vector<conf::Prefix>& addresses) {
  const unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) {
    return fmt::format("no kernel interface \"{}\": {}", ifname, std::strerror(errno));
  }
  Fd sock{::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)};
  if (sock.fd < 0) {
    return fmt::format("rtnetlink socket: {}", std::strerror(errno));
  }
  uint32_t seq = 1;
  for (const conf::Prefix& p : addresses) {
    NetlinkRequest<ifaddrmsg> req{};
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
    req.nh.nlmsg_type = RTM_NEWADDR;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    req.nh.nlmsg_seq = ++seq;
    req.body.ifa_family = AF_INET;
    req.body.ifa_prefixlen = p.len;
    req.body.ifa_scope = RT_SCOPE_UNIVERSE;
    req.body.ifa_index = ifindex;
    const uint32_t be = htonl(p.addr.value);
    // IFA_LOCAL is the address, IFA_ADDRESS the peer (the same on a
    // broadcast link); the kernel adds the connected route from them.
    addAttr(req, IFA_LOCAL, &be, sizeof(be));
    addAttr(req, IFA_ADDRESS, &be, sizeof(be));
    int kernelError = 0;
    if (std::string err = netlinkTalk(sock.fd, req.nh, "RTM_NEWADDR", &kernelError); !err.empty()) {
      return err;
    }
    if (kernelError != 0 && kernelError != -EEXIST) {
      return fmt::format("cannot add {} to {}: {}", p.str(), ifname, std::strerror(-kernelError));
    }
  }
  return {};
}

std::string addKernelRoute(const std::string& ifname, const conf::Route& route) {
  const unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) {
    return fmt::format("no kernel interface \"{}\": {}", ifname, std::strerror(errno));
  }
  Fd sock{::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)};
  if (sock.fd < 0) {
    return fmt::format("rtnetlink socket: {}", std::strerror(errno));
  }
  NetlinkRequest<rtmsg> req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  req.nh.nlmsg_type = RTM_NEWROUTE;
  // EXCL, not REPLACE: a route the host already has (its own default route
  // on a management NIC, say) is the operator's and stays.
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
  req.nh.nlmsg_seq = 1;
  req.body.rtm_family = AF_INET;
  req.body.rtm_dst_len = route.prefix.len;
  req.body.rtm_table = RT_TABLE_MAIN;
  req.body.rtm_protocol = RTPROT_STATIC;
  req.body.rtm_scope = RT_SCOPE_UNIVERSE;
  req.body.rtm_type = RTN_UNICAST;
  const uint32_t dst = htonl(route.prefix.network().value);
  const uint32_t via = htonl(route.via.value);
  const uint32_t oif = ifindex;
  if (route.prefix.len > 0) {
    addAttr(req, RTA_DST, &dst, sizeof(dst));
  }
  addAttr(req, RTA_GATEWAY, &via, sizeof(via));
  addAttr(req, RTA_OIF, &oif, sizeof(oif));
  int kernelError = 0;
  if (std::string err = netlinkTalk(sock.fd, req.nh, "RTM_NEWROUTE", &kernelError); !err.empty()) {
    return err;
  }
  if (kernelError == -EEXIST) {
    return fmt::format("the kernel already has a route to {} with metric 0; it is kept",
                       route.prefix.str());
  }
  if (kernelError != 0) {
    return fmt::format("cannot add the route to {} via {} dev {}: {}", route.prefix.str(),
                       route.via.str(), ifname, std::strerror(-kernelError));
  }
  return {};
}

unsigned KernelInterfaces::mbufsNeeded(const conf::DataplaneConfig& dp, unsigned workers) {
  unsigned n = 0;
  for (const auto& p : dp.ports) {
    if (p.exceptionPath) {
      n += kTapRxDesc * workers;
    }
  }
  return n;
}

void KernelInterfaces::open(const conf::DataplaneConfig& dp, const std::vector<PortInfo>& ports,
                            rte_mempool* pool, unsigned workers) {
  close();
  taps_.assign(ports.size(), -1);
  for (size_t i = 0; i < ports.size() && i < dp.ports.size(); ++i) {
    if (!dp.ports[i].exceptionPath) {
      continue;
    }
    int tap = -1;
    const size_t probed = devices_.size();
    std::string err = openOne(dp.ports[i], ports[i], pool, workers, &tap);
    if (!err.empty()) {
      // Nothing half-made stays behind: the interface goes again.
      while (devices_.size() > probed) {
        rte_eal_hotplug_remove("vdev", devices_.back().c_str());
        devices_.pop_back();
      }
      std::string w = fmt::format(
          "dataplane.ports[{}].exception_path: no kernel interface for port {} ({}); running "
          "it with the exception path off",
          i, dp.ports[i].name, err);
      spdlog::warn("{}", w);
      warnings_.push_back(std::move(w));
      continue;
    }
    taps_[i] = tap;
    for (size_t r = 0; r < dp.routes.size(); ++r) {
      const conf::Route& route = dp.routes[r];
      if (route.port != dp.ports[i].name) {
        continue;
      }
      if (std::string err = addKernelRoute(dp.ports[i].name, route); !err.empty()) {
        std::string w = fmt::format(
            "dataplane.routes[{}]: the host's own traffic to {} does not use port {} ({}); dplb "
            "forwards with the route as configured",
            r, route.prefix.str(), dp.ports[i].name, err);
        spdlog::warn("{}", w);
        warnings_.push_back(std::move(w));
      }
    }
  }
}

std::string KernelInterfaces::openOne(const conf::Port& p, const PortInfo& info, rte_mempool* pool,
                                      unsigned workers, int* tapPortId) {
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
    return fmt::format("/dev/net/tun: {}", std::strerror(errno));
  }
  // Vdev names are process-wide; several Dataplanes may live in one process
  // one after the other (tests).
  static std::atomic<unsigned> seq{0};
  const std::string name = fmt::format("net_tap{}", 900 + seq.fetch_add(1));
  const std::string args = fmt::format("{},iface={},mac={}", name, p.name, macString(info.mac));
  if (int rc = rte_dev_probe(args.c_str()); rc < 0) {
    return fmt::format("cannot create \"{}\": {}", args, rte_strerror(-rc));
  }
  devices_.push_back(name);
  uint16_t portId = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &portId) != 0) {
    return fmt::format("\"{}\" created no ethernet port", args);
  }
  rte_eth_dev_info devInfo{};
  if (int rc = rte_eth_dev_info_get(portId, &devInfo); rc != 0) {
    return fmt::format("cannot query {}: {}", name, rte_strerror(-rc));
  }
  if (devInfo.max_rx_queues < workers || devInfo.max_tx_queues < workers) {
    return fmt::format("{} offers {} queues, {} workers need one each", name, devInfo.max_rx_queues,
                       workers);
  }
  rte_eth_conf conf{};
  if (p.mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN >
          rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM &&
      (devInfo.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) != 0) {
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
  }
  const auto q = static_cast<uint16_t>(workers);
  if (int rc = rte_eth_dev_configure(portId, q, q, &conf); rc != 0) {
    return fmt::format("cannot configure {}: {}", name, rte_strerror(-rc));
  }
  for (uint16_t i = 0; i < q; ++i) {
    if (int rc = rte_eth_rx_queue_setup(portId, i, kTapRxDesc, SOCKET_ID_ANY, nullptr, pool);
        rc != 0) {
      return fmt::format("{} rx queue {}: {}", name, i, rte_strerror(-rc));
    }
    if (int rc = rte_eth_tx_queue_setup(portId, i, kTapTxDesc, SOCKET_ID_ANY, nullptr); rc != 0) {
      return fmt::format("{} tx queue {}: {}", name, i, rte_strerror(-rc));
    }
  }
  if (int rc = rte_eth_dev_set_mtu(portId, p.mtu); rc != 0) {
    return fmt::format("cannot set MTU {} on {}: {}", p.mtu, p.name, rte_strerror(-rc));
  }
  if (int rc = rte_eth_dev_start(portId); rc != 0) {
    return fmt::format("cannot start {}: {}", name, rte_strerror(-rc));
  }
  if (std::string err = addKernelAddresses(p.name, p.addresses); !err.empty()) {
    return err;
  }
  *tapPortId = portId;
  return {};
}

void KernelInterfaces::close() {
  for (int t : taps_) {
    if (t >= 0) {
      rte_eth_dev_stop(static_cast<uint16_t>(t));
    }
  }
  // Removing the vdev closes the port and deletes the kernel interface.
  for (const auto& name : devices_) {
    rte_eal_hotplug_remove("vdev", name.c_str());
  }
  devices_.clear();
  taps_.clear();
  warnings_.clear();
}

}  // namespace dplb::dp
