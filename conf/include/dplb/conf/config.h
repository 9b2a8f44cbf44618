#pragma once

// The typed configuration model of dplbd.
//
// Contract: a `Config` returned by the loader (dplb/conf/loader.h) is complete
// and valid: every default is filled in, every cross reference resolved and
// every rule of conf/README.md holds, so consumers (dataplane, scheduler,
// health checker, admin) never re-check or re-default anything. A Config is a
// plain value: copy it, compare it (operator==, used by reload to diff), hand
// it to another thread as an immutable snapshot.
//
// Defaults are written next to each field and documented, key by key, in
// conf/README.md. YAML key names are the snake_case spelling of the field
// names (realServers <-> real_servers).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dplb/conf/types.h"

namespace dplb::conf {

using namespace std::chrono_literals;

// ---------------------------------------------------------------- dataplane --

// Connection timeouts, IPVS defaults (IPVS-SEMANTICS.md §2). One per IPVS TCP
// state, plus UDP and ICMP.
struct Timeouts {
  Duration tcpNone = 2s;
  Duration tcpEstablished = 900s;
  Duration tcpSynSent = 120s;
  Duration tcpSynRecv = 60s;
  Duration tcpFinWait = 120s;
  Duration tcpTimeWait = 120s;
  Duration tcpClose = 10s;
  Duration tcpCloseWait = 60s;
  Duration tcpLastAck = 30s;
  Duration tcpListen = 120s;
  Duration tcpSynAck = 120s;
  Duration udp = 300s;
  Duration icmp = 60s;

  bool operator==(const Timeouts&) const = default;
};

struct ConnTableConfig {
  // Connection entries PER WORKER lcore, preallocated at start (the table
  // never grows; when full, new connections are dropped and counted).
  // Default sized for small machines: 262144 entries is a few tens of MB.
  uint32_t capacity = 262144;

  bool operator==(const ConnTableConfig&) const = default;
};

// IPv4 reassembly of fragments for VIPs and connections (per worker).
struct ReassemblyConfig {
  // Datagrams being reassembled at once, PER WORKER. Each may hold up to 8
  // fragments (DPDK's RTE_LIBRTE_IP_FRAG_MAX_FRAG), and the packet buffer
  // pool is sized for all of them.
  uint32_t maxFlows = 1024;
  // A datagram not complete this long after its first fragment is dropped
  // (RFC 791 suggests 15 s, Linux uses 30 s; a load balancer holds buffers
  // for everyone, so shorter).
  Duration timeout = 5s;

  bool operator==(const ReassemblyConfig&) const = default;
};

// One DPDK-owned NIC port.
struct Port {
  std::string name;    // [A-Za-z0-9_.-]{1,15}: also the exception-path kernel interface name
  std::string device;  // PCI address ("0000:01:00.0") or DPDK vdev string ("net_tap0,iface=x")
  std::optional<MacAddr> mac;     // override of the NIC's own address
  std::vector<Prefix> addresses;  // local addresses with their connected network, e.g. 10.0.0.2/24
  uint16_t mtu = 1500;            // 68..9216
  // Per-port override of DataplaneConfig::exceptionPath; resolved by the
  // loader, so this is always the effective value.
  bool exceptionPath = true;

  bool operator==(const Port&) const = default;
};

struct Route {
  Prefix prefix;  // network address (host bits zero)
  Ipv4 via;       // next hop; always on a connected network of `port`
  // Name of the egress port. The loader fills it when omitted: the port whose
  // connected network holds `via`, so it is never empty in a loaded Config.
  std::string port;

  bool operator==(const Route&) const = default;
};

struct Neighbour {
  Ipv4 ip;
  MacAddr mac;
  std::string port;  // filled by the loader like Route::port

  bool operator==(const Neighbour&) const = default;
};

struct DataplaneConfig {
  std::string lcores = "0-1";        // EAL -l list, as written
  std::vector<unsigned> lcoreList;   // expanded, sorted, unique (filled by the loader)
  std::vector<std::string> ealArgs;  // extra EAL arguments (never -l/-c/--lcores)
  // How long a worker sleeps when it keeps finding its queues empty. 0 = pure
  // busy polling (the production choice on dedicated cores). The default
  // keeps small machines, CI and demos responsive: a 100 us nap costs at most
  // ~0.1-0.2 ms of latency to the first packet after an idle spell.
  FineDuration idleSleep = 100us;
  std::vector<Port> ports;  // at least one
  std::vector<Route> routes;
  std::vector<Neighbour> neighbours;
  ConnTableConfig connTable;
  ReassemblyConfig reassembly;
  Timeouts timeouts;
  bool exceptionPath = true;  // default for every port (kernel interface per port)
  // IPVS sysctls of the same names (IPVS-SEMANTICS.md §2).
  bool expireNodestConn = false;
  bool expireQuiescentTemplate = false;

  bool operator==(const DataplaneConfig&) const = default;
};

// ------------------------------------------------------------- health checks --

enum class HealthCheckType { Tcp, Http, Https, Udp, Dns, Exec, NodePort };
enum class OnFailure { Quiesce, Remove };
enum class ExpectMatch { Exact, Prefix };
enum class DigestAlgo { Md5, Sha256 };

// Inclusive status code range; a single code is {c, c}.
struct StatusRange {
  uint16_t low = 200;
  uint16_t high = 299;
  bool contains(unsigned code) const { return code >= low && code <= high; }
  bool operator==(const StatusRange&) const = default;
};

struct BodyDigest {
  DigestAlgo algo = DigestAlgo::Sha256;
  std::string hex;  // lower case; 32 (md5) or 64 (sha256) hex digits
  bool operator==(const BodyDigest&) const = default;
};

// http, https and nodeport (a nodeport check is an HTTP GET of `path` on the
// node's health_check_node_port that must answer exactly 200).
struct HttpCheck {
  std::string path = "/";  // absolute path, may carry a query string
  std::string host;        // Host header (virtual host); empty = the server address
  std::vector<StatusRange> status{StatusRange{200, 299}};
  std::optional<BodyDigest> digest;
  std::string contains;  // substring the body must contain; empty = no check
  bool operator==(const HttpCheck&) const = default;
};

// https only. Unlike keepalived's SSL_GET, the certificate IS verified by
// default (IPVS-SEMANTICS.md §4).
struct TlsCheck {
  std::string caFile;      // empty = system trust store
  bool verify = true;      // verify chain and name
  std::string serverName;  // SNI and name to verify; empty = http.host, else none
  std::string clientCert;  // mutual TLS: both or neither of cert and key
  std::string clientKey;
  bool operator==(const TlsCheck&) const = default;
};

struct UdpCheck {
  std::string payload;  // datagram sent (YAML "\x.." escapes for binary)
  std::string expect;   // empty = any reply (or no ICMP error) is success
  ExpectMatch expectMatch = ExpectMatch::Exact;
  bool operator==(const UdpCheck&) const = default;
};

struct DnsCheck {
  std::string name;             // query name, e.g. "example.com"
  std::string queryType = "A";  // upper case mnemonic
  uint16_t queryTypeCode = 1;   // its RR type number (A = 1)
  bool operator==(const DnsCheck&) const = default;
};

struct ExecCheck {
  std::vector<std::string> command;  // argv; never run through a shell
  // keepalived misc_dynamic: exit 0 = up, 1 = down, 2..255 = up with weight
  // (code - 2).
  bool dynamic = false;
  bool operator==(const ExecCheck&) const = default;
};

// Timing defaults follow keepalived's spirit with faster detection: a probe
// every 2 s, 1 s to answer, 2 successes to come up, 3 failures to go down.
struct HealthCheck {
  HealthCheckType type = HealthCheckType::Tcp;
  Duration interval = 2s;    // between probes of one server (keepalived delay_loop)
  Duration timeout = 1s;     // per probe (connect + answer); <= interval
  uint32_t rise = 2;         // consecutive successes to mark a server up (>= 1)
  uint32_t fall = 3;         // consecutive failures to mark it down (>= 1)
  uint32_t retry = 0;        // immediate retries inside one probe (keepalived retry)
  Duration retryDelay = 1s;  // keepalived delay_before_retry
  Duration warmup = 0s;      // first probe after a random delay in [0, warmup]
  OnFailure onFailure = OnFailure::Quiesce;  // keepalived inhibit_on_failure
  // Port probed; 0 = the real server's port (for nodeport: the service's
  // nodeport.health_check_node_port, filled by the loader).
  uint16_t port = 0;

  HttpCheck http;  // http, https, nodeport
  TlsCheck tls;    // https
  UdpCheck udp;    // udp
  DnsCheck dns;    // dns
  ExecCheck exec;  // exec

  bool operator==(const HealthCheck&) const = default;
};

// ----------------------------------------------------------------- services --

enum class Protocol { Tcp, Udp };
enum class Forward { Nat, Dr, Tun };
enum class Scheduler { Rr, Wrr, Lc, Wlc, Lblc, Lblcr, Dh, Sh, Sed, Nq, Mh, Fo, Ovf };

struct SchedulerFlags {
  bool shFallback = false;  // only with sh
  bool shPort = false;      // only with sh
  bool mhFallback = false;  // only with mh
  bool mhPort = false;      // only with mh
  bool operator==(const SchedulerFlags&) const = default;
};

struct Persistence {
  Duration timeout = 360s;          // ipvsadm -p default; >= 1s
  Ipv4 netmask = Ipv4(0xFFFFFFFF);  // ipvsadm -M; contiguous mask
  bool operator==(const Persistence&) const = default;
};

struct RealServer {
  Ipv4 address;
  // Defaults to the service port. For dr/tun it always equals the service
  // port. For a port-0 (all ports) service it is 0 = the port the client used.
  uint16_t port = 0;
  Forward forward = Forward::Nat;  // defaults to the service's forward
  uint32_t weight = 1;             // 0..65535; 0 = quiesced
  uint32_t uThreshold = 0;         // 0 = no upper connection limit
  uint32_t lThreshold = 0;         // <= uThreshold (IPVS refuses otherwise)
  // The effective check for this server: the service's health_check with the
  // server's own `health_check` keys merged over it. nullopt = not checked
  // (always considered up).
  std::optional<HealthCheck> healthCheck;

  bool operator==(const RealServer&) const = default;
};

struct SorryServer {
  Ipv4 address;
  uint16_t port = 0;  // defaults to the service port
  bool operator==(const SorryServer&) const = default;
};

// Fronting a Kubernetes NodePort Service (IPVS-SEMANTICS.md §5).
struct NodePortConfig {
  uint16_t port = 0;                 // the Service's nodePort
  uint16_t healthCheckNodePort = 0;  // 0 = none (externalTrafficPolicy=Cluster)
  std::vector<Ipv4> nodes;           // node addresses
  std::string path = "/healthz";     // kube-proxy health endpoint path
  bool operator==(const NodePortConfig&) const = default;
};

struct Service {
  std::string name;  // [A-Za-z0-9_.-]{1,64}, unique; used in logs and metric labels
  Ipv4 vip;
  uint16_t port = 0;  // 0 = all ports, only with persistence (as ipvsadm)
  Protocol protocol = Protocol::Tcp;
  Scheduler scheduler = Scheduler::Wlc;  // ipvsadm default
  SchedulerFlags schedulerFlags;
  uint32_t mhTableSize = 65537;  // prime; Maglev paper's M (Eisenbud et al., NSDI 2016)
  // keepalived's default (lb_kind NAT); NAT needs no set-up on the real
  // servers. (The ipvsadm-compatible CLI keeps ipvsadm's own default, dr.)
  Forward forward = Forward::Nat;
  std::optional<Persistence> persistence;
  std::optional<HealthCheck> healthCheck;
  // Minimum total weight of live servers (keepalived quorum). Below it the
  // sorry server, if any, takes new connections.
  uint32_t quorum = 1;
  std::optional<SorryServer> sorryServer;
  std::vector<RealServer> realServers;
  // Set for a NodePort service. The loader expands it: realServers holds one
  // server per node at nodeport.port (weight 1), and healthCheck defaults to a
  // nodeport check of healthCheckNodePort when that port is given.
  std::optional<NodePortConfig> nodeport;
  // True when realServers was generated from `nodeport` (the validator then
  // does not report "nodeport service also lists real_servers").
  bool realServersFromNodePort = false;

  bool operator==(const Service&) const = default;
};

// ------------------------------------------------------------ control plane --

struct AdminConfig {
  std::string socket = "/run/dplb/dplb.sock";  // absolute path, < 108 bytes
  bool operator==(const AdminConfig&) const = default;
};

struct MetricsConfig {
  // Prometheus exposer address; nullopt = metrics off (written `listen: ""`).
  std::optional<Endpoint> listen = Endpoint{Ipv4::fromOctets(127, 0, 0, 1), 9550};
  bool operator==(const MetricsConfig&) const = default;
};

enum class LogLevel { Trace, Debug, Info, Warn, Error, Critical, Off };

struct LoggingConfig {
  LogLevel level = LogLevel::Info;
  bool operator==(const LoggingConfig&) const = default;
};

struct Config {
  DataplaneConfig dataplane;
  std::vector<Service> services;
  AdminConfig admin;
  MetricsConfig metrics;
  LoggingConfig logging;

  bool operator==(const Config&) const = default;
};

// ------------------------------------------------------------- enum names --
// The YAML spelling of each enum value (also what ipvsadm prints for
// schedulers). fromString functions are exact and case-sensitive.

std::string_view toString(HealthCheckType v);
std::string_view toString(OnFailure v);
std::string_view toString(ExpectMatch v);
std::string_view toString(DigestAlgo v);
std::string_view toString(Protocol v);
std::string_view toString(Forward v);
std::string_view toString(Scheduler v);
std::string_view toString(LogLevel v);

std::optional<HealthCheckType> healthCheckTypeFromString(std::string_view s);
std::optional<Protocol> protocolFromString(std::string_view s);
std::optional<Forward> forwardFromString(std::string_view s);
std::optional<Scheduler> schedulerFromString(std::string_view s);
std::optional<LogLevel> logLevelFromString(std::string_view s);

// All names, in declaration order (for "expected one of ..." messages).
const std::vector<std::string_view>& schedulerNames();
const std::vector<std::string_view>& logLevelNames();

}  // namespace dplb::conf
