#include "dplb/pkt/drop_reason.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

namespace dplb::pkt {
namespace {

TEST(DropReason, LabelsAreUniqueSnakeCaseMetricLabels) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    const auto r = static_cast<DropReason>(i);
    const std::string name{dropReasonName(r)};
    ASSERT_FALSE(name.empty());
    EXPECT_TRUE(std::islower(static_cast<unsigned char>(name.front()))) << name;
    for (char c : name) {
      EXPECT_TRUE(std::islower(static_cast<unsigned char>(c)) ||
                  std::isdigit(static_cast<unsigned char>(c)) || c == '_')
          << name;
    }
    EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
    EXPECT_FALSE(dropReasonHelp(r).empty()) << name;
    // NUL-terminated, so it can go to C APIs as is.
    EXPECT_EQ(dropReasonName(r).data()[name.size()], '\0');
  }
}

TEST(DropReason, NameRoundTrips) {
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    const auto r = static_cast<DropReason>(i);
    auto back = dropReasonFromName(dropReasonName(r));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, r);
  }
  EXPECT_FALSE(dropReasonFromName("no_such_reason").has_value());
  EXPECT_EQ(dropReasonName(static_cast<DropReason>(kDropReasonCount)), "unknown");
}

TEST(DropReason, ListCoversTheDataplaneReasons) {
  // The reasons the dataplane brief names; a rename here breaks dashboards.
  for (const char* name : {"truncated_ethernet",
                           "truncated_vlan",
                           "truncated_arp",
                           "truncated_ipv4",
                           "truncated_tcp",
                           "truncated_udp",
                           "truncated_icmp",
                           "bad_ip_version",
                           "bad_ihl",
                           "bad_ip_total_length",
                           "bad_ip_checksum",
                           "bad_tcp_data_offset",
                           "bad_udp_length",
                           "unsupported_ethertype",
                           "unsupported_ip_protocol",
                           "ttl_expired",
                           "no_route",
                           "no_dest",
                           "conn_table_full",
                           "not_syn",
                           "arp_queue_full",
                           "arp_timeout",
                           "tx_ring_full",
                           "mtu_exceeded",
                           "icmp_unsupported",
                           "not_for_us",
                           "handoff_ring_full",
                           "exception_path_off",
                           "reassembly_timeout",
                           "reassembly_table_full"}) {
    EXPECT_TRUE(dropReasonFromName(name).has_value()) << name;
  }
  static_assert(dropReasonName(DropReason::kTtlExpired) == "ttl_expired");
  static_assert(dropReasonName(DropReason::kNoDest) == "no_dest");
}

}  // namespace
}  // namespace dplb::pkt
