// YAML spellings of the model's enums.

#include <array>
#include <utility>

#include "dplb/conf/config.h"

namespace dplb::conf {
namespace {

template <typename E, size_t N>
using NameTable = std::array<std::pair<E, std::string_view>, N>;

constexpr NameTable<HealthCheckType, 7> kHealthCheckTypes{{
    {HealthCheckType::Tcp, "tcp"},
    {HealthCheckType::Http, "http"},
    {HealthCheckType::Https, "https"},
    {HealthCheckType::Udp, "udp"},
    {HealthCheckType::Dns, "dns"},
    {HealthCheckType::Exec, "exec"},
    {HealthCheckType::NodePort, "nodeport"},
}};

constexpr NameTable<Protocol, 2> kProtocols{{{Protocol::Tcp, "tcp"}, {Protocol::Udp, "udp"}}};

constexpr NameTable<Forward, 3> kForwards{
    {{Forward::Nat, "nat"}, {Forward::Dr, "dr"}, {Forward::Tun, "tun"}}};

constexpr NameTable<Scheduler, 13> kSchedulers{{
    {Scheduler::Rr, "rr"},
    {Scheduler::Wrr, "wrr"},
    {Scheduler::Lc, "lc"},
    {Scheduler::Wlc, "wlc"},
    {Scheduler::Lblc, "lblc"},
    {Scheduler::Lblcr, "lblcr"},
    {Scheduler::Dh, "dh"},
    {Scheduler::Sh, "sh"},
    {Scheduler::Sed, "sed"},
    {Scheduler::Nq, "nq"},
    {Scheduler::Mh, "mh"},
    {Scheduler::Fo, "fo"},
    {Scheduler::Ovf, "ovf"},
}};

constexpr NameTable<LogLevel, 7> kLogLevels{{
    {LogLevel::Trace, "trace"},
    {LogLevel::Debug, "debug"},
    {LogLevel::Info, "info"},
    {LogLevel::Warn, "warn"},
    {LogLevel::Error, "error"},
    {LogLevel::Critical, "critical"},
    {LogLevel::Off, "off"},
}};

template <typename E, size_t N>
std::string_view nameOf(const NameTable<E, N>& table, E v) {
  for (const auto& [e, name] : table) {
    if (e == v) {
      return name;
    }
  }
  return "?";
}

template <typename E, size_t N>
std::optional<E> valueOf(const NameTable<E, N>& table, std::string_view s) {
  for (const auto& [e, name] : table) {
    if (name == s) {
      return e;
    }
  }
  return std::nullopt;
}

template <typename E, size_t N>
std::vector<std::string_view> namesOf(const NameTable<E, N>& table) {
  std::vector<std::string_view> out;
  for (const auto& entry : table) {
    out.push_back(entry.second);
  }
  return out;
}

}  // namespace

std::string_view toString(HealthCheckType v) {
  return nameOf(kHealthCheckTypes, v);
}
std::string_view toString(Protocol v) {
  return nameOf(kProtocols, v);
}
std::string_view toString(Forward v) {
  return nameOf(kForwards, v);
}
std::string_view toString(Scheduler v) {
  return nameOf(kSchedulers, v);
}
std::string_view toString(LogLevel v) {
  return nameOf(kLogLevels, v);
}

std::string_view toString(OnFailure v) {
  return v == OnFailure::Quiesce ? "quiesce" : "remove";
}
std::string_view toString(ExpectMatch v) {
  return v == ExpectMatch::Exact ? "exact" : "prefix";
}
std::string_view toString(DigestAlgo v) {
  return v == DigestAlgo::Md5 ? "md5" : "sha256";
}

std::optional<HealthCheckType> healthCheckTypeFromString(std::string_view s) {
  return valueOf(kHealthCheckTypes, s);
}
std::optional<Protocol> protocolFromString(std::string_view s) {
  return valueOf(kProtocols, s);
}
std::optional<Forward> forwardFromString(std::string_view s) {
  return valueOf(kForwards, s);
}
std::optional<Scheduler> schedulerFromString(std::string_view s) {
  return valueOf(kSchedulers, s);
}
std::optional<LogLevel> logLevelFromString(std::string_view s) {
  return valueOf(kLogLevels, s);
}

const std::vector<std::string_view>& schedulerNames() {
  static const std::vector<std::string_view> kNames = namesOf(kSchedulers);
  return kNames;
}

const std::vector<std::string_view>& logLevelNames() {
  static const std::vector<std::string_view> kNames = namesOf(kLogLevels);
  return kNames;
}

}  // namespace dplb::conf
