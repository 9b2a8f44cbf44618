// Value types of dplb::conf: addresses, durations, lcores, suggestions.

#include <gtest/gtest.h>

#include "dplb/conf/config.h"
#include "dplb/conf/types.h"

namespace dplb::conf {
namespace {

using namespace std::chrono_literals;

TEST(Ipv4Test, ParsesDottedQuadToHostOrder) {
  auto a = Ipv4::parse("10.0.1.11");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->value, 0x0A00010Bu);
  EXPECT_EQ(a->str(), "10.0.1.11");
  EXPECT_EQ(Ipv4::parse("0.0.0.0")->value, 0u);
  EXPECT_EQ(Ipv4::parse("255.255.255.255")->value, 0xFFFFFFFFu);
  EXPECT_EQ(Ipv4::fromOctets(192, 168, 1, 2).str(), "192.168.1.2");
}

TEST(Ipv4Test, RejectsMalformedWithReason) {
  struct Case {
    const char* text;
    const char* why;
  };
  const Case cases[] = {
      {"10.0.0.256", "256 is out of range 0..255"}, {"10.0.0", "four dot-separated numbers"},
      {"10.0.0.1.2", "four dot-separated numbers"}, {"10.0..1", "empty number"},
      {"10.0.0.1 ", "not a decimal number"},        {"010.0.0.1", "leading zero"},
      {"a.b.c.d", "not a decimal number"},          {"", "four dot-separated"},
      {"-1.0.0.0", "not a decimal number"},         {"2001:db8::1", "IPv6 is not supported yet"},
      {"::1", "IPv6 is not supported yet"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(Ipv4::parse(c.text, &why)) << c.text;
    EXPECT_NE(why.find(c.why), std::string::npos) << c.text << " -> " << why;
  }
}

TEST(Ipv4Test, UsableUnicast) {
  EXPECT_TRUE(Ipv4::parse("10.0.0.1")->isUnicastUsable());
  EXPECT_TRUE(Ipv4::parse("223.255.255.254")->isUnicastUsable());
  EXPECT_FALSE(Ipv4::parse("0.0.0.0")->isUnicastUsable());
  EXPECT_FALSE(Ipv4::parse("0.1.2.3")->isUnicastUsable());
  EXPECT_FALSE(Ipv4::parse("127.0.0.1")->isUnicastUsable());
  EXPECT_FALSE(Ipv4::parse("224.0.0.1")->isUnicastUsable());
  EXPECT_FALSE(Ipv4::parse("255.255.255.255")->isUnicastUsable());
}

TEST(PrefixTest, ParsesAndComputesNetwork) {
  auto p = Prefix::parse("10.0.1.2/24");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->len, 24);
  EXPECT_EQ(p->mask(), 0xFFFFFF00u);
  EXPECT_EQ(p->network().str(), "10.0.1.0");
  EXPECT_FALSE(p->isNetwork());
  EXPECT_TRUE(p->contains(*Ipv4::parse("10.0.1.200")));
  EXPECT_FALSE(p->contains(*Ipv4::parse("10.0.2.1")));
  EXPECT_EQ(p->str(), "10.0.1.2/24");
  auto def = Prefix::parse("0.0.0.0/0");
  ASSERT_TRUE(def);
  EXPECT_TRUE(def->isNetwork());
  EXPECT_TRUE(def->contains(*Ipv4::parse("8.8.8.8")));
  EXPECT_EQ(Prefix::parse("1.2.3.4/32")->mask(), 0xFFFFFFFFu);
}

TEST(PrefixTest, RejectsMalformed) {
  std::string why;
  EXPECT_FALSE(Prefix::parse("10.0.0.2", &why));
  EXPECT_NE(why.find("missing the /length"), std::string::npos);
  EXPECT_FALSE(Prefix::parse("10.0.0.0/33", &why));
  EXPECT_NE(why.find("0..32"), std::string::npos);
  EXPECT_FALSE(Prefix::parse("10.0.0.0/", &why));
  EXPECT_FALSE(Prefix::parse("10.0.0.0/08", &why));
  EXPECT_FALSE(Prefix::parse("10.0.0.300/8", &why));
  EXPECT_FALSE(Prefix::parse("2001:db8::/32", &why));
  EXPECT_EQ(why, "IPv6 is not supported yet");
}

TEST(MacAddrTest, ParsesAndFormats) {
  auto m = MacAddr::parse("02:00:00:AB:01:0b");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->str(), "02:00:00:ab:01:0b");
  EXPECT_FALSE(m->isMulticast());
  EXPECT_FALSE(m->isZero());
  EXPECT_TRUE(MacAddr::parse("01:00:5e:00:00:01")->isMulticast());
  EXPECT_TRUE(MacAddr::parse("00:00:00:00:00:00")->isZero());
  for (const char* bad : {"02:00:00:00:00", "02-00-00-00-00-01", "02:00:00:00:00:0g",
                          "2:00:00:00:00:01", "02:00:00:00:00:01:"}) {
    EXPECT_FALSE(MacAddr::parse(bad)) << bad;
  }
}

TEST(EndpointTest, ParsesAddressAndPort) {
  auto e = Endpoint::parse("127.0.0.1:9550");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->addr.str(), "127.0.0.1");
  EXPECT_EQ(e->port, 9550);
  EXPECT_EQ(e->str(), "127.0.0.1:9550");
  std::string why;
  EXPECT_FALSE(Endpoint::parse("127.0.0.1", &why));
  EXPECT_FALSE(Endpoint::parse("127.0.0.1:0", &why));
  EXPECT_FALSE(Endpoint::parse("127.0.0.1:65536", &why));
  EXPECT_FALSE(Endpoint::parse("[::1]:9550", &why));
  EXPECT_EQ(why, "IPv6 is not supported yet");
}

TEST(DurationTest, AcceptsUnitsAndPlainSeconds) {
  struct Case {
    const char* text;
    FineDuration value;
  };
  const Case cases[] = {
      {"2s", 2s},     {"500ms", 500ms},  {"1m", 1min},        {"1h", 1h},
      {"300", 300s},  {"0", 0s},         {"0s", 0s},          {"100us", 100us},
      {"1m30s", 90s}, {"1h2m3s", 3723s}, {"1s500ms", 1500ms},
  };
  for (const auto& c : cases) {
    auto d = parseDuration(c.text);
    ASSERT_TRUE(d) << c.text;
    EXPECT_EQ(*d, c.value) << c.text;
  }
}

TEST(DurationTest, RejectsOthersWithReason) {
  struct Case {
    const char* text;
    const char* why;
  };
  const Case cases[] = {
      {"2x", "unknown unit \"x\""},
      {"2 s", "no spaces"},
      {"1.5s", "fractions"},
      {"-1s", "negative"},
      {"s", "not a number"},
      {"", "empty"},
      {"2sec", "unknown unit \"sec\""},
      {"2d", "unknown unit \"d\""},
      {"10s5", "missing unit after 5"},
      {"1000000000", "longer than 1000 days"},
      {"24001h", "longer than 1000 days"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(parseDuration(c.text, &why)) << c.text;
    EXPECT_NE(why.find(c.why), std::string::npos) << c.text << " -> " << why;
  }
}

TEST(DurationTest, FormatsShortestExactSpelling) {
  EXPECT_EQ(formatDuration(Duration(0)), "0s");
  EXPECT_EQ(formatDuration(Duration(360s)), "6m");
  EXPECT_EQ(formatDuration(Duration(90s)), "1m30s");
  EXPECT_EQ(formatDuration(Duration(1500ms)), "1500ms");
  EXPECT_EQ(formatDuration(FineDuration(100us)), "100us");
  EXPECT_EQ(formatDuration(Duration(3723s)), "1h2m3s");
  // Round trip.
  for (auto d : {FineDuration(1h), FineDuration(2500us), FineDuration(61s)}) {
    EXPECT_EQ(*parseDuration(formatDuration(d)), d);
  }
}

TEST(LcoresTest, ExpandsListsAndRanges) {
  EXPECT_EQ(*expandLcores("0-1"), (std::vector<unsigned>{0, 1}));
  EXPECT_EQ(*expandLcores("0,2"), (std::vector<unsigned>{0, 2}));
  EXPECT_EQ(*expandLcores("4,0-2,1"), (std::vector<unsigned>{0, 1, 2, 4}));
  EXPECT_EQ(*expandLcores("7"), (std::vector<unsigned>{7}));
  std::string why;
  EXPECT_FALSE(expandLcores("", &why));
  EXPECT_FALSE(expandLcores("0-", &why));
  EXPECT_FALSE(expandLcores("2-1", &why));
  EXPECT_NE(why.find("backwards"), std::string::npos);
  EXPECT_FALSE(expandLcores("0,,1", &why));
  EXPECT_FALSE(expandLcores("1024", &why));
  EXPECT_NE(why.find("above 1023"), std::string::npos);
  EXPECT_FALSE(expandLcores("a", &why));
}

TEST(HelpersTest, IsPrime) {
  EXPECT_FALSE(isPrime(0));
  EXPECT_FALSE(isPrime(1));
  EXPECT_TRUE(isPrime(2));
  EXPECT_TRUE(isPrime(251));
  EXPECT_TRUE(isPrime(65537));
  EXPECT_FALSE(isPrime(65536));
  EXPECT_FALSE(isPrime(65535));
  EXPECT_TRUE(isPrime(131071));
  EXPECT_FALSE(isPrime(4294967297ULL));  // 641 x 6700417
}

TEST(HelpersTest, EditDistance) {
  EXPECT_EQ(editDistance("weight", "weight"), 0u);
  EXPECT_EQ(editDistance("wieght", "weight"), 1u);  // transposition
  EXPECT_EQ(editDistance("wight", "weight"), 1u);
  EXPECT_EQ(editDistance("", "abc"), 3u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

TEST(HelpersTest, SuggestsNearMissesOnly) {
  const std::vector<std::string_view> keys = {"address",     "port",        "weight",
                                              "u_threshold", "l_threshold", "health_check"};
  EXPECT_EQ(suggest("wieght", keys), "weight");
  EXPECT_EQ(suggest("adress", keys), "address");
  EXPECT_EQ(suggest("Port", keys), "port");
  EXPECT_EQ(suggest("health", keys), "health_check");  // truncation
  EXPECT_EQ(suggest("colour", keys), "");
  EXPECT_EQ(suggest("xy", keys), "");
  EXPECT_EQ(suggest("warning", logLevelNames()), "warn");
}

TEST(NamesTest, RoundTripEveryEnum) {
  for (auto name : schedulerNames()) {
    auto s = schedulerFromString(name);
    ASSERT_TRUE(s) << name;
    EXPECT_EQ(toString(*s), name);
  }
  EXPECT_EQ(schedulerNames().size(), 13u);
  for (auto name : logLevelNames()) {
    EXPECT_EQ(toString(*logLevelFromString(name)), name);
  }
  EXPECT_EQ(toString(*forwardFromString("tun")), "tun");
  EXPECT_EQ(toString(*protocolFromString("udp")), "udp");
  EXPECT_EQ(toString(*healthCheckTypeFromString("nodeport")), "nodeport");
  EXPECT_FALSE(schedulerFromString("WRR"));
  EXPECT_FALSE(forwardFromString("masq"));
}

}  // namespace
}  // namespace dplb::conf
