#include "dplb/metrics/exposition.h"

#include <fmt/format.h>

#include <cassert>
#include <cmath>
#include <iterator>

namespace dplb::metrics {

std::string_view toString(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void appendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void appendEscapedHelp(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void appendDouble(std::string& out, double v) {
  // The spellings Go's strconv.ParseFloat (Prometheus' parser) accepts.
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    // fmt's shortest round-trip form: 0.0005, 1, 2.5, 1e+20.
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

LabelSet& LabelSet::add(std::string_view name, std::string_view value) {
  if (!text_.empty()) {
    text_ += ',';
  }
  text_ += name;
  text_ += "=\"";
  appendEscapedLabelValue(text_, value);
  text_ += '"';
  return *this;
}

void TextWriter::beginFamily(std::string_view name, MetricType type, std::string_view help) {
  family_.assign(name);
  type_ = type;
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  appendEscapedHelp(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += toString(type);
  out_ += '\n';
}

void TextWriter::sampleStart(const LabelSet& labels, std::string_view suffix,
                             std::string_view extraName, std::string_view extraValue) {
  assert(!family_.empty() && "sample() before beginFamily()");
  out_ += family_;
  out_ += suffix;
  const bool extra = !extraName.empty();
  if (!labels.empty() || extra) {
    out_ += '{';
    out_ += labels.str();
    if (extra) {
      if (!labels.empty()) {
        out_ += ',';
      }
      out_ += extraName;
      out_ += "=\"";
      appendEscapedLabelValue(out_, extraValue);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void TextWriter::appendUint(uint64_t v) {
  fmt::format_to(std::back_inserter(out_), "{}", v);
}

void TextWriter::appendInt(int64_t v) {
  fmt::format_to(std::back_inserter(out_), "{}", v);
}

void TextWriter::sample(const LabelSet& labels, std::string_view extraName,
                        std::string_view extraValue, uint64_t value) {
  sampleStart(labels, {}, extraName, extraValue);
  appendUint(value);
  out_ += '\n';
}

void TextWriter::histogram(const LabelSet& labels, std::span<const double> bounds,
                           std::span<const uint64_t> cumulative, uint64_t count, double sum) {
  assert(type_ == MetricType::kHistogram);
  assert(bounds.size() == cumulative.size());
  std::string le;
  for (size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
    le.clear();
    appendDouble(le, bounds[i]);
    sampleStart(labels, "_bucket", "le", le);
    appendUint(cumulative[i]);
    out_ += '\n';
  }
  sampleStart(labels, "_bucket", "le", "+Inf");
  appendUint(count);
  out_ += '\n';
  sampleStart(labels, "_sum", {}, {});
  appendDouble(out_, sum);
  out_ += '\n';
  sampleStart(labels, "_count", {}, {});
  appendUint(count);
  out_ += '\n';
}

}  // namespace dplb::metrics
