#include "dplb/admin/cli.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>

namespace dplb::admin {
namespace {

// ipvsadm's MAX_TIMEOUT: 31 days.
constexpr long kMaxTimeout = 86400L * 31;
// ipvsadm's IPVS_SVC_PERSISTENT_TIMEOUT: -p without a value.
constexpr long kDefaultPersistTimeout = 360;

// Option bits, in the order of ipvsadm's optnames[] (those dplb keeps) so the
// error messages name options as ipvsadm does.
enum Opt : unsigned {
  kOptNumeric,
  kOptConnection,
  kOptService,
  kOptScheduler,
  kOptPersistent,
  kOptNetmask,
  kOptServer,
  kOptForward,
  kOptWeight,
  kOptUThreshold,
  kOptLThreshold,
  kOptTimeout,
  kOptStats,
  kOptRate,
  kOptThresholds,
  kOptPersistentConn,
  kOptNoSort,
  kOptExact,
  kOptSchedFlags,
  kOptTunType,
  kOptCount,
};

constexpr std::array<const char*, kOptCount> kOptNames = {
    "numeric",    "connection",  "service-address", "scheduler",
    "persistent", "netmask",     "real-server",     "forwarding-method",
    "weight",     "u-threshold", "l-threshold",     "timeout",
    "stats",      "rate",        "thresholds",      "persistent-conn",
    "nosort",     "exact",       "sched-flags",     "tun-type",
};

// Commands that go through the option check, in table order.
constexpr Command kChecked[] = {
    Command::kAddService, Command::kEditService, Command::kDeleteService, Command::kClear,
    Command::kList,       Command::kAddServer,   Command::kDeleteServer,  Command::kEditServer,
    Command::kSetTimeout, Command::kRestore,     Command::kSave,          Command::kZero,
    Command::kReload,     Command::kStatus,
};
constexpr const char* kCmdNames[] = {
    "add-service", "edit-service", "delete-service", "flush", "list", "add-server", "delete-server",
    "edit-server", "set",          "restore",        "save",  "zero", "reload",     "status",
};
// ipvsadm's commands_v_options: '+' compulsory, 'x' illegal, '1' at most one
// of the '1' options, ' ' optional. One column per enum Opt, in order:
// -n -c svc -s -p -M -r fwd -w -x -y --timeout --stats --rate --thresholds
// --persistent-conn --nosort --exact -b --tun-type.
constexpr const char* kTable[] = {
    "xx+   xxxxxxxxxxxx x",  // add-service
    "xx+   xxxxxxxxxxxx x",  // edit-service
    "xx+xxxxxxxxxxxxxxxxx",  // delete-service
    "xxxxxxxxxxxxxxxxxxxx",  // flush
    " 11xxxxxxxx1      xx",  // list
    "xx+xxx+    xxxxxxxx ",  // add-server
    "xx+xxx+xxxxxxxxxxxxx",  // delete-server
    "xx+xxx+    xxxxxxxx ",  // edit-server
    "xxxxxxxxxxxxxxxxxxxx",  // set
    "xxxxxxxxxxxxxxxxxxxx",  // restore
    " xxxxxxxxxxxxxxxxxxx",  // save
    "xx xxxxxxxxxxxxxxxxx",  // zero
    "xxxxxxxxxxxxxxxxxxxx",  // reload
    "xxxxxxxxxxxxxxxxxxxx",  // status
};
static_assert(std::size(kTable) == std::size(kChecked) &&
              std::size(kCmdNames) == std::size(kChecked));
static_assert([] {
  for (const char* row : kTable) {
    if (std::string_view(row).size() != kOptCount) {
      return false;
    }
  }
  return true;
}());

enum class Arg { kNone, kRequired, kOptional };

// Tags of options without a short name; above the ASCII range as in ipvsadm.
enum Tag : int {
  kTagSet = 128,
  kTagTimeout,
  kTagStats,
  kTagRate,
  kTagThresholds,
  kTagPersistentConn,
  kTagSort,
  kTagNoSort,
  kTagTunType,
  kTagReload,
  kTagStatus,
  kTagVersion,
  kTagUnsupported,
};

struct OptSpec {
  char shortName;  // 0: long only
  const char* longName;
  int tag;
  Arg arg;
};

constexpr OptSpec kSpecs[] = {
    {'A', "add-service", 'A', Arg::kNone},
    {'E', "edit-service", 'E', Arg::kNone},
    {'D', "delete-service", 'D', Arg::kNone},
    {'C', "clear", 'C', Arg::kNone},
    {'L', "list", 'L', Arg::kNone},
    {'l', nullptr, 'L', Arg::kNone},
    {'Z', "zero", 'Z', Arg::kNone},
    {'a', "add-server", 'a', Arg::kNone},
    {'e', "edit-server", 'e', Arg::kNone},
    {'d', "delete-server", 'd', Arg::kNone},
    {0, "set", kTagSet, Arg::kNone},
    {'h', "help", 'h', Arg::kNone},
    {'v', "version", kTagVersion, Arg::kNone},
    {'R', "restore", 'R', Arg::kNone},
    {'S', "save", 'S', Arg::kNone},
    {0, "reload", kTagReload, Arg::kNone},
    {0, "status", kTagStatus, Arg::kNone},
    {'t', "tcp-service", 't', Arg::kRequired},
    {'u', "udp-service", 'u', Arg::kRequired},
    {'s', "scheduler", 's', Arg::kRequired},
    {'p', "persistent", 'p', Arg::kOptional},
    {'M', "netmask", 'M', Arg::kRequired},
    {'r', "real-server", 'r', Arg::kRequired},
    {'m', "masquerading", 'm', Arg::kNone},
    {'i', "ipip", 'i', Arg::kNone},
    {'g', "gatewaying", 'g', Arg::kNone},
    {'w', "weight", 'w', Arg::kRequired},
    {'x', "u-threshold", 'x', Arg::kRequired},
    {'y', "l-threshold", 'y', Arg::kRequired},
    {'n', "numeric", 'n', Arg::kNone},
    {'c', "connection", 'c', Arg::kNone},
    {'b', "sched-flags", 'b', Arg::kRequired},
    {'X', "exact", 'X', Arg::kNone},
    {0, "timeout", kTagTimeout, Arg::kNone},
    {0, "stats", kTagStats, Arg::kNone},
    {0, "rate", kTagRate, Arg::kNone},
    {0, "thresholds", kTagThresholds, Arg::kNone},
    {0, "persistent-conn", kTagPersistentConn, Arg::kNone},
    {0, "sort", kTagSort, Arg::kNone},
    {0, "nosort", kTagNoSort, Arg::kNone},
    {0, "tun-type", kTagTunType, Arg::kRequired},
    // ipvsadm options dplb has no counterpart for: named in a clear error
    // rather than "unknown option".
    {'f', "fwmark-service", kTagUnsupported, Arg::kRequired},
    {'6', "ipv6", kTagUnsupported, Arg::kNone},
    {'o', "ops", kTagUnsupported, Arg::kNone},
    {0, "start-daemon", kTagUnsupported, Arg::kRequired},
    {0, "stop-daemon", kTagUnsupported, Arg::kRequired},
    {0, "daemon", kTagUnsupported, Arg::kNone},
    {0, "mcast-interface", kTagUnsupported, Arg::kRequired},
    {0, "syncid", kTagUnsupported, Arg::kRequired},
    {0, "pe", kTagUnsupported, Arg::kRequired},
    {0, "tun-port", kTagUnsupported, Arg::kRequired},
    {0, "tun-nocsum", kTagUnsupported, Arg::kNone},
    {0, "tun-csum", kTagUnsupported, Arg::kNone},
    {0, "tun-remcsum", kTagUnsupported, Arg::kNone},
};

struct Fail {
  std::string message;
};

struct Event {
  const OptSpec* spec;
  std::string spelled;  // as written, for error messages
  std::optional<std::string> arg;
};

struct Endpoint {
  std::string address;
  uint16_t port = 0;
  bool hasPort = false;
};

// Everything one command line says, before it becomes a request.
struct State {
  std::optional<Command> command;
  unsigned options = 0;
  ListFormat format;
  std::string protocol;
  Endpoint service;
  std::string scheduler;
  bool persistent = false;
  long timeout = 0;
  std::string netmask = "255.255.255.255";
  std::vector<std::string> schedFlags;
  Endpoint server;
  std::string forward = "dr";  // ipvsadm: direct routing unless -m or -i
  long weight = 1;
  long uThreshold = 0;
  long lThreshold = 0;
  std::string tunType;
  std::vector<std::string> positional;
};

const OptSpec* findShort(char c) {
  for (const auto& s : kSpecs) {
    if (s.shortName == c) {
      return &s;
    }
  }
  return nullptr;
}

const OptSpec* findLong(std::string_view name) {
  for (const auto& s : kSpecs) {
    if (s.longName != nullptr && name == s.longName) {
      return &s;
    }
  }
  return nullptr;
}

// popt's view of argv: options (short clusters like -Ln, -p360, --x=y) and
// positional arguments. A bad option is reported only once the command is
// known, as popt does, so it is kept as an event with no spec.
struct Tokens {
  std::vector<Event> events;
  std::vector<std::string> positional;
  std::optional<std::pair<std::string, std::string>> error;  // option, popt's reason
  size_t errorAt = 0;                                        // events before the error
};

Tokens tokenize(const std::vector<std::string>& args) {
  Tokens t;
  auto setError = [&t](std::string opt, std::string why) {
    if (!t.error) {
      t.error = {std::move(opt), std::move(why)};
      t.errorAt = t.events.size();
    }
  };
  bool onlyPositional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (onlyPositional || a.size() < 2 || a[0] != '-') {
      t.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      onlyPositional = true;
      continue;
    }
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2);
      std::optional<std::string> value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      const OptSpec* spec = findLong(name);
      if (spec == nullptr) {
        setError(a, "unknown option");
        continue;
      }
      if (spec->arg == Arg::kNone && value) {
        setError(a, "option does not take an argument");
        continue;
      }
      if (spec->arg == Arg::kRequired && !value) {
        if (i + 1 >= args.size()) {
          setError(a, "missing argument");
          continue;
        }
        value = args[++i];
      }
      if (spec->arg == Arg::kOptional && !value && i + 1 < args.size() &&
          args[i + 1].rfind('-', 0) != 0) {
        value = args[++i];
      }
      t.events.push_back({spec, "--" + name, value});
      continue;
    }
    for (size_t j = 1; j < a.size(); ++j) {
      const OptSpec* spec = findShort(a[j]);
      std::string spelled = std::string("-") + a[j];
      if (spec == nullptr) {
        setError(spelled, "unknown option");
        break;
      }
      std::optional<std::string> value;
      if (spec->arg != Arg::kNone) {
        if (j + 1 < a.size()) {
          value = a.substr(j + 1);
        } else if (spec->arg == Arg::kRequired) {
          if (i + 1 >= args.size()) {
            setError(spelled, "missing argument");
            break;
          }
          value = args[++i];
        } else if (i + 1 < args.size() && args[i + 1].rfind('-', 0) != 0) {
          value = args[++i];
        }
        t.events.push_back({spec, spelled, value});
        break;
      }
      t.events.push_back({spec, spelled, value});
    }
  }
  return t;
}

// ipvsadm's string_to_number: the whole string, base 10, within [min, max].
std::optional<long> toNumber(const std::string& s, long min, long max) {
  if (s.empty()) {
    return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

bool isDottedQuad(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

// ipvsadm's parse_service for IPv4: host[:port], port numeric or a service
// name from /etc/services. nullopt when the address is unusable.
std::optional<Endpoint> parseEndpoint(const std::string& text, const std::string& protocol) {
  bool allDigits = !text.empty();
  for (char c : text) {
    allDigits = allDigits && c >= '0' && c <= '9';
  }
  if (allDigits) {
    return std::nullopt;
  }
  Endpoint e;
  std::string addr = text;
  std::optional<std::string> port;
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    addr = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (!isDottedQuad(addr)) {
    return std::nullopt;
  }
  e.address = addr;
  if (port) {
    e.hasPort = true;
    if (auto n = toNumber(*port, 0, 65535)) {
      e.port = static_cast<uint16_t>(*n);
    } else if (const servent* se =
                   getservbyname(port->c_str(), protocol == "udp" ? "udp" : "tcp")) {
      e.port = ntohs(static_cast<uint16_t>(se->s_port));
    } else {
      return std::nullopt;
    }
  }
  return e;
}

// ipvsadm -b: comma-separated scheduler flags, named per scheduler.
std::vector<std::string> parseSchedFlags(const std::string& text, const std::string& scheduler) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string flag;
  while (std::getline(ss, flag, ',')) {
    std::string name = flag;
    if (flag == "flag-1" || flag == "flag-2" || flag == "flag-3") {
      // The generic names mean the per-scheduler ones of sh and mh.
      if ((scheduler == "sh" || scheduler == "mh") && flag != "flag-3") {
        name = scheduler + (flag == "flag-1" ? "-fallback" : "-port");
      }
    } else if (flag == "sh-fallback" || flag == "sh-port" || flag == "mh-fallback" ||
               flag == "mh-port") {
      if (flag.compare(0, 2, scheduler) != 0) {
        throw Fail{"incompatible scheduler flag `" + flag + "'"};
      }
    } else {
      throw Fail{"invalid scheduler flag `" + flag + "'"};
    }
    bool seen = false;
    for (const auto& f : out) {
      seen = seen || f == name;
    }
    if (!seen) {
      out.push_back(name);
    }
  }
  return out;
}

void setOption(State& st, Opt o) {
  if ((st.options & (1U << o)) != 0) {
    throw Fail{std::string("multiple '") + kOptNames[o] + "' options specified"};
  }
  st.options |= 1U << o;
}

std::string tryHelp(std::string_view program) {
  std::string p(program);
  return "Try `" + p + " -h' or '" + p + " --help' for more information.";
}

std::optional<Command> commandOf(int tag) {
  switch (tag) {
    case 'A':
      return Command::kAddService;
    case 'E':
      return Command::kEditService;
    case 'D':
      return Command::kDeleteService;
    case 'C':
      return Command::kClear;
    case 'L':
      return Command::kList;
    case 'Z':
      return Command::kZero;
    case 'a':
      return Command::kAddServer;
    case 'e':
      return Command::kEditServer;
    case 'd':
      return Command::kDeleteServer;
    case kTagSet:
      return Command::kSetTimeout;
    case 'h':
      return Command::kHelp;
    case kTagVersion:
      return Command::kVersion;
    case 'R':
      return Command::kRestore;
    case 'S':
      return Command::kSave;
    case kTagReload:
      return Command::kReload;
    case kTagStatus:
      return Command::kStatus;
    default:
      return std::nullopt;
  }
}

void applyOption(State& st, const Event& ev) {
  const std::string arg = ev.arg.value_or("");
  switch (ev.spec->tag) {
    case 't':
    case 'u': {
      setOption(st, kOptService);
      st.protocol = ev.spec->tag == 't' ? "tcp" : "udp";
      auto e = parseEndpoint(arg, st.protocol);
      if (!e) {
        throw Fail{"illegal virtual server address[:port] specified"};
      }
      st.service = *e;
      break;
    }
    case 's':
      setOption(st, kOptScheduler);
      st.scheduler = arg;
      break;
    case 'p': {
      setOption(st, kOptPersistent);
      st.persistent = true;
      if (!ev.arg) {
        st.timeout = kDefaultPersistTimeout;
      } else if (auto n = toNumber(arg, 1, kMaxTimeout)) {
        st.timeout = *n;
      } else {
        throw Fail{"invalid timeout value `" + arg + "' specified"};
      }
      break;
    }
    case 'M':
      setOption(st, kOptNetmask);
      if (!isDottedQuad(arg)) {
        throw Fail{"illegal virtual server persistent mask specified"};
      }
      st.netmask = arg;
      break;
    case 'r': {
      setOption(st, kOptServer);
      auto e = parseEndpoint(arg, st.protocol);
      if (!e) {
        throw Fail{"illegal real server address[:port] specified"};
      }
      st.server = *e;
      break;
    }
    case 'm':
      setOption(st, kOptForward);
      st.forward = "nat";
      break;
    case 'i':
      setOption(st, kOptForward);
      st.forward = "tun";
      break;
    case 'g':
      setOption(st, kOptForward);
      st.forward = "dr";
      break;
    case 'w':
      setOption(st, kOptWeight);
      if (auto n = toNumber(arg, 0, 65535)) {
        st.weight = *n;
      } else {
        throw Fail{"illegal weight specified"};
      }
      break;
    case 'x':
      setOption(st, kOptUThreshold);
      if (auto n = toNumber(arg, 0, INT_MAX)) {
        st.uThreshold = *n;
      } else {
        throw Fail{"illegal u_threshold specified"};
      }
      break;
    case 'y':
      setOption(st, kOptLThreshold);
      if (auto n = toNumber(arg, 0, INT_MAX)) {
        st.lThreshold = *n;
      } else {
        throw Fail{"illegal l_threshold specified"};
      }
      break;
    case 'n':
      setOption(st, kOptNumeric);
      st.format.numeric = true;
      break;
    case 'c':
      setOption(st, kOptConnection);
      st.format.connections = true;
      break;
    case 'b':
      setOption(st, kOptSchedFlags);
      // Checked against the scheduler once every option is known (-b may
      // come before -s).
      st.schedFlags = {arg};
      break;
    case 'X':
      setOption(st, kOptExact);
      st.format.exact = true;
      break;
    case kTagTimeout:
      setOption(st, kOptTimeout);
      st.format.timeout = true;
      break;
    case kTagStats:
      setOption(st, kOptStats);
      st.format.stats = true;
      break;
    case kTagRate:
      setOption(st, kOptRate);
      st.format.rate = true;
      break;
    case kTagThresholds:
      setOption(st, kOptThresholds);
      st.format.thresholds = true;
      break;
    case kTagPersistentConn:
      setOption(st, kOptPersistentConn);
      st.format.persistentConn = true;
      break;
    case kTagSort:
      // Sorting is the default; accepted for compatibility as ipvsadm does.
      break;
    case kTagNoSort:
      setOption(st, kOptNoSort);
      st.format.noSort = true;
      break;
    case kTagTunType:
      setOption(st, kOptTunType);
      if (arg != "ipip") {
        if (arg == "gue" || arg == "gre") {
          throw Fail{"tunnel type `" + arg + "' is not supported by dplb (only ipip)"};
        }
        throw Fail{"illegal tunnel type `" + arg + "' specified"};
      }
      st.tunType = arg;
      break;
    case kTagUnsupported:
      throw Fail{"option '" + ev.spelled + "' is not supported by dplb"};
    default:
      throw Fail{"invalid option `" + ev.spelled + "'"};
  }
}

void checkOptions(Command cmd, unsigned options) {
  size_t row = 0;
  while (row < std::size(kChecked) && kChecked[row] != cmd) {
    ++row;
  }
  if (row == std::size(kChecked)) {
    return;
  }
  int last = -1;
  for (unsigned j = 0; j < kOptCount; ++j) {
    const char rule = kTable[row][j];
    if ((options & (1U << j)) == 0) {
      if (rule == '+') {
        throw Fail{std::string("You need to supply the '") + kOptNames[j] + "' option for the '" +
                   kCmdNames[row] + "' command"};
      }
      continue;
    }
    if (rule == 'x') {
      throw Fail{std::string("Illegal '") + kOptNames[j] + "' option with the '" + kCmdNames[row] +
                 "' command"};
    }
    if (rule == '1') {
      if (last < 0) {
        last = static_cast<int>(j);
        continue;
      }
      throw Fail{std::string("The option '") + kOptNames[j] + "' conflicts with the '" +
                 kOptNames[last] + "' option in the '" + kCmdNames[row] + "' command"};
    }
  }
}

nlohmann::json serviceKey(const State& st) {
  return {{"protocol", st.protocol}, {"address", st.service.address}, {"port", st.service.port}};
}

nlohmann::json buildRequest(const State& st) {
  using nlohmann::json;
  switch (*st.command) {
    case Command::kAddService:
    case Command::kEditService: {
      json svc = serviceKey(st);
      svc["scheduler"] = st.scheduler;
      svc["sched_flags"] = st.schedFlags;
      svc["persistent"] = st.persistent;
      svc["timeout"] = st.persistent ? st.timeout : 0;
      svc["netmask"] = st.netmask;
      return {{"cmd", *st.command == Command::kAddService ? "add_service" : "edit_service"},
              {"service", svc}};
    }
    case Command::kDeleteService:
      return {{"cmd", "delete_service"}, {"service", serviceKey(st)}};
    case Command::kClear:
      return {{"cmd", "clear"}};
    case Command::kAddServer:
    case Command::kEditServer: {
      json srv = {{"address", st.server.address}, {"port", st.server.port},
                  {"forward", st.forward},        {"weight", st.weight},
                  {"u_threshold", st.uThreshold}, {"l_threshold", st.lThreshold}};
      if (st.forward == "tun") {
        srv["tun_type"] = "ipip";
      }
      return {{"cmd", *st.command == Command::kAddServer ? "add_server" : "edit_server"},
              {"service", serviceKey(st)},
              {"server", srv}};
    }
    case Command::kDeleteServer:
      return {{"cmd", "delete_server"},
              {"service", serviceKey(st)},
              {"server", {{"address", st.server.address}, {"port", st.server.port}}}};
    case Command::kZero: {
      json r = {{"cmd", "zero"}};
      if ((st.options & (1U << kOptService)) != 0) {
        r["service"] = serviceKey(st);
      }
      return r;
    }
    case Command::kList: {
      if (st.format.connections) {
        return {{"cmd", "connections"}};
      }
      if (st.format.timeout) {
        return {{"cmd", "get_timeout"}};
      }
      json r = {{"cmd", "list"}};
      if ((st.options & (1U << kOptService)) != 0) {
        r["service"] = serviceKey(st);
      }
      return r;
    }
    case Command::kSave:
      return {{"cmd", "list"}};
    case Command::kReload:
      return {{"cmd", "reload"}};
    case Command::kStatus:
      return {{"cmd", "status"}};
    default:
      return nullptr;
  }
}

// ipvsadm's process_options minus the kernel call. `inRestore` rejects what
// a restore line may not contain.
Invocation parseOrThrow(const std::vector<std::string>& args, std::string_view program,
                        bool inRestore) {
  State st;
  Tokens tok = tokenize(args);
  if (args.empty() && !inRestore) {
    // ipvsadm with no argument lists the table.
    Invocation inv;
    inv.command = Command::kList;
    inv.request = {{"cmd", "list"}};
    return inv;
  }
  if (tok.events.empty() || (tok.error && tok.errorAt == 0) ||
      !commandOf(tok.events.front().spec->tag)) {
    throw Fail{tryHelp(program)};
  }
  st.command = commandOf(tok.events.front().spec->tag);
  if (*st.command == Command::kHelp || *st.command == Command::kVersion) {
    if (inRestore) {
      throw Fail{tryHelp(program)};
    }
    Invocation inv;
    inv.command = *st.command;
    return inv;
  }
  for (size_t i = 1; i < tok.events.size(); ++i) {
    if (tok.error && i >= tok.errorAt) {
      break;
    }
    const Event& ev = tok.events[i];
    if (commandOf(ev.spec->tag)) {
      throw Fail{"multiple commands specified"};
    }
    applyOption(st, ev);
  }
  if (tok.error) {
    throw Fail{tok.error->first + ": " + tok.error->second};
  }
  if (*st.command == Command::kRestore && inRestore) {
    // ipvsadm: "avoid infinite loop".
    throw Fail{tryHelp(program)};
  }

  size_t used = 0;
  nlohmann::json timeouts;
  if (*st.command == Command::kSetTimeout) {
    if (tok.positional.size() < 3) {
      throw Fail{"--set option requires 3 timeout values"};
    }
    const char* keys[] = {"tcp", "tcpfin", "udp"};
    timeouts = {{"cmd", "set_timeout"}};
    for (size_t k = 0; k < 3; ++k) {
      auto n = toNumber(tok.positional[k], 0, kMaxTimeout);
      if (!n) {
        throw Fail{"invalid timeout value `" + tok.positional[k] + "' specified"};
      }
      timeouts[keys[k]] = *n;
    }
    used = 3;
  }
  if (tok.positional.size() > used) {
    throw Fail{"unexpected argument " + tok.positional[used]};
  }

  checkOptions(*st.command, st.options);

  const Command cmd = *st.command;
  if (cmd == Command::kAddService || cmd == Command::kEditService) {
    if (st.service.port == 0 && !st.persistent) {
      throw Fail{"Zero port specified for non-persistent service"};
    }
    if (st.scheduler.empty()) {
      st.scheduler = "wlc";  // ipvsadm's DEF_SCHED
    }
    if (!st.schedFlags.empty()) {
      st.schedFlags = parseSchedFlags(st.schedFlags.front(), st.scheduler);
    }
  }
  if (cmd == Command::kAddServer || cmd == Command::kEditServer || cmd == Command::kDeleteServer) {
    if (!st.server.hasPort) {
      st.server.port = st.service.port;
    }
    if (!st.tunType.empty() && st.forward != "tun") {
      throw Fail{"tun-type is only valid with ipip forwarding (-i)"};
    }
  }
  if ((cmd == Command::kAddServer || cmd == Command::kEditServer) &&
      (st.forward == "dr" || st.forward == "tun")) {
    // DR and TUN cannot change the port: the packet is not rewritten.
    st.server.port = st.service.port;
  }
  if (cmd == Command::kList) {
    const auto& f = st.format;
    if ((f.connections || f.timeout) && (f.stats || f.persistentConn || f.rate || f.thresholds)) {
      throw Fail{"options conflicts in the list command"};
    }
    st.format.oneService = (st.options & (1U << kOptService)) != 0;
  }
  if (inRestore && cmd != Command::kAddService && cmd != Command::kEditService &&
      cmd != Command::kDeleteService && cmd != Command::kClear && cmd != Command::kAddServer &&
      cmd != Command::kEditServer && cmd != Command::kDeleteServer && cmd != Command::kZero &&
      cmd != Command::kSetTimeout) {
    throw Fail{"only -A -E -D -C -a -e -d -Z --set may appear in restore input"};
  }

  Invocation inv;
  inv.command = cmd;
  inv.format = st.format;
  inv.request = cmd == Command::kSetTimeout ? timeouts : buildRequest(st);
  return inv;
}

}  // namespace

ParseResult parseCommandLine(const std::vector<std::string>& args, std::string_view program) {
  try {
    return parseOrThrow(args, program, false);
  } catch (const Fail& f) {
    return ParseError{f.message, 2};
  }
}

ParseResult parseRestore(std::string_view text) {
  nlohmann::json commands = nlohmann::json::array();
  size_t lineNo = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineNo;
    std::vector<std::string> words;
    std::string word;
    for (char c : line) {
      if (c == ' ' || c == '\t' || c == '\r') {
        if (!word.empty()) {
          words.push_back(std::move(word));
          word.clear();
        }
      } else {
        word.push_back(c);
      }
    }
    if (!word.empty()) {
      words.push_back(std::move(word));
    }
    if (words.empty() || words.front().front() == '#') {
      continue;
    }
    try {
      Invocation inv = parseOrThrow(words, "dplbadm", true);
      commands.push_back(std::move(inv.request));
    } catch (const Fail& f) {
      return ParseError{"restore: line " + std::to_string(lineNo) + ": " + f.message, 2};
    }
  }
  Invocation inv;
  inv.command = Command::kRestore;
  inv.request = {{"cmd", "restore"}, {"commands", std::move(commands)}};
  return inv;
}

std::string extractSocket(std::vector<std::string>& args, std::string& socket) {
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") {
      rest.insert(rest.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (args[i] == "--socket") {
      if (i + 1 >= args.size() || args[i + 1].empty()) {
        return "--socket: missing argument";
      }
      socket = args[++i];
    } else if (args[i].rfind("--socket=", 0) == 0) {
      socket = args[i].substr(9);
      if (socket.empty()) {
        return "--socket: missing argument";
      }
    } else {
      rest.push_back(args[i]);
    }
  }
  args = std::move(rest);
  return "";
}

std::string usage(std::string_view program, std::string_view version) {
  const std::string p(program);
  std::string out = p + " " + std::string(version) + " (dplb, ipvsadm-compatible)\n";
  out += "Usage:\n";
  out += "  " + p + " -A|E -t|u service-address [-s scheduler] [-p [timeout]] [-M netmask]\n";
  out += "        [-b sched-flags]\n";
  out += "  " + p + " -D -t|u service-address\n";
  out += "  " + p + " -C\n";
  out += "  " + p + " -R\n";
  out += "  " + p + " -S [-n]\n";
  out += "  " + p + " -a|e -t|u service-address -r server-address [options]\n";
  out += "  " + p + " -d -t|u service-address -r server-address\n";
  out += "  " + p + " -L|l [-t|u service-address] [options]\n";
  out += "  " + p + " -Z [-t|u service-address]\n";
  out += "  " + p + " --set tcp tcpfin udp\n";
  out += "  " + p + " --reload | --status | --version | -h\n";
  out += "Any command takes --socket PATH (else $DPLB_SOCKET, else /run/dplb/dplb.sock).\n\n";
  out += "Commands:\n";
  out += "  --add-service     -A        add virtual service with options\n";
  out += "  --edit-service    -E        edit virtual service with options\n";
  out += "  --delete-service  -D        delete virtual service\n";
  out += "  --clear           -C        clear the whole table\n";
  out += "  --restore         -R        restore rules from stdin (all or nothing)\n";
  out += "  --save            -S        save rules to stdout\n";
  out += "  --add-server      -a        add real server with options\n";
  out += "  --edit-server     -e        edit real server with options\n";
  out += "  --delete-server   -d        delete real server\n";
  out += "  --list            -L|-l     list the table\n";
  out += "  --zero            -Z        zero counters in a service or all services\n";
  out += "  --set tcp tcpfin udp        set connection timeout values\n";
  out += "  --reload                    reload dplbd's configuration file\n";
  out += "  --status                    show dplbd's status\n";
  out += "  --version         -v        show the version\n";
  out += "  --help            -h        display this help message\n\n";
  out += "Options:\n";
  out += "  --tcp-service  -t service-address   service-address is host[:port]\n";
  out += "  --udp-service  -u service-address   service-address is host[:port]\n";
  out += "  --scheduler    -s scheduler         rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|mh|fo|ovf,\n";
  out += "                                      the default scheduler is wlc.\n";
  out += "  --persistent   -p [timeout]         persistent service (default 360 s)\n";
  out += "  --netmask      -M netmask           persistent granularity mask\n";
  out += "  --sched-flags  -b flags             sh-fallback, sh-port, mh-fallback, mh-port\n";
  out += "  --real-server  -r server-address    server-address is host (and port)\n";
  out += "  --gatewaying   -g                   gatewaying (direct routing) (default)\n";
  out += "  --ipip         -i                   ipip encapsulation (tunneling)\n";
  out += "  --masquerading -m                   masquerading (NAT)\n";
  out += "  --tun-type     type                 ipip (the only tunnel type of dplb)\n";
  out += "  --weight       -w weight            capacity of real server (0..65535)\n";
  out += "  --u-threshold  -x uthreshold        upper threshold of connections\n";
  out += "  --l-threshold  -y lthreshold        lower threshold of connections\n";
  out += "  --connection   -c                   output of current connections\n";
  out += "  --timeout                           output of timeout (tcp tcpfin udp)\n";
  out += "  --stats                             output of statistics information\n";
  out += "  --rate                              output of rate information\n";
  out += "  --exact                             expand numbers (display exact values)\n";
  out += "  --thresholds                        output of thresholds information\n";
  out += "  --persistent-conn                   output of persistent connection info\n";
  out += "  --nosort                            disable sorting of services and servers\n";
  out += "  --sort                              does nothing, for backwards compatibility\n";
  out += "  --numeric      -n                   numeric output (always, dplbadm never\n";
  out += "                                      resolves names)\n";
  return out;
}

}  // namespace dplb::admin
