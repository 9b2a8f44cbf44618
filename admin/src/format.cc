#include "dplb/admin/format.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <tuple>
#include <vector>

namespace dplb::admin {
namespace {

using nlohmann::json;

// printf into a std::string: the ipvsadm formats are printf formats, and
// keeping them as such is the surest way to get its widths byte for byte.
__attribute__((format(printf, 2, 3))) void appendf(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) {
    out.append(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
  }
}

uint32_t addrValue(const std::string& dotted) {
  in_addr a{};
  if (inet_pton(AF_INET, dotted.c_str(), &a) != 1) {
    return 0;
  }
  return ntohl(a.s_addr);
}

uint64_t counter(const json& obj, const char* group, const char* key) {
  if (!obj.contains(group) || !obj[group].is_object()) {
    return 0;
  }
  return obj[group].value(key, uint64_t{0});
}

std::string addrPort(const json& obj) {
  return obj.at("address").get<std::string>() + ":" + std::to_string(obj.at("port").get<int>());
}

std::string upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return s;
}

std::vector<json> sortedServices(const json& reply, bool noSort) {
  std::vector<json> v;
  if (reply.contains("services")) {
    for (const auto& s : reply.at("services")) {
      v.push_back(s);
    }
  }
  if (!noSort) {
    // libipvs's ipvs_cmp_services: protocol number (TCP 6 < UDP 17), address,
    // port; "tcp" < "udp" orders the same.
    std::stable_sort(v.begin(), v.end(), [](const json& a, const json& b) {
      return std::make_tuple(a.at("protocol").get<std::string>(),
                             addrValue(a.at("address").get<std::string>()),
                             a.at("port").get<int>()) <
             std::make_tuple(b.at("protocol").get<std::string>(),
                             addrValue(b.at("address").get<std::string>()),
                             b.at("port").get<int>());
    });
  }
  return v;
}

std::vector<json> sortedServers(const json& svc, bool noSort) {
  std::vector<json> v;
  if (svc.contains("servers")) {
    for (const auto& s : svc.at("servers")) {
      v.push_back(s);
    }
  }
  if (!noSort) {
    std::stable_sort(v.begin(), v.end(), [](const json& a, const json& b) {
      return std::make_pair(addrValue(a.at("address").get<std::string>()),
                            a.at("port").get<int>()) <
             std::make_pair(addrValue(b.at("address").get<std::string>()), b.at("port").get<int>());
    });
  }
  return v;
}

// ipvsadm's print_sched_flags: the flags named after the scheduler (sh-*,
// mh-*), generic flag-N for any other, comma-separated, fixed order.
std::string schedFlags(const json& svc) {
  if (!svc.contains("sched_flags")) {
    return "";
  }
  bool bit[3] = {false, false, false};
  for (const auto& f : svc.at("sched_flags")) {
    const std::string n = f.get<std::string>();
    if (n == "flag-1" || n.ends_with("-fallback")) {
      bit[0] = true;
    } else if (n == "flag-2" || n.ends_with("-port")) {
      bit[1] = true;
    } else if (n == "flag-3") {
      bit[2] = true;
    }
  }
  const std::string sched = svc.at("scheduler").get<std::string>();
  const bool named = sched == "sh" || sched == "mh";
  const std::string names[3] = {named ? sched + "-fallback" : "flag-1",
                                named ? sched + "-port" : "flag-2", "flag-3"};
  std::string out;
  for (int i = 0; i < 3; ++i) {
    if (bit[i]) {
      out += (out.empty() ? "" : ",") + names[i];
    }
  }
  return out;
}

bool persistent(const json& svc) {
  return svc.value("persistent", false);
}

std::string netmaskOf(const json& svc) {
  return svc.value("netmask", "255.255.255.255");
}

const char* forwardName(const std::string& fwd) {
  if (fwd == "nat") {
    return "Masq";
  }
  if (fwd == "tun") {
    return "Tunnel";
  }
  return "Route";
}

const char* forwardSwitch(const std::string& fwd) {
  if (fwd == "nat") {
    return "-m";
  }
  if (fwd == "tun") {
    return "-i";
  }
  return "-g";
}

void appendNumbers(std::string& out, const json& obj, const char* group,
                   const std::array<const char*, 5>& keys, bool exact) {
  for (const char* k : keys) {
    out += formatLargeNum(counter(obj, group, k), exact);
  }
}

constexpr std::array<const char*, 5> kStatKeys = {"conns", "inpkts", "outpkts", "inbytes",
                                                  "outbytes"};
constexpr std::array<const char*, 5> kRateKeys = {"cps", "inpps", "outpps", "inbps", "outbps"};

void appendTitle(std::string& out, const ListFormat& f) {
  if (f.stats) {
    appendf(out, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes");
  } else if (f.rate) {
    appendf(out, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS");
  } else if (f.thresholds) {
    appendf(out, "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn");
  } else if (f.persistentConn) {
    appendf(out, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn");
  } else {
    out +=
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
  }
}

void appendService(std::string& out, const json& svc, const ListFormat& f) {
  std::string name = upper(svc.at("protocol").get<std::string>()) + "  " + addrPort(svc);
  if (name.size() > 33) {
    name.resize(33);  // ipvsadm cuts svc_name[33] for IPv4
  }
  if (f.stats || f.rate) {
    appendf(out, "%-33s", name.c_str());
    appendNumbers(out, svc, f.stats ? "stats" : "rates", f.stats ? kStatKeys : kRateKeys, f.exact);
  } else {
    appendf(out, "%s %s", name.c_str(), svc.at("scheduler").get<std::string>().c_str());
    if (std::string flags = schedFlags(svc); !flags.empty()) {
      out += " (" + flags + ")";
    }
    if (persistent(svc)) {
      appendf(out, " persistent %u", svc.value("timeout", 0U));
      if (std::string mask = netmaskOf(svc); mask != "255.255.255.255") {
        out += " mask " + mask;
      }
    }
  }
  out += '\n';
  for (const auto& srv : sortedServers(svc, f.noSort)) {
    std::string dname = addrPort(srv);
    if (dname.size() > 28) {
      dname.resize(28);
    }
    if (f.stats || f.rate) {
      appendf(out, "  -> %-28s", dname.c_str());
      appendNumbers(out, srv, f.stats ? "stats" : "rates", f.stats ? kStatKeys : kRateKeys,
                    f.exact);
      out += '\n';
    } else if (f.thresholds) {
      appendf(out, "  -> %-28s %-10u %-10u %-10u %-10u\n", dname.c_str(),
              srv.value("u_threshold", 0U), srv.value("l_threshold", 0U), srv.value("active", 0U),
              srv.value("inactive", 0U));
    } else if (f.persistentConn) {
      appendf(out, "  -> %-28s %-9u %-11u %-10u %-10u\n", dname.c_str(), srv.value("weight", 0U),
              srv.value("persistent", 0U), srv.value("active", 0U), srv.value("inactive", 0U));
    } else {
      appendf(out, "  -> %-28s %-7s %-6d %-10u %-10u\n", dname.c_str(),
              forwardName(srv.value("forward", "dr")), srv.value("weight", 0),
              srv.value("active", 0U), srv.value("inactive", 0U));
    }
  }
}

}  // namespace

std::string formatLargeNum(uint64_t value, bool exact) {
  std::string out;
  const auto v = static_cast<unsigned long long>(value);
  if (exact) {
    // At least one space before the number, however long it is.
    const int len = std::snprintf(nullptr, 0, "%llu", v);
    appendf(out, "%*llu", len <= 8 ? 9 : len + 1, v);
  } else if (v < 100000000ULL) {
    appendf(out, "%9llu", v);
  } else if (v < 1000000000ULL) {
    appendf(out, "%8lluK", v / 1000);
  } else if (v < 100000000000ULL) {
    appendf(out, "%8lluM", v / 1000000);
  } else if (v < 100000000000000ULL) {
    appendf(out, "%8lluG", v / 1000000000ULL);
  } else {
    appendf(out, "%8lluT", v / 1000000000000ULL);
  }
  return out;
}

std::string formatList(const json& reply, const ListFormat& format, std::string_view version) {
  std::string out;
  if (!format.oneService) {
    const std::string v = reply.value("version", std::string(version));
    appendf(out, "dplb version %s (size=%llu)\n", v.c_str(),
            static_cast<unsigned long long>(reply.value("conn_table_size", uint64_t{0})));
  }
  appendTitle(out, format);
  for (const auto& svc : sortedServices(reply, format.noSort)) {
    appendService(out, svc, format);
  }
  return out;
}

std::string formatConnections(const json& reply) {
  std::string out = "IPVS connection entries\n";
  appendf(out, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination");
  if (!reply.contains("connections")) {
    return out;
  }
  for (const auto& c : reply.at("connections")) {
    const unsigned expire = c.value("expire", 0U);
    char expireStr[16];
    std::snprintf(expireStr, sizeof expireStr, "%02u:%02u", expire / 60, expire % 60);
    appendf(out, "%-3s %-6s %-11s %-18s %-18s %s\n",
            upper(c.at("protocol").get<std::string>()).c_str(), expireStr,
            c.at("state").get<std::string>().c_str(), addrPort(c.at("client")).c_str(),
            addrPort(c.at("virtual")).c_str(), addrPort(c.at("server")).c_str());
  }
  return out;
}

std::string formatTimeout(const json& reply) {
  std::string out;
  appendf(out, "Timeout (tcp tcpfin udp): %d %d %d\n", reply.at("tcp").get<int>(),
          reply.at("tcpfin").get<int>(), reply.at("udp").get<int>());
  return out;
}

std::string formatSave(const json& reply, const ListFormat& format) {
  std::string out;
  for (const auto& svc : sortedServices(reply, format.noSort)) {
    const std::string proto = svc.at("protocol").get<std::string>() == "udp" ? "-u" : "-t";
    const std::string name = proto + " " + addrPort(svc);
    out += "-A " + name + " -s " + svc.at("scheduler").get<std::string>();
    if (std::string flags = schedFlags(svc); !flags.empty()) {
      out += " -b " + flags;
    }
    if (persistent(svc)) {
      out += " -p " + std::to_string(svc.value("timeout", 0U));
      if (std::string mask = netmaskOf(svc); mask != "255.255.255.255") {
        out += " -M " + mask;
      }
    }
    out += '\n';
    for (const auto& srv : sortedServers(svc, format.noSort)) {
      const std::string fwd = srv.value("forward", "dr");
      out += "-a " + name + " -r " + addrPort(srv) + " " + forwardSwitch(fwd) + " -w " +
             std::to_string(srv.value("weight", 0));
      // ipvsadm-save leaves thresholds out; dplb writes them when set so that
      // -S | -C | -R gives back the same state. Lines without them are
      // byte-identical to ipvsadm's.
      if (unsigned x = srv.value("u_threshold", 0U); x != 0) {
        out += " -x " + std::to_string(x);
      }
      if (unsigned y = srv.value("l_threshold", 0U); y != 0) {
        out += " -y " + std::to_string(y);
      }
      if (fwd == "tun") {
        out += " --tun-type " + srv.value("tun_type", std::string("ipip"));
      }
      out += '\n';
    }
  }
  return out;
}

std::string formatStatus(const json& reply) {
  std::string out;
  appendf(out, "dplbd version %s\n", reply.value("version", std::string("?")).c_str());
  const auto uptime = static_cast<unsigned long long>(reply.value("uptime_s", 0.0));
  appendf(out, "uptime: %llud %02lluh%02llum%02llus\n", uptime / 86400, uptime / 3600 % 24,
          uptime / 60 % 60, uptime % 60);
  appendf(out, "workers: %u\n", reply.value("workers", 0U));
  appendf(out, "connections: %llu\n",
          static_cast<unsigned long long>(reply.value("conns", uint64_t{0})));
  if (reply.contains("conn_table_size")) {
    appendf(out, "connection table size: %llu\n",
            static_cast<unsigned long long>(reply.value("conn_table_size", uint64_t{0})));
  }
  appendf(out, "packets: rx %llu tx %llu\n",
          static_cast<unsigned long long>(reply.value("rx_packets", uint64_t{0})),
          static_cast<unsigned long long>(reply.value("tx_packets", uint64_t{0})));
  if (reply.contains("drops") && reply["drops"].is_object() && !reply["drops"].empty()) {
    out += "drops:\n";
    for (const auto& [k, v] : reply["drops"].items()) {
      appendf(out, "  %-24s %llu\n", k.c_str(), static_cast<unsigned long long>(v.get<uint64_t>()));
    }
  }
  if (reply.contains("ports") && reply["ports"].is_array()) {
    for (const auto& p : reply["ports"]) {
      appendf(out, "port %s %s: rx %llu pkts %llu bytes, tx %llu pkts %llu bytes, missed %llu\n",
              p.value("name", std::string("?")).c_str(), p.value("mac", std::string("")).c_str(),
              static_cast<unsigned long long>(p.value("rx_packets", uint64_t{0})),
              static_cast<unsigned long long>(p.value("rx_bytes", uint64_t{0})),
              static_cast<unsigned long long>(p.value("tx_packets", uint64_t{0})),
              static_cast<unsigned long long>(p.value("tx_bytes", uint64_t{0})),
              static_cast<unsigned long long>(p.value("rx_missed", uint64_t{0})));
    }
  }
  // Per real server health, once the daemon reports it (PROTOCOL.md).
  if (reply.contains("servers") && reply["servers"].is_array()) {
    out += "real servers:\n";
    for (const auto& s : reply["servers"]) {
      appendf(out, "  %s %s -> %s %s", upper(s.value("protocol", std::string("tcp"))).c_str(),
              s.value("service", std::string("?")).c_str(),
              s.value("server", std::string("?")).c_str(),
              s.value("health", std::string("?")).c_str());
      if (s.contains("check")) {
        appendf(out, " %s", s.value("check", std::string("?")).c_str());
      }
      if (s.contains("weight")) {
        if (s.value("removed", false)) {
          appendf(out, " removed (weight %u)", s.value("configured_weight", 0U));
        } else {
          appendf(out, " weight %u/%u", s.value("weight", 0U), s.value("configured_weight", 0U));
        }
      }
      if (s.contains("since_s")) {
        appendf(out, " since %.0fs", s.value("since_s", 0.0));
      }
      if (s.contains("last")) {
        appendf(out, " last %s %.1fms: %s", s.value("last", std::string("?")).c_str(),
                s.value("latency_s", 0.0) * 1000, s.value("reason", std::string()).c_str());
      }
      out += '\n';
    }
  }
  if (reply.contains("quorum") && reply["quorum"].is_array()) {
    for (const auto& q : reply["quorum"]) {
      if (!q.value("sorry", false)) {
        continue;  // only the exceptional state is worth a line
      }
      appendf(out, "%s %s (%s): live weight %llu, quorum %u: sorry server active\n",
              upper(q.value("protocol", std::string("tcp"))).c_str(),
              q.value("service", std::string("?")).c_str(),
              q.value("name", std::string("?")).c_str(),
              static_cast<unsigned long long>(q.value("live_weight", uint64_t{0})),
              q.value("quorum", 0U));
    }
  }
  return out;
}

}  // namespace dplb::admin
