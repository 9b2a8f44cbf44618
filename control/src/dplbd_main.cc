// dplbd: the dplb daemon. For now it loads and validates a configuration;
// forwarding arrives with the dataplane and daemon issues.
//
// Exit codes: 0 success, 1 invalid configuration (or, for -c, the daemon
// cannot run yet), 2 command-line misuse.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "dplb/conf/loader.h"

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
  spdlog::critical("forwarding is not implemented yet; exiting");
  return kExitInvalid;
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
