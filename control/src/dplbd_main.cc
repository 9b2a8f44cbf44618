// dplbd: the dplb daemon. `--check-config FILE` validates; `-c FILE` runs the
// dataplane until SIGINT/SIGTERM, and SIGHUP reloads the services of FILE
// (and its connection timeouts; the rest of `dataplane` needs a restart).
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
#include <memory>
#include <optional>
#include <string>

#include "dplb/conf/loader.h"
#include "dplb/control/admin_server.h"
#include "dplb/control/daemon.h"
#include "dplb/control/health_manager.h"
#include "dplb/dp/dataplane.h"
#include "dplb/dp/eal.h"
#include "dplb/metrics/collector.h"
#include "dplb/metrics/exposer.h"

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
    // Reloads come from SIGHUP (this thread) and the admin socket (its
    // thread); the Daemon serialises them.
    dplb::control::Daemon daemon(file, cfg, dataplane);
    // Health checks: the manager's verdicts are the Daemon's overlay; a
    // transition republishes from the manager's thread, never from inside a
    // Daemon hook (those run with the Daemon's mutex held).
    dplb::control::HealthManager::Options hcOptions;
    hcOptions.republish = [&daemon] {
      if (std::string err = daemon.republish(); !err.empty()) {
        spdlog::error("health: publishing the new weights failed (retrying): {}", err);
        return false;
      }
      return true;
    };
    dplb::control::HealthManager health(cfg, std::move(hcOptions));
    daemon.setOverlay([&health](const dplb::conf::Config& base) { return health.overlay(base); });
    daemon.setBaseListener([&health](const dplb::conf::Config& base) { health.setBase(base); });
    daemon.setHealthSource([&health] { return health.serverHealth(); },
                           [&health] { return health.serviceHealth(); });
    // Quorum may already be short at start (a sorry server from the first
    // second); publish base + overlay once before probing starts.
    if (std::string err = daemon.republish(); !err.empty()) {
      spdlog::error("health: publishing the initial weights failed: {}", err);
    }
    health.start();
    dplb::control::AdminServer admin;
    auto handler = [&](const nlohmann::json& req) { return daemon.handle(req); };
    if (std::string err = admin.start(cfg.admin.socket, handler); !err.empty()) {
      spdlog::critical("{}", err);
      health.stop();
      dataplane.stop();
      dplb::dp::cleanupEal();
      return kExitInvalid;
    }
    spdlog::info("admin socket {}", cfg.admin.socket);
    dplb::metrics::Exposer metrics;
    if (cfg.metrics.listen) {
      auto collectable = std::make_shared<dplb::metrics::DaemonMetrics>(daemon);
      if (std::string err = metrics.start(*cfg.metrics.listen, collectable); !err.empty()) {
        spdlog::critical("{}", err);
        admin.stop();
        health.stop();
        dataplane.stop();
        dplb::dp::cleanupEal();
        return kExitInvalid;
      }
      daemon.setMetricsAddress(metrics.boundAddress());
      spdlog::info("metrics on http://{}/metrics", metrics.boundAddress());
    }

    // The main thread waits for signals and runs the rate estimators' 2 s
    // tick (IPVS's estimation timer) between them.
    using Clock = std::chrono::steady_clock;
    const auto interval = dplb::control::RateEstimator::kInterval;
    auto nextTick = Clock::now() + interval;
    for (;;) {
      const auto now = Clock::now();
      if (now >= nextTick) {
        daemon.tickRates();
        nextTick += interval;
        if (nextTick <= now) {
          nextTick = now + interval;  // fell behind (suspend): no burst of ticks
        }
        continue;
      }
      const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(nextTick - now);
      timespec ts{};
      ts.tv_sec = static_cast<time_t>(wait.count() / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(wait.count() % 1'000'000'000);
      const int sig = sigtimedwait(&signals, nullptr, &ts);
      if (sig < 0) {
        continue;  // timeout (EAGAIN) or EINTR
      }
      if (sig == SIGHUP) {
        daemon.reload();
        continue;
      }
      spdlog::info("signal {}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    admin.stop();
    metrics.stop();
    health.stop();
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
