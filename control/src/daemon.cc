#include "dplb/control/daemon.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <set>

#include "dplb/conf/loader.h"
#include "dplb/control/admin_commands.h"
#include "dplb/dp/tcp_state.h"

#ifndef DPLB_VERSION
#define DPLB_VERSION "unknown"
#endif

namespace dplb::control {
namespace {

double unixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string addrStr(uint32_t a) {
  return conf::Ipv4(a).str();
}

std::string_view protoName(dp::L4Proto p) {
  return p == dp::L4Proto::kUdp ? "udp" : "tcp";
}

nlohmann::json trafficJson(const dp::TrafficTotals& t) {
  return {{"conns", t.conns},
          {"inpkts", t.inPackets},
          {"outpkts", t.outPackets},
          {"inbytes", t.inBytes},
          {"outbytes", t.outBytes}};
}

nlohmann::json ratesJson(const Rates& r) {
  return {{"cps", r.cps},
          {"inpps", r.inpps},
          {"outpps", r.outpps},
          {"inbps", r.inbps},
          {"outbps", r.outbps}};
}

RateCounters countersOf(const dp::TrafficTotals& t) {
  return {t.conns, t.inPackets, t.outPackets, t.inBytes, t.outBytes};
}

// The listed counters: what the dataplane counted since the baseline. A
// counter below its baseline means the dataplane restarted that slot (which
// retainStats() should have seen); show the raw value rather than wrap.
void subtractBaseline(dp::TrafficTotals& t, const RateCounters& b) {
  auto sub = [](uint64_t& v, uint64_t base) { v = v >= base ? v - base : v; };
  sub(t.conns, b.conns);
  sub(t.inPackets, b.inPackets);
  sub(t.outPackets, b.outPackets);
  sub(t.inBytes, b.inBytes);
  sub(t.outBytes, b.outBytes);
}

uint8_t protoNumber(conf::Protocol p) {
  return p == conf::Protocol::Udp ? static_cast<uint8_t>(dp::L4Proto::kUdp)
                                  : static_cast<uint8_t>(dp::L4Proto::kTcp);
}

// The service key of a request ("service": {protocol, address, port}), if any.
std::optional<StatsKey> requestedService(const nlohmann::json& request, std::string* error) {
  if (!request.contains("service")) {
    return std::nullopt;
  }
  const nlohmann::json& s = request["service"];
  std::optional<conf::Ipv4> addr;
  std::optional<conf::Protocol> proto;
  if (s.is_object() && s.contains("address") && s["address"].is_string()) {
    addr = conf::Ipv4::parse(s["address"].get<std::string>());
  }
  if (s.is_object()) {
    const nlohmann::json p = s.value("protocol", nlohmann::json("tcp"));
    proto = p.is_string() ? conf::protocolFromString(p.get<std::string>()) : std::nullopt;
  }
  const nlohmann::json port = s.is_object() ? s.value("port", nlohmann::json(0)) : nlohmann::json();
  if (!addr || !proto || !port.is_number_unsigned() || port.get<uint64_t>() > 65535) {
    *error = "Invalid argument";
    return std::nullopt;
  }
  StatsKey k;
  k.proto = protoNumber(*proto);
  k.vip = addr->value;
  k.port = static_cast<uint16_t>(port.get<uint64_t>());
  return k;
}

// Without a health manager every server is unchecked and up.
std::vector<ServerHealth> uncheckedServers(const conf::Config& config) {
  std::vector<ServerHealth> out;
  for (const auto& svc : config.services) {
    for (const auto& rs : svc.realServers) {
      out.push_back(serverHealthOf(svc, rs));
    }
  }
  return out;
}

}  // namespace

StatsKey statsKey(const dp::ServiceView& service) {
  StatsKey k;
  k.proto = static_cast<uint8_t>(service.proto);
  k.vip = service.vip;
  k.port = service.port;
  return k;
}

StatsKey statsKey(const dp::ServiceView& service, const dp::ServerView& server) {
  StatsKey k = statsKey(service);
  k.server = true;
  k.rsAddr = server.addr;
  k.rsPort = server.port;
  return k;
}

nlohmann::json listReply(const std::vector<dp::ServiceView>& views, uint64_t connTableSize,
                         const char* version, const RatesOf& rates) {
  auto ratesOf = [&](const StatsKey& k) { return ratesJson(rates ? rates(k) : Rates{}); };
  nlohmann::json services = nlohmann::json::array();
  for (const auto& sv : views) {
    nlohmann::json flags = nlohmann::json::array();
    if (sv.flags.shFallback) {
      flags.push_back("sh-fallback");
    }
    if (sv.flags.shPort) {
      flags.push_back("sh-port");
    }
    if (sv.flags.mhFallback) {
      flags.push_back("mh-fallback");
    }
    if (sv.flags.mhPort) {
      flags.push_back("mh-port");
    }
    nlohmann::json servers = nlohmann::json::array();
    for (const auto& rs : sv.servers) {
      const char* fwd = rs.fwd == dp::ForwardMode::kNat  ? "nat"
                        : rs.fwd == dp::ForwardMode::kDr ? "dr"
                                                         : "tun";
      servers.push_back({{"address", addrStr(rs.addr)},
                         {"port", rs.port},
                         {"forward", fwd},
                         {"weight", rs.weight},
                         {"active", rs.activeConns},
                         {"inactive", rs.inactiveConns},
                         {"persistent", rs.persistentConns},
                         {"u_threshold", rs.uThreshold},
                         {"l_threshold", rs.lThreshold},
                         {"stats", trafficJson(rs.stats)},
                         {"rates", ratesOf(statsKey(sv, rs))}});
    }
    services.push_back({{"protocol", protoName(sv.proto)},
                        {"address", addrStr(sv.vip)},
                        {"port", sv.port},
                        {"scheduler", sv.scheduler},
                        {"sched_flags", flags},
                        {"persistent", sv.persistent},
                        {"timeout", sv.persistTimeoutS},
                        {"netmask", addrStr(sv.netmask)},
                        {"stats", trafficJson(sv.stats)},
                        {"rates", ratesOf(statsKey(sv))},
                        {"servers", servers}});
  }
  return {{"ok", true},
          {"version", version},
          {"conn_table_size", connTableSize},
          {"services", services}};
}

nlohmann::json connectionsReply(dp::Dataplane& dataplane) {
  nlohmann::json conns = nlohmann::json::array();
  for (const auto& c : dataplane.connections()) {
    std::string state =
        c.proto == dp::L4Proto::kUdp
            ? "UDP"
            : std::string(dp::tcpStateName(static_cast<dp::TcpState>(c.isTemplate ? 0 : c.state)));
    conns.push_back(
        {{"protocol", protoName(c.proto)},
         {"state", state},
         {"expire", std::chrono::duration_cast<std::chrono::seconds>(c.remaining).count()},
         {"client", {{"address", addrStr(c.clientAddr)}, {"port", c.clientPort}}},
         {"virtual", {{"address", addrStr(c.vipAddr)}, {"port", c.vipPort}}},
         {"server", {{"address", addrStr(c.rsAddr)}, {"port", c.rsPort}}}});
  }
  return {{"ok", true}, {"connections", conns}};
}

Daemon::Daemon(std::string file, const conf::Config& initial, dp::Dataplane& dataplane)
    : file_(std::move(file)),
      dataplane_(dataplane),
      base_(initial),
      started_(std::chrono::steady_clock::now()) {
  stats_.startUnixSeconds = unixNow();
}

conf::Config Daemon::base() const {
  std::lock_guard lock(mutex_);
  return base_;
}

DaemonStats Daemon::stats() const {
  std::lock_guard lock(mutex_);
  DaemonStats s = stats_;
  s.uptimeSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return s;
}

std::vector<ServerHealth> Daemon::serverHealth() const {
  if (serverHealth_) {
    return serverHealth_();
  }
  return uncheckedServers(base());
}

std::vector<ServiceHealth> Daemon::serviceHealth() const {
  if (serviceHealth_) {
    return serviceHealth_();
  }
  std::vector<ServiceHealth> out;
  for (const auto& svc : base().services) {
    ServiceHealth h = serviceHealthOf(svc);
    for (const auto& rs : svc.realServers) {
      h.liveWeight += rs.weight;
    }
    out.push_back(std::move(h));
  }
  return out;
}

std::string Daemon::publishLocked(const conf::Config& next) {
  const conf::Config published = overlay_ ? overlay_(next) : next;
  if (std::string err = dataplane_.publish(published); !err.empty()) {
    return err;
  }
  retainStats(published);
  base_ = next;
  if (baseListener_) {
    baseListener_(base_);
  }
  return {};
}

std::string Daemon::republish() {
  std::lock_guard lock(mutex_);
  const conf::Config published = overlay_ ? overlay_(base_) : base_;
  std::string err = dataplane_.publish(published);
  if (err.empty()) {
    retainStats(published);
  }
  return err;
}

void Daemon::retainStats(const conf::Config& published) {
  std::set<StatsKey> keep;
  for (const auto& svc : published.services) {
    StatsKey k;
    k.proto = protoNumber(svc.protocol);
    k.vip = svc.vip.value;
    k.port = svc.port;
    keep.insert(k);
    for (const auto& rs : svc.realServers) {
      StatsKey r = k;
      r.server = true;
      r.rsAddr = rs.address.value;
      r.rsPort = rs.port;
      keep.insert(r);
    }
  }
  std::lock_guard lock(statsMutex_);
  std::erase_if(baselines_, [&](const auto& kv) { return !keep.count(kv.first); });
  rates_.retain(keep);
}

void Daemon::tickRates() {
  // Under mutex_ so that no publication (which forgets removed services'
  // counters) runs between reading the counters and sampling them.
  std::lock_guard lock(mutex_);
  std::map<StatsKey, RateCounters> now;
  for (const auto& sv : dataplane_.listServices()) {
    now[statsKey(sv)] = countersOf(sv.stats);
    for (const auto& rs : sv.servers) {
      now[statsKey(sv, rs)] = countersOf(rs.stats);
    }
  }
  std::lock_guard statsLock(statsMutex_);
  rates_.tick(now);
}

void Daemon::zeroLocked(const nlohmann::json& request) {
  std::string error;
  const std::optional<StatsKey> only = requestedService(request, &error);
  const auto views = dataplane_.listServices();
  std::lock_guard lock(statsMutex_);
  for (const auto& sv : views) {
    const StatsKey k = statsKey(sv);
    if (only && !only->sameService(k)) {
      continue;
    }
    baselines_[k] = countersOf(sv.stats);
    rates_.zero(k, baselines_[k]);
    for (const auto& rs : sv.servers) {
      const StatsKey r = statsKey(sv, rs);
      baselines_[r] = countersOf(rs.stats);
      rates_.zero(r, baselines_[r]);
    }
  }
}

nlohmann::json Daemon::zeroRequest(const nlohmann::json& request) {
  std::lock_guard lock(mutex_);
  // The same check as in a restore: the service must exist.
  conf::Config scratch = base_;
  if (std::string err = applyAdminCommand(scratch, request); !err.empty()) {
    return {{"ok", false}, {"error", err}};
  }
  zeroLocked(request);
  spdlog::info("admin: zero applied to {}",
               request.contains("service") ? request["service"].dump() : "every service");
  return {{"ok", true}};
}

nlohmann::json Daemon::listRequest(const nlohmann::json& request) const {
  std::string error;
  const std::optional<StatsKey> only = requestedService(request, &error);
  if (!error.empty()) {
    return {{"ok", false}, {"error", error}};
  }
  std::vector<dp::ServiceView> views = dataplane_.listServices();
  if (only) {
    std::erase_if(views,
                  [&](const dp::ServiceView& sv) { return !only->sameService(statsKey(sv)); });
    if (views.empty()) {
      return {{"ok", false}, {"error", "No such service"}};
    }
  }
  std::lock_guard lock(statsMutex_);
  auto baseline = [&](const StatsKey& k, dp::TrafficTotals& t) {
    if (auto it = baselines_.find(k); it != baselines_.end()) {
      subtractBaseline(t, it->second);
    }
  };
  for (auto& sv : views) {
    baseline(statsKey(sv), sv.stats);
    for (auto& rs : sv.servers) {
      baseline(statsKey(sv, rs), rs.stats);
    }
  }
  return listReply(views, dataplane_.connCapacity(), DPLB_VERSION,
                   [this](const StatsKey& k) { return rates_.rates(k); });
}

std::vector<std::string> Daemon::reload() {
  std::lock_guard lock(mutex_);
  auto next = conf::loadConfigFile(file_);
  std::vector<std::string> errors;
  if (!next.ok()) {
    for (const auto& e : next.errors) {
      errors.push_back(e.str());
    }
  } else if (std::string err = publishLocked(*next.config); !err.empty()) {
    errors.push_back(err);
  }
  const double now = unixNow();
  stats_.lastReloadUnixSeconds = now;
  stats_.lastReloadOk = errors.empty();
  if (errors.empty()) {
    ++stats_.reloadSuccesses;
    stats_.lastReloadSuccessUnixSeconds = now;
    spdlog::info("reload: {} service(s) active", base_.services.size());
    return errors;
  }
  ++stats_.reloadFailures;
  spdlog::error("reload of {} refused, nothing changed:", file_);
  for (const auto& e : errors) {
    spdlog::error("  {}", e);
  }
  return errors;
}

nlohmann::json Daemon::statusReply() const {
  nlohmann::json st;
  st["ok"] = true;
  st["version"] = DPLB_VERSION;
  const DaemonStats ds = stats();
  st["uptime_s"] = ds.uptimeSeconds;
  st["workers"] = dataplane_.workerCount();
  st["conns"] = dataplane_.connCount();
  st["conn_table_size"] = dataplane_.connCapacity();
  st["reloads"] = {{"ok", ds.reloadSuccesses}, {"failed", ds.reloadFailures}};
  st["metrics"] = ds.metricsAddress;
  uint64_t rx = 0, tx = 0;
  for (unsigned w = 0; w < dataplane_.workerCount(); ++w) {
    rx += dataplane_.workerStats(w).rxPackets.get();
    tx += dataplane_.workerStats(w).txPackets.get();
  }
  st["rx_packets"] = rx;
  st["tx_packets"] = tx;
  nlohmann::json drops = nlohmann::json::object();
  auto d = dataplane_.drops();
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] != 0) {
      drops[std::string(pkt::dropReasonName(static_cast<pkt::DropReason>(i)))] = d[i];
    }
  }
  st["drops"] = drops;
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& p : dataplane_.portCounters()) {
    ports.push_back({{"name", p.name},
                     {"mac", p.mac},
                     {"rx_packets", p.rxPackets},
                     {"tx_packets", p.txPackets},
                     {"rx_bytes", p.rxBytes},
                     {"tx_bytes", p.txBytes},
                     {"rx_missed", p.rxMissed},
                     {"rx_errors", p.rxErrors},
                     {"tx_errors", p.txErrors}});
  }
  st["ports"] = ports;
  // Per real server health and per service quorum (admin/PROTOCOL.md).
  nlohmann::json servers = nlohmann::json::array();
  for (const auto& h : serverHealth()) {
    nlohmann::json s = {{"protocol", conf::toString(h.protocol)},
                        {"service", h.vip.str() + ":" + std::to_string(h.vipPort)},
                        {"name", h.service},
                        {"server", h.addr.str() + ":" + std::to_string(h.port)},
                        {"health", !h.checked ? "unchecked"
                                   : h.up     ? "up"
                                              : "down"},
                        {"weight", h.weight},
                        {"configured_weight", h.configuredWeight},
                        {"removed", h.removed}};
    if (h.checked) {
      s["check"] = h.check;
      s["since_s"] = h.sinceChangeSeconds;
      s["transitions"] = h.transitions;
      s["probes"] = h.probes;
      if (h.lastOk) {
        s["last"] = *h.lastOk ? "ok" : "fail";
        s["reason"] = h.reason;
        s["latency_s"] = h.lastLatencySeconds;
      }
      if (h.localEndpoints) {
        s["local_endpoints"] = *h.localEndpoints;
      }
    }
    servers.push_back(std::move(s));
  }
  st["servers"] = servers;
  nlohmann::json quorum = nlohmann::json::array();
  for (const auto& h : serviceHealth()) {
    quorum.push_back({{"protocol", conf::toString(h.protocol)},
                      {"service", h.vip.str() + ":" + std::to_string(h.port)},
                      {"name", h.service},
                      {"live_weight", h.liveWeight},
                      {"quorum", h.quorum},
                      {"sorry", h.sorryActive}});
  }
  st["quorum"] = quorum;
  return st;
}

nlohmann::json Daemon::mutation(const std::string& cmd, const nlohmann::json& request) {
  // dplbadm's changes apply to the base model and go through the same
  // validation and publication as a reload; the file replaces them on the
  // next reload (documented in admin/PROTOCOL.md).
  std::lock_guard lock(mutex_);
  conf::Config next = base_;
  std::string err =
      cmd == "restore" ? applyRestore(next, request) : applyAdminCommand(next, request);
  if (!err.empty()) {
    return {{"ok", false}, {"error", err}};
  }
  auto problems = conf::validateConfig(next);
  if (!problems.empty()) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : problems) {
      errors.push_back(e.str());
    }
    return {{"ok", false}, {"error", "Invalid argument"}, {"errors", errors}};
  }
  if (std::string perr = publishLocked(next); !perr.empty()) {
    return {{"ok", false}, {"error", perr}};
  }
  if (cmd == "restore") {
    // -Z lines of a restore: counters are zeroed once the rest is published
    // (a service the restore creates starts at zero anyway).
    for (const auto& c : request["commands"]) {
      if (c.value("cmd", "") == "zero") {
        zeroLocked(c);
      }
    }
  }
  spdlog::info("admin: {} applied, {} service(s) active", cmd, base_.services.size());
  return {{"ok", true}};
}

nlohmann::json Daemon::handle(const nlohmann::json& request) {
  const std::string cmd = request["cmd"].get<std::string>();
  if (cmd == "status") {
    return statusReply();
  }
  if (cmd == "list") {
    return listRequest(request);
  }
  if (cmd == "zero") {
    return zeroRequest(request);
  }
  if (cmd == "connections") {
    return connectionsReply(dataplane_);
  }
  if (cmd == "get_timeout") {
    std::lock_guard lock(mutex_);
    const auto& t = base_.dataplane.timeouts;
    return {{"ok", true},
            {"tcp", std::chrono::duration_cast<std::chrono::seconds>(t.tcpEstablished).count()},
            {"tcpfin", std::chrono::duration_cast<std::chrono::seconds>(t.tcpFinWait).count()},
            {"udp", std::chrono::duration_cast<std::chrono::seconds>(t.udp).count()}};
  }
  if (isMutation(cmd)) {
    return mutation(cmd, request);
  }
  if (cmd == "reload") {
    auto errors = reload();
    if (errors.empty()) {
      return {{"ok", true}};
    }
    return {{"ok", false}, {"error", "reload refused, nothing changed"}, {"errors", errors}};
  }
  return {{"ok", false}, {"error", "unknown command \"" + cmd + "\""}};
}

}  // namespace dplb::control
