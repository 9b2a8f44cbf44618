#pragma once

// dplb-schedsim's engine, apart from main() so tests can run it in-process.
//
// Scenario language (issue 3), one command per line, '#' starts a comment,
// blank lines are ignored:
//   service <tcp|udp> <vip>:<port> sched <name> [flags <f1,f2,...>]   (first, once)
//   add <ip>:<port> weight <w> [uthreshold <u>] [lthreshold <l>]
//   edit <ip>:<port> weight <w> [uthreshold <u>] [lthreshold <l>]
//   del <ip>:<port>
//   conn <id> <client_ip>:<client_port> [dst <ip>]
//   established <id> | fin <id> | closed <id>
//   time <seconds>          (advance the clock by this much; decimals allowed)
//
// Output: exactly one line per conn, "<id> <ip>:<port>" or "<id> none".
//
// Decisions this engine makes where the language leaves room:
//  - a command IPVS would refuse (add of a listed server, edit or del of an
//    unlisted one, weight < 0, lthreshold > uthreshold) changes nothing, as
//    with ipvsadm, and gets a warning on stderr; the run goes on;
//  - established/fin/closed naming an id that is not bound are ignored
//    (a warning if the id never appeared in a conn line); established on a
//    UDP service does nothing (UDP connections never become active);
//  - a conn reusing an id that is still bound is malformed (exit 2);
//  - del drops the server's connections with it: they are forgotten, not
//    unbound, so the removed server keeps the counts it had (lblcr's set_max
//    still weighs a removed member with them); a server re-added with the
//    same address and port starts from zero connections;
//  - weights are ipvsadm's 0..65535, thresholds 0..2^32-1;
//  - the clock starts at 0 when the service is created.
// A malformed scenario prints "<prog>: line N: <why>" on stderr, nothing on
// stdout, and the result is 2.

#include <cstdint>
#include <iosfwd>

#include "dplb/sched/maglev.h"

namespace dplb::sched::sim {

struct SimOptions {
  uint32_t mhTableSize = kDefaultMhTableSize;
};

inline constexpr int kExitOk = 0;
inline constexpr int kExitMalformed = 2;

// Replays the scenario read from `in`; decisions go to `out` only when the
// whole scenario is well formed. Returns kExitOk or kExitMalformed.
int runScenario(std::istream& in, std::ostream& out, std::ostream& err, const SimOptions& options,
                const char* prog = "dplb-schedsim");

}  // namespace dplb::sched::sim
