// Health-checker CPU benchmark (issue 7 item 2: "hundreds of servers checked
// every second cost a few percent of one core"). It prints a table; it is
// never a pass/fail test.
//
// Method (also printed under the table):
// - One epoll thread of this process serves loopback listeners bound to
//   127.0.0.1 on port 0: TCP accept+close, HTTP/1.1 200, HTTPS (OpenSSL, a CA
//   and a server certificate generated at run time, one pair per key type)
//   and UDP echo.
// - For each case a fresh, real hc::Prober is driven the way dplbd's health
//   manager drives it: N targets, each submitted once per interval, their
//   start times spread evenly over the interval (what the random warm-up
//   achieves), from one scheduling thread. The first interval is warm-up;
//   the next D seconds are measured.
// - CPU is per thread (CLOCK_THREAD_CPUTIME_ID through pthread_getcpuclockid):
//   the prober's loop thread is identified from inside a probe callback,
//   which runs on it; the server thread and the scheduling thread are
//   measured the same way. Process CPU minus those three is printed as
//   "other", a check that nothing was missed.
// - Latency is ProbeResult::latency (probe start on the loop thread to
//   verdict); "e2e p99" runs from submit() to the callback and so includes
//   queueing in the prober.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dplb/hc/prober.h"

namespace dplb::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// The name in the server certificates, the Host header and the SNI.
constexpr const char* kServerName = "hcbench.test";
constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
    "Connection: close\r\n\r\nok\n";
constexpr const char* kUdpPayload = "dplb-hc-ping";

[[noreturn]] void die(const std::string& what) {
  throw std::runtime_error(what + (errno != 0 ? std::string(": ") + std::strerror(errno) : ""));
}

double threadCpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// ------------------------------------------------------- certificates --

enum class KeyKind { EcP256, Rsa2048 };

const char* keyLabel(KeyKind k) {
  return k == KeyKind::EcP256 ? "EC P-256" : "RSA 2048";
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

[[noreturn]] void dieSsl(const std::string& what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  throw std::runtime_error(what + ": " + buf);
}

PkeyPtr makeKey(KeyKind k) {
  PkeyPtr key(k == KeyKind::EcP256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048));
  if (!key) {
    dieSsl("key generation");
  }
  return key;
}

void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr || X509_add_ext(cert, ext, -1) != 1) {
    dieSsl("certificate extension");
  }
  X509_EXTENSION_free(ext);
}

// A certificate for `key`, signed by `issuerKey` (self-signed when issuer is null).
X509Ptr makeCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuerKey, long serial) {
  X509Ptr cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : x;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  if (issuer == nullptr) {
    addExt(x, signer, NID_basic_constraints, "critical,CA:TRUE");
    addExt(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExt(x, signer, NID_basic_constraints, "CA:FALSE");
    addExt(x, signer, NID_ext_key_usage, "serverAuth");
    addExt(x, signer, NID_subject_alt_name, (std::string("DNS:") + kServerName).c_str());
  }
  if (X509_sign(x, issuerKey, EVP_sha256()) <= 0) {
    dieSsl("certificate signing");
  }
  return cert;
}

// A CA and a server certificate signed by it, both with keys of one kind (a
// realistic chain: the prober verifies one signature made with that kind).
struct TlsMaterial {
  KeyKind kind;
  std::string caFile;
  SslCtxPtr serverCtx;
};

TlsMaterial makeTls(KeyKind kind, const std::filesystem::path& dir) {
  PkeyPtr caKey = makeKey(kind);
  X509Ptr ca = makeCert(caKey.get(), "dplb hc bench CA", nullptr, caKey.get(), 1);
  PkeyPtr key = makeKey(kind);
  X509Ptr leaf = makeCert(key.get(), kServerName, ca.get(), caKey.get(), 2);

  TlsMaterial m{kind, (dir / (kind == KeyKind::EcP256 ? "ca-p256.pem" : "ca-rsa2048.pem")).string(),
                SslCtxPtr(SSL_CTX_new(TLS_server_method()))};
  FILE* f = std::fopen(m.caFile.c_str(), "w");
  if (f == nullptr || PEM_write_X509(f, ca.get()) != 1) {
    die("writing " + m.caFile);
  }
  std::fclose(f);
  SSL_CTX* ctx = m.serverCtx.get();
  if (ctx == nullptr || SSL_CTX_use_certificate(ctx, leaf.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    dieSsl("server TLS context");
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  return m;
}

// --------------------------------------------------------- the servers --

// One epoll thread serving every listener. Kept simple but non-blocking
// throughout, so a slow peer never stalls the others.
class ServerLoop {
 public:
  enum class Kind { Tcp, Http, Https, Udp };

  ServerLoop() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd_ < 0 || wakefd_ < 0) {
      die("server epoll");
    }
    add(wakefd_, EPOLLIN, &wake_);
  }
  ~ServerLoop() {
    if (thread_.joinable()) {
      stop_ = true;
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(wakefd_, &one, sizeof(one));
      thread_.join();
    }
    conns_.clear();
    for (auto& l : listeners_) {
      close(l->fd);
    }
    close(wakefd_);
    close(epfd_);
  }
  ServerLoop(const ServerLoop&) = delete;
  ServerLoop& operator=(const ServerLoop&) = delete;

  // Before start(): a listener on 127.0.0.1, port chosen by the kernel.
  uint16_t listen(Kind kind, SSL_CTX* tls = nullptr) {
    int type = kind == Kind::Udp ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      die("socket");
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        (type == SOCK_STREAM && ::listen(fd, 4096) != 0) ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      die("listen");
    }
    listeners_.push_back(
        std::make_unique<Listener>(Listener{{Handler::Type::Listener}, fd, kind, tls}));
    add(fd, EPOLLIN, listeners_.back().get());
    return ntohs(sa.sin_port);
  }

  void start() {
    thread_ = std::thread([this] { run(); });
    pthread_getcpuclockid(thread_.native_handle(), &cpuClock_);
  }
  double cpuSeconds() const { return threadCpuSeconds(cpuClock_); }
  uint64_t errors() const { return errors_; }

 private:
  struct Handler {
    enum class Type { Wake, Listener, Conn } type;
  };
  struct Listener : Handler {
    int fd;
    Kind kind;
    SSL_CTX* tls;
  };
  struct Conn : Handler {
    int fd = -1;
    SSL* ssl = nullptr;
    bool handshaken = false;
    bool requestRead = false;
    size_t written = 0;
    std::string in;
    ~Conn() {
      if (ssl != nullptr) {
        SSL_free(ssl);
      }
      if (fd >= 0) {
        close(fd);
      }
    }
  };

  void add(int fd, uint32_t events, Handler* h) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = h;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      die("epoll_ctl");
    }
  }
  void want(Conn* c, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = c;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c->fd, &ev);
  }

  void run() {
    std::vector<epoll_event> events(256);
    while (!stop_) {
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), -1);
      for (int i = 0; i < n; ++i) {
        auto* h = static_cast<Handler*>(events[i].data.ptr);
        if (h->type == Handler::Type::Listener) {
          onListener(*static_cast<Listener*>(h));
        } else if (h->type == Handler::Type::Conn) {
          onConn(static_cast<Conn*>(h));
        }
      }
    }
  }

  void onListener(Listener& l) {
    if (l.kind == Kind::Udp) {
      char buf[2048];
      for (;;) {
        sockaddr_in from{};
        socklen_t len = sizeof(from);
        ssize_t n = recvfrom(l.fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) {
          return;
        }
        if (sendto(l.fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len) <
            0) {
          ++errors_;
        }
      }
    }
    for (;;) {
      int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        return;
      }
      if (l.kind == Kind::Tcp) {
        close(fd);  // a tcp check only needs the handshake
        continue;
      }
      auto c = std::make_unique<Conn>();
      c->type = Handler::Type::Conn;
      c->fd = fd;
      if (l.tls != nullptr) {
        c->ssl = SSL_new(l.tls);
        SSL_set_fd(c->ssl, fd);
      }
      add(fd, EPOLLIN, c.get());
      Conn* raw = c.get();
      conns_.emplace(raw, std::move(c));
    }
  }

  void finish(Conn* c, bool ok) {
    if (!ok) {
      ++errors_;
    }
    conns_.erase(c);  // closing the fd removes it from the epoll set
  }

  // Returns false when the connection is finished (and freed).
  bool sslWait(Conn* c, int r) {
    int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      want(c, err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
      return true;
    }
    ERR_clear_error();
    finish(c, false);
    return false;
  }

  void onConn(Conn* c) {
    if (c->ssl != nullptr && !c->handshaken) {
      ERR_clear_error();
      int r = SSL_accept(c->ssl);
      if (r != 1) {
        sslWait(c, r);
        return;
      }
      c->handshaken = true;
    }
    while (!c->requestRead) {
      char buf[4096];
      ssize_t n;
      if (c->ssl != nullptr) {
        int r = SSL_read(c->ssl, buf, sizeof(buf));
        if (r <= 0) {
          sslWait(c, r);
          return;
        }
        n = r;
      } else {
        n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EAGAIN) {
          want(c, EPOLLIN);
          return;
        }
        if (n <= 0) {
          finish(c, false);
          return;
        }
      }
      c->in.append(buf, static_cast<size_t>(n));
      c->requestRead = c->in.find("\r\n\r\n") != std::string::npos;
    }
    while (c->written < kResponse.size()) {
      const char* p = kResponse.data() + c->written;
      size_t left = kResponse.size() - c->written;
      ssize_t n;
      if (c->ssl != nullptr) {
        int r = SSL_write(c->ssl, p, static_cast<int>(left));
        if (r <= 0) {
          sslWait(c, r);
          return;
        }
        n = r;
      } else {
        n = send(c->fd, p, left, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
          want(c, EPOLLOUT);
          return;
        }
        if (n < 0) {
          finish(c, false);
          return;
        }
      }
      c->written += static_cast<size_t>(n);
    }
    if (c->ssl != nullptr) {
      SSL_shutdown(c->ssl);  // close_notify, as a well-behaved server sends
    }
    finish(c, true);
  }

  int epfd_ = -1;
  int wakefd_ = -1;
  Handler wake_{Handler::Type::Wake};
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;  // loop thread only
  std::thread thread_;
  clockid_t cpuClock_{};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> errors_{0};
};

// ------------------------------------------------------------ one case --

struct Options {
  int targets = 500;
  int64_t intervalMs = 1000;
  int64_t timeoutMs = 1000;
  double seconds = 5;
};

struct CaseSpec {
  std::string name;
  std::string detail;
  conf::HealthCheck check;
  uint16_t port;
};

// What the callbacks record. They run on the prober's loop thread; the mutex
// is never contended for long (the scheduling thread reads only after the
// run).
struct RunStats {
  std::mutex mu;
  Clock::time_point w0 = Clock::time_point::max();
  Clock::time_point w1 = Clock::time_point::max();
  uint64_t done = 0;
  uint64_t inWindow = 0;
  uint64_t failures = 0;
  std::string firstFailure;
  std::vector<int64_t> latencyUs;
  std::vector<int64_t> e2eUs;
  bool haveClock = false;
  clockid_t proberClock{};

  void record(const hc::ProbeResult& r, Clock::time_point submitted) {
    auto now = Clock::now();
    std::lock_guard lock(mu);
    if (!haveClock) {
      // The callback runs on the prober's loop thread: this identifies it.
      pthread_getcpuclockid(pthread_self(), &proberClock);
      haveClock = true;
    }
    ++done;
    if (!r.up) {
      if (failures++ == 0) {
        firstFailure = r.reason;
      }
    }
    if (now >= w0 && now < w1) {
      ++inWindow;
      latencyUs.push_back(r.latency.count());
      e2eUs.push_back(duration_cast<microseconds>(now - submitted).count());
    }
  }
};

struct CpuSnapshot {
  Clock::time_point wall;
  double prober;
  double server;
  double scheduler;
  double process;
};

struct CaseResult {
  double probesPerSec = 0;
  uint64_t failures = 0;
  std::string firstFailure;
  double proberPct = 0;
  double cpuUsPerProbe = 0;
  double serverPct = 0;
  double otherPct = 0;
  double p50Ms = 0;
  double p99Ms = 0;
  double e2eP99Ms = 0;
  double maxLagMs = 0;
};

double percentileMs(std::vector<int64_t>& v, double q) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1000.0;
}

CaseResult runCase(const CaseSpec& spec, const Options& opt, const ServerLoop& server) {
  std::vector<hc::ProbeTarget> targets;
  targets.reserve(static_cast<size_t>(opt.targets));
  for (int i = 0; i < opt.targets; ++i) {
    hc::ProbeTarget t;
    t.address = conf::Ipv4::fromOctets(127, 0, 0, 1);
    t.serverPort = spec.port;
    t.check = spec.check;
    t.service = "bench-" + std::to_string(i);
    targets.push_back(std::move(t));
  }

  RunStats stats;
  auto expected = static_cast<size_t>(static_cast<double>(opt.targets) * opt.seconds * 1000.0 /
                                      static_cast<double>(opt.intervalMs) * 1.2) +
                  16;
  stats.latencyUs.reserve(expected);
  stats.e2eUs.reserve(expected);
  hc::Prober prober;
  auto callback = [&stats](Clock::time_point submitted) {
    return [s = &stats, submitted](const hc::ProbeResult& r) { s->record(r, submitted); };
  };

  // One probe first: finds the loop thread and builds the TLS client context.
  uint64_t submitted = 1;
  prober.submit(targets[0], callback(Clock::now()));
  auto bound = Clock::now() + milliseconds(opt.timeoutMs) + std::chrono::seconds(2);
  for (;;) {
    {
      std::lock_guard lock(stats.mu);
      if (stats.done == 1) {
        break;
      }
    }
    if (Clock::now() > bound) {
      throw std::runtime_error("the priming probe never completed");
    }
    std::this_thread::sleep_for(milliseconds(1));
  }

  auto interval = milliseconds(opt.intervalMs);
  auto t0 = Clock::now() + milliseconds(10);
  auto w0 = t0 + interval;  // one interval of warm-up: every target started once
  auto w1 = w0 + duration_cast<Clock::duration>(std::chrono::duration<double>(opt.seconds));
  {
    std::lock_guard lock(stats.mu);
    stats.w0 = w0;
    stats.w1 = w1;
  }
  auto snapshot = [&]() {
    return CpuSnapshot{Clock::now(), threadCpuSeconds(stats.proberClock), server.cpuSeconds(),
                       threadCpuSeconds(CLOCK_THREAD_CPUTIME_ID),
                       threadCpuSeconds(CLOCK_PROCESS_CPUTIME_ID)};
  };

  std::optional<CpuSnapshot> start;
  CpuSnapshot end{};
  Clock::duration maxLag{};
  const int64_t intervalNs = duration_cast<nanoseconds>(interval).count();
  for (int64_t j = 0;; ++j) {
    auto due = t0 + nanoseconds(intervalNs * j / opt.targets);
    if (!start && due >= w0) {
      std::this_thread::sleep_until(w0);
      start = snapshot();
    }
    if (due >= w1) {
      std::this_thread::sleep_until(w1);
      end = snapshot();
      break;
    }
    std::this_thread::sleep_until(due);
    auto now = Clock::now();
    maxLag = std::max(maxLag, now - due);
    prober.submit(targets[static_cast<size_t>(j % opt.targets)], callback(now));
    ++submitted;
  }

  // Every submitted probe must come back (bounded by its timeout).
  bound = Clock::now() + milliseconds(opt.timeoutMs) + std::chrono::seconds(2);
  for (;;) {
    {
      std::lock_guard lock(stats.mu);
      if (stats.done == submitted) {
        break;
      }
    }
    if (Clock::now() > bound) {
      break;  // reported below as failures
    }
    std::this_thread::sleep_for(milliseconds(1));
  }

  std::lock_guard lock(stats.mu);
  CaseResult r;
  double wall = std::chrono::duration<double>(end.wall - start->wall).count();
  r.probesPerSec = static_cast<double>(stats.inWindow) / wall;
  r.failures = stats.failures + (submitted - stats.done);
  r.firstFailure = stats.done != submitted && stats.firstFailure.empty()
                       ? std::to_string(submitted - stats.done) + " probes never completed"
                       : stats.firstFailure;
  double proberCpu = end.prober - start->prober;
  double serverCpu = end.server - start->server;
  double scheduler = end.scheduler - start->scheduler;
  double process = end.process - start->process;
  r.proberPct = 100.0 * proberCpu / wall;
  r.cpuUsPerProbe = stats.inWindow > 0 ? 1e6 * proberCpu / static_cast<double>(stats.inWindow) : 0;
  r.serverPct = 100.0 * serverCpu / wall;
  r.otherPct = 100.0 * (process - proberCpu - serverCpu - scheduler) / wall;
  r.p50Ms = percentileMs(stats.latencyUs, 0.50);
  r.p99Ms = percentileMs(stats.latencyUs, 0.99);
  r.e2eP99Ms = percentileMs(stats.e2eUs, 0.99);
  r.maxLagMs = std::chrono::duration<double, std::milli>(maxLag).count();
  return r;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/dplb-hcbench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      die("mkdtemp");
    }
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

int run(int argc, char** argv) {
  Options opt;
  std::vector<std::string> types{"tcp", "http", "https", "udp"};
  std::vector<std::string> keys{"p256", "rsa2048"};
  CLI::App app{"dplb health-checker CPU benchmark: a real hc::Prober against loopback servers"};
  app.add_option("--targets", opt.targets, "targets, each probed once per interval")
      ->check(CLI::Range(1, 100000));
  app.add_option("--interval-ms", opt.intervalMs, "probe interval per target")
      ->check(CLI::Range(10, 60000));
  app.add_option("--timeout-ms", opt.timeoutMs, "probe timeout (<= interval)")
      ->check(CLI::Range(1, 60000));
  app.add_option("--seconds", opt.seconds, "measured seconds per case (after one interval)")
      ->check(CLI::Range(0.5, 3600.0));
  app.add_option("--types", types, "check types: tcp http https udp")->delimiter(',');
  app.add_option("--https-keys", keys, "server key types for https: p256 rsa2048")->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  if (opt.timeoutMs > opt.intervalMs) {
    std::fprintf(stderr, "--timeout-ms must not exceed --interval-ms\n");
    return 2;
  }

  // A peer closing early must not kill the benchmark (dplbd ignores it too).
  signal(SIGPIPE, SIG_IGN);
  TempDir dir;
  std::vector<TlsMaterial> tls;
  ServerLoop server;
  std::vector<CaseSpec> cases;
  auto base = [&](conf::HealthCheckType type) {
    conf::HealthCheck c;
    c.type = type;
    c.interval = milliseconds(opt.intervalMs);
    c.timeout = milliseconds(opt.timeoutMs);
    return c;
  };
  for (const auto& t : types) {
    if (t == "tcp") {
      cases.push_back({"tcp", "connect", base(conf::HealthCheckType::Tcp),
                       server.listen(ServerLoop::Kind::Tcp)});
    } else if (t == "http") {
      CaseSpec s{"http", "GET /healthz, 200", base(conf::HealthCheckType::Http),
                 server.listen(ServerLoop::Kind::Http)};
      s.check.http.path = "/healthz";
      s.check.http.host = kServerName;
      cases.push_back(std::move(s));
    } else if (t == "https") {
      for (const auto& k : keys) {
        if (k != "p256" && k != "rsa2048") {
          std::fprintf(stderr, "unknown --https-keys value %s\n", k.c_str());
          return 2;
        }
        KeyKind kind = k == "p256" ? KeyKind::EcP256 : KeyKind::Rsa2048;
        tls.push_back(makeTls(kind, dir.path));
        CaseSpec s{"https", std::string(keyLabel(kind)) + ", verified",
                   base(conf::HealthCheckType::Https),
                   server.listen(ServerLoop::Kind::Https, tls.back().serverCtx.get())};
        s.check.http.path = "/healthz";
        s.check.http.host = kServerName;
        s.check.tls.caFile = tls.back().caFile;
        s.check.tls.verify = true;
        cases.push_back(std::move(s));
      }
    } else if (t == "udp") {
      CaseSpec s{"udp", "echo, exact reply", base(conf::HealthCheckType::Udp),
                 server.listen(ServerLoop::Kind::Udp)};
      s.check.udp.payload = kUdpPayload;
      s.check.udp.expect = kUdpPayload;
      cases.push_back(std::move(s));
    } else {
      std::fprintf(stderr, "unknown --types value %s\n", t.c_str());
      return 2;
    }
  }
  server.start();

  std::printf(
      "dplb health-checker benchmark: %d targets, each probed every %lld ms "
      "(%.0f probes/s offered), timeout %lld ms, %.1f s measured per case\n"
      "%s, %u CPUs online\n\n",
      opt.targets, static_cast<long long>(opt.intervalMs),
      opt.targets * 1000.0 / static_cast<double>(opt.intervalMs),
      static_cast<long long>(opt.timeoutMs), opt.seconds, OpenSSL_version(OPENSSL_VERSION),
      std::thread::hardware_concurrency());
  std::string header =
      fmt::format("{:<6} {:<20} {:>9} {:>5} {:>10} {:>9} {:>10} {:>8} {:>8} {:>8} {:>7}", "check",
                  "detail", "probes/s", "fail", "prober %", "us/probe", "servers %", "p50 ms",
                  "p99 ms", "e2e p99", "other %");
  std::printf("%s\n%s\n", header.c_str(), std::string(header.size(), '-').c_str());
  std::fflush(stdout);

  bool anyFailure = false;
  std::vector<std::string> notes;
  for (const auto& spec : cases) {
    CaseResult r = runCase(spec, opt, server);
    std::printf("%s\n",
                fmt::format("{:<6} {:<20} {:>9.1f} {:>5} {:>10.2f} {:>9.1f} {:>10.2f} {:>8.3f} "
                            "{:>8.3f} {:>8.3f} {:>7.2f}",
                            spec.name, spec.detail, r.probesPerSec, r.failures, r.proberPct,
                            r.cpuUsPerProbe, r.serverPct, r.p50Ms, r.p99Ms, r.e2eP99Ms, r.otherPct)
                    .c_str());
    std::fflush(stdout);
    if (r.failures > 0) {
      anyFailure = true;
      notes.push_back(spec.name + " (" + spec.detail + "): first failure: " + r.firstFailure);
    }
    if (r.maxLagMs > 10) {
      notes.push_back(fmt::format("{} ({}): the scheduling thread fell up to {:.1f} ms behind",
                                  spec.name, spec.detail, r.maxLagMs));
    }
  }
  if (server.errors() > 0) {
    notes.push_back(
        fmt::format("servers: {} connections failed on the server side", server.errors()));
  }
  for (const auto& n : notes) {
    std::printf("! %s\n", n.c_str());
  }
  std::printf(
      "\nprober %%: CPU of the prober's one loop thread / wall time (100 = one core), "
      "found from inside a callback.\nus/probe: that CPU per verdict. servers %%: the one "
      "thread serving every listener (TLS handshakes are\nfull, no resumption, as the prober "
      "keeps no sessions). p50/p99: ProbeResult::latency; e2e p99:\nsubmit() to callback. "
      "other %%: process CPU minus prober, servers and the scheduling thread (~0).\n"
      "All traffic is on 127.0.0.1; the https cases verify a CA-signed certificate of the "
      "key type shown.\n");
  return anyFailure ? 1 : 0;
}

}  // namespace
}  // namespace dplb::bench

int main(int argc, char** argv) {
  try {
    return dplb::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dplb_bench_healthcheck: %s\n", e.what());
    return 1;
  }
}
