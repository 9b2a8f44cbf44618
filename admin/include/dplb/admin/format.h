#pragma once

// Text output of dplbadm: reply JSON (PROTOCOL.md) to the bytes ipvsadm
// prints, column widths and trailing spaces included. The one deliberate
// difference is the first line of a full listing, which names dplb and its
// version but keeps ipvsadm's "(size=N)" suffix so scripts that read the
// connection table size still find it. Names are never resolved: every
// address and port prints numerically, as with ipvsadm -n.
//
// Services are sorted by protocol (TCP before UDP), address, port and servers
// by address, port (libipvs's ipvs_cmp_services / ipvs_cmp_dests) unless
// format.noSort. Functions throw nlohmann::json::exception on a reply that
// lacks a required key.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "dplb/admin/cli.h"

namespace dplb::admin {

// ipvsadm's print_largenum: " %8llu"-wide numbers, shortened with K/M/G/T
// from 1e8 on unless exact.
std::string formatLargeNum(uint64_t value, bool exact);

// -L/-l (plain, --stats, --rate, --thresholds, --persistent-conn, --exact)
// from a "list" reply. `version` is used when the reply carries none.
std::string formatList(const nlohmann::json& reply, const ListFormat& format,
                       std::string_view version);

// -L -c from a "connections" reply.
std::string formatConnections(const nlohmann::json& reply);

// -L --timeout from a "get_timeout" reply.
std::string formatTimeout(const nlohmann::json& reply);

// -S from a "list" reply: ipvsadm-save lines, which parseRestore() reads back.
std::string formatSave(const nlohmann::json& reply, const ListFormat& format);

// --status from a "status" reply (dplb's own format).
std::string formatStatus(const nlohmann::json& reply);

}  // namespace dplb::admin
