#pragma once

// Builds the metric families one scrape returns, as prometheus-cpp values
// (prometheus::MetricFamily); prometheus-cpp's TextSerializer writes them in
// the text exposition format 0.0.4 and its Exposer serves them.
//
// Contract: beginFamily() starts a family; every sample() / histogram() until
// the next beginFamily() belongs to it, so a family's samples stay together
// (the format requires it). Counter family names end in `_total` (the
// caller's job; the unit tests and `promtool check metrics` hold the
// collector to it). A histogram takes cumulative bucket counts, as Prometheus
// defines them, and gets its `+Inf` bucket (= count) here. Control plane
// only: it allocates.

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dplb::metrics {

using prometheus::MetricType;

// A label set built once and reused by every family with the same labels (a
// real server has the same labels in a dozen families).
class LabelSet {
 public:
  LabelSet() = default;
  LabelSet& add(std::string_view name, std::string_view value);
  const std::vector<prometheus::ClientMetric::Label>& labels() const { return labels_; }
  bool empty() const { return labels_.empty(); }

 private:
  std::vector<prometheus::ClientMetric::Label> labels_;
};

class FamilyWriter {
 public:
  void beginFamily(std::string_view name, MetricType type, std::string_view help);

  // One sample of the current (counter or gauge) family. Prometheus values
  // are doubles: counters above 2^53 lose their last digits, as in every
  // Prometheus client.
  template <typename T>
  requires std::integral<T> || std::floating_point<T>
  void sample(const LabelSet& labels, T value) { add(labels, static_cast<double>(value)); }
  // A sample with one more label after `labels` (e.g. reason="no_route").
  void sample(const LabelSet& labels, std::string_view extraName, std::string_view extraValue,
              uint64_t value);

  // One histogram of the current (histogram) family: `cumulative[i]` counts
  // the observations <= bounds[i]; bounds ascending.
  void histogram(const LabelSet& labels, std::span<const double> bounds,
                 std::span<const uint64_t> cumulative, uint64_t count, double sum);

  const std::vector<prometheus::MetricFamily>& families() const { return families_; }
  std::vector<prometheus::MetricFamily> take() { return std::move(families_); }

 private:
  void add(const LabelSet& labels, double value);

  std::vector<prometheus::MetricFamily> families_;
};

// The text format of `families` (prometheus-cpp's TextSerializer).
std::string serialize(const std::vector<prometheus::MetricFamily>& families);

}  // namespace dplb::metrics
