// dplbd: the dplb daemon. `--check-config FILE` validates; `-c FILE` runs the
// dataplane until SIGINT/SIGTERM, and SIGHUP reloads the services of FILE.
//
// Exit codes: 0 success (also a clean stop), 1 invalid configuration or a
// start-up failure (the message names the config key), 2 command-line misuse.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>

#include "dplb/conf/loader.h"
#include "dplb/control/admin_commands.h"
#include "dplb/control/admin_server.h"
#include "dplb/dp/dataplane.h"
#include "dplb/dp/eal.h"
#include "dplb/dp/tcp_state.h"

#ifndef DPLB_VERSION
#define DPLB_VERSION "unknown"
#endif

namespace {

using dplb::conf::LogLevel;

constexpr int kExitOk = 0;
constexpr int kExitInvalid = 1;
constexpr int kExitUsage = 2;

spdlog::level::level_enum toSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::Trace:
      return spdlog::level::trace;
    case LogLevel::Debug:
      return spdlog::level::debug;
    case LogLevel::Info:
      return spdlog::level::info;
    case LogLevel::Warn:
      return spdlog::level::warn;
    case LogLevel::Error:
      return spdlog::level::err;
    case LogLevel::Critical:
      return spdlog::level::critical;
    case LogLevel::Off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

void printErrors(const dplb::conf::LoadResult& result) {
  for (const auto& e : result.errors) {
    std::cerr << e.str() << '\n';
  }
  std::cerr.flush();
}

std::string addrStr(uint32_t a) {
  return dplb::conf::Ipv4(a).str();
}

std::string_view protoName(dplb::dp::L4Proto p) {
  return p == dplb::dp::L4Proto::kUdp ? "udp" : "tcp";
}

nlohmann::json trafficJson(const dplb::dp::TrafficTotals& t) {
  return {{"conns", t.conns},
          {"inpkts", t.inPackets},
          {"outpkts", t.outPackets},
          {"inbytes", t.inBytes},
          {"outbytes", t.outBytes}};
}

// The `list` reply of admin/PROTOCOL.md. Rates are not reported yet (no
// estimator); dplbadm prints missing counters as 0.
nlohmann::json listReply(const dplb::dp::Dataplane& dp) {
  nlohmann::json services = nlohmann::json::array();
  for (const auto& sv : dp.listServices()) {
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
      const char* fwd = rs.fwd == dplb::dp::ForwardMode::kNat  ? "nat"
                        : rs.fwd == dplb::dp::ForwardMode::kDr ? "dr"
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
                         {"stats", trafficJson(rs.stats)}});
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
                        {"servers", servers}});
  }
  return {{"ok", true},
          {"version", DPLB_VERSION},
          {"conn_table_size", dp.connCapacity()},
          {"services", services}};
}

nlohmann::json connectionsReply(dplb::dp::Dataplane& dp) {
  nlohmann::json conns = nlohmann::json::array();
  for (const auto& c : dp.connections()) {
    std::string state = c.proto == dplb::dp::L4Proto::kUdp
                            ? "UDP"
                            : std::string(dplb::dp::tcpStateName(
                                  static_cast<dplb::dp::TcpState>(c.isTemplate ? 0 : c.state)));
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

int checkConfig(const std::string& file) {
  const auto result = dplb::conf::loadConfigFile(file);
  if (!result.ok()) {
    printErrors(result);
    return kExitInvalid;
  }
  std::cout << "OK" << std::endl;
  return kExitOk;
}

int runDaemon(const std::string& file, std::optional<LogLevel> levelOverride) {
  // Logs go to stderr (journald and terminals both take it); the level
  // applies as soon as it is known: the command line first, then the file.
  auto logger = spdlog::stderr_color_mt("dplbd");
  spdlog::set_default_logger(logger);
  if (levelOverride) {
    spdlog::set_level(toSpdlog(*levelOverride));
  }
  spdlog::info("dplbd {} loading {}", DPLB_VERSION, file);
  const auto result = dplb::conf::loadConfigFile(file);
  if (!result.ok()) {
    spdlog::error("{}: invalid configuration, {} problem{}:", file, result.errors.size(),
                  result.errors.size() == 1 ? "" : "s");
    printErrors(result);
    return kExitInvalid;
  }
  const auto& cfg = *result.config;
  spdlog::set_level(toSpdlog(levelOverride.value_or(cfg.logging.level)));
  size_t servers = 0;
  for (const auto& svc : cfg.services) {
    servers += svc.realServers.size();
  }
  spdlog::info("configuration valid: {} port(s), {} service(s), {} real server(s), lcores {}",
               cfg.dataplane.ports.size(), cfg.services.size(), servers, cfg.dataplane.lcores);
  if (cfg.dataplane.lcoreList.size() < 2) {
    spdlog::critical(
        "dataplane.lcores: \"{}\" has no worker lcore; give at least two (the "
        "first runs the control plane)",
        cfg.dataplane.lcores);
    return kExitInvalid;
  }

  // Signals are taken synchronously by sigwait() on this thread; block them
  // before the EAL starts its threads so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Writes to a peer that hung up (admin clients) fail with EPIPE instead.
  signal(SIGPIPE, SIG_IGN);

  if (std::string err = dplb::dp::initEal(cfg.dataplane, "dplbd"); !err.empty()) {
    spdlog::critical("{}", err);
    return kExitInvalid;
  }
  int rc = kExitOk;
  {
    dplb::dp::Dataplane dataplane;
    dplb::dp::DataplaneOptions options;
    options.workers = static_cast<unsigned>(cfg.dataplane.lcoreList.size() - 1);
    if (std::string err = dataplane.start(cfg, options); !err.empty()) {
      spdlog::critical("{}", err);
      dplb::dp::cleanupEal();
      return kExitInvalid;
    }
    if (std::string err = dataplane.launch(); !err.empty()) {
      spdlog::critical("{}", err);
      dataplane.stop();
      dplb::dp::cleanupEal();
      return kExitInvalid;
    }
    for (const auto& p : dataplane.ports().ports()) {
      spdlog::info("port {} up: DPDK port {}, {} rx / {} tx queue(s), MTU {}", p.name, p.portId,
                   p.rxQueues, p.txQueues, p.mtu);
    }
    spdlog::info("forwarding with {} worker(s)", dataplane.workerCount());
    // Reloads come from SIGHUP (main thread) and the admin socket (its
    // thread): one at a time.
    std::mutex reloadMutex;
    dplb::conf::Config running = cfg;
    auto reload = [&]() -> std::vector<std::string> {
      std::lock_guard lock(reloadMutex);
      auto next = dplb::conf::loadConfigFile(file);
      std::vector<std::string> errors;
      if (!next.ok()) {
        for (const auto& e : next.errors) {
          errors.push_back(e.str());
        }
      } else if (std::string err = dataplane.publish(*next.config); !err.empty()) {
        errors.push_back(err);
      } else {
        running = *next.config;
        spdlog::info("reload: {} service(s) active", running.services.size());
        return errors;
      }
      spdlog::error("reload of {} refused, nothing changed:", file);
      for (const auto& e : errors) {
        spdlog::error("  {}", e);
      }
      return errors;
    };

    const auto started = std::chrono::steady_clock::now();
    dplb::control::AdminServer admin;
    auto handler = [&](const nlohmann::json& req) -> nlohmann::json {
      const std::string cmd = req["cmd"].get<std::string>();
      if (cmd == "status") {
        nlohmann::json st;
        st["ok"] = true;
        st["version"] = DPLB_VERSION;
        st["uptime_s"] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        st["workers"] = dataplane.workerCount();
        st["conns"] = dataplane.connCount();
        st["conn_table_size"] = dataplane.connCapacity();
        uint64_t rx = 0, tx = 0;
        for (unsigned w = 0; w < dataplane.workerCount(); ++w) {
          rx += dataplane.workerStats(w).rxPackets.get();
          tx += dataplane.workerStats(w).txPackets.get();
        }
        st["rx_packets"] = rx;
        st["tx_packets"] = tx;
        nlohmann::json drops = nlohmann::json::object();
        auto d = dataplane.drops();
        for (size_t i = 0; i < d.size(); ++i) {
          if (d[i] != 0) {
            drops[std::string(dplb::pkt::dropReasonName(static_cast<dplb::pkt::DropReason>(i)))] =
                d[i];
          }
        }
        st["drops"] = drops;
        nlohmann::json ports = nlohmann::json::array();
        for (const auto& p : dataplane.portCounters()) {
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
        return st;
      }
      if (cmd == "list") {
        return listReply(dataplane);
      }
      if (cmd == "connections") {
        return connectionsReply(dataplane);
      }
      if (cmd == "get_timeout") {
        std::lock_guard lock(reloadMutex);
        const auto& t = running.dataplane.timeouts;
        return {{"ok", true},
                {"tcp", std::chrono::duration_cast<std::chrono::seconds>(t.tcpEstablished).count()},
                {"tcpfin", std::chrono::duration_cast<std::chrono::seconds>(t.tcpFinWait).count()},
                {"udp", std::chrono::duration_cast<std::chrono::seconds>(t.udp).count()}};
      }
      if (dplb::control::isMutation(cmd)) {
        // dplbadm's changes apply to the running model and go through the
        // same validation and publication as a reload; the file replaces
        // them on the next reload (documented in admin/PROTOCOL.md).
        std::lock_guard lock(reloadMutex);
        dplb::conf::Config next = running;
        std::string err = cmd == "restore" ? dplb::control::applyRestore(next, req)
                                           : dplb::control::applyAdminCommand(next, req);
        if (!err.empty()) {
          return {{"ok", false}, {"error", err}};
        }
        auto problems = dplb::conf::validateConfig(next);
        if (!problems.empty()) {
          nlohmann::json errors = nlohmann::json::array();
          for (const auto& e : problems) {
            errors.push_back(e.str());
          }
          return {{"ok", false}, {"error", "Invalid argument"}, {"errors", errors}};
        }
        if (std::string perr = dataplane.publish(next); !perr.empty()) {
          return {{"ok", false}, {"error", perr}};
        }
        running = std::move(next);
        spdlog::info("admin: {} applied, {} service(s) active", cmd, running.services.size());
        return {{"ok", true}};
      }
      if (cmd == "reload") {
        auto errors = reload();
        if (errors.empty()) {
          return {{"ok", true}};
        }
        return {{"ok", false}, {"error", "reload refused, nothing changed"}, {"errors", errors}};
      }
      return {{"ok", false}, {"error", "unknown command \"" + cmd + "\""}};
    };
    if (std::string err = admin.start(cfg.admin.socket, handler); !err.empty()) {
      spdlog::critical("{}", err);
      dataplane.stop();
      dplb::dp::cleanupEal();
      return kExitInvalid;
    }
    spdlog::info("admin socket {}", cfg.admin.socket);

    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) {
        continue;
      }
      if (sig == SIGHUP) {
        reload();
        continue;
      }
      spdlog::info("signal {}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    admin.stop();
    uint64_t rx = 0, tx = 0, conns = 0;
    for (unsigned w = 0; w < dataplane.workerCount(); ++w) {
      rx += dataplane.workerStats(w).rxPackets.get();
      tx += dataplane.workerStats(w).txPackets.get();
      conns += dataplane.workerStats(w).newConns.get();
    }
    uint64_t dropped = 0;
    for (uint64_t d : dataplane.drops()) {
      dropped += d;
    }
    spdlog::info("stopped: rx {} tx {} dropped {} packets, {} connections", rx, tx, dropped, conns);
    dataplane.stop();
  }
  dplb::dp::cleanupEal();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dplb: an LVS-style layer-4 load balancer on DPDK", "dplbd"};
  app.set_version_flag("--version", std::string("dplbd ") + DPLB_VERSION);

  std::string checkFile;
  std::string configFile;
  std::string levelName;
  auto* check = app.add_option("--check-config", checkFile,
                               "Validate FILE, print OK (exit 0) or every problem (exit 1)");
  check->type_name("FILE");
  auto* config = app.add_option("-c,--config", configFile, "Run with the configuration FILE");
  config->type_name("FILE");
  check->excludes(config);
  std::vector<std::string> levels;
  for (auto name : dplb::conf::logLevelNames()) {
    levels.emplace_back(name);
  }
  app.add_option("--log-level", levelName, "Log level, overrides logging.level of the config")
      ->type_name("LEVEL")
      ->check(CLI::IsMember(levels));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  if (!checkFile.empty()) {
    return checkConfig(checkFile);
  }
  if (!configFile.empty()) {
    std::optional<LogLevel> level;
    if (!levelName.empty()) {
      level = dplb::conf::logLevelFromString(levelName);
    }
    return runDaemon(configFile, level);
  }
  std::cerr << "dplbd: nothing to do; give -c FILE or --check-config FILE (see --help)\n";
  return kExitUsage;
}
