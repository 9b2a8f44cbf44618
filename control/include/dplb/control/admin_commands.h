#pragma once

// The mutations of admin/PROTOCOL.md (dplbadm -A -E -D -a -e -d -C -R
// --set) applied to a configuration model. `zero` (-Z) is accepted and only
// checks that its service exists: counters are not configuration, the Daemon
// zeroes them.
//
// Contract: applyAdminCommand() changes `config` for one request and returns
// "" or the error in IPVS's words ("Service already exists", "No such
// destination", ...); on error `config` may be partly changed, so callers work
// on a copy and publish it only when every command and validateConfig()
// succeeded (restore = all or nothing). No I/O, no DPDK: unit-tested alone.

#include <nlohmann/json.hpp>
#include <string>

#include "dplb/conf/config.h"

namespace dplb::control {

std::string applyAdminCommand(conf::Config& config, const nlohmann::json& request);

// Every command of a restore request in order; the error names the command.
std::string applyRestore(conf::Config& config, const nlohmann::json& request);

// True for the commands applyAdminCommand() handles.
bool isMutation(const std::string& cmd);

}  // namespace dplb::control
