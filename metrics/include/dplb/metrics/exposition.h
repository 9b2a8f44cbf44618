#pragma once

// The Prometheus text exposition format, version 0.0.4: what a scrape of
// /metrics returns (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Contract: a TextWriter appends to one string. beginFamily() writes the
// family's `# HELP` and `# TYPE` lines; every sample() / histogram() until the
// next beginFamily() belongs to that family, so a family's samples are always
// together (the format requires it). Label values and HELP texts are escaped
// here (label values: backslash, double quote, newline; HELP: backslash and
// newline). Counter family names end in `_total` (the caller's job; the unit
// tests and `promtool check metrics` hold the collector to it). A histogram
// takes cumulative bucket counts, as Prometheus defines them, and adds the
// `+Inf` bucket (= count) itself. Control plane only: it allocates.

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace dplb::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

std::string_view toString(MetricType t);

// Appends value with the escapes of a label value (\\, \", \n).
void appendEscapedLabelValue(std::string& out, std::string_view value);
// Appends text with the escapes of a HELP line (\\, \n).
void appendEscapedHelp(std::string& out, std::string_view text);
// A sample value: shortest round-trip decimal, or +Inf, -Inf, NaN.
void appendDouble(std::string& out, double v);

// A preformatted label set `a="x",b="y"` (escaped once, reused by every
// family that has the same labels: the collector renders thousands of series
// with a handful of label sets per real server).
class LabelSet {
 public:
  LabelSet() = default;
  LabelSet& add(std::string_view name, std::string_view value);
  const std::string& str() const { return text_; }
  bool empty() const { return text_.empty(); }

 private:
  std::string text_;
};

class TextWriter {
 public:
  explicit TextWriter(size_t reserve = 0) { out_.reserve(reserve); }

  void beginFamily(std::string_view name, MetricType type, std::string_view help);

  // One sample of the current (counter or gauge) family.
  template <typename T>
  requires std::integral<T> || std::floating_point<T>
  void sample(const LabelSet& labels, T value) {
    sampleStart(labels, {}, {}, {});
    if constexpr (std::floating_point<T>) {
      appendDouble(out_, static_cast<double>(value));
    } else if constexpr (std::signed_integral<T>) {
      appendInt(static_cast<int64_t>(value));
    } else {
      appendUint(static_cast<uint64_t>(value));
    }
    out_ += '\n';
  }
  // A sample with one more label after `labels` (e.g. reason="no_route").
  void sample(const LabelSet& labels, std::string_view extraName, std::string_view extraValue,
              uint64_t value);

  // One histogram of the current (histogram) family: `cumulative[i]` counts
  // the observations <= bounds[i]; bounds ascending.
  void histogram(const LabelSet& labels, std::span<const double> bounds,
                 std::span<const uint64_t> cumulative, uint64_t count, double sum);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void sampleStart(const LabelSet& labels, std::string_view suffix, std::string_view extraName,
                   std::string_view extraValue);
  void appendUint(uint64_t v);
  void appendInt(int64_t v);

  std::string out_;
  std::string family_;
  MetricType type_ = MetricType::kGauge;
};

}  // namespace dplb::metrics
