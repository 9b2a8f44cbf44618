// dplbadm --status prints the health part of the status reply.

#include <gtest/gtest.h>

#include "dplb/admin/format.h"

namespace dplb::admin {
namespace {

using nlohmann::json;

TEST(StatusFormat, PrintsServersHealthAndActiveSorryServers) {
  json reply = {{"ok", true},
                {"version", "0.1.0"},
                {"uptime_s", 61.0},
                {"workers", 1},
                {"conns", 0},
                {"rx_packets", 0},
                {"tx_packets", 0},
                {"servers",
                 {{{"protocol", "tcp"},
                   {"service", "10.0.0.100:80"},
                   {"name", "web"},
                   {"server", "10.0.1.11:8080"},
                   {"health", "down"},
                   {"weight", 0},
                   {"configured_weight", 3},
                   {"removed", false},
                   {"check", "http"},
                   {"since_s", 4.2},
                   {"last", "fail"},
                   {"reason", "connection refused"},
                   {"latency_s", 0.0004}},
                  {{"protocol", "tcp"},
                   {"service", "10.0.0.100:80"},
                   {"server", "10.0.1.12:8080"},
                   {"health", "down"},
                   {"weight", 0},
                   {"configured_weight", 2},
                   {"removed", true},
                   {"check", "tcp"},
                   {"since_s", 1.0}},
                  {{"protocol", "udp"},
                   {"service", "10.0.0.100:53"},
                   {"server", "10.0.1.13:53"},
                   {"health", "unchecked"},
                   {"weight", 1},
                   {"configured_weight", 1},
                   {"removed", false}}}},
                {"quorum",
                 {{{"protocol", "tcp"},
                   {"service", "10.0.0.100:80"},
                   {"name", "web"},
                   {"live_weight", 0},
                   {"quorum", 1},
                   {"sorry", true}},
                  {{"protocol", "udp"},
                   {"service", "10.0.0.100:53"},
                   {"name", "dns"},
                   {"live_weight", 1},
                   {"quorum", 1},
                   {"sorry", false}}}}};
  EXPECT_EQ(formatStatus(reply),
            "dplbd version 0.1.0\n"
            "uptime: 0d 00h01m01s\n"
            "workers: 1\n"
            "connections: 0\n"
            "packets: rx 0 tx 0\n"
            "real servers:\n"
            "  TCP 10.0.0.100:80 -> 10.0.1.11:8080 down http weight 0/3 since 4s last fail "
            "0.4ms: connection refused\n"
            "  TCP 10.0.0.100:80 -> 10.0.1.12:8080 down tcp removed (weight 2) since 1s\n"
            "  UDP 10.0.0.100:53 -> 10.0.1.13:53 unchecked weight 1/1\n"
            "TCP 10.0.0.100:80 (web): live weight 0, quorum 1: sorry server active\n");
}

}  // namespace
}  // namespace dplb::admin
