#include "dplb/control/admin_commands.h"

#include <fmt/format.h>

#include <algorithm>

namespace dplb::control {
namespace {

using nlohmann::json;

// ipvsadm's limit for --set values (31 days).
constexpr uint32_t kMaxTimeoutSeconds = 2678400;

struct Key {
  conf::Protocol proto = conf::Protocol::Tcp;
  conf::Ipv4 vip;
  uint16_t port = 0;
};

// Throws std::invalid_argument with IPVS's wording; caught below.
[[noreturn]] void fail(const std::string& why) {
  throw std::invalid_argument(why);
}

conf::Ipv4 address(const json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_string()) {
    fail("Invalid argument");
  }
  auto a = conf::Ipv4::parse(j[field].get<std::string>());
  if (!a) {
    fail("Invalid argument");
  }
  return *a;
}

uint32_t number(const json& j, const char* field, uint32_t def, uint32_t max) {
  if (!j.contains(field)) {
    return def;
  }
  // Any JSON integer kind (a parser makes non-negative numbers unsigned, a
  // program may build them signed); never negative, never above `max`.
  const json& v = j[field];
  if (!v.is_number_integer() ||
      (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0) ||
      v.get<uint64_t>() > max) {
    fail("Invalid argument");
  }
  return j[field].get<uint32_t>();
}

Key keyOf(const json& req) {
  if (!req.contains("service") || !req["service"].is_object()) {
    fail("Invalid argument");
  }
  const json& s = req["service"];
  Key k;
  const std::string proto = s.value("protocol", "tcp");
  auto p = conf::protocolFromString(proto);
  if (!p) {
    fail("Invalid argument");
  }
  k.proto = *p;
  k.vip = address(s, "address");
  k.port = static_cast<uint16_t>(number(s, "port", 0, 65535));
  return k;
}

std::vector<conf::Service>::iterator findService(conf::Config& c, const Key& k) {
  return std::find_if(c.services.begin(), c.services.end(), [&](const conf::Service& s) {
    return s.protocol == k.proto && s.vip == k.vip && s.port == k.port;
  });
}

conf::Service& existingService(conf::Config& c, const Key& k) {
  auto it = findService(c, k);
  if (it == c.services.end()) {
    fail("No such service");
  }
  return *it;
}

// -s -b -p -M onto a service.
void applyServiceOptions(conf::Service& svc, const json& s, bool isEdit) {
  if (s.contains("scheduler") || !isEdit) {
    auto sched = conf::schedulerFromString(s.value("scheduler", "wlc"));
    if (!sched) {
      fail("Scheduler not found");
    }
    svc.scheduler = *sched;
  }
  if (s.contains("sched_flags") || !isEdit) {
    svc.schedulerFlags = {};
    for (const auto& f : s.value("sched_flags", json::array())) {
      const std::string name = f.is_string() ? f.get<std::string>() : "";
      if (name == "sh-fallback") {
        svc.schedulerFlags.shFallback = true;
      } else if (name == "sh-port") {
        svc.schedulerFlags.shPort = true;
      } else if (name == "mh-fallback") {
        svc.schedulerFlags.mhFallback = true;
      } else if (name == "mh-port") {
        svc.schedulerFlags.mhPort = true;
      } else {
        fail("Invalid argument");
      }
    }
  }
  if (s.contains("persistent") || !isEdit) {
    if (s.value("persistent", false)) {
      conf::Persistence p;
      p.timeout = std::chrono::seconds(number(s, "timeout", 360, 31536000));
      if (s.contains("netmask")) {
        p.netmask = address(s, "netmask");
      }
      svc.persistence = p;
    } else {
      svc.persistence.reset();
    }
  }
}

json serverOf(const json& req) {
  if (!req.contains("server") || !req["server"].is_object()) {
    fail("Invalid argument");
  }
  return req["server"];
}

std::vector<conf::RealServer>::iterator findServer(conf::Service& svc, conf::Ipv4 addr,
                                                   uint16_t port) {
  return std::find_if(
      svc.realServers.begin(), svc.realServers.end(),
      [&](const conf::RealServer& r) { return r.address == addr && r.port == port; });
}

void applyServerOptions(conf::RealServer& rs, const json& s, bool isEdit) {
  if (s.contains("forward") || !isEdit) {
    auto f = conf::forwardFromString(s.value("forward", "dr"));
    if (!f) {
      fail("Invalid argument");
    }
    rs.forward = *f;
  }
  if (s.contains("weight") || !isEdit) {
    rs.weight = number(s, "weight", 1, 65535);
  }
  if (s.contains("u_threshold") || !isEdit) {
    rs.uThreshold = number(s, "u_threshold", 0, 0xFFFFFFFF);
  }
  if (s.contains("l_threshold") || !isEdit) {
    rs.lThreshold = number(s, "l_threshold", 0, 0xFFFFFFFF);
  }
}

void apply(conf::Config& c, const json& req) {
  const std::string cmd = req.value("cmd", "");
  if (cmd == "clear") {
    c.services.clear();
    return;
  }
  if (cmd == "set_timeout") {
    // ipvsadm --set: 0 leaves a timeout as it is; IPVS caps them at 31 days.
    auto& t = c.dataplane.timeouts;
    const std::pair<const char*, conf::Duration*> fields[] = {
        {"tcp", &t.tcpEstablished}, {"tcpfin", &t.tcpFinWait}, {"udp", &t.udp}};
    for (const auto& [name, target] : fields) {
      if (uint32_t s = number(req, name, 0, kMaxTimeoutSeconds); s != 0) {
        *target = std::chrono::seconds(s);
      }
    }
    return;
  }
  if (cmd == "zero" && !req.contains("service")) {
    return;
  }
  const Key k = keyOf(req);
  if (cmd == "zero") {
    // Counters are not configuration: the Daemon zeroes them after
    // publication; here the service only has to exist.
    existingService(c, k);
    return;
  }
  if (cmd == "add_service") {
    if (findService(c, k) != c.services.end()) {
      fail("Service already exists");
    }
    conf::Service svc;
    svc.name = fmt::format("{}-{}-{}", conf::toString(k.proto), k.vip.str(), k.port);
    svc.protocol = k.proto;
    svc.vip = k.vip;
    svc.port = k.port;
    applyServiceOptions(svc, req["service"], false);
    c.services.push_back(std::move(svc));
  } else if (cmd == "edit_service") {
    applyServiceOptions(existingService(c, k), req["service"], true);
  } else if (cmd == "delete_service") {
    auto it = findService(c, k);
    if (it == c.services.end()) {
      fail("No such service");
    }
    c.services.erase(it);
  } else if (cmd == "add_server" || cmd == "edit_server" || cmd == "delete_server") {
    conf::Service& svc = existingService(c, k);
    const json s = serverOf(req);
    const conf::Ipv4 addr = address(s, "address");
    const uint16_t port = static_cast<uint16_t>(number(s, "port", svc.port, 65535));
    auto it = findServer(svc, addr, port);
    if (cmd == "add_server") {
      if (it != svc.realServers.end()) {
        fail("Destination already exists");
      }
      conf::RealServer rs;
      rs.address = addr;
      rs.port = port;
      applyServerOptions(rs, s, false);
      svc.realServers.push_back(rs);
    } else if (it == svc.realServers.end()) {
      fail("No such destination");
    } else if (cmd == "edit_server") {
      applyServerOptions(*it, s, true);
    } else {
      svc.realServers.erase(it);
    }
  } else {
    fail(fmt::format("command \"{}\" is not supported by dplbd", cmd));
  }
}

}  // namespace

bool isMutation(const std::string& cmd) {
  return cmd == "add_service" || cmd == "edit_service" || cmd == "delete_service" ||
         cmd == "add_server" || cmd == "edit_server" || cmd == "delete_server" || cmd == "clear" ||
         cmd == "set_timeout" || cmd == "restore";
}

std::string applyAdminCommand(conf::Config& config, const nlohmann::json& request) {
  try {
    apply(config, request);
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (const nlohmann::json::exception&) {
    return "Invalid argument";
  }
  return {};
}

std::string applyRestore(conf::Config& config, const nlohmann::json& request) {
  if (!request.contains("commands") || !request["commands"].is_array()) {
    return "restore: no commands";
  }
  size_t n = 0;
  for (const auto& c : request["commands"]) {
    ++n;
    const std::string cmd = c.is_object() ? c.value("cmd", "") : "";
    if ((!isMutation(cmd) && cmd != "zero") || cmd == "restore") {
      return fmt::format("restore: command {}: not a restorable command", n);
    }
    if (std::string err = applyAdminCommand(config, c); !err.empty()) {
      return fmt::format("restore: command {} ({}): {}", n, c.value("cmd", ""), err);
    }
  }
  return {};
}

}  // namespace dplb::control
