#pragma once

// EAL start-up from the config.
//
// Contract: buildEalArgs() turns DataplaneConfig (lcores, eal_args) into the
// argv rte_eal_init() takes; initEal() runs it once per process and reports
// failures as text naming the config key at fault, never by exiting. Ports are
// NOT passed to the EAL as --vdev/-a: PortSet probes each `device` string
// itself, so a bad device is reported against dataplane.ports[i].device.

#include <string>
#include <vector>

#include "dplb/conf/config.h"

namespace dplb::dp {

std::vector<std::string> buildEalArgs(const conf::DataplaneConfig& dp, const std::string& prog);

// Returns an empty string on success, else the reason (e.g. "dataplane.lcores:
// lcore 7 does not exist on this machine (4 CPUs)").
std::string initEal(const conf::DataplaneConfig& dp, const std::string& prog);

// rte_eal_cleanup(); safe to call when initEal() failed or was never called.
void cleanupEal();

}  // namespace dplb::dp
