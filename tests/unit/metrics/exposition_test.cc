// The text exposition format 0.0.4: escaping, HELP/TYPE, sample values,
// histograms. Expected texts are written out in full.

#include "dplb/metrics/exposition.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

namespace dplb::metrics {
namespace {

TEST(ExpositionTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  struct Case {
    const char* what;
    std::string_view in;
    std::string_view out;
  };
  const Case cases[] = {
      {"plain", "web-1", "web-1"},
      {"backslash", R"(a\b)", R"(a\\b)"},
      {"quote", R"(say "hi")", R"(say \"hi\")"},
      {"newline", "two\nlines", R"(two\nlines)"},
      {"all three", "\\\"\n", R"(\\\"\n)"},
      {"utf-8 untouched", "caf\xc3\xa9", "caf\xc3\xa9"},
      {"empty", "", ""},
  };
  for (const auto& c : cases) {
    std::string s;
    appendEscapedLabelValue(s, c.in);
    EXPECT_EQ(s, c.out) << c.what;
  }
}

TEST(ExpositionTest, HelpEscapesBackslashAndNewlineButNotQuotes) {
  std::string s;
  appendEscapedHelp(s, "a \"quoted\" \\ path\nsecond");
  EXPECT_EQ(s, R"(a "quoted" \\ path\nsecond)");
}

TEST(ExpositionTest, FamilyHasHelpThenTypeThenItsSamples) {
  TextWriter w;
  w.beginFamily("dplb_things_total", MetricType::kCounter, "Things \\ done.\nReally.");
  w.sample(LabelSet().add("service", "web").add("vip", "10.0.0.100"), uint64_t{42});
  w.sample(LabelSet().add("service", "a\"b"), 7u);
  w.beginFamily("dplb_level", MetricType::kGauge, "A level.");
  w.sample(LabelSet(), -3);
  w.sample(LabelSet().add("x", "1"), 0.25);
  w.beginFamily("dplb_drops_total", MetricType::kCounter, "Drops.");
  w.sample(LabelSet(), "reason", "no_route", 5);
  w.sample(LabelSet().add("worker", "0"), "reason", "bad\\x", 6);
  EXPECT_EQ(w.text(),
            "# HELP dplb_things_total Things \\\\ done.\\nReally.\n"
            "# TYPE dplb_things_total counter\n"
            "dplb_things_total{service=\"web\",vip=\"10.0.0.100\"} 42\n"
            "dplb_things_total{service=\"a\\\"b\"} 7\n"
            "# HELP dplb_level A level.\n"
            "# TYPE dplb_level gauge\n"
            "dplb_level -3\n"
            "dplb_level{x=\"1\"} 0.25\n"
            "# HELP dplb_drops_total Drops.\n"
            "# TYPE dplb_drops_total counter\n"
            "dplb_drops_total{reason=\"no_route\"} 5\n"
            "dplb_drops_total{worker=\"0\",reason=\"bad\\\\x\"} 6\n");
}

TEST(ExpositionTest, ValuesKeepFullPrecisionAndSpellSpecialFloats) {
  struct Case {
    double in;
    std::string_view out;
  };
  const Case cases[] = {
      {0, "0"},
      {1, "1"},
      {2.5, "2.5"},
      {0.0005, "0.0005"},
      {1764042438.125, "1764042438.125"},
      {1e20, "1e+20"},
      {-0.5, "-0.5"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::nan(""), "NaN"},
  };
  for (const auto& c : cases) {
    std::string s;
    appendDouble(s, c.in);
    EXPECT_EQ(s, c.out);
  }
  TextWriter w;
  w.beginFamily("big_total", MetricType::kCounter, "h");
  w.sample(LabelSet(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(w.text(),
            "# HELP big_total h\n# TYPE big_total counter\nbig_total 18446744073709551615\n");
}

TEST(ExpositionTest, HistogramHasCumulativeBucketsInfSumAndCount) {
  TextWriter w;
  w.beginFamily("dplb_probe_latency_seconds", MetricType::kHistogram, "Probe time.");
  const std::array<double, 3> bounds{0.0005, 0.01, 1};
  // 1 observation <= 0.5 ms, 3 <= 10 ms, 4 <= 1 s, 6 in all (2 above 1 s).
  const std::array<uint64_t, 3> cumulative{1, 3, 4};
  w.histogram(LabelSet().add("server", "10.0.0.11"), bounds, cumulative, 6, 4.75);
  EXPECT_EQ(w.text(),
            "# HELP dplb_probe_latency_seconds Probe time.\n"
            "# TYPE dplb_probe_latency_seconds histogram\n"
            "dplb_probe_latency_seconds_bucket{server=\"10.0.0.11\",le=\"0.0005\"} 1\n"
            "dplb_probe_latency_seconds_bucket{server=\"10.0.0.11\",le=\"0.01\"} 3\n"
            "dplb_probe_latency_seconds_bucket{server=\"10.0.0.11\",le=\"1\"} 4\n"
            "dplb_probe_latency_seconds_bucket{server=\"10.0.0.11\",le=\"+Inf\"} 6\n"
            "dplb_probe_latency_seconds_sum{server=\"10.0.0.11\"} 4.75\n"
            "dplb_probe_latency_seconds_count{server=\"10.0.0.11\"} 6\n");
}

TEST(ExpositionTest, HistogramWithoutLabels) {
  TextWriter w;
  w.beginFamily("h_seconds", MetricType::kHistogram, "h");
  const std::array<double, 1> bounds{0.1};
  const std::array<uint64_t, 1> cumulative{0};
  w.histogram(LabelSet(), bounds, cumulative, 0, 0);
  EXPECT_EQ(w.text(),
            "# HELP h_seconds h\n# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"0.1\"} 0\nh_seconds_bucket{le=\"+Inf\"} 0\n"
            "h_seconds_sum 0\nh_seconds_count 0\n");
}

}  // namespace
}  // namespace dplb::metrics
