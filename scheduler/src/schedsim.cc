#include "schedsim.h"

#include <charconv>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dplb/sched/scheduler.h"

namespace dplb::sched::sim {

namespace {

using namespace std::chrono_literals;

// Far beyond any scenario, far below int64 nanoseconds (292 years), so that
// lastuse + expiration never overflows.
constexpr Nanos kMaxClock = std::chrono::hours(24 * 365 * 100);

struct Malformed {
  std::string why;
};

template <class T>
std::optional<T> parseUnsigned(std::string_view s, T max) {
  if (s.empty() || s.front() < '0' || s.front() > '9') {
    return std::nullopt;
  }
  uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v > static_cast<uint64_t>(max)) {
    return std::nullopt;
  }
  return static_cast<T>(v);
}

// Dotted quad, four decimal parts 0..255 without leading zeros (an "010"
// would be octal to inet_aton and decimal to others: refuse the ambiguity).
std::optional<uint32_t> parseIpv4(std::string_view s) {
  uint32_t addr = 0;
  for (int part = 0; part < 4; ++part) {
    const size_t dot = part < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view num = s.substr(0, dot);
    if (num.size() > 1 && num.front() == '0') {
      return std::nullopt;
    }
    const auto v = parseUnsigned<uint32_t>(num, 255);
    if (!v) {
      return std::nullopt;
    }
    addr = (addr << 8) | *v;
    s.remove_prefix(part < 3 ? dot + 1 : dot);
  }
  return addr;
}

struct Endpoint {
  uint32_t addr;
  uint16_t port;
};

Endpoint parseEndpoint(std::string_view s, std::string_view what) {
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    throw Malformed{"expected " + std::string(what) + " as <ip>:<port>, got '" + std::string(s) +
                    "'"};
  }
  const auto addr = parseIpv4(s.substr(0, colon));
  if (!addr) {
    throw Malformed{"bad IPv4 address in '" + std::string(s) + "'"};
  }
  const auto port = parseUnsigned<uint16_t>(s.substr(colon + 1), 65535);
  if (!port) {
    throw Malformed{"bad port in '" + std::string(s) + "' (0..65535)"};
  }
  return {*addr, *port};
}

// Seconds with up to 9 decimals, as nanoseconds.
Nanos parseSeconds(std::string_view s) {
  const size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const auto secs = parseUnsigned<uint64_t>(whole, 4'000'000'000ull);
  if (!secs) {
    throw Malformed{"bad number of seconds '" + std::string(s) + "'"};
  }
  int64_t frac = 0;
  if (dot != std::string_view::npos) {
    const std::string_view digits = s.substr(dot + 1);
    if (digits.empty() || digits.size() > 9 || !parseUnsigned<uint64_t>(digits, ~0ull)) {
      throw Malformed{"bad number of seconds '" + std::string(s) + "' (at most 9 decimals)"};
    }
    frac = static_cast<int64_t>(*parseUnsigned<uint64_t>(digits, ~0ull));
    for (size_t i = digits.size(); i < 9; ++i) {
      frac *= 10;
    }
  }
  return std::chrono::seconds(static_cast<int64_t>(*secs)) + Nanos(frac);
}

std::string formatIpv4(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xFF) + "." +
         std::to_string((a >> 8) & 0xFF) + "." + std::to_string(a & 0xFF);
}

class Simulator {
 public:
  Simulator(const SimOptions& options, std::ostream& err, const char* prog)
      : options_(options), err_(err), prog_(prog) {}

  void execute(const std::vector<std::string_view>& t, int line) {
    line_ = line;
    const std::string_view cmd = t[0];
    if (cmd == "service") {
      service(t);
      return;
    }
    if (!sched_) {
      if (cmd == "add" || cmd == "edit" || cmd == "del" || cmd == "conn" || cmd == "established" ||
          cmd == "fin" || cmd == "closed" || cmd == "time") {
        throw Malformed{"'" + std::string(cmd) + "' before the 'service' line"};
      }
      throw Malformed{"unknown command '" + std::string(cmd) + "'"};
    }
    if (cmd == "add" || cmd == "edit") {
      addOrEdit(t, cmd == "add");
    } else if (cmd == "del") {
      del(t);
    } else if (cmd == "conn") {
      conn(t);
    } else if (cmd == "established" || cmd == "fin" || cmd == "closed") {
      connEvent(t);
    } else if (cmd == "time") {
      expectArgs(t, 2, "time <seconds>");
      const Nanos d = parseSeconds(t[1]);
      if (now_ + d > kMaxClock) {
        throw Malformed{"clock beyond 100 years"};
      }
      now_ += d;
      sched_->expire(now_);
    } else {
      throw Malformed{"unknown command '" + std::string(cmd) + "'"};
    }
  }

  const std::string& output() const { return out_; }

 private:
  struct Conn {
    RealServer* server;
    bool active;
  };

  static void expectArgs(const std::vector<std::string_view>& t, size_t n, std::string_view usage) {
    if (t.size() != n) {
      throw Malformed{"expected '" + std::string(usage) + "'"};
    }
  }

  void warn(const std::string& what) {
    err_ << prog_ << ": line " << line_ << ": warning: " << what << "\n";
  }

  void service(const std::vector<std::string_view>& t) {
    if (sched_) {
      throw Malformed{"a second 'service' line (only one service per scenario)"};
    }
    constexpr std::string_view kUsage =
        "service <tcp|udp> <vip>:<port> sched <name> [flags <f1,f2,...>]";
    if ((t.size() != 5 && t.size() != 7) || t[3] != "sched" || (t.size() == 7 && t[5] != "flags")) {
      throw Malformed{"expected '" + std::string(kUsage) + "'"};
    }
    if (t[1] == "tcp") {
      protocol_ = kProtoTcp;
    } else if (t[1] == "udp") {
      protocol_ = kProtoUdp;
    } else {
      throw Malformed{"protocol must be tcp or udp, got '" + std::string(t[1]) + "'"};
    }
    vip_ = parseEndpoint(t[2], "the virtual service").addr;
    const auto kind = schedKindFromName(t[4]);
    if (!kind) {
      throw Malformed{makeScheduler(t[4]).error};
    }
    SchedulerOptions opts;
    opts.mhTableSize = options_.mhTableSize;
    opts.start = now_;
    if (t.size() == 7) {
      std::string error;
      if (!parseSchedFlags(*kind, t[6], &opts.flags, &error)) {
        throw Malformed{error};
      }
    }
    SchedulerResult r = makeScheduler(*kind, opts);
    if (!r) {
      throw Malformed{r.error};
    }
    sched_ = std::move(r.scheduler);
  }

  void addOrEdit(const std::vector<std::string_view>& t, bool add) {
    const std::string usage = std::string(add ? "add" : "edit") +
                              " <ip>:<port> weight <w> [uthreshold <u>] [lthreshold <l>]";
    if (t.size() < 4 || t.size() % 2 != 0 || t[2] != "weight") {
      throw Malformed{"expected '" + usage + "'"};
    }
    const Endpoint ep = parseEndpoint(t[1], "the real server");
    // ipvsadm's range for -w (IPVS itself takes any int >= 0).
    const auto weight = parseUnsigned<int32_t>(t[3], 65535);
    if (!weight) {
      throw Malformed{"bad weight '" + std::string(t[3]) + "' (0..65535)"};
    }
    std::optional<uint32_t> u;
    std::optional<uint32_t> l;
    for (size_t i = 4; i < t.size(); i += 2) {
      std::optional<uint32_t>& slot = t[i] == "uthreshold" ? u : l;
      if ((t[i] != "uthreshold" && t[i] != "lthreshold") || slot) {
        throw Malformed{"expected '" + usage + "'"};
      }
      slot = parseUnsigned<uint32_t>(t[i + 1], 4294967295u);
      if (!slot) {
        throw Malformed{"bad threshold '" + std::string(t[i + 1]) + "' (0..4294967295)"};
      }
    }
    const uint64_t key = serverKey(ep.addr, ep.port);
    const auto it = servers_.find(key);
    const std::string name = formatIpv4(ep.addr) + ":" + std::to_string(ep.port);
    if (add && it != servers_.end()) {
      warn("add " + name + " ignored: the server exists (IPVS refuses it)");
      return;
    }
    if (!add && it == servers_.end()) {
      warn("edit " + name + " ignored: no such server (IPVS refuses it)");
      return;
    }
    ServerParams p;
    p.weight = *weight;
    // An edit keeps the thresholds it does not name; an add starts from 0.
    p.uThreshold = u ? *u : (add ? 0 : it->second->uThreshold());
    p.lThreshold = l ? *l : (add ? 0 : it->second->lThreshold());
    const ParamError e = RealServer::validate(p);
    if (e != ParamError::kNone) {
      warn(std::string(add ? "add " : "edit ") + name + " ignored: " + std::string(toString(e)) +
           " (IPVS refuses it)");
      return;
    }
    if (add) {
      auto server = std::make_unique<RealServer>(ep.addr, ep.port, p);
      sched_->addServer(server.get());
      servers_.emplace(key, std::move(server));
    } else {
      it->second->edit(p);
      sched_->updateServer(it->second.get());
    }
  }

  void del(const std::vector<std::string_view>& t) {
    expectArgs(t, 2, "del <ip>:<port>");
    const Endpoint ep = parseEndpoint(t[1], "the real server");
    const auto it = servers_.find(serverKey(ep.addr, ep.port));
    if (it == servers_.end()) {
      warn("del " + formatIpv4(ep.addr) + ":" + std::to_string(ep.port) +
           " ignored: no such server (IPVS refuses it)");
      return;
    }
    RealServer* s = it->second.get();
    // Its connections disappear with it.
    std::erase_if(conns_, [s](const auto& kv) { return kv.second.server == s; });
    sched_->removeServer(s);
    servers_.erase(it);
  }

  void conn(const std::vector<std::string_view>& t) {
    if ((t.size() != 3 && t.size() != 5) || (t.size() == 5 && t[3] != "dst")) {
      throw Malformed{"expected 'conn <id> <client_ip>:<client_port> [dst <ip>]'"};
    }
    const std::string id(t[1]);
    const Endpoint client = parseEndpoint(t[2], "the client");
    uint32_t dst = vip_;
    if (t.size() == 5) {
      const auto a = parseIpv4(t[4]);
      if (!a) {
        throw Malformed{"bad IPv4 address '" + std::string(t[4]) + "'"};
      }
      dst = *a;
    }
    if (conns_.contains(id)) {
      throw Malformed{"connection id '" + id + "' is still bound"};
    }
    seen_.insert(id);
    const PickKey key{client.addr, client.port, dst, protocol_};
    RealServer* s = sched_->pick(key, now_);
    out_ += id;
    if (s == nullptr) {
      out_ += " none\n";
      return;
    }
    out_ += " " + formatIpv4(s->addr()) + ":" + std::to_string(s->port()) + "\n";
    s->bindConn(/*active=*/false);
    conns_.emplace(id, Conn{s, false});
  }

  void connEvent(const std::vector<std::string_view>& t) {
    const std::string_view cmd = t[0];
    expectArgs(t, 2, std::string(cmd) + " <id>");
    const std::string id(t[1]);
    const auto it = conns_.find(id);
    if (it == conns_.end()) {
      if (!seen_.contains(id)) {
        warn(std::string(cmd) + " " + id + " ignored: no conn line named this id");
      }
      return;
    }
    Conn& c = it->second;
    if (cmd == "established") {
      if (protocol_ == kProtoTcp && !c.active) {
        c.server->connActivated();
        c.active = true;
      }
    } else if (cmd == "fin") {
      if (c.active) {
        c.server->connDeactivated();
        c.active = false;
      }
    } else {
      c.server->unbindConn(c.active);
      conns_.erase(it);
    }
  }

  const SimOptions options_;
  std::ostream& err_;
  const char* prog_;
  int line_ = 0;
  uint8_t protocol_ = kProtoTcp;
  uint32_t vip_ = 0;
  std::unique_ptr<Scheduler> sched_;
  std::map<uint64_t, std::unique_ptr<RealServer>> servers_;
  std::unordered_map<std::string, Conn> conns_;
  std::unordered_set<std::string> seen_;
  Nanos now_{0};
  std::string out_;
};

}  // namespace

int runScenario(std::istream& in, std::ostream& out, std::ostream& err, const SimOptions& options,
                const char* prog) {
  Simulator sim(options, err, prog);
  std::string text;
  std::vector<std::string_view> tokens;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    std::string_view rest(text);
    rest = rest.substr(0, rest.find('#'));
    tokens.clear();
    while (true) {
      const size_t b = rest.find_first_not_of(" \t\r\f\v");
      if (b == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(b);
      const size_t e = rest.find_first_of(" \t\r\f\v");
      tokens.push_back(rest.substr(0, e));
      if (e == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(e);
    }
    if (tokens.empty()) {
      continue;
    }
    try {
      sim.execute(tokens, line);
    } catch (const Malformed& m) {
      err << prog << ": line " << line << ": " << m.why << "\n";
      return kExitMalformed;
    }
  }
  out << sim.output();
  out.flush();
  return kExitOk;
}

}  // namespace dplb::sched::sim
