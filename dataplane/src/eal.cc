#include "dplb/dp/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

namespace dplb::dp {
namespace {

bool ealInitialised = false;

bool hasLcoreOption(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "-l" || a == "-c" || a.rfind("--lcores", 0) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::string> buildEalArgs(const conf::DataplaneConfig& dp, const std::string& prog) {
  std::vector<std::string> args{prog};
  // The validator refuses -l/-c/--lcores in eal_args; this guard keeps a
  // hand-built config from passing the option twice.
  if (!hasLcoreOption(dp.ealArgs)) {
    args.push_back("-l");
    args.push_back(dp.lcores);
  }
  args.insert(args.end(), dp.ealArgs.begin(), dp.ealArgs.end());
  return args;
}

std::string initEal(const conf::DataplaneConfig& dp, const std::string& prog) {
  if (ealInitialised) {
    return "EAL already initialised in this process";
  }
  // -l maps lcore i to CPU i: each must be a CPU this process may run on
  // (CPU ids need not be contiguous; cgroups and taskset narrow the set).
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (!hasLcoreOption(dp.ealArgs) && sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    for (unsigned id : dp.lcoreList) {
      if (id >= CPU_SETSIZE || !CPU_ISSET(id, &allowed)) {
        return fmt::format(
            "dataplane.lcores: lcore {} is not a CPU this process may use ({} are available)", id,
            CPU_COUNT(&allowed));
      }
    }
  }
  std::vector<std::string> args = buildEalArgs(dp, prog);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  int rc = rte_eal_init(static_cast<int>(args.size()), argv.data());
  if (rc < 0) {
    // The EAL does not always set rte_errno (e.g. when another process holds
    // the same runtime directory); its own log lines above say more.
    return fmt::format("dataplane.eal_args / dataplane.lcores: EAL initialisation failed: {}",
                       rte_errno != 0
                           ? rte_strerror(rte_errno)
                           : "see the EAL messages above (is another DPDK process running with the "
                             "same --file-prefix?)");
  }
  ealInitialised = true;
  return {};
}

void cleanupEal() {
  if (ealInitialised) {
    rte_eal_cleanup();
    ealInitialised = false;
  }
}

}  // namespace dplb::dp
