// FamilyWriter: the metric families one scrape returns, as prometheus-cpp
// values, and their text (prometheus-cpp's TextSerializer). Expected texts
// are written out in full.

#include "dplb/metrics/exposition.h"

#include <gtest/gtest.h>

#include <array>
#include <limits>
#include <stdexcept>

namespace dplb::metrics {
namespace {

TEST(ExpositionTest, FamiliesKeepTheirSamplesTogetherWithTypesAndLabels) {
  FamilyWriter w;
  w.beginFamily("dplb_things_total", MetricType::Counter, "Things done.");
  w.sample(LabelSet().add("service", "web").add("vip", "10.0.0.100"), uint64_t{42});
  w.sample(LabelSet().add("service", "a\"b\\c\nd"), 7u);
  w.beginFamily("dplb_level", MetricType::Gauge, "A level.");
  w.sample(LabelSet(), -3);
  w.sample(LabelSet().add("x", "1"), 0.25);
  w.beginFamily("dplb_drops_total", MetricType::Counter, "Drops.");
  w.sample(LabelSet(), "reason", "no_route", 5);
  w.sample(LabelSet().add("worker", "0"), "reason", "bad", 6);

  const auto& f = w.families();
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].name, "dplb_things_total");
  EXPECT_EQ(f[0].type, MetricType::Counter);
  ASSERT_EQ(f[0].metric.size(), 2u);
  EXPECT_EQ(f[0].metric[0].counter.value, 42);
  ASSERT_EQ(f[0].metric[0].label.size(), 2u);
  EXPECT_EQ(f[0].metric[0].label[1].name, "vip");
  EXPECT_EQ(f[1].metric[0].gauge.value, -3);
  EXPECT_EQ(f[2].metric[1].label.back().value, "bad");

  EXPECT_EQ(serialize(f),
            "# HELP dplb_things_total Things done.\n"
            "# TYPE dplb_things_total counter\n"
            "dplb_things_total{service=\"web\",vip=\"10.0.0.100\"} 42\n"
            "dplb_things_total{service=\"a\\\"b\\\\c\\nd\"} 7\n"
            "# HELP dplb_level A level.\n"
            "# TYPE dplb_level gauge\n"
            "dplb_level -3\n"
            "dplb_level{x=\"1\"} 0.25\n"
            "# HELP dplb_drops_total Drops.\n"
            "# TYPE dplb_drops_total counter\n"
            "dplb_drops_total{reason=\"no_route\"} 5\n"
            "dplb_drops_total{worker=\"0\",reason=\"bad\"} 6\n");
}

TEST(ExpositionTest, HistogramHasCumulativeBucketsInfSumAndCount) {
  FamilyWriter w;
  w.beginFamily("dplb_probe_latency_seconds", MetricType::Histogram, "Probe time.");
  const std::array<double, 3> bounds{0.0005, 0.01, 1};
  // 1 observation <= 0.5 ms, 3 <= 10 ms, 4 <= 1 s, 6 in all (2 above 1 s).
  const std::array<uint64_t, 3> cumulative{1, 3, 4};
  w.histogram(LabelSet().add("server", "10.0.0.11"), bounds, cumulative, 6, 4.75);
  const auto& h = w.families().at(0).metric.at(0).histogram;
  EXPECT_EQ(h.sample_count, 6u);
  EXPECT_EQ(h.sample_sum, 4.75);
  ASSERT_EQ(h.bucket.size(), 4u);
  EXPECT_EQ(h.bucket[3].cumulative_count, 6u);
  EXPECT_EQ(h.bucket[3].upper_bound, std::numeric_limits<double>::infinity());
  EXPECT_EQ(serialize(w.families()),
            "# HELP dplb_probe_latency_seconds Probe time.\n"
            "# TYPE dplb_probe_latency_seconds histogram\n"
            "dplb_probe_latency_seconds_count{server=\"10.0.0.11\"} 6\n"
            "dplb_probe_latency_seconds_sum{server=\"10.0.0.11\"} 4.75\n"
            "dplb_probe_latency_seconds_bucket{server=\"10.0.0.11\",le=\"0.0005\"} 1\n"
            "dplb_probe_latency_seconds_bucket{server=\"10.0.0.11\",le=\"0.01\"} 3\n"
            "dplb_probe_latency_seconds_bucket{server=\"10.0.0.11\",le=\"1\"} 4\n"
            "dplb_probe_latency_seconds_bucket{server=\"10.0.0.11\",le=\"+Inf\"} 6\n");
}

TEST(ExpositionTest, MisuseIsAnErrorNotASilentlyWrongPage) {
  FamilyWriter w;
  EXPECT_THROW(w.sample(LabelSet(), 1), std::logic_error);  // no family yet
  w.beginFamily("g", MetricType::Gauge, "g");
  const std::array<double, 1> bounds{0.1};
  const std::array<uint64_t, 1> cumulative{0};
  EXPECT_THROW(w.histogram(LabelSet(), bounds, cumulative, 0, 0), std::logic_error);
  w.beginFamily("h_seconds", MetricType::Histogram, "h");
  EXPECT_THROW(w.sample(LabelSet(), 1), std::logic_error);
}

}  // namespace
}  // namespace dplb::metrics
