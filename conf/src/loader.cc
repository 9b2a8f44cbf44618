// YAML -> Config. The reader checks structure (kinds, known keys, value
// syntax and ranges) while building the model and records where each key
// path sits; the validator (validator.cc) then checks the rules that tie
// items together. Both report into one ErrorSink so the operator sees every
// problem, sorted by position, in one run.

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "diagnostics.h"
#include "dplb/conf/loader.h"

namespace dplb::conf {
namespace {

using detail::ErrorSink;
using detail::Pos;
using detail::SourceMap;
using Keys = std::vector<std::string_view>;

Pos posOf(const YAML::Mark& m) {
  if (m.line < 0 || m.column < 0) {
    return {};
  }
  return {m.line + 1, m.column + 1};
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string index(const std::string& path, size_t i) {
  return fmt::format("{}[{}]", path, i);
}

// "text" with control characters escaped and long values cut short, so an
// error line stays one line.
std::string quote(std::string_view s) {
  constexpr size_t kMax = 60;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) {
    out += "...";
  }
  return out + "\"";
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quote(n.Scalar());
    default:
      return "nothing";
  }
}

std::string listNames(const Keys& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      out += i + 1 == names.size() ? " or " : ", ";
    }
    out += names[i];
  }
  return out;
}

bool contains(const Keys& keys, std::string_view k) {
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

// A value in the document and where it is. For an empty value (`key:`)
// yaml-cpp marks the NEXT token, so `pos` is the key's position then.
struct Item {
  YAML::Node node;
  std::string path;
  Pos pos;
  Pos keyPos;  // position of the key that holds it (== pos for list items)
};

// ------------------------------------------------------------ health checks

const Keys kHcCommonKeys = {"type",  "interval",    "timeout", "rise",       "fall",
                            "retry", "retry_delay", "warmup",  "on_failure", "port"};
const Keys kHcHttpKeys = {"path", "host", "status", "digest", "contains"};
const Keys kHcTlsKeys = {"ca_file", "verify", "server_name", "client_cert", "client_key"};
const Keys kHcUdpKeys = {"payload", "expect", "expect_match"};
const Keys kHcDnsKeys = {"name", "query_type"};
const Keys kHcExecKeys = {"command", "dynamic"};
const Keys kHcNodePortKeys = {"path"};

bool hcKeyFits(HealthCheckType t, std::string_view key) {
  if (contains(kHcCommonKeys, key)) {
    return true;
  }
  switch (t) {
    case HealthCheckType::Tcp:
      return false;
    case HealthCheckType::Http:
      return contains(kHcHttpKeys, key);
    case HealthCheckType::Https:
      return contains(kHcHttpKeys, key) || contains(kHcTlsKeys, key);
    case HealthCheckType::Udp:
      return contains(kHcUdpKeys, key);
    case HealthCheckType::Dns:
      return contains(kHcDnsKeys, key);
    case HealthCheckType::Exec:
      return contains(kHcExecKeys, key);
    case HealthCheckType::NodePort:
      return contains(kHcNodePortKeys, key);
  }
  return false;
}

Keys allHcKeys() {
  Keys all = kHcCommonKeys;
  for (const Keys* set : {&kHcHttpKeys, &kHcTlsKeys, &kHcUdpKeys, &kHcDnsKeys, &kHcExecKeys}) {
    all.insert(all.end(), set->begin(), set->end());
  }
  return all;
}

std::string typesAccepting(std::string_view key) {
  Keys names;
  for (auto t :
       {HealthCheckType::Tcp, HealthCheckType::Http, HealthCheckType::Https, HealthCheckType::Udp,
        HealthCheckType::Dns, HealthCheckType::Exec, HealthCheckType::NodePort}) {
    if (hcKeyFits(t, key)) {
      names.push_back(toString(t));
    }
  }
  return listNames(names);
}

struct DnsType {
  std::string_view name;
  uint16_t code;
};
// RR type numbers from the IANA DNS parameters registry.
constexpr DnsType kDnsTypes[] = {{"A", 1},    {"NS", 2},     {"CNAME", 5}, {"SOA", 6},
                                 {"PTR", 12}, {"MX", 15},    {"TXT", 16},  {"AAAA", 28},
                                 {"SRV", 33}, {"NAPTR", 35}, {"CAA", 257}};

bool validDnsName(std::string_view name, std::string* why) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  if (name.empty() || name.size() > 253) {
    *why = "a DNS name has 1 to 253 characters";
    return false;
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    const std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63) {
      *why = "each dot-separated label has 1 to 63 characters";
      return false;
    }
    for (char c : label) {
      if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_') {
        *why = fmt::format("'{}' is not allowed in a DNS name", c);
        return false;
      }
    }
    start = end + 1;
  }
  return true;
}

bool validName(std::string_view s, size_t maxLen) {
  return !s.empty() && s.size() <= maxLen && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
  });
}

// PCI address ("0000:01:00.0" or "01:00.0") or a DPDK net vdev
// ("net_<driver><n>[,key=value...]").
bool validDevice(std::string_view dev, std::string* why) {
  auto hexRun = [&](size_t at, size_t n) {
    if (at + n > dev.size()) {
      return false;
    }
    for (size_t i = at; i < at + n; ++i) {
      if (std::isxdigit(static_cast<unsigned char>(dev[i])) == 0) {
        return false;
      }
    }
    return true;
  };
  auto isPci = [&](size_t at) {
    return dev.size() == at + 7 && hexRun(at, 2) && dev[at + 2] == ':' && hexRun(at + 3, 2) &&
           dev[at + 5] == '.' && dev[at + 6] >= '0' && dev[at + 6] <= '7';
  };
  if (isPci(0) || (hexRun(0, 4) && dev.size() > 4 && dev[4] == ':' && isPci(5))) {
    return true;
  }
  if (dev.rfind("net_", 0) == 0) {
    const size_t comma = dev.find(',');
    const std::string_view name = dev.substr(0, comma);
    if (name.size() <= 4 || !std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
        })) {
      *why = fmt::format("\"{}\" is not a DPDK device name like net_tap0", name);
      return false;
    }
    if (comma != std::string_view::npos) {
      std::string_view args = dev.substr(comma + 1);
      size_t start = 0;
      while (start <= args.size()) {
        size_t end = args.find(',', start);
        if (end == std::string_view::npos) {
          end = args.size();
        }
        const std::string_view arg = args.substr(start, end - start);
        if (arg.empty() || arg.front() == '=') {
          *why = "device arguments are comma-separated key=value pairs";
          return false;
        }
        start = end + 1;
      }
    }
    return true;
  }
  if (dev.find(',') == std::string_view::npos && validName(dev, 15)) {
    *why = fmt::format("for a kernel interface use net_af_packet0,iface={}", dev);
  }
  return false;
}

// ------------------------------------------------------------------- Reader

class Reader;

// One YAML map being read: unknown keys (with a suggestion) and duplicate
// keys are reported when it is opened; the caller then takes the values of
// the keys it knows.
class MapReader {
 public:
  struct Entry {
    std::string key;
    Item value;
  };

  // nullIsEmpty: an empty value (`key:`) reads as an empty map, for sections
  // whose keys all have defaults. Otherwise it is an error.
  MapReader(Reader& reader, const Item& item, const Keys& known, bool nullIsEmpty);

  bool valid() const { return valid_; }
  const Item& item() const { return item_; }
  const std::vector<Entry>& entries() const { return entries_; }
  const Item* get(std::string_view key) const {
    for (const auto& e : entries_) {
      if (e.key == key) {
        return &e.value;
      }
    }
    return nullptr;
  }
  // Like get(), but a missing key is reported (at the map).
  const Item* required(std::string_view key) const;

 private:
  Reader& reader_;
  Item item_;
  bool valid_ = true;
  std::vector<Entry> entries_;
};

class Reader {
 public:
  Reader(ErrorSink& sink, SourceMap& map) : sink_(sink), map_(map) {}

  ErrorSink& sink() { return sink_; }
  SourceMap& map() { return map_; }

  void error(const Item& it, std::string msg) { sink_.add(it.pos, it.path, std::move(msg)); }
  void errorAt(Pos pos, std::string path, std::string msg) {
    sink_.add(pos, std::move(path), std::move(msg));
  }
  void expected(const Item& it, std::string_view what, std::string_view why = {}) {
    std::string msg = fmt::format("expected {}, got {}", what, describe(it.node));
    if (!why.empty()) {
      msg += fmt::format(" ({})", why);
    }
    error(it, std::move(msg));
  }

  // --- scalars -----------------------------------------------------------

  std::optional<std::string> scalar(const Item& it, std::string_view what = "a string") {
    if (!it.node.IsScalar()) {
      expected(it, what);
      return std::nullopt;
    }
    return it.node.Scalar();
  }

  std::optional<std::string> nonEmpty(const Item& it, std::string_view what = "a string") {
    auto s = scalar(it, what);
    if (s && s->empty()) {
      expected(it, what);
      return std::nullopt;
    }
    return s;
  }

  std::optional<uint64_t> integer(const Item& it, uint64_t lo, uint64_t hi,
                                  std::string_view what = "an integer") {
    const std::string expectation = fmt::format("{} {}..{}", what, lo, hi);
    if (!it.node.IsScalar()) {
      expected(it, expectation);
      return std::nullopt;
    }
    const std::string& s = it.node.Scalar();
    uint64_t v = 0;
    bool ok = !s.empty() && s.size() <= 19;
    for (char c : s) {
      ok = ok && c >= '0' && c <= '9';
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok || v < lo || v > hi) {
      expected(it, expectation);
      return std::nullopt;
    }
    return v;
  }

  std::optional<uint16_t> port(const Item& it, uint16_t lo = 1) {
    auto v = integer(it, lo, 65535, "a port number");
    return v ? std::optional<uint16_t>(static_cast<uint16_t>(*v)) : std::nullopt;
  }

  std::optional<uint32_t> u32(const Item& it, uint32_t lo = 0,
                              uint32_t hi = std::numeric_limits<uint32_t>::max()) {
    auto v = integer(it, lo, hi);
    return v ? std::optional<uint32_t>(static_cast<uint32_t>(*v)) : std::nullopt;
  }

  std::optional<bool> boolean(const Item& it) {
    bool v = false;
    if (!it.node.IsScalar() || !YAML::convert<bool>::decode(it.node, v)) {
      expected(it, "true or false");
      return std::nullopt;
    }
    return v;
  }

  std::optional<FineDuration> fineDuration(const Item& it, FineDuration lo, FineDuration hi) {
    constexpr std::string_view kWhat = "a duration like 2s, 500ms or 1m";
    if (!it.node.IsScalar()) {
      expected(it, kWhat);
      return std::nullopt;
    }
    std::string why;
    auto d = parseDuration(it.node.Scalar(), &why);
    if (!d) {
      expected(it, kWhat, why);
      return std::nullopt;
    }
    if (*d < lo) {
      expected(it, fmt::format("a duration of at least {}", formatDuration(lo)));
      return std::nullopt;
    }
    if (*d > hi) {
      expected(it, fmt::format("a duration of at most {}", formatDuration(hi)));
      return std::nullopt;
    }
    return d;
  }

  std::optional<Duration> duration(const Item& it, Duration lo = Duration(0),
                                   Duration hi = std::chrono::hours(24 * 1000)) {
    auto d = fineDuration(it, lo, hi);
    if (!d) {
      return std::nullopt;
    }
    if (d->count() % 1000 != 0) {
      expected(it, "a whole number of milliseconds");
      return std::nullopt;
    }
    return std::chrono::duration_cast<Duration>(*d);
  }

  template <typename T>
  std::optional<T> parsed(const Item& it, std::string_view what,
                          std::optional<T> (*parse)(std::string_view, std::string*)) {
    if (!it.node.IsScalar()) {
      expected(it, what);
      return std::nullopt;
    }
    std::string why;
    auto v = parse(it.node.Scalar(), &why);
    if (!v) {
      if (why.rfind("IPv6", 0) == 0) {
        error(it, fmt::format("{}, got {}", why, describe(it.node)));
      } else {
        expected(it, what, why);
      }
    }
    return v;
  }

  // usable: a VIP / real server / next hop, never 0.0.0.0, loopback or
  // multicast.
  std::optional<Ipv4> ipv4(const Item& it, bool usable = true) {
    auto a = parsed<Ipv4>(it, "an IPv4 address like 10.0.0.1", &Ipv4::parse);
    if (a && usable && !a->isUnicastUsable()) {
      error(it, fmt::format("{} is not a usable unicast address (0.0.0.0/8, 127.0.0.0/8, "
                            "multicast and reserved addresses cannot be used here)",
                            a->str()));
      return std::nullopt;
    }
    return a;
  }

  std::optional<Prefix> prefix(const Item& it, std::string_view what) {
    return parsed<Prefix>(it, what, &Prefix::parse);
  }

  std::optional<MacAddr> unicastMac(const Item& it) {
    auto m = parsed<MacAddr>(it, "a MAC address like 02:00:00:00:00:01", &MacAddr::parse);
    if (m && (m->isZero() || m->isMulticast())) {
      error(it, fmt::format("{} is not a unicast MAC address", m->str()));
      return std::nullopt;
    }
    return m;
  }

  // One of `names`; returns its index. Suggests the nearest name.
  std::optional<size_t> oneOf(const Item& it, const Keys& names, std::string_view what,
                              std::string_view hint = {}) {
    if (it.node.IsScalar()) {
      const std::string& s = it.node.Scalar();
      for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == s) {
          return i;
        }
      }
      std::string msg = fmt::format("unknown {} {}; expected {}", what, quote(s), listNames(names));
      const std::string near = suggest(s, names);
      if (!near.empty()) {
        msg += fmt::format("; did you mean '{}'?", near);
      }
      if (!hint.empty()) {
        msg += fmt::format(" ({})", hint);
      }
      error(it, std::move(msg));
      return std::nullopt;
    }
    expected(it, fmt::format("a {} ({})", what, listNames(names)));
    return std::nullopt;
  }

  // Calls fn(element) for each element of a list; an empty value is an
  // empty list.
  void list(const Item& it, const std::function<void(const Item&, size_t)>& fn,
            std::string_view what = "a list") {
    if (it.node.IsNull()) {
      return;
    }
    if (!it.node.IsSequence()) {
      expected(it, what);
      return;
    }
    size_t i = 0;
    for (const YAML::Node& child : it.node) {
      const Pos pos = child.IsNull() ? it.pos : posOf(child.Mark());
      Item elem{child, index(it.path, i), pos, pos};
      map_.record(elem.path, pos);
      fn(elem, i);
      ++i;
    }
  }

  std::vector<std::string> stringList(const Item& it, std::string_view what) {
    std::vector<std::string> out;
    list(it, [&](const Item& e, size_t) {
      if (auto s = scalar(e, what)) {
        out.push_back(*s);
      }
    });
    return out;
  }

 private:
  ErrorSink& sink_;
  SourceMap& map_;
};

MapReader::MapReader(Reader& reader, const Item& item, const Keys& known, bool nullIsEmpty)
    : reader_(reader), item_(item) {
  if (item.node.IsNull() && nullIsEmpty) {
    return;
  }
  if (!item.node.IsMap()) {
    reader.expected(item, "a map");
    valid_ = false;
    return;
  }
  for (const auto& kv : item.node) {
    const Pos keyPos = posOf(kv.first.Mark());
    if (!kv.first.IsScalar()) {
      reader.errorAt(keyPos, item.path,
                     fmt::format("expected a key name, got {}", describe(kv.first)));
      continue;
    }
    const std::string& key = kv.first.Scalar();
    const std::string path = join(item.path, key);
    if (!contains(known, key)) {
      std::string msg = fmt::format("unknown key '{}'", key);
      const std::string near = suggest(key, known);
      if (!near.empty()) {
        msg += fmt::format(", did you mean '{}'?", near);
      }
      reader.errorAt(keyPos, path, std::move(msg));
      continue;
    }
    bool duplicate = false;
    for (const auto& e : entries_) {
      if (e.key == key) {
        reader.errorAt(
            keyPos, path,
            fmt::format("duplicate key '{}' (first given on line {})", key, e.value.keyPos.line));
        duplicate = true;
        break;
      }
    }
    if (duplicate) {
      continue;
    }
    const Pos valuePos = kv.second.IsNull() ? keyPos : posOf(kv.second.Mark());
    entries_.push_back(Entry{key, Item{kv.second, path, valuePos, keyPos}});
    reader.map().record(path, valuePos);
  }
}

const Item* MapReader::required(std::string_view key) const {
  if (!valid_) {
    return nullptr;
  }
  if (const Item* it = get(key)) {
    return it;
  }
  reader_.errorAt(item_.pos, join(item_.path, key), fmt::format("missing required key '{}'", key));
  return nullptr;
}

// ------------------------------------------------------------- ConfigReader

class ConfigReader {
 public:
  ConfigReader(ErrorSink& sink, SourceMap& map) : r_(sink, map) {}

  Config read(const YAML::Node& root, Pos rootPos);

 private:
  void readDataplane(const Item& it, DataplaneConfig& dp);
  std::optional<Port> readPort(const Item& it, bool defaultExceptionPath);
  void readTimeouts(const Item& it, Timeouts& t);
  std::optional<Service> readService(const Item& it);
  std::optional<HealthCheck> readHealthCheck(const Item& it, const HealthCheck* base,
                                             bool baseBroken, const NodePortConfig* nodeport);
  std::optional<RealServer> readRealServer(const Item& it, const Service& svc, bool svcPortOk,
                                           const std::optional<HealthCheck>& svcCheck,
                                           bool svcCheckBroken);
  std::optional<NodePortConfig> readNodePort(const Item& it);
  void readAdmin(const Item& it, AdminConfig& admin);
  void readMetrics(const Item& it, MetricsConfig& metrics);
  void readLogging(const Item& it, LoggingConfig& logging);

  template <typename T>
  void set(const MapReader& m, std::string_view key, T& out,
           const std::function<std::optional<T>(const Item&)>& parse) {
    if (const Item* it = m.get(key)) {
      if (auto v = parse(*it)) {
        out = *v;
      }
    }
  }
  void setBool(const MapReader& m, std::string_view key, bool& out) {
    set<bool>(m, key, out, [&](const Item& it) { return r_.boolean(it); });
  }
  void setDuration(const MapReader& m, std::string_view key, Duration& out,
                   Duration lo = Duration(0), Duration hi = std::chrono::hours(24 * 1000)) {
    set<Duration>(m, key, out, [&](const Item& it) { return r_.duration(it, lo, hi); });
  }
  void setU32(const MapReader& m, std::string_view key, uint32_t& out, uint32_t lo, uint32_t hi) {
    set<uint32_t>(m, key, out, [&](const Item& it) { return r_.u32(it, lo, hi); });
  }
  void setString(const MapReader& m, std::string_view key, std::string& out,
                 std::string_view what = "a string") {
    set<std::string>(m, key, out, [&](const Item& it) { return r_.scalar(it, what); });
  }

  Reader r_;
};

Config ConfigReader::read(const YAML::Node& root, Pos rootPos) {
  Config cfg;
  const Item rootItem{root, "", rootPos, rootPos};
  r_.map().record("", rootPos);
  if (!root.IsMap()) {
    r_.error(rootItem, fmt::format("expected a map of sections (dataplane, services, admin, "
                                   "metrics, logging) at the top level, got {}",
                                   describe(root)));
    return cfg;
  }
  MapReader m(r_, rootItem, {"dataplane", "services", "admin", "metrics", "logging"}, false);
  if (const Item* it = m.required("dataplane")) {
    readDataplane(*it, cfg.dataplane);
  }
  if (const Item* it = m.get("services")) {
    r_.list(*it, [&](const Item& e, size_t) {
      if (auto svc = readService(e)) {
        cfg.services.push_back(std::move(*svc));
      } else {
        // Keep indexes aligned with the file so validator paths stay right;
        // the broken entry is tainted and skipped by the validator.
        cfg.services.emplace_back();
      }
    });
  }
  if (const Item* it = m.get("admin")) {
    readAdmin(*it, cfg.admin);
  }
  if (const Item* it = m.get("metrics")) {
    readMetrics(*it, cfg.metrics);
  }
  if (const Item* it = m.get("logging")) {
    readLogging(*it, cfg.logging);
  }
  return cfg;
}

// ---------------------------------------------------------------- dataplane

void ConfigReader::readDataplane(const Item& it, DataplaneConfig& dp) {
  MapReader m(r_, it,
              {"lcores", "eal_args", "idle_sleep", "ports", "routes", "neighbours", "conn_table",
               "reassembly", "timeouts", "exception_path", "expire_nodest_conn",
               "expire_quiescent_template"},
              false);
  if (!m.valid()) {
    return;
  }
  if (const Item* lc = m.get("lcores")) {
    if (auto s = r_.scalar(*lc, "an lcore list like \"0-1\" or \"0,2\"")) {
      std::string why;
      if (auto list = expandLcores(*s, &why)) {
        dp.lcores = *s;
      } else {
        r_.expected(*lc, "an lcore list like \"0-1\" or \"0,2\"", why);
      }
    }
  }
  dp.lcoreList = *expandLcores(dp.lcores);
  if (const Item* ea = m.get("eal_args")) {
    r_.list(*ea, [&](const Item& e, size_t) {
      auto s = r_.scalar(e, "a string");
      if (!s) {
        return;
      }
      // The lcore set is owned by `lcores`: a second one here would silently
      // disagree with the worker layout dplbd computes from it.
      for (std::string_view opt : {"-l", "-c", "--lcores", "--lcores="}) {
        const bool exact = *s == opt;
        const bool glued = (opt == "-l" || opt == "-c") && s->size() > 2 && s->rfind(opt, 0) == 0 &&
                           std::isdigit((*s)[2]) != 0;
        const bool withValue = opt == "--lcores=" && s->rfind(opt, 0) == 0;
        if (exact || glued || withValue) {
          r_.error(e, fmt::format("{} sets the lcores; use dataplane.lcores instead", quote(*s)));
          return;
        }
      }
      dp.ealArgs.push_back(*s);
    });
  }
  if (const Item* is = m.get("idle_sleep")) {
    if (auto d = r_.fineDuration(*is, FineDuration(0), std::chrono::milliseconds(10))) {
      dp.idleSleep = *d;
    }
  }
  setBool(m, "exception_path", dp.exceptionPath);
  setBool(m, "expire_nodest_conn", dp.expireNodestConn);
  setBool(m, "expire_quiescent_template", dp.expireQuiescentTemplate);

  if (const Item* ports = m.required("ports")) {
    r_.list(*ports, [&](const Item& e, size_t) {
      auto p = readPort(e, dp.exceptionPath);
      dp.ports.push_back(p ? std::move(*p) : Port{});
    });
  }
  if (const Item* routes = m.get("routes")) {
    r_.list(*routes, [&](const Item& e, size_t) {
      Route route;
      MapReader rm(r_, e, {"prefix", "via", "port"}, false);
      if (const Item* p = rm.required("prefix")) {
        if (auto pf = r_.prefix(*p, "a network prefix like 10.1.0.0/16")) {
          if (!pf->isNetwork()) {
            r_.error(*p, fmt::format("{} has host bits set; did you mean {}/{}?", pf->str(),
                                     pf->network().str(), pf->len));
          } else {
            route.prefix = *pf;
          }
        }
      }
      if (const Item* v = rm.required("via")) {
        if (auto a = r_.ipv4(*v)) {
          route.via = *a;
        }
      }
      setString(rm, "port", route.port, "a port name");
      dp.routes.push_back(route);
    });
  }
  if (const Item* neigh = m.get("neighbours")) {
    r_.list(*neigh, [&](const Item& e, size_t) {
      Neighbour n;
      MapReader nm(r_, e, {"ip", "mac", "port"}, false);
      if (const Item* ip = nm.required("ip")) {
        if (auto a = r_.ipv4(*ip)) {
          n.ip = *a;
        }
      }
      if (const Item* mac = nm.required("mac")) {
        if (auto a = r_.unicastMac(*mac)) {
          n.mac = *a;
        }
      }
      setString(nm, "port", n.port, "a port name");
      dp.neighbours.push_back(n);
    });
  }
  if (const Item* ct = m.get("conn_table")) {
    MapReader cm(r_, *ct, {"capacity"}, true);
    // Upper bound: 2^28 entries is already tens of GB per worker.
    setU32(cm, "capacity", dp.connTable.capacity, 1, 1u << 28);
  }
  if (const Item* ra = m.get("reassembly")) {
    MapReader rm(r_, *ra, {"max_flows", "timeout"}, false);
    // Each flow may pin 8 packet buffers: 2^20 flows is already ~18 GB.
    setU32(rm, "max_flows", dp.reassembly.maxFlows, 1, 1u << 20);
    setDuration(rm, "timeout", dp.reassembly.timeout, std::chrono::seconds(1),
                std::chrono::seconds(120));
  }
  if (const Item* t = m.get("timeouts")) {
    readTimeouts(*t, dp.timeouts);
  }
}

std::optional<Port> ConfigReader::readPort(const Item& it, bool defaultExceptionPath) {
  MapReader m(r_, it, {"name", "device", "mac", "addresses", "mtu", "exception_path"}, false);
  if (!m.valid()) {
    return std::nullopt;
  }
  Port port;
  port.exceptionPath = defaultExceptionPath;
  if (const Item* n = m.required("name")) {
    // The name is also the exception-path kernel interface: IFNAMSIZ - 1.
    constexpr std::string_view kWhat = "a port name of 1-15 letters, digits, '_', '-' or '.'";
    if (auto s = r_.scalar(*n, kWhat)) {
      if (validName(*s, 15)) {
        port.name = *s;
      } else {
        r_.expected(*n, kWhat);
      }
    }
  }
  if (const Item* d = m.required("device")) {
    constexpr std::string_view kWhat =
        "a PCI address like 0000:01:00.0 or a DPDK device like net_af_packet0,iface=eth0";
    if (auto s = r_.scalar(*d, kWhat)) {
      std::string why;
      if (validDevice(*s, &why)) {
        port.device = *s;
      } else {
        r_.expected(*d, kWhat, why);
      }
    }
  }
  if (const Item* mac = m.get("mac")) {
    port.mac = r_.unicastMac(*mac);
  }
  if (const Item* a = m.get("addresses")) {
    r_.list(*a, [&](const Item& e, size_t) {
      // A broken entry keeps its slot (as an unusable 0.0.0.0/0) so that
      // model indexes match the file for the validator, which skips it.
      port.addresses.emplace_back();
      auto p = r_.prefix(e, "an address with its prefix length like 10.0.0.2/24");
      if (!p) {
        return;
      }
      if (p->len == 0) {
        r_.error(e, fmt::format("{}: a /0 would put every address on this link", p->str()));
        return;
      }
      if (!p->addr.isUnicastUsable()) {
        r_.error(e, fmt::format("{} is not a usable unicast address", p->addr.str()));
        return;
      }
      // On /31 and /32 every address is a host address (RFC 3021).
      if (p->len <= 30 && (p->isNetwork() || (p->addr.value | p->mask()) == 0xFFFFFFFFu)) {
        r_.error(e, fmt::format("{} is the {} address of its network; give a host address",
                                p->str(), p->isNetwork() ? "network" : "broadcast"));
        return;
      }
      port.addresses.back() = *p;
    });
  }
  if (const Item* mtu = m.get("mtu")) {
    // 68: the IPv4 minimum (RFC 791); 9216: the usual jumbo-frame ceiling.
    if (auto v = r_.integer(*mtu, 68, 9216)) {
      port.mtu = static_cast<uint16_t>(*v);
    }
  }
  setBool(m, "exception_path", port.exceptionPath);
  return port;
}

void ConfigReader::readTimeouts(const Item& it, Timeouts& t) {
  struct Field {
    std::string_view key;
    Duration Timeouts::*member;
  };
  static const Field kFields[] = {
      {"tcp_none", &Timeouts::tcpNone},
      {"tcp_established", &Timeouts::tcpEstablished},
      {"tcp_syn_sent", &Timeouts::tcpSynSent},
      {"tcp_syn_recv", &Timeouts::tcpSynRecv},
      {"tcp_fin_wait", &Timeouts::tcpFinWait},
      {"tcp_time_wait", &Timeouts::tcpTimeWait},
      {"tcp_close", &Timeouts::tcpClose},
      {"tcp_close_wait", &Timeouts::tcpCloseWait},
      {"tcp_last_ack", &Timeouts::tcpLastAck},
      {"tcp_listen", &Timeouts::tcpListen},
      {"tcp_synack", &Timeouts::tcpSynAck},
      {"udp", &Timeouts::udp},
      {"icmp", &Timeouts::icmp},
  };
  Keys keys;
  for (const auto& f : kFields) {
    keys.push_back(f.key);
  }
  MapReader m(r_, it, keys, true);
  for (const auto& f : kFields) {
    // IPVS keeps timeouts in whole seconds (ipvsadm --set); below 1 s a
    // connection would expire between two packets of a live flow.
    setDuration(m, f.key, t.*f.member, std::chrono::seconds(1));
  }
}

// ----------------------------------------------------------------- services

std::optional<Service> ConfigReader::readService(const Item& it) {
  MapReader m(r_, it,
              {"name", "vip", "port", "protocol", "scheduler", "scheduler_flags", "mh_table_size",
               "forward", "persistence", "health_check", "quorum", "sorry_server", "real_servers",
               "nodeport"},
              false);
  if (!m.valid()) {
    return std::nullopt;
  }
  Service svc;
  if (const Item* n = m.required("name")) {
    constexpr std::string_view kWhat = "a service name of 1-64 letters, digits, '_', '-' or '.'";
    if (auto s = r_.scalar(*n, kWhat)) {
      if (validName(*s, 64)) {
        svc.name = *s;
      } else {
        r_.expected(*n, kWhat);
      }
    }
  }
  if (const Item* v = m.required("vip")) {
    if (auto a = r_.ipv4(*v)) {
      svc.vip = *a;
    }
  }
  bool portOk = false;
  if (const Item* p = m.required("port")) {
    if (auto v = r_.port(*p, 0)) {
      svc.port = *v;
      portOk = true;
    }
  }
  if (const Item* p = m.get("protocol")) {
    if (auto i = r_.oneOf(*p, {"tcp", "udp"}, "protocol")) {
      svc.protocol = *i == 0 ? Protocol::Tcp : Protocol::Udp;
    }
  }
  bool schedulerOk = true;
  if (const Item* s = m.get("scheduler")) {
    schedulerOk = false;
    if (auto i = r_.oneOf(*s, schedulerNames(), "scheduler")) {
      svc.scheduler = *schedulerFromString(schedulerNames()[*i]);
      schedulerOk = true;
    }
  }
  if (const Item* f = m.get("scheduler_flags")) {
    const Keys kFlags = {"sh-fallback", "sh-port", "mh-fallback", "mh-port"};
    auto one = [&](const Item& e, std::string_view flag) {
      const std::optional<size_t> i = [&]() -> std::optional<size_t> {
        for (size_t k = 0; k < kFlags.size(); ++k) {
          if (kFlags[k] == flag) {
            return k;
          }
        }
        std::string msg =
            fmt::format("unknown scheduler flag {}; expected {}", quote(flag), listNames(kFlags));
        const std::string near = suggest(flag, kFlags);
        if (!near.empty()) {
          msg += fmt::format("; did you mean '{}'?", near);
        }
        r_.error(e, msg);
        return std::nullopt;
      }();
      if (!i) {
        return;
      }
      bool* field[] = {&svc.schedulerFlags.shFallback, &svc.schedulerFlags.shPort,
                       &svc.schedulerFlags.mhFallback, &svc.schedulerFlags.mhPort};
      if (*field[*i]) {
        r_.error(e, fmt::format("scheduler flag '{}' is given twice", flag));
        return;
      }
      *field[*i] = true;
      r_.map().alias(fmt::format("{}#{}", f->path, flag), e.path);
    };
    if (f->node.IsScalar()) {
      // ipvsadm -b style: "sh-fallback,sh-port".
      std::string_view all = f->node.Scalar();
      size_t start = 0;
      while (start <= all.size()) {
        size_t end = all.find(',', start);
        if (end == std::string_view::npos) {
          end = all.size();
        }
        one(*f, all.substr(start, end - start));
        start = end + 1;
      }
    } else {
      r_.list(
          *f,
          [&](const Item& e, size_t) {
            if (auto s = r_.scalar(e, "a scheduler flag")) {
              one(e, *s);
            }
          },
          "a list of scheduler flags");
    }
  }
  if (const Item* t = m.get("mh_table_size")) {
    if (auto v = r_.u32(*t, 1, 1u << 24)) {
      if (schedulerOk && svc.scheduler != Scheduler::Mh) {
        r_.error(*t, fmt::format("mh_table_size applies only to the mh scheduler (this service "
                                 "uses {})",
                                 toString(svc.scheduler)));
      } else {
        svc.mhTableSize = *v;
      }
    }
  }
  bool forwardOk = true;
  if (const Item* f = m.get("forward")) {
    forwardOk = false;
    std::string hint;
    if (f->node.IsScalar()) {
      const std::string& s = f->node.Scalar();
      if (s == "masq" || s == "masquerade" || s == "m") {
        hint = "ipvsadm's masquerading is nat";
      } else if (s == "route" || s == "direct" || s == "droute" || s == "gatewaying" || s == "g") {
        hint = "ipvsadm's direct routing (gatewaying) is dr";
      } else if (s == "tunnel" || s == "ipip" || s == "i") {
        hint = "ipvsadm's IP-in-IP tunnelling is tun";
      }
    }
    if (auto i = r_.oneOf(*f, {"nat", "dr", "tun"}, "forward mode", hint)) {
      svc.forward = static_cast<Forward>(*i);
      forwardOk = true;
    }
  }
  if (const Item* p = m.get("persistence")) {
    MapReader pm(r_, *p, {"timeout", "netmask"}, false);
    if (pm.valid()) {
      Persistence pers;
      setDuration(pm, "timeout", pers.timeout, std::chrono::seconds(1));
      if (const Item* nm = pm.get("netmask")) {
        constexpr std::string_view kWhat = "a netmask like 255.255.255.0";
        if (auto mask = r_.parsed<Ipv4>(*nm, kWhat, &Ipv4::parse)) {
          const uint32_t v = mask->value;
          // Contiguous: the inverted mask plus one is a power of two.
          if (((~v + 1) & ~v) != 0) {
            r_.expected(*nm, kWhat, "the one bits must be contiguous");
          } else {
            pers.netmask = *mask;
          }
        }
      }
      svc.persistence = pers;
    }
  }
  if (const Item* q = m.get("quorum")) {
    if (auto v = r_.u32(*q)) {
      svc.quorum = *v;
    }
  }
  if (const Item* s = m.get("sorry_server")) {
    MapReader sm(r_, *s, {"address", "port"}, false);
    if (sm.valid()) {
      SorryServer sorry;
      sorry.port = svc.port;
      if (const Item* a = sm.required("address")) {
        if (auto v = r_.ipv4(*a)) {
          sorry.address = *v;
        }
      }
      if (const Item* p = sm.get("port")) {
        if (auto v = r_.port(*p, 0)) {
          sorry.port = *v;
        }
      }
      svc.sorryServer = sorry;
    }
  }
  if (const Item* n = m.get("nodeport")) {
    svc.nodeport = readNodePort(*n);
  }
  const Item* hcItem = m.get("health_check");
  bool hcBroken = false;
  if (hcItem != nullptr) {
    svc.healthCheck =
        readHealthCheck(*hcItem, nullptr, false, svc.nodeport ? &*svc.nodeport : nullptr);
    hcBroken = !svc.healthCheck;
  } else if (svc.nodeport && svc.nodeport->healthCheckNodePort != 0) {
    // kube-proxy's health endpoint is the natural check of a NodePort
    // service; give it unless the operator chose another.
    HealthCheck hc;
    hc.type = HealthCheckType::NodePort;
    hc.port = svc.nodeport->healthCheckNodePort;
    hc.http.path = svc.nodeport->path;
    hc.http.status = {StatusRange{200, 200}};
    svc.healthCheck = hc;
  }
  bool realServersGiven = false;
  if (const Item* rs = m.get("real_servers")) {
    r_.list(*rs, [&](const Item& e, size_t) {
      realServersGiven = true;
      auto server = readRealServer(e, svc, portOk, svc.healthCheck, hcBroken);
      svc.realServers.push_back(server ? std::move(*server) : RealServer{});
    });
  }
  if (!forwardOk) {
    // Keep the validator's forward-dependent rules quiet: the error is the
    // unknown mode, already reported.
    for (auto& rs : svc.realServers) {
      rs.forward = svc.forward;
    }
  }
  if (svc.nodeport && !realServersGiven) {
    for (Ipv4 node : svc.nodeport->nodes) {
      RealServer rs;
      rs.address = node;
      rs.port = svc.nodeport->port;
      rs.forward = svc.forward;
      rs.healthCheck = svc.healthCheck;
      svc.realServers.push_back(rs);
    }
    svc.realServersFromNodePort = true;
  }
  return svc;
}

std::optional<NodePortConfig> ConfigReader::readNodePort(const Item& it) {
  MapReader m(r_, it, {"port", "health_check_node_port", "nodes", "path"}, false);
  if (!m.valid()) {
    return std::nullopt;
  }
  NodePortConfig np;
  if (const Item* p = m.required("port")) {
    if (auto v = r_.port(*p)) {
      np.port = *v;
    }
  }
  if (const Item* p = m.get("health_check_node_port")) {
    if (auto v = r_.port(*p)) {
      np.healthCheckNodePort = *v;
    }
  }
  if (const Item* n = m.required("nodes")) {
    r_.list(*n, [&](const Item& e, size_t) {
      auto a = r_.ipv4(e);
      np.nodes.push_back(a.value_or(Ipv4()));
    });
    if (n->node.IsNull() || (n->node.IsSequence() && n->node.size() == 0)) {
      r_.error(*n, "a nodeport service needs at least one node");
    }
  }
  if (const Item* p = m.get("path")) {
    if (auto s = r_.scalar(*p, "an absolute path like /healthz")) {
      if (s->empty() || s->front() != '/') {
        r_.expected(*p, "an absolute path like /healthz");
      } else {
        np.path = *s;
      }
    }
  }
  return np;
}

std::optional<RealServer> ConfigReader::readRealServer(const Item& it, const Service& svc,
                                                       bool svcPortOk,
                                                       const std::optional<HealthCheck>& svcCheck,
                                                       bool svcCheckBroken) {
  MapReader m(
      r_, it,
      {"address", "port", "weight", "u_threshold", "l_threshold", "forward", "health_check"},
      false);
  if (!m.valid()) {
    return std::nullopt;
  }
  RealServer rs;
  rs.port = svcPortOk ? svc.port : 0;
  rs.forward = svc.forward;
  rs.healthCheck = svcCheck;
  if (const Item* a = m.required("address")) {
    if (auto v = r_.ipv4(*a)) {
      rs.address = *v;
    }
  }
  if (const Item* p = m.get("port")) {
    if (auto v = r_.port(*p, 0)) {
      rs.port = *v;
    }
  }
  // ipvsadm -w: 0..65535.
  setU32(m, "weight", rs.weight, 0, 65535);
  setU32(m, "u_threshold", rs.uThreshold, 0, std::numeric_limits<uint32_t>::max());
  setU32(m, "l_threshold", rs.lThreshold, 0, std::numeric_limits<uint32_t>::max());
  if (const Item* f = m.get("forward")) {
    if (auto i = r_.oneOf(*f, {"nat", "dr", "tun"}, "forward mode")) {
      rs.forward = static_cast<Forward>(*i);
    }
  }
  if (const Item* hc = m.get("health_check")) {
    auto merged = readHealthCheck(*hc, svcCheck ? &*svcCheck : nullptr, svcCheckBroken,
                                  svc.nodeport ? &*svc.nodeport : nullptr);
    if (merged) {
      rs.healthCheck = merged;
    }
  }
  return rs;
}

// ------------------------------------------------------------ health checks

std::optional<HealthCheck> ConfigReader::readHealthCheck(const Item& it, const HealthCheck* base,
                                                         bool baseBroken,
                                                         const NodePortConfig* nodeport) {
  static const Keys kAllKeys = allHcKeys();
  MapReader m(r_, it, kAllKeys, false);
  if (!m.valid()) {
    return std::nullopt;
  }
  HealthCheck hc = base != nullptr ? *base : HealthCheck{};
  bool ok = true;
  std::optional<HealthCheckType> type;
  if (const Item* t = m.get("type")) {
    const Keys kTypes = {"tcp", "http", "https", "udp", "dns", "exec", "nodeport"};
    if (auto i = r_.oneOf(*t, kTypes, "health check type")) {
      type = static_cast<HealthCheckType>(*i);
    } else {
      ok = false;
    }
  } else if (base != nullptr) {
    type = base->type;
  } else if (baseBroken) {
    ok = false;  // the service's check is broken; already reported there
  } else {
    m.required("type");
    ok = false;
  }
  if (type && (base == nullptr || *type != base->type)) {
    // A new type starts from its own defaults; only the timing and policy
    // keys (common to all types) are inherited from the service's check.
    hc.type = *type;
    hc.http = HttpCheck{};
    hc.tls = TlsCheck{};
    hc.udp = UdpCheck{};
    hc.dns = DnsCheck{};
    hc.exec = ExecCheck{};
    if (*type == HealthCheckType::NodePort) {
      hc.http.path = nodeport != nullptr ? nodeport->path : "/healthz";
      hc.http.status = {StatusRange{200, 200}};
      hc.port = 0;
    }
  }
  if (type) {
    for (const auto& e : m.entries()) {
      if (!hcKeyFits(*type, e.key)) {
        r_.errorAt(e.value.keyPos, e.value.path,
                   fmt::format("'{}' is not a key of {} health checks (it belongs to {})", e.key,
                               toString(*type), typesAccepting(e.key)));
        ok = false;
      }
    }
  }
  auto fits = [&](std::string_view key) -> const Item* {
    const Item* item = m.get(key);
    return item != nullptr && (!type || hcKeyFits(*type, key)) ? item : nullptr;
  };

  // Common keys.
  const Duration kMinPeriod = std::chrono::milliseconds(10);
  if (const Item* i = fits("interval")) {
    if (auto v = r_.duration(*i, kMinPeriod)) {
      hc.interval = *v;
    } else {
      ok = false;
    }
  }
  if (const Item* i = fits("timeout")) {
    if (auto v = r_.duration(*i, kMinPeriod)) {
      hc.timeout = *v;
    } else {
      ok = false;
    }
  }
  for (auto [key, field] : {std::pair{"rise", &hc.rise}, std::pair{"fall", &hc.fall}}) {
    if (const Item* i = fits(key)) {
      if (auto v = r_.u32(*i, 1, 100)) {
        *field = *v;
      } else {
        ok = false;
      }
    }
  }
  if (const Item* i = fits("retry")) {
    if (auto v = r_.u32(*i, 0, 100)) {
      hc.retry = *v;
    } else {
      ok = false;
    }
  }
  for (auto [key, field] :
       {std::pair{"retry_delay", &hc.retryDelay}, std::pair{"warmup", &hc.warmup}}) {
    if (const Item* i = fits(key)) {
      if (auto v = r_.duration(*i)) {
        *field = *v;
      } else {
        ok = false;
      }
    }
  }
  if (const Item* i = fits("on_failure")) {
    if (auto v = r_.oneOf(*i, {"quiesce", "remove"}, "on_failure action")) {
      hc.onFailure = *v == 0 ? OnFailure::Quiesce : OnFailure::Remove;
    } else {
      ok = false;
    }
  }
  if (const Item* i = fits("port")) {
    if (auto v = r_.port(*i)) {
      hc.port = *v;
    } else {
      ok = false;
    }
  }
  if (type == HealthCheckType::NodePort && hc.port == 0 && nodeport != nullptr) {
    hc.port = nodeport->healthCheckNodePort;
  }

  // http / https / nodeport.
  if (const Item* i = fits("path")) {
    auto s = r_.scalar(*i, "an absolute path like /healthz");
    if (s && !s->empty() && s->front() == '/' &&
        std::none_of(s->begin(), s->end(), [](char c) { return c == ' ' || c < 0x20; })) {
      hc.http.path = *s;
    } else {
      if (s) {
        r_.expected(*i, "an absolute path like /healthz");
      }
      ok = false;
    }
  }
  if (const Item* i = fits("host")) {
    if (auto s = r_.nonEmpty(*i, "a host name")) {
      hc.http.host = *s;
    } else {
      ok = false;
    }
  }
  if (const Item* i = fits("status")) {
    constexpr std::string_view kWhat = "a status code 100..599 or a range like \"200-299\"";
    std::vector<StatusRange> ranges;
    auto one = [&](const Item& e) {
      if (!e.node.IsScalar()) {
        r_.expected(e, kWhat);
        return false;
      }
      const std::string& s = e.node.Scalar();
      const size_t dash = s.find('-');
      auto num = [](std::string_view t) -> int {
        if (t.size() != 3 ||
            !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          return -1;
        }
        const int v = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
        return v >= 100 && v <= 599 ? v : -1;
      };
      const int lo = num(std::string_view(s).substr(0, dash));
      const int hi = dash == std::string::npos ? lo : num(std::string_view(s).substr(dash + 1));
      if (lo < 0 || hi < 0 || lo > hi) {
        r_.expected(e, kWhat);
        return false;
      }
      ranges.push_back(StatusRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)});
      return true;
    };
    bool statusOk = true;
    if (i->node.IsSequence()) {
      r_.list(*i, [&](const Item& e, size_t) { statusOk = one(e) && statusOk; });
      if (i->node.size() == 0) {
        r_.error(*i, "at least one status code is needed");
        statusOk = false;
      }
    } else {
      statusOk = one(*i);
    }
    if (statusOk) {
      hc.http.status = ranges;
    } else {
      ok = false;
    }
  }
  if (const Item* i = fits("digest")) {
    MapReader dm(r_, *i, {"md5", "sha256"}, false);
    const Item* md5 = dm.get("md5");
    const Item* sha = dm.get("sha256");
    if (!dm.valid()) {
      ok = false;
    } else if (md5 != nullptr && sha != nullptr) {
      r_.error(*sha, "give one digest, md5 or sha256, not both");
      ok = false;
    } else if (md5 == nullptr && sha == nullptr) {
      r_.error(*i, "expected md5: <32 hex digits> or sha256: <64 hex digits>");
      ok = false;
    } else {
      const Item& d = md5 != nullptr ? *md5 : *sha;
      const size_t len = md5 != nullptr ? 32 : 64;
      const std::string what =
          fmt::format("{} hex digits (a {} digest)", len, md5 != nullptr ? "md5" : "sha256");
      auto s = r_.scalar(d, what);
      if (s && s->size() == len && std::all_of(s->begin(), s->end(), [](char c) {
            return std::isxdigit(static_cast<unsigned char>(c)) != 0;
          })) {
        BodyDigest digest;
        digest.algo = md5 != nullptr ? DigestAlgo::Md5 : DigestAlgo::Sha256;
        digest.hex = *s;
        std::transform(digest.hex.begin(), digest.hex.end(), digest.hex.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        hc.http.digest = digest;
      } else {
        if (s) {
          r_.expected(d, what);
        }
        ok = false;
      }
    }
  }
  if (const Item* i = fits("contains")) {
    if (auto s = r_.nonEmpty(*i, "a non-empty string")) {
      hc.http.contains = *s;
    } else {
      ok = false;
    }
  }

  // https.
  for (auto [key, field] :
       {std::pair{"ca_file", &hc.tls.caFile}, std::pair{"server_name", &hc.tls.serverName},
        std::pair{"client_cert", &hc.tls.clientCert}, std::pair{"client_key", &hc.tls.clientKey}}) {
    if (const Item* i = fits(key)) {
      if (auto s = r_.nonEmpty(
              *i, std::string_view(key) == "server_name" ? "a host name" : "a file path")) {
        *field = *s;
      } else {
        ok = false;
      }
    }
  }
  if (const Item* i = fits("verify")) {
    if (auto v = r_.boolean(*i)) {
      hc.tls.verify = *v;
    } else {
      ok = false;
    }
  }

  // udp.
  if (const Item* i = fits("payload")) {
    if (auto s = r_.scalar(*i)) {
      hc.udp.payload = *s;
    } else {
      ok = false;
    }
  }
  if (const Item* i = fits("expect")) {
    if (auto s = r_.nonEmpty(*i, "a non-empty string")) {
      hc.udp.expect = *s;
    } else {
      ok = false;
    }
  }
  if (const Item* i = fits("expect_match")) {
    if (auto v = r_.oneOf(*i, {"exact", "prefix"}, "expect_match mode")) {
      hc.udp.expectMatch = *v == 0 ? ExpectMatch::Exact : ExpectMatch::Prefix;
    } else {
      ok = false;
    }
  }

  // dns.
  if (const Item* i = fits("name")) {
    auto s = r_.scalar(*i, "a DNS name like example.com");
    std::string why;
    if (s && validDnsName(*s, &why)) {
      hc.dns.name = *s;
    } else {
      if (s) {
        r_.expected(*i, "a DNS name like example.com", why);
      }
      ok = false;
    }
  }
  if (const Item* i = fits("query_type")) {
    bool found = false;
    if (i->node.IsScalar()) {
      std::string upper = i->node.Scalar();
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      for (const auto& t : kDnsTypes) {
        if (t.name == upper) {
          hc.dns.queryType = upper;
          hc.dns.queryTypeCode = t.code;
          found = true;
        }
      }
    }
    if (!found) {
      Keys names;
      for (const auto& t : kDnsTypes) {
        names.push_back(t.name);
      }
      r_.oneOf(*i, names, "DNS query type");
      ok = false;
    }
  }

  // exec.
  if (const Item* i = fits("command")) {
    if (i->node.IsSequence() && i->node.size() > 0) {
      auto argv = r_.stringList(*i, "a command-line argument");
      if (argv.size() == i->node.size()) {
        hc.exec.command = argv;
      } else {
        ok = false;
      }
    } else {
      r_.expected(*i,
                  "a non-empty list of arguments like [/usr/local/bin/check, --port, \"80\"] "
                  "(never run through a shell)");
      ok = false;
    }
  }
  if (const Item* i = fits("dynamic")) {
    if (auto v = r_.boolean(*i)) {
      hc.exec.dynamic = *v;
    } else {
      ok = false;
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return hc;
}

// ------------------------------------------------------------ control plane

void ConfigReader::readAdmin(const Item& it, AdminConfig& admin) {
  MapReader m(r_, it, {"socket"}, true);
  if (const Item* s = m.get("socket")) {
    // sun_path holds 108 bytes including the terminating NUL.
    constexpr std::string_view kWhat = "an absolute socket path shorter than 108 bytes";
    auto path = r_.scalar(*s, kWhat);
    if (path && !path->empty() && path->front() == '/' && path->size() < 108) {
      admin.socket = *path;
    } else if (path) {
      r_.expected(*s, kWhat);
    }
  }
}

namespace {

// Like Endpoint::parse, but port 0 is allowed: the kernel picks a free port
// and dplbd logs (and `dplbadm --status` shows) the bound address, so tests
// never race for a port.
std::optional<Endpoint> parseListenEndpoint(std::string_view text, std::string* why) {
  if (text.ends_with(":0")) {
    auto addr = Ipv4::parse(text.substr(0, text.size() - 2), why);
    if (!addr) {
      return std::nullopt;
    }
    return Endpoint{*addr, 0};
  }
  return Endpoint::parse(text, why);
}

}  // namespace

void ConfigReader::readMetrics(const Item& it, MetricsConfig& metrics) {
  MapReader m(r_, it, {"listen"}, true);
  if (const Item* l = m.get("listen")) {
    if (l->node.IsScalar() && l->node.Scalar().empty()) {
      metrics.listen.reset();  // metrics off
    } else if (auto ep = r_.parsed<Endpoint>(*l,
                                             "an address:port like 127.0.0.1:9550 (or \"\" "
                                             "for no metrics)",
                                             &parseListenEndpoint)) {
      metrics.listen = *ep;
    }
  }
}

void ConfigReader::readLogging(const Item& it, LoggingConfig& logging) {
  MapReader m(r_, it, {"level"}, true);
  if (const Item* l = m.get("level")) {
    if (auto i = r_.oneOf(*l, logLevelNames(), "log level")) {
      logging.level = static_cast<LogLevel>(*i);
    }
  }
}

}  // namespace

// ------------------------------------------------------------------ public

LoadResult loadConfigString(std::string_view yaml, std::string fileName) {
  SourceMap map;
  ErrorSink sink(fileName, &map);
  LoadResult result;
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    Pos pos = posOf(e.mark);
    if (pos.line == 0) {
      pos = {1, 1};
    }
    sink.add(pos, "", fmt::format("YAML syntax error: {}", e.msg));
    result.errors = sink.take();
    return result;
  }
  if (docs.empty() || docs[0].IsNull()) {
    sink.add({1, 1}, "", "the configuration is empty (expected at least a dataplane section)");
    result.errors = sink.take();
    return result;
  }
  for (size_t i = 1; i < docs.size(); ++i) {
    Pos pos = posOf(docs[i].Mark());
    sink.add(pos.line == 0 ? Pos{1, 1} : pos, "",
             "a second YAML document ('---'); a configuration is a single document");
  }
  ConfigReader reader(sink, map);
  Pos rootPos = posOf(docs[0].Mark());
  if (rootPos.line == 0) {
    rootPos = {1, 1};
  }
  Config cfg = reader.read(docs[0], rootPos);
  if (docs[0].IsMap()) {
    detail::validate(cfg, sink);
  }
  if (sink.empty()) {
    detail::resolve(cfg);
    result.config = std::move(cfg);
  }
  result.errors = sink.take();
  return result;
}

LoadResult loadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back(
        ConfigError{path, 0, 0, "", fmt::format("cannot open: {}", std::strerror(errno))});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    LoadResult result;
    result.errors.push_back(
        ConfigError{path, 0, 0, "", fmt::format("cannot read: {}", std::strerror(errno))});
    return result;
  }
  return loadConfigString(text.str(), path);
}

std::string ConfigError::str() const {
  std::string out = file;
  if (line > 0) {
    out += fmt::format("{}{}:{}", out.empty() ? "" : ":", line, column);
  }
  if (!out.empty()) {
    out += ": ";
  }
  if (!path.empty()) {
    out += path + ": ";
  }
  return out + message;
}

}  // namespace dplb::conf
