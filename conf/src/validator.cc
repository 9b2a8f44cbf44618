// Rules that tie items of a Config together. They work on the typed model, so
// the same checks serve a file (positions through the SourceMap) and a Config
// built in code (validateConfig, key paths only).

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "diagnostics.h"
#include "dplb/conf/loader.h"

namespace dplb::conf {
namespace detail {
namespace {

bool isSeparator(char c) {
  return c == '.' || c == '[' || c == '#';
}

// `ancestor` is `path` itself or one of its ancestors.
bool isAncestorOrSelf(std::string_view ancestor, std::string_view path) {
  if (path.size() < ancestor.size() || path.compare(0, ancestor.size(), ancestor) != 0) {
    return false;
  }
  return path.size() == ancestor.size() || isSeparator(path[ancestor.size()]);
}

std::string_view stripTag(std::string_view path) {
  return path.substr(0, path.find('#'));
}

}  // namespace

std::string_view parentPath(std::string_view path) {
  const size_t i = path.find_last_of(".[#");
  return i == std::string_view::npos ? std::string_view() : path.substr(0, i);
}

std::string SourceMap::displayPath(std::string_view path) const {
  auto it = aliases_.find(std::string(path));
  return it != aliases_.end() ? it->second : std::string(stripTag(path));
}

Pos SourceMap::find(std::string_view path) const {
  while (true) {
    auto it = positions_.find(std::string(path));
    if (it != positions_.end()) {
      return it->second;
    }
    if (path.empty()) {
      return {};
    }
    path = parentPath(path);
  }
}

void ErrorSink::add(Pos pos, std::string path, std::string message) {
  errors_.push_back(ConfigError{file_, pos.line, pos.column, std::move(path), std::move(message)});
}

void ErrorSink::at(std::string_view path, std::string message) {
  if (map_ == nullptr) {
    add({}, std::string(stripTag(path)), std::move(message));
    return;
  }
  std::string display = map_->displayPath(path);
  const Pos pos = map_->find(display);  // before `display` is moved away
  add(pos, std::move(display), std::move(message));
}

bool ErrorSink::tainted(std::string_view path) const {
  path = stripTag(path);
  const auto end = errors_.begin() + static_cast<ptrdiff_t>(std::min(taintLimit_, errors_.size()));
  return std::any_of(errors_.begin(), end, [&](const ConfigError& e) {
    // A whole-document problem (a second '---') taints nothing.
    return !e.path.empty() && (isAncestorOrSelf(e.path, path) || isAncestorOrSelf(path, e.path));
  });
}

bool ErrorSink::failed(std::string_view path) const {
  path = stripTag(path);
  const auto end = errors_.begin() + static_cast<ptrdiff_t>(std::min(taintLimit_, errors_.size()));
  return std::any_of(errors_.begin(), end, [&](const ConfigError& e) {
    return !e.path.empty() && isAncestorOrSelf(e.path, path);
  });
}

std::vector<ConfigError> ErrorSink::take() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return std::move(errors_);
}

namespace {

std::string portNames(const std::vector<Port>& ports) {
  std::string out;
  for (const auto& p : ports) {
    if (!p.name.empty()) {
      out += out.empty() ? p.name : ", " + p.name;
    }
  }
  return out.empty() ? "none" : out;
}

// The connected networks of one port, or of every port when `name` is empty.
std::vector<Prefix> connected(const std::vector<Port>& ports, std::string_view name) {
  std::vector<Prefix> out;
  for (const auto& p : ports) {
    if (name.empty() || p.name == name) {
      for (const auto& a : p.addresses) {
        out.push_back(Prefix{a.network(), a.len});
      }
    }
  }
  return out;
}

std::string listPrefixes(const std::vector<Prefix>& prefixes) {
  std::string out;
  for (const auto& p : prefixes) {
    out += out.empty() ? p.str() : ", " + p.str();
  }
  return out.empty() ? "none" : out;
}

const Port* findPort(const std::vector<Port>& ports, std::string_view name) {
  for (const auto& p : ports) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

// Canonical device identity: a vdev by its instance name (DPDK refuses two
// vdevs of one name whatever their arguments), a PCI address in full form.
std::string deviceKey(std::string_view dev) {
  std::string key(dev.substr(0, dev.find(',')));
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (key.rfind("net_", 0) != 0 && key.size() == 7) {
    key = "0000:" + key;
  }
  return key;
}

class Validator {
 public:
  Validator(const Config& cfg, ErrorSink& sink) : cfg_(cfg), s_(sink) {}

  void run() {
    dataplane();
    services();
    const std::string& sock = cfg_.admin.socket;
    if (sock.empty() || sock.front() != '/' || sock.size() >= 108) {
      s_.at("admin.socket", "expected an absolute socket path shorter than 108 bytes");
    }
  }

 private:
  bool tainted(const std::string& path) const { return s_.tainted(path); }

  // Whether every port definition was read whole, so that "no such port"
  // or "not on a connected network" is a real finding and not the echo of
  // a port that failed to parse.
  bool portNamesKnown() const {
    if (s_.failed("dataplane.ports")) {
      return false;
    }
    for (size_t i = 0; i < cfg_.dataplane.ports.size(); ++i) {
      const std::string p = fmt::format("dataplane.ports[{}]", i);
      if (s_.failed(p) || tainted(p + ".name")) {
        return false;
      }
    }
    return true;
  }
  bool portAddressesKnown() const {
    for (size_t i = 0; i < cfg_.dataplane.ports.size(); ++i) {
      if (tainted(fmt::format("dataplane.ports[{}].addresses", i))) {
        return false;
      }
    }
    return portNamesKnown();
  }

  // A named port reference (route or neighbour): it must exist, and `ip`
  // must sit on one of its connected networks (or on any port's when no port
  // is named), as Linux refuses a gateway it cannot reach.
  void checkOnLink(const std::string& p, std::string_view portName, Ipv4 ip, std::string_view ipKey,
                   std::string_view what) {
    const auto& ports = cfg_.dataplane.ports;
    if (!portName.empty() && !tainted(p + ".port")) {
      if (findPort(ports, portName) == nullptr) {
        if (!portNamesKnown()) {
          return;
        }
        std::vector<std::string_view> names;
        for (const auto& port : ports) {
          names.push_back(port.name);
        }
        std::string msg = fmt::format("unknown port \"{}\"", portName);
        const std::string near = suggest(portName, names);
        if (!near.empty()) {
          msg += fmt::format(", did you mean '{}'?", near);
        }
        s_.at(p + ".port", msg + fmt::format(" (defined ports: {})", portNames(ports)));
        return;
      }
    }
    const std::string ipPath = fmt::format("{}.{}", p, ipKey);
    if (tainted(ipPath) || !portAddressesKnown() || tainted(p + ".port")) {
      return;
    }
    const auto nets = connected(ports, portName);
    if (std::none_of(nets.begin(), nets.end(), [&](const Prefix& n) { return n.contains(ip); })) {
      s_.at(
          ipPath,
          fmt::format("{} {} is not on a connected network of {} (connected: {})", what, ip.str(),
                      portName.empty() ? std::string("any port") : fmt::format("port {}", portName),
                      listPrefixes(nets)));
    }
  }

  void dataplane() {
    const auto& dp = cfg_.dataplane;
    if (dp.lcoreList.empty() && !tainted("dataplane.lcores")) {
      s_.at("dataplane.lcores", "at least one lcore is needed");
    }
    if (dp.ports.empty() && !tainted("dataplane.ports")) {
      s_.at("dataplane.ports", "at least one port is needed");
    }
    std::map<std::string, size_t> names;
    std::map<std::string, size_t> devices;
    std::map<Ipv4, std::string> addresses;
    struct Connected {
      Prefix net;
      size_t port;
      std::string path;
    };
    std::vector<Connected> nets;
    for (size_t i = 0; i < dp.ports.size(); ++i) {
      const Port& port = dp.ports[i];
      const std::string p = fmt::format("dataplane.ports[{}]", i);
      if (!port.name.empty() && !tainted(p + ".name")) {
        auto [it, fresh] = names.emplace(port.name, i);
        if (!fresh) {
          s_.at(p + ".name", fmt::format("duplicate port name \"{}\" (also dataplane.ports[{}])",
                                         port.name, it->second));
        }
      }
      if (!port.device.empty() && !tainted(p + ".device")) {
        auto [it, fresh] = devices.emplace(deviceKey(port.device), i);
        if (!fresh) {
          s_.at(p + ".device", fmt::format("device {} is already used by dataplane.ports[{}]",
                                           deviceKey(port.device), it->second));
        }
      }
      if (port.mtu < 68 || port.mtu > 9216) {
        s_.at(p + ".mtu", fmt::format("expected an integer 68..9216, got {}", port.mtu));
      }
      for (size_t k = 0; k < port.addresses.size(); ++k) {
        const std::string ap = fmt::format("{}.addresses[{}]", p, k);
        if (tainted(ap)) {
          continue;
        }
        const Prefix& a = port.addresses[k];
        auto [it, fresh] = addresses.emplace(a.addr, ap);
        if (!fresh) {
          s_.at(ap, fmt::format("address {} is already given at {}", a.addr.str(), it->second));
          continue;
        }
        // A connected network belongs to one port, or the egress port of
        // its addresses would be ambiguous. (Several addresses of one
        // network on one port are fine: secondary addresses.)
        const Prefix net{a.network(), a.len};
        for (const auto& other : nets) {
          if (other.port != i && (other.net.contains(net.addr) || net.contains(other.net.addr))) {
            s_.at(ap, fmt::format("network {} overlaps {} of {}; a connected network belongs to "
                                  "one port",
                                  net.str(), other.net.str(), other.path));
            break;
          }
        }
        nets.push_back(Connected{net, i, ap});
      }
    }
    std::map<Prefix, size_t> routes;
    for (size_t i = 0; i < dp.routes.size(); ++i) {
      const Route& r = dp.routes[i];
      const std::string p = fmt::format("dataplane.routes[{}]", i);
      if (!tainted(p + ".prefix")) {
        if (!r.prefix.isNetwork()) {
          s_.at(p + ".prefix", fmt::format("{} has host bits set", r.prefix.str()));
        } else if (auto [it, fresh] = routes.emplace(r.prefix, i); !fresh) {
          s_.at(p + ".prefix", fmt::format("duplicate route to {} (also dataplane.routes[{}])",
                                           r.prefix.str(), it->second));
        }
      }
      checkOnLink(p, r.port, r.via, "via", "next hop");
    }
    std::map<Ipv4, size_t> neighbours;
    for (size_t i = 0; i < dp.neighbours.size(); ++i) {
      const Neighbour& n = dp.neighbours[i];
      const std::string p = fmt::format("dataplane.neighbours[{}]", i);
      if (!tainted(p + ".ip")) {
        if (auto [it, fresh] = neighbours.emplace(n.ip, i); !fresh) {
          s_.at(p + ".ip", fmt::format("duplicate neighbour {} (also dataplane.neighbours[{}])",
                                       n.ip.str(), it->second));
          continue;
        }
      }
      checkOnLink(p, n.port, n.ip, "ip", "neighbour");
    }
  }

  using Problems = std::vector<std::pair<std::string, std::string>>;  // sub-key, message

  Problems healthCheckProblems(const HealthCheck& hc, const Service& svc) const {
    Problems out;
    if (hc.timeout > hc.interval) {
      out.emplace_back("timeout",
                       fmt::format("timeout {} is longer than interval {}; probes would overlap",
                                   formatDuration(hc.timeout), formatDuration(hc.interval)));
    }
    switch (hc.type) {
      case HealthCheckType::Https:
        if (hc.tls.clientCert.empty() != hc.tls.clientKey.empty()) {
          out.emplace_back(hc.tls.clientCert.empty() ? "client_key" : "client_cert",
                           "client_cert and client_key go together (mutual TLS needs both)");
        }
        [[fallthrough]];
      case HealthCheckType::Http:
        if (hc.http.status.empty()) {
          out.emplace_back("status", "at least one status code is needed");
        }
        break;
      case HealthCheckType::Dns:
        if (hc.dns.name.empty()) {
          out.emplace_back("name", "missing required key 'name' (the DNS name to query)");
        }
        break;
      case HealthCheckType::Exec:
        if (hc.exec.command.empty() || hc.exec.command[0].empty()) {
          out.emplace_back("command",
                           "missing required key 'command' (the program and its "
                           "arguments, as a list)");
        }
        break;
      case HealthCheckType::NodePort:
        if (!svc.nodeport) {
          out.emplace_back("type", "a nodeport health check needs the service's nodeport section");
        } else if (hc.port == 0) {
          out.emplace_back("port",
                           "a nodeport health check needs nodeport.health_check_node_port "
                           "(or its own port)");
        }
        break;
      default:
        break;
    }
    return out;
  }

  void report(const std::string& base, const Problems& problems) {
    for (const auto& [key, msg] : problems) {
      s_.at(fmt::format("{}.{}", base, key), msg);
    }
  }

  void services() {
    std::map<std::string, size_t> names;
    std::map<std::tuple<Protocol, Ipv4, uint16_t>, size_t> keys;
    for (size_t i = 0; i < cfg_.services.size(); ++i) {
      const Service& svc = cfg_.services[i];
      const std::string p = fmt::format("services[{}]", i);
      if (!svc.name.empty() && !tainted(p + ".name")) {
        auto [it, fresh] = names.emplace(svc.name, i);
        if (!fresh) {
          s_.at(p + ".name", fmt::format("duplicate service name \"{}\" (also services[{}])",
                                         svc.name, it->second));
        }
      }
      if (!tainted(p + ".vip") && !tainted(p + ".port") && !tainted(p + ".protocol")) {
        auto [it, fresh] = keys.emplace(std::tuple{svc.protocol, svc.vip, svc.port}, i);
        if (!fresh) {
          s_.at(p, fmt::format("duplicate service {} {}:{} (also services[{}] \"{}\")",
                               toString(svc.protocol), svc.vip.str(), svc.port, it->second,
                               cfg_.services[it->second].name));
        }
      }
      service(svc, p);
    }
  }

  void service(const Service& svc, const std::string& p) {
    const bool portOk = !tainted(p + ".port");
    const bool forwardOk = !tainted(p + ".forward");
    if (portOk && svc.port == 0 && !svc.persistence && !tainted(p + ".persistence")) {
      s_.at(p + ".port",
            "port 0 (all ports) needs persistence, as ipvsadm requires (add persistence: {})");
    }
    if (!tainted(p + ".scheduler")) {
      const auto& f = svc.schedulerFlags;
      auto flag = [&](bool set, std::string_view name, Scheduler owner) {
        if (set && svc.scheduler != owner) {
          s_.at(fmt::format("{}.scheduler_flags#{}", p, name),
                fmt::format("scheduler flag '{}' applies only to the {} scheduler (this service "
                            "uses {})",
                            name, toString(owner), toString(svc.scheduler)));
        }
      };
      flag(f.shFallback, "sh-fallback", Scheduler::Sh);
      flag(f.shPort, "sh-port", Scheduler::Sh);
      flag(f.mhFallback, "mh-fallback", Scheduler::Mh);
      flag(f.mhPort, "mh-port", Scheduler::Mh);
      if (svc.scheduler == Scheduler::Mh && !tainted(p + ".mh_table_size")) {
        if (!isPrime(svc.mhTableSize)) {
          uint32_t next = svc.mhTableSize + 1;
          while (!isPrime(next)) {
            ++next;
          }
          s_.at(p + ".mh_table_size",
                fmt::format("mh_table_size {} is not a prime (Maglev needs a prime table size; "
                            "the next prime is {})",
                            svc.mhTableSize, next));
        } else if (svc.mhTableSize < svc.realServers.size() && !tainted(p + ".real_servers")) {
          s_.at(p + ".mh_table_size",
                fmt::format("mh_table_size {} is smaller than the number of real servers ({})",
                            svc.mhTableSize, svc.realServers.size()));
        }
      }
    }
    if (svc.nodeport && !svc.realServersFromNodePort && !svc.realServers.empty()) {
      s_.at(p + ".real_servers",
            "a nodeport service takes its real servers from nodeport.nodes; remove real_servers");
    }
    // dr/tun deliver the packet unchanged, so no port translation (ipvsadm
    // forces the server port to the service port for -g and -i).
    auto sameDestPort = [&](Forward fwd, uint16_t port) {
      return fwd == Forward::Nat || svc.port == 0 || port == svc.port;
    };
    if (svc.nodeport && svc.realServersFromNodePort && portOk && forwardOk &&
        !tainted(p + ".nodeport.port") && !sameDestPort(svc.forward, svc.nodeport->port)) {
      s_.at(p + ".nodeport.port",
            fmt::format("forward {} cannot change ports: nodeport.port {} must equal the service "
                        "port {} (use forward: nat)",
                        toString(svc.forward), svc.nodeport->port, svc.port));
    }
    std::map<std::pair<Ipv4, uint16_t>, size_t> seen;
    const Problems svcCheckProblems =
        svc.healthCheck ? healthCheckProblems(*svc.healthCheck, svc) : Problems{};
    if (svc.healthCheck && !tainted(p + ".health_check")) {
      report(p + ".health_check", svcCheckProblems);
    }
    for (size_t j = 0; j < svc.realServers.size(); ++j) {
      const RealServer& rs = svc.realServers[j];
      if (svc.realServersFromNodePort) {
        const std::string np = fmt::format("{}.nodeport.nodes[{}]", p, j);
        if (!tainted(np)) {
          auto [it, fresh] = seen.emplace(std::pair{rs.address, rs.port}, j);
          if (!fresh) {
            s_.at(np, fmt::format("node {} is listed twice (also nodeport.nodes[{}])",
                                  rs.address.str(), it->second));
          }
        }
        continue;  // the remaining rules concern servers written by hand
      }
      const std::string rp = fmt::format("{}.real_servers[{}]", p, j);
      const bool addrOk = !tainted(rp + ".address");
      const bool rsPortOk = portOk && !tainted(rp + ".port");
      if (addrOk && rsPortOk) {
        auto [it, fresh] = seen.emplace(std::pair{rs.address, rs.port}, j);
        if (!fresh) {
          s_.at(rp, fmt::format("duplicate real server {}:{} (also real_servers[{}])",
                                rs.address.str(), rs.port, it->second));
        }
      }
      if (rsPortOk) {
        if (svc.port == 0 && rs.port != 0) {
          s_.at(rp + ".port",
                "a port-0 service forwards each connection to the port the client used; leave "
                "the real server port out (or 0)");
        } else if (svc.port != 0 && rs.port == 0) {
          s_.at(rp + ".port", "port 0 is only for port-0 (all ports) services");
        } else if (forwardOk && !tainted(rp + ".forward") && !sameDestPort(rs.forward, rs.port)) {
          s_.at(rp + ".port",
                fmt::format("forward {} delivers packets unchanged, so the real server port "
                            "must be the service port {}, got {}",
                            toString(rs.forward), svc.port, rs.port));
        }
      }
      if (rs.weight > 65535) {
        s_.at(rp + ".weight", fmt::format("expected an integer 0..65535, got {}", rs.weight));
      }
      if (rs.lThreshold > rs.uThreshold && !tainted(rp + ".l_threshold") &&
          !tainted(rp + ".u_threshold")) {
        s_.at(
            rp + ".l_threshold",
            fmt::format("l_threshold {} is above u_threshold {} (IPVS refuses it{})", rs.lThreshold,
                        rs.uThreshold, rs.uThreshold == 0 ? "; u_threshold 0 means no limit" : ""));
      }
      if (rs.healthCheck && rs.healthCheck != svc.healthCheck && !tainted(rp + ".health_check")) {
        // Report only what the server's own keys caused; problems inherited
        // from the service's check are reported once, there.
        Problems own;
        for (auto& pr : healthCheckProblems(*rs.healthCheck, svc)) {
          if (std::find(svcCheckProblems.begin(), svcCheckProblems.end(), pr) ==
              svcCheckProblems.end()) {
            own.push_back(pr);
          }
        }
        report(rp + ".health_check", own);
      }
    }
    if (svc.sorryServer && !tainted(p + ".sorry_server") && portOk && forwardOk) {
      if (svc.port != 0 && svc.sorryServer->port == 0) {
        s_.at(p + ".sorry_server.port", "port 0 is only for port-0 (all ports) services");
      } else if (!sameDestPort(svc.forward, svc.sorryServer->port)) {
        s_.at(p + ".sorry_server.port",
              fmt::format("forward {} delivers packets unchanged, so the sorry server port "
                          "must be the service port {}, got {}",
                          toString(svc.forward), svc.port, svc.sorryServer->port));
      }
    }
  }

  const Config& cfg_;
  ErrorSink& s_;
};

}  // namespace

void validate(const Config& config, ErrorSink& sink) {
  sink.freezeTaint();
  Validator(config, sink).run();
}

void resolve(Config& config) {
  auto& dp = config.dataplane;
  auto egress = [&](Ipv4 ip) {
    for (const auto& port : dp.ports) {
      for (const auto& a : port.addresses) {
        if (a.contains(ip)) {
          return port.name;
        }
      }
    }
    return std::string();
  };
  for (auto& r : dp.routes) {
    if (r.port.empty()) {
      r.port = egress(r.via);
    }
  }
  for (auto& n : dp.neighbours) {
    if (n.port.empty()) {
      n.port = egress(n.ip);
    }
  }
}

}  // namespace detail

std::vector<ConfigError> validateConfig(const Config& config) {
  detail::ErrorSink sink("", nullptr);
  detail::validate(config, sink);
  return sink.take();
}

}  // namespace dplb::conf
