// dplb-schedsim: replays a scheduler scenario and prints the decisions, so
// any dplb scheduler can be diffed against a reference (Linux IPVS or a
// model of it). See schedsim.h for the language.
//
//   dplb-schedsim [--mh-table-size N] [SCENARIO|-]
//
// Exit: 0 done, 1 bad command line or unreadable file, 2 malformed scenario.

#include <charconv>
#include <fstream>
#include <iostream>
#include <string_view>

#include "schedsim.h"

namespace {

constexpr std::string_view kUsage =
    "usage: dplb-schedsim [--mh-table-size N] [SCENARIO|-]\n"
    "Replays a scheduler scenario (file or stdin) and prints one line per conn:\n"
    "'<id> <ip>:<port>' or '<id> none'.\n";

}  // namespace

int main(int argc, char** argv) {
  dplb::sched::sim::SimOptions options;
  std::string_view path = "-";
  bool havePath = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--mh-table-size" && i + 1 < argc) {
      const std::string_view v = argv[++i];
      const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), options.mhTableSize);
      if (ec != std::errc() || ptr != v.data() + v.size()) {
        std::cerr << "dplb-schedsim: bad --mh-table-size '" << v << "'\n";
        return 1;
      }
      continue;
    }
    if ((arg.size() > 1 && arg.front() == '-') || havePath) {
      std::cerr << kUsage;
      return 1;
    }
    path = arg;
    havePath = true;
  }
  if (path == "-") {
    return dplb::sched::sim::runScenario(std::cin, std::cout, std::cerr, options);
  }
  std::ifstream file{std::string(path)};
  if (!file) {
    std::cerr << "dplb-schedsim: cannot open '" << path << "'\n";
    return 1;
  }
  return dplb::sched::sim::runScenario(file, std::cout, std::cerr, options);
}
