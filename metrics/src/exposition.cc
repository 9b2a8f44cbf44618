#include "dplb/metrics/exposition.h"

#include <prometheus/text_serializer.h>

#include <limits>
#include <stdexcept>

namespace dplb::metrics {

LabelSet& LabelSet::add(std::string_view name, std::string_view value) {
  labels_.push_back({std::string(name), std::string(value)});
  return *this;
}

void FamilyWriter::beginFamily(std::string_view name, MetricType type, std::string_view help) {
  families_.push_back({std::string(name), std::string(help), type, {}});
}

void FamilyWriter::add(const LabelSet& labels, double value) {
  if (families_.empty()) {
    throw std::logic_error("metrics: a sample before its family");
  }
  auto& family = families_.back();
  prometheus::ClientMetric m;
  m.label = labels.labels();
  switch (family.type) {
    case MetricType::Counter:
      m.counter.value = value;
      break;
    case MetricType::Gauge:
      m.gauge.value = value;
      break;
    default:
      throw std::logic_error("metrics: a plain sample in family " + family.name);
  }
  family.metric.push_back(std::move(m));
}

void FamilyWriter::sample(const LabelSet& labels, std::string_view extraName,
                          std::string_view extraValue, uint64_t value) {
  LabelSet l = labels;
  l.add(extraName, extraValue);
  add(l, static_cast<double>(value));
}

void FamilyWriter::histogram(const LabelSet& labels, std::span<const double> bounds,
                             std::span<const uint64_t> cumulative, uint64_t count, double sum) {
  if (families_.empty() || families_.back().type != MetricType::Histogram ||
      bounds.size() != cumulative.size()) {
    throw std::logic_error("metrics: a histogram outside a histogram family");
  }
  prometheus::ClientMetric m;
  m.label = labels.labels();
  m.histogram.sample_count = count;
  m.histogram.sample_sum = sum;
  m.histogram.bucket.reserve(bounds.size() + 1);
  for (size_t i = 0; i < bounds.size(); ++i) {
    m.histogram.bucket.push_back({cumulative[i], bounds[i]});
  }
  m.histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
  families_.back().metric.push_back(std::move(m));
}

std::string serialize(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace dplb::metrics
