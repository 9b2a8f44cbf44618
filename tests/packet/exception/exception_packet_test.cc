// Packet tier for the exception path: a ring port with a kernel interface
// (TAP) behind it. The test process moves into a network namespace of its own
// first (unshare(CLONE_NEWNET)), so the TAP and its addresses exist only
// there. A UDP datagram for the port's address, injected on the ring port,
// must reach a kernel socket; the socket's answer (after the kernel's own ARP
// exchange through dplb) must leave through the ring port. The static routes
// of the config whose port has a TAP must be in the kernel's table, and a
// datagram the host sends to a routed address must leave through the port
// toward the route's gateway.

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "dp_harness.h"
#include "dplb/dp/kernel_iface.h"
#include "packet_builder.h"

namespace dplb::test {
namespace {

using pkt::DropReason;
using namespace std::chrono_literals;

constexpr Mac kClientMac{0x02, 0xc1, 0, 0, 0, 0x05};
const uint32_t kClient = ip4(10, 0, 0, 5);
const uint32_t kLocal = ip4(10, 0, 0, 2);
constexpr Mac kGatewayMac{0x02, 0x9a, 0, 0, 0, 0x01};
const uint32_t kGateway = ip4(10, 0, 0, 1);

const char* const kConfig = R"(
dataplane:
  lcores: "0"
  reassembly: { max_flows: 16 }
  ports:
    - { name: xwan, device: "{WAN}", mac: "02:00:00:00:00:0a", addresses: [10.0.0.2/24] }
    - { name: xlan, device: "{LAN}", addresses: [10.0.1.1/24], exception_path: false }
  routes:
    - { prefix: 0.0.0.0/0, via: 10.0.0.1 }
    - { prefix: 192.168.50.0/24, via: 10.0.0.1 }
    - { prefix: 10.9.0.0/16, via: 10.0.1.254 }
  neighbours:
    - { ip: 10.0.0.5, mac: "02:c1:00:00:00:05" }
    - { ip: 10.0.1.11, mac: "02:00:00:00:01:0b" }
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    protocol: tcp
    scheduler: rr
    forward: nat
    real_servers:
      - { address: 10.0.1.11, port: 8080 }
)";

bool gPrivateNetns = false;
std::string gNetnsError;

uint16_t ethType(const Bytes& f) {
  return f.size() >= 14 ? rd16(f, 12) : 0;
}

class ExceptionPacketTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (gPrivateNetns || !gNetnsError.empty()) {
      return;
    }
    // Before the EAL starts any thread: they all inherit this namespace.
    if (::unshare(CLONE_NEWNET) != 0) {
      gNetnsError = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    gPrivateNetns = true;
    // No IPv6 chatter (DAD, router solicitations) from the TAP.
    for (const char* f : {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
                          "/proc/sys/net/ipv6/conf/default/disable_ipv6"}) {
      std::ofstream(f) << "1\n";
    }
  }
  void SetUp() override {
    if (!gPrivateNetns) {
      GTEST_SKIP() << "needs a private network namespace: " << gNetnsError;
    }
    if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "no /dev/net/tun";
    }
  }
  void TearDown() override {
    if (started_) {
      h_.stop();
    }
  }
  void start(unsigned workers = 1) {
    h_.start(kConfig, workers);
    started_ = true;
    // The ring PMD has no MAC of its own: the config's is used in software.
    std::memcpy(wanMac_.data(), h_.dp().ports().ports()[0].mac.addr_bytes, 6);
    ASSERT_EQ(wanMac_, (Mac{0x02, 0, 0, 0, 0, 0x0a}));
  }
  uint64_t stat(dp::Counter dp::WorkerStats::*c) {
    uint64_t n = 0;
    for (unsigned w = 0; w < h_.dp().workerCount(); ++w) {
      n += (h_.dp().workerStats(w).*c).get();
    }
    return n;
  }
  // Polls the workers until `done` says so, at most ~5 s (the kernel runs on
  // its own time).
  template <typename F>
  bool pollUntil(F done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      h_.pollAll();
      if (done()) {
        return true;
      }
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }
  Bytes clientUdp(uint16_t dport, std::string_view payload) {
    return FrameBuilder()
        .eth({.dst = wanMac_, .src = kClientMac})
        .ipv4({.src = kClient, .dst = kLocal})
        .udp({.sport = 40000, .dport = dport})
        .payload(payload)
        .build();
  }

  DataplaneHarness h_;
  bool started_ = false;
  Mac wanMac_{};
};

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

// One IPv4 route of the kernel's main table (/proc/net/route: the current
// network namespace's), addresses in host order.
struct KernelRoute {
  std::string iface;
  uint32_t dst = 0;
  uint32_t gateway = 0;
  uint32_t mask = 0;
  unsigned flags = 0;
};

std::vector<KernelRoute> kernelRoutes() {
  std::vector<KernelRoute> routes;
  std::ifstream in("/proc/net/route");
  std::string line;
  std::getline(in, line);  // the column names
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    KernelRoute r;
    std::string dst, gw, flags, refcnt, use, metric, mask;
    if (fields >> r.iface >> dst >> gw >> flags >> refcnt >> use >> metric >> mask) {
      // The kernel prints the network-order words as hex numbers.
      r.dst = ntohl(static_cast<uint32_t>(std::stoul(dst, nullptr, 16)));
      r.gateway = ntohl(static_cast<uint32_t>(std::stoul(gw, nullptr, 16)));
      r.mask = ntohl(static_cast<uint32_t>(std::stoul(mask, nullptr, 16)));
      r.flags = static_cast<unsigned>(std::stoul(flags, nullptr, 16));
      routes.push_back(r);
    }
  }
  return routes;
}

std::string describe(const std::vector<KernelRoute>& routes) {
  std::string out;
  for (const auto& r : routes) {
    out += "\n  " + r.iface + " " + std::to_string(r.dst) + "/" + std::to_string(r.mask) + " via " +
           std::to_string(r.gateway);
  }
  return out;
}

int countRoutes(const std::vector<KernelRoute>& routes, uint32_t dst, uint32_t mask) {
  int n = 0;
  for (const auto& r : routes) {
    n += r.dst == dst && r.mask == mask ? 1 : 0;
  }
  return n;
}

bool hasGatewayRoute(const std::vector<KernelRoute>& routes, const std::string& iface, uint32_t dst,
                     uint32_t mask, uint32_t gateway) {
  for (const auto& r : routes) {
    if (r.iface == iface && r.dst == dst && r.mask == mask && r.gateway == gateway &&
        (r.flags & (RTF_UP | RTF_GATEWAY)) == (RTF_UP | RTF_GATEWAY)) {
      return true;
    }
  }
  return false;
}

TEST_F(ExceptionPacketTest, KernelInterfaceHasThePortsNameMacMtuAndAddresses) {
  start(2);
  EXPECT_GE(h_.dp().kernelInterfaces().tapOf(0), 0);
  EXPECT_EQ(h_.dp().kernelInterfaces().tapOf(1), -1) << "exception_path: false on xlan";
  EXPECT_TRUE(h_.dp().kernelInterfaces().warnings().empty());
  EXPECT_EQ(if_nametoindex("xlan"), 0u);
  ASSERT_NE(if_nametoindex("xwan"), 0u);

  Socket s{::socket(AF_INET, SOCK_DGRAM, 0)};
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "xwan", IFNAMSIZ - 1);
  ASSERT_EQ(::ioctl(s.fd, SIOCGIFFLAGS, &ifr), 0);
  EXPECT_NE(ifr.ifr_flags & IFF_UP, 0);
  ASSERT_EQ(::ioctl(s.fd, SIOCGIFMTU, &ifr), 0);
  EXPECT_EQ(ifr.ifr_mtu, 1500);
  ASSERT_EQ(::ioctl(s.fd, SIOCGIFHWADDR, &ifr), 0);
  EXPECT_EQ(std::memcmp(ifr.ifr_hwaddr.sa_data, wanMac_.data(), 6), 0);

  bool found = false;
  ifaddrs* list = nullptr;
  ASSERT_EQ(::getifaddrs(&list), 0);
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr != nullptr && a->ifa_addr->sa_family == AF_INET &&
        std::strcmp(a->ifa_name, "xwan") == 0) {
      auto* sin = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      auto* mask = reinterpret_cast<sockaddr_in*>(a->ifa_netmask);
      found = ntohl(sin->sin_addr.s_addr) == kLocal && ntohl(mask->sin_addr.s_addr) == 0xFFFFFF00;
    }
  }
  ::freeifaddrs(list);
  EXPECT_TRUE(found) << "10.0.0.2/24 on xwan";
}

TEST_F(ExceptionPacketTest, UdpForTheLocalAddressReachesAKernelSocketAndTheAnswerLeaves) {
  start(2);
  Socket s{::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)};
  ASSERT_GE(s.fd, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(kLocal);
  ASSERT_EQ(::bind(s.fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)), 0)
      << std::strerror(errno);
  socklen_t len = sizeof(local);
  ASSERT_EQ(::getsockname(s.fd, reinterpret_cast<sockaddr*>(&local), &len), 0);
  const uint16_t port = ntohs(local.sin_port);

  h_.inject(0, clientUdp(port, "ping from the wire"));
  char buf[256];
  sockaddr_in from{};
  ssize_t got = -1;
  ASSERT_TRUE(pollUntil([&] {
    socklen_t fl = sizeof(from);
    got = ::recvfrom(s.fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
    return got >= 0;
  })) << "the datagram never reached the socket; "
      << h_.dropSummary();
  EXPECT_EQ(std::string(buf, static_cast<size_t>(got)), "ping from the wire");
  EXPECT_EQ(ntohl(from.sin_addr.s_addr), kClient);
  EXPECT_EQ(ntohs(from.sin_port), 40000);
  EXPECT_GE(stat(&dp::WorkerStats::toKernel), 1u);

  const std::string answer = "pong from the kernel";
  ASSERT_EQ(::sendto(s.fd, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from),
                     sizeof(from)),
            static_cast<ssize_t>(answer.size()));
  // The kernel first asks for the client's MAC: the request leaves through
  // the port, the client's answer goes back to the kernel through dplb.
  bool arpSeen = false;
  Bytes reply;
  ASSERT_TRUE(pollUntil([&] {
    for (const Bytes& f : h_.collect(0)) {
      if (ethType(f) == 0x0806 && rd16(f, 20) == 1 && rd32(f, 38) == kClient) {
        EXPECT_EQ(rd32(f, 28), kLocal) << "ARP request from the port's address";
        EXPECT_EQ(std::memcmp(f.data() + 6, wanMac_.data(), 6), 0);
        arpSeen = true;
        h_.inject(
            0, FrameBuilder()
                   .eth({.dst = wanMac_, .src = kClientMac})
                   .arp({.op = 2, .sha = kClientMac, .spa = kClient, .tha = wanMac_, .tpa = kLocal})
                   .padTo(60)
                   .build());
      } else if (ethType(f) == 0x0800) {
        reply = f;
      }
    }
    return !reply.empty();
  })) << "no answer left the port; "
      << h_.dropSummary();
  EXPECT_TRUE(arpSeen);
  DecodedFrame d = decodeFrame(reply);
  ASSERT_TRUE(d.valid) << d.error;
  EXPECT_EQ(d.ethDst, kClientMac);
  EXPECT_EQ(d.ethSrc, wanMac_);
  EXPECT_EQ(d.ip.src, kLocal);
  EXPECT_EQ(d.ip.dst, kClient);
  ASSERT_TRUE(d.udp);
  EXPECT_EQ(d.udp->sport, port);
  EXPECT_EQ(d.udp->dport, 40000);
  EXPECT_EQ(std::string(d.payload.begin(), d.payload.end()), answer);
  EXPECT_EQ(checksumProblems(reply), "");
  EXPECT_GE(stat(&dp::WorkerStats::fromKernel), 2u);  // the ARP request and the answer
  EXPECT_EQ(h_.drops(DropReason::kExceptionPathOff), 0u);
}

TEST_F(ExceptionPacketTest, StaticRoutesOfPortsWithAKernelInterfaceAreInTheKernel) {
  start();
  EXPECT_TRUE(h_.dp().kernelInterfaces().warnings().empty())
      << h_.dp().kernelInterfaces().warnings()[0];
  const auto routes = kernelRoutes();
  EXPECT_TRUE(hasGatewayRoute(routes, "xwan", 0, 0, kGateway)) << "default" << describe(routes);
  EXPECT_TRUE(hasGatewayRoute(routes, "xwan", ip4(192, 168, 50, 0), 0xFFFFFF00, kGateway))
      << describe(routes);
  EXPECT_EQ(countRoutes(routes, ip4(10, 9, 0, 0), 0xFFFF0000), 0)
      << "xlan has no kernel interface" << describe(routes);

  // The host's own datagram to a routed address: the kernel asks for the
  // gateway's MAC, then the datagram leaves through the port to the gateway.
  Socket s{::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)};
  ASSERT_GE(s.fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(ip4(192, 168, 50, 7));
  to.sin_port = htons(7777);
  const std::string msg = "to a network behind the gateway";
  ASSERT_EQ(::sendto(s.fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
            static_cast<ssize_t>(msg.size()))
      << std::strerror(errno);
  bool arpSeen = false;
  Bytes out;
  ASSERT_TRUE(pollUntil([&] {
    for (const Bytes& f : h_.collect(0)) {
      if (ethType(f) == 0x0806 && rd16(f, 20) == 1 && rd32(f, 38) == kGateway) {
        arpSeen = true;
        h_.inject(
            0,
            FrameBuilder()
                .eth({.dst = wanMac_, .src = kGatewayMac})
                .arp({.op = 2, .sha = kGatewayMac, .spa = kGateway, .tha = wanMac_, .tpa = kLocal})
                .padTo(60)
                .build());
      } else if (ethType(f) == 0x0800) {
        out = f;
      }
    }
    return !out.empty();
  })) << "the host's datagram never left the port; "
      << h_.dropSummary();
  EXPECT_TRUE(arpSeen) << "the kernel never asked for the gateway";
  DecodedFrame d = decodeFrame(out);
  ASSERT_TRUE(d.valid) << d.error;
  EXPECT_EQ(d.ethDst, kGatewayMac);
  EXPECT_EQ(d.ethSrc, wanMac_);
  EXPECT_EQ(d.ip.src, kLocal);
  EXPECT_EQ(d.ip.dst, ip4(192, 168, 50, 7));
  ASSERT_TRUE(d.udp);
  EXPECT_EQ(d.udp->dport, 7777);
  EXPECT_EQ(std::string(d.payload.begin(), d.payload.end()), msg);
  EXPECT_EQ(checksumProblems(out), "");
}

TEST_F(ExceptionPacketTest, ARouteTheKernelAlreadyHasIsKeptAndReportedAndThePortKeepsItsTap) {
  // Another interface already owns 192.168.50.0/24 (its connected route, the
  // same prefix and metric as dataplane.routes[1]).
  Socket tun{::open("/dev/net/tun", O_RDWR | O_CLOEXEC)};
  ASSERT_GE(tun.fd, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "xother", IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  ASSERT_EQ(::ioctl(tun.fd, TUNSETIFF, &ifr), 0) << std::strerror(errno);
  Socket ctl{::socket(AF_INET, SOCK_DGRAM, 0)};
  ASSERT_EQ(::ioctl(ctl.fd, SIOCGIFFLAGS, &ifr), 0);
  ifr.ifr_flags |= IFF_UP;
  ASSERT_EQ(::ioctl(ctl.fd, SIOCSIFFLAGS, &ifr), 0) << std::strerror(errno);
  ASSERT_EQ(dp::addKernelAddresses("xother", {*conf::Prefix::parse("192.168.50.1/24")}), "");
  ASSERT_EQ(countRoutes(kernelRoutes(), ip4(192, 168, 50, 0), 0xFFFFFF00), 1);

  start();
  EXPECT_GE(h_.dp().kernelInterfaces().tapOf(0), 0) << "a refused route costs no TAP";
  ASSERT_EQ(h_.dp().kernelInterfaces().warnings().size(), 1u);
  const std::string& w = h_.dp().kernelInterfaces().warnings()[0];
  EXPECT_EQ(w.rfind("dataplane.routes[1]:", 0), 0u) << w;
  EXPECT_NE(w.find("already has a route to 192.168.50.0/24"), std::string::npos) << w;
  const auto routes = kernelRoutes();
  EXPECT_TRUE(hasGatewayRoute(routes, "xwan", 0, 0, kGateway)) << describe(routes);
  EXPECT_EQ(countRoutes(routes, ip4(192, 168, 50, 0), 0xFFFFFF00), 1) << describe(routes);
  for (const auto& r : routes) {
    if (r.dst == ip4(192, 168, 50, 0)) {
      EXPECT_EQ(r.iface, "xother") << "the kernel's own route stays";
    }
  }
}

TEST_F(ExceptionPacketTest, DplbAloneAnswersArpForItsAddresses) {
  start();
  const uint64_t before = stat(&dp::WorkerStats::toKernel);
  h_.inject(0, FrameBuilder()
                   .eth({.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, .src = kClientMac})
                   .arp({.op = 1, .sha = kClientMac, .spa = kClient, .tpa = kLocal})
                   .padTo(60)
                   .build());
  h_.pollAll();
  std::vector<Bytes> arps;
  for (const Bytes& f : h_.collect(0)) {
    if (ethType(f) == 0x0806) {
      arps.push_back(f);
    }
  }
  ASSERT_EQ(arps.size(), 1u);
  EXPECT_EQ(rd16(arps[0], 20), 2);
  EXPECT_EQ(rd32(arps[0], 28), kLocal);
  EXPECT_EQ(stat(&dp::WorkerStats::toKernel), before) << "the request is not the kernel's";
}

TEST_F(ExceptionPacketTest, ArpForAnotherPortsAddressIsNeitherAnsweredNorPassedUp) {
  // The kernel holds the ports' addresses and would answer for any of them
  // on any interface (ARP flux); dplb answers only on the address's own port.
  start();
  const uint64_t before = stat(&dp::WorkerStats::toKernel);
  const uint64_t dropsBefore = h_.dp().drop(pkt::DropReason::kNotForUs);
  h_.inject(0, FrameBuilder()
                   .eth({.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, .src = kClientMac})
                   .arp({.op = 1, .sha = kClientMac, .spa = kClient, .tpa = ip4(10, 0, 1, 1)})
                   .padTo(60)
                   .build());
  h_.pollAll();
  for (const Bytes& f : h_.collect(0)) {
    EXPECT_NE(ethType(f), 0x0806) << "no ARP answer on the wrong port";
  }
  EXPECT_EQ(stat(&dp::WorkerStats::toKernel), before);
  EXPECT_EQ(h_.dp().drop(pkt::DropReason::kNotForUs), dropsBefore + 1);
}

TEST_F(ExceptionPacketTest, EchoRequestsAreAnsweredByDplbAndOtherIcmpGoesToTheKernel) {
  start();
  Bytes ping = FrameBuilder()
                   .eth({.dst = wanMac_, .src = kClientMac})
                   .ipv4({.src = kClient, .dst = kLocal})
                   .icmp({.type = 8, .rest = 0x00070001})
                   .payload("abc")
                   .build();
  h_.inject(0, ping);
  h_.pollAll();
  int replies = 0;
  std::string others;
  for (const Bytes& f : h_.collect(0)) {
    DecodedFrame d = decodeFrame(f);
    if (d.valid && d.icmp && d.icmp->type == 0 && d.ip.src == kLocal && d.ip.dst == kClient) {
      ++replies;
    } else {
      others += " ethertype " + std::to_string(ethType(f));  // the kernel's own chatter
    }
  }
  EXPECT_EQ(replies, 1) << "others:" << others;
  EXPECT_EQ(stat(&dp::WorkerStats::toKernel), 0u);
  // An echo reply (to a ping the host sent) is the kernel's.
  Bytes echoReply = FrameBuilder()
                        .eth({.dst = wanMac_, .src = kClientMac})
                        .ipv4({.src = kClient, .dst = kLocal})
                        .icmp({.type = 0, .rest = 0x00070001})
                        .payload("abc")
                        .build();
  h_.inject(0, echoReply);
  h_.pollAll();
  EXPECT_EQ(stat(&dp::WorkerStats::toKernel), 1u) << h_.dropSummary();
  EXPECT_EQ(h_.drops(DropReason::kIcmpUnsupported), 0u);
}

TEST_F(ExceptionPacketTest, WithoutAKernelInterfaceThePortRunsWithTheExceptionPathOff) {
  // The name is taken by a TUN device: net_tap cannot create its TAP.
  Socket tun{::open("/dev/net/tun", O_RDWR | O_CLOEXEC)};
  ASSERT_GE(tun.fd, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "xwan", IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  ASSERT_EQ(::ioctl(tun.fd, TUNSETIFF, &ifr), 0) << std::strerror(errno);

  start();
  EXPECT_EQ(h_.dp().kernelInterfaces().tapOf(0), -1);
  ASSERT_EQ(h_.dp().kernelInterfaces().warnings().size(), 1u);
  EXPECT_NE(h_.dp().kernelInterfaces().warnings()[0].find("dataplane.ports[0].exception_path"),
            std::string::npos);
  h_.inject(0, clientUdp(9999, "x"));
  h_.pollAll();
  EXPECT_EQ(h_.drops(DropReason::kExceptionPathOff), 1u);
}

}  // namespace
}  // namespace dplb::test
