#include "dplb/hc/prober.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dplb/hc/dampener.h"
#include "dplb/hc/wire.h"

namespace dplb::hc {

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// Bounds what a misbehaving server can make us buffer; health endpoints answer
// with a few bytes to a few KiB.
constexpr size_t kMaxResponse = 1 << 20;
constexpr size_t kMaxDatagram = 65536;

std::string errnoReason(int err) {
  switch (err) {
    case ECONNREFUSED:
      return "connection refused";
    case ECONNRESET:
      return "connection reset by peer";
    case EHOSTUNREACH:
      return "host unreachable";
    case ENETUNREACH:
      return "network unreachable";
    default:
      return std::strerror(err);
  }
}

int socketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
    return errno;
  }
  return err;
}

sockaddr_in toSockaddr(conf::Ipv4 addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(addr.value);
  return sa;
}

std::string msText(conf::Duration d) {
  return std::to_string(d.count()) + " ms";
}

bool isIpLiteral(const std::string& s) {
  in_addr a{};
  in6_addr a6{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// Drains OpenSSL's (thread-local) error queue into one line.
std::string opensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* r = ERR_reason_error_string(e);
    if (!out.empty()) {
      out += "; ";
    }
    out += r != nullptr ? r : "error " + std::to_string(ERR_GET_REASON(e));
  }
  return out.empty() ? "unknown error" : out;
}

}  // namespace

class Probe;

struct Prober::Impl {
  Impl();
  ~Impl();

  void run();
  void startProbe(ProbeTarget target, Callback done);
  void reapIfFinished(uint64_t id);
  // Adds or changes the epoll interest of a probe's fd.
  void watch(uint64_t id, int fd, uint32_t events, bool* registered);
  SSL_CTX* sslContext(const conf::TlsCheck& tls, std::string* why);
  uint16_t nextDnsId() { return static_cast<uint16_t>(rng_()); }

  int epfd_ = -1;
  int wakefd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> inFlight_{0};

  std::mutex mu_;
  std::vector<std::pair<ProbeTarget, Callback>> pending_;  // guarded by mu_

  // Loop-thread state.
  uint64_t nextId_ = 1;  // 0 is the wake-up eventfd
  std::unordered_map<uint64_t, std::unique_ptr<Probe>> probes_;
  // Contexts are cached: loading a CA bundle per probe would dominate the
  // cost of checking hundreds of servers a second. Key: ca|verify|cert|key.
  std::map<std::string, SslCtxPtr> sslCtx_;
  std::mt19937 rng_{std::random_device{}()};
};

// One probe in flight: a state machine driven by fd readiness and a deadline.
class Probe {
 public:
  Probe(Prober::Impl& loop, uint64_t id, ProbeTarget target, Prober::Callback done)
      : loop_(loop), id_(id), target_(std::move(target)), done_(std::move(done)) {
    started_ = Clock::now();
    deadline_ = started_ + target_.check.timeout;
  }
  virtual ~Probe() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }

  virtual void start() = 0;
  virtual void onEvents(uint32_t events) = 0;
  virtual void onTimeout() {
    fail("timeout after " + msText(target_.check.timeout) + " " + stage_);
  }

  bool finished() const { return finished_; }
  Clock::time_point deadline() const { return deadline_; }

 protected:
  void finish(ProbeResult r) {
    if (finished_) {
      return;
    }
    finished_ = true;
    --loop_.inFlight_;  // before the callback, which may look at inFlight()
    r.latency = duration_cast<microseconds>(Clock::now() - started_);
    done_(r);
  }
  void fail(std::string reason) { finish(ProbeResult{false, std::move(reason)}); }
  void succeed(std::string reason) { finish(ProbeResult{true, std::move(reason)}); }

  void watch(uint32_t events) { loop_.watch(id_, fd_, events, &registered_); }

  // Non-blocking socket + connect; false (probe failed) on immediate error.
  bool openAndConnect(int type) {
    fd_ = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      fail(std::string("socket: ") + std::strerror(errno));
      return false;
    }
    sockaddr_in sa = toSockaddr(target_.address, target_.probePort());
    if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 && errno != EINPROGRESS) {
      fail(errnoReason(errno));
      return false;
    }
    return true;
  }

  Prober::Impl& loop_;
  uint64_t id_;
  ProbeTarget target_;
  int fd_ = -1;
  std::string stage_ = "connecting";

 private:
  Prober::Callback done_;
  Clock::time_point started_;
  Clock::time_point deadline_;
  bool finished_ = false;
  bool registered_ = false;
};

namespace {

// ------------------------------------------------------------------- tcp --

class TcpProbe : public Probe {
 public:
  using Probe::Probe;
  void start() override {
    if (openAndConnect(SOCK_STREAM)) {
      watch(EPOLLOUT);
    }
  }
  void onEvents(uint32_t) override {
    int err = socketError(fd_);
    if (err != 0) {
      fail(errnoReason(err));
    } else {
      succeed("connected");
    }
  }
};

// ------------------------------------------------ http / https / nodeport --

class HttpProbe : public Probe {
 public:
  HttpProbe(Prober::Impl& loop, uint64_t id, ProbeTarget target, Prober::Callback done)
      : Probe(loop, id, std::move(target), std::move(done)) {
    tls_ = target_.check.type == conf::HealthCheckType::Https;
    nodeport_ = target_.check.type == conf::HealthCheckType::NodePort;
  }
  ~HttpProbe() override {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
    }
  }

  void start() override {
    const conf::HttpCheck& http = target_.check.http;
    std::string host = http.host;
    if (host.empty()) {
      host = target_.address.str();
      uint16_t port = target_.probePort();
      if (port != (tls_ ? 443 : 80)) {
        host += ":" + std::to_string(port);
      }
    }
    request_ = "GET " + http.path + " HTTP/1.1\r\nHost: " + host +
               "\r\nUser-Agent: dplb-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    if (openAndConnect(SOCK_STREAM)) {
      watch(EPOLLOUT);
    }
  }

  void onEvents(uint32_t) override {
    if (phase_ == Phase::Connecting) {
      int err = socketError(fd_);
      if (err != 0) {
        fail(errnoReason(err));
        return;
      }
      if (tls_ && !setupTls()) {
        return;
      }
      phase_ = tls_ ? Phase::Handshake : Phase::Sending;
    }
    step();
  }

 private:
  enum class Phase { Connecting, Handshake, Sending, Receiving };

  bool setupTls() {
    const conf::TlsCheck& tls = target_.check.tls;
    std::string why;
    SSL_CTX* ctx = loop_.sslContext(tls, &why);
    if (ctx == nullptr) {
      fail(why);
      return false;
    }
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    std::string name = !tls.serverName.empty() ? tls.serverName : target_.check.http.host;
    // A Host header may carry a port; the certificate name never does.
    if (!name.empty() && name.front() != '[') {
      name = name.substr(0, name.find(':'));
    }
    if (!name.empty()) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
      if (isIpLiteral(name)) {
        // SNI must not carry an address (RFC 6066 3); the certificate must
        // then name the address in an IP SAN.
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        SSL_set_tlsext_host_name(ssl_, name.c_str());
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
      }
    }
    stage_ = "in the TLS handshake";
    return true;
  }

  // Maps a failed SSL call to a reason that says why.
  std::string tlsFailure(int ret) {
    int err = SSL_get_error(ssl_, ret);
    long vr = SSL_get_verify_result(ssl_);
    if (target_.check.tls.verify && vr != X509_V_OK) {
      ERR_clear_error();
      return std::string("TLS certificate verification failed: ") +
             X509_verify_cert_error_string(vr);
    }
    if (err == SSL_ERROR_SSL) {
      unsigned long e = ERR_peek_error();
      // Reasons from SSL_AD_REASON_OFFSET up are alerts received from the peer.
      bool alert = ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET;
      std::string text = opensslErrors();
      return (alert ? "TLS alert from the server: " : "TLS error: ") + text;
    }
    if (err == SSL_ERROR_SYSCALL) {
      int e = errno;
      ERR_clear_error();
      return e != 0 ? "TLS: " + errnoReason(e) : "TLS: connection closed by the server";
    }
    ERR_clear_error();
    return "TLS error " + std::to_string(err);
  }

  // Runs the state machine as far as it goes without blocking.
  void step() {
    if (phase_ == Phase::Handshake) {
      ERR_clear_error();
      int r = SSL_connect(ssl_);
      if (r != 1) {
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_READ) {
          watch(EPOLLIN);
        } else if (err == SSL_ERROR_WANT_WRITE) {
          watch(EPOLLOUT);
        } else {
          fail(tlsFailure(r));
        }
        return;
      }
      phase_ = Phase::Sending;
    }
    if (phase_ == Phase::Sending) {
      stage_ = "sending the request";
      while (sent_ < request_.size()) {
        ssize_t n;
        if (ssl_ != nullptr) {
          ERR_clear_error();
          int r =
              SSL_write(ssl_, request_.data() + sent_, static_cast<int>(request_.size() - sent_));
          if (r <= 0) {
            int err = SSL_get_error(ssl_, r);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
              watch(err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
            } else {
              fail(tlsFailure(r));
            }
            return;
          }
          n = r;
        } else {
          n = send(fd_, request_.data() + sent_, request_.size() - sent_, MSG_NOSIGNAL);
          if (n < 0) {
            if (errno == EAGAIN) {
              watch(EPOLLOUT);
            } else {
              fail(errnoReason(errno));
            }
            return;
          }
        }
        sent_ += static_cast<size_t>(n);
      }
      phase_ = Phase::Receiving;
      stage_ = "waiting for the response";
    }
    receive();
  }

  void receive() {
    char buf[16384];
    for (;;) {
      ssize_t n;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        int r = SSL_read(ssl_, buf, sizeof(buf));
        if (r <= 0) {
          int err = SSL_get_error(ssl_, r);
          if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            watch(err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
            return;
          }
          if (err == SSL_ERROR_ZERO_RETURN) {
            complete();
          } else if (!in_.empty() && httpResponseComplete(in_)) {
            complete();  // a reset after a whole answer does not matter
          } else {
            fail(tlsFailure(r));
          }
          return;
        }
        n = r;
      } else {
        n = recv(fd_, buf, sizeof(buf), 0);
        if (n < 0) {
          if (errno == EAGAIN) {
            watch(EPOLLIN);
          } else if (httpResponseComplete(in_)) {
            complete();
          } else {
            fail(errnoReason(errno));
          }
          return;
        }
        if (n == 0) {
          complete();
          return;
        }
      }
      in_.append(buf, static_cast<size_t>(n));
      if (in_.size() > kMaxResponse) {
        fail("response larger than " + std::to_string(kMaxResponse) + " bytes");
        return;
      }
      if (httpResponseComplete(in_)) {
        complete();
        return;
      }
    }
  }

  void complete() {
    std::string why;
    auto resp = parseHttpResponse(in_, &why);
    if (!resp) {
      fail(why);
      return;
    }
    ProbeResult r;
    if (nodeport_) {
      // kube-proxy: {"service":{...},"localEndpoints":N,"serviceProxyHealthy":b}
      auto json = nlohmann::json::parse(resp->body, nullptr, false);
      if (json.is_object() && json.contains("localEndpoints") &&
          json["localEndpoints"].is_number_integer()) {
        r.localEndpoints = json["localEndpoints"].get<int64_t>();
      }
      std::string eps = r.localEndpoints ? "localEndpoints " + std::to_string(*r.localEndpoints)
                                         : "no localEndpoints in the body";
      r.up = resp->status == 200;
      r.reason = r.up ? "status 200, " + eps
                      : "unexpected status " + std::to_string(resp->status) + " (" + eps + ")";
      finish(std::move(r));
      return;
    }
    if (auto bad = judgeHttp(target_.check.http, *resp)) {
      fail(*bad);
      return;
    }
    std::string note = "status " + std::to_string(resp->status);
    if (tls_ && !target_.check.tls.verify) {
      note += " (certificate NOT verified: verify is false)";
    }
    succeed(note);
  }

  bool tls_ = false;
  bool nodeport_ = false;
  Phase phase_ = Phase::Connecting;
  SSL* ssl_ = nullptr;
  std::string request_;
  size_t sent_ = 0;
  std::string in_;
};

// ------------------------------------------------------------ udp / dns --

class DatagramProbe : public Probe {
 public:
  using Probe::Probe;

  void start() override {
    if (!openAndConnect(SOCK_DGRAM)) {
      return;
    }
    std::string payload;
    if (target_.check.type == conf::HealthCheckType::Dns) {
      dnsId_ = loop_.nextDnsId();
      payload = buildDnsQuery(dnsId_, target_.check.dns.name, target_.check.dns.queryTypeCode);
    } else {
      payload = target_.check.udp.payload;
    }
    if (send(fd_, payload.data(), payload.size(), 0) < 0) {
      fail(errnoReason(errno));
      return;
    }
    stage_ = "waiting for a reply";
    watch(EPOLLIN);
  }

  void onEvents(uint32_t) override {
    std::string buf(kMaxDatagram, '\0');
    for (;;) {
      ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EAGAIN) {
          return;
        }
        // A connected UDP socket reports the ICMP error of its last datagram.
        fail(errno == ECONNREFUSED ? "connection refused (ICMP port unreachable)"
                                   : errnoReason(errno));
        return;
      }
      std::string_view reply(buf.data(), static_cast<size_t>(n));
      if (target_.check.type == conf::HealthCheckType::Dns) {
        std::string why;
        DnsVerdict v = checkDnsResponse(reply, dnsId_, &why);
        if (v == DnsVerdict::Ok) {
          succeed("DNS answer, rcode 0");
          return;
        }
        if (v == DnsVerdict::Failed) {
          fail(why);
          return;
        }
        continue;  // not ours: keep waiting
      }
      const conf::UdpCheck& udp = target_.check.udp;
      if (udp.expect.empty()) {
        succeed("reply received");
      } else if (udp.expectMatch == conf::ExpectMatch::Exact ? reply == udp.expect
                                                             : reply.starts_with(udp.expect)) {
        succeed("expected reply received");
      } else {
        fail("unexpected reply (" + std::to_string(n) + " bytes)");
      }
      return;
    }
  }

  void onTimeout() override {
    // Without an expected reply, silence means no ICMP error came back: the
    // port is open (keepalived's UDP_CHECK does the same).
    if (target_.check.type == conf::HealthCheckType::Udp && target_.check.udp.expect.empty()) {
      succeed("no reply and no ICMP error within " + msText(target_.check.timeout));
      return;
    }
    Probe::onTimeout();
  }

 private:
  uint16_t dnsId_ = 0;
};

// ------------------------------------------------------------------ exec --

class ExecProbe : public Probe {
 public:
  using Probe::Probe;

  ~ExecProbe() override {
    if (pid_ > 0) {
      killAndReap();
    }
  }

  void start() override {
    const auto& argv = target_.check.exec.command;
    if (argv.empty()) {
      fail("exec: empty command");
      return;
    }
    std::vector<std::string> env = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "DPLB_SERVER_ADDRESS=" + target_.address.str(),
        "DPLB_SERVER_PORT=" + std::to_string(target_.serverPort),
        "DPLB_CHECK_PORT=" + std::to_string(target_.probePort()),
        "DPLB_CHECK_TIMEOUT_MS=" + std::to_string(target_.check.timeout.count()),
        "DPLB_SERVICE=" + target_.service,
    };
    std::vector<char*> cargv;
    for (const auto& a : argv) {
      cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (auto& e : env) {
      cenv.push_back(e.data());
    }
    cenv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    for (int fd = 0; fd <= 2; ++fd) {
      posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Own process group, so a timeout kills whatever the program started too;
    // default signal mask and dispositions whatever the daemon's are.
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    pid_t pid = -1;
    bool pathSearch = argv[0].find('/') == std::string::npos;
    int rc = pathSearch ? posix_spawnp(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data())
                        : posix_spawn(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      fail("cannot run " + argv[0] + ": " + std::strerror(rc));
      return;
    }
    pid_ = pid;
    stage_ = "running " + argv[0];
    // A pidfd becomes readable when the child exits: the loop needs no
    // SIGCHLD handler and never blocks in waitpid.
    fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    if (fd_ < 0) {
      int e = errno;
      killAndReap();
      fail(std::string("pidfd_open: ") + std::strerror(e));
      return;
    }
    watch(EPOLLIN);
  }

  void onEvents(uint32_t) override {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) {
      return;
    }
    pid_ = -1;
    if (r < 0) {
      fail(std::string("waitpid: ") + std::strerror(errno));
      return;
    }
    if (WIFSIGNALED(status)) {
      fail("killed by signal " + std::to_string(WTERMSIG(status)));
      return;
    }
    int code = WEXITSTATUS(status);
    if (code == 0) {
      succeed("exit status 0");
    } else if (code >= 2 && target_.check.exec.dynamic) {
      ProbeResult res{true, "exit status " + std::to_string(code)};
      res.weight = static_cast<uint32_t>(code - 2);
      finish(std::move(res));
    } else {
      fail("exit status " + std::to_string(code));
    }
  }

  void onTimeout() override {
    killAndReap();
    fail("timeout after " + msText(target_.check.timeout) + " (killed)");
  }

 private:
  void killAndReap() {
    kill(-pid_, SIGKILL);
    int status = 0;
    // SIGKILL cannot be caught: the wait is short.
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  pid_t pid_ = -1;
};

}  // namespace

// ------------------------------------------------------------------ loop --

Prober::Impl::Impl() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "health-check event loop");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  thread_ = std::thread([this] { run(); });
}

Prober::Impl::~Impl() {
  stop_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wakefd_, &one, sizeof(one));
  thread_.join();
  probes_.clear();
  close(wakefd_);
  close(epfd_);
}

void Prober::Impl::watch(uint64_t id, int fd, uint32_t events, bool* registered) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = id;
  epoll_ctl(epfd_, *registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
  *registered = true;
}

SSL_CTX* Prober::Impl::sslContext(const conf::TlsCheck& tls, std::string* why) {
  std::string key =
      tls.caFile + '\0' + (tls.verify ? "1" : "0") + '\0' + tls.clientCert + '\0' + tls.clientKey;
  if (auto it = sslCtx_.find(key); it != sslCtx_.end()) {
    return it->second.get();
  }
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    *why = "TLS: cannot create context: " + opensslErrors();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Servers that close without close_notify are common; the HTTP framing
  // (Content-Length / chunks) tells whether the answer was whole.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (tls.verify) {
    int ok = tls.caFile.empty()
                 ? SSL_CTX_set_default_verify_paths(ctx.get())
                 : SSL_CTX_load_verify_locations(ctx.get(), tls.caFile.c_str(), nullptr);
    if (ok != 1) {
      *why = "TLS: cannot load CA " + (tls.caFile.empty() ? "store" : tls.caFile) + ": " +
             opensslErrors();
      return nullptr;
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  if (!tls.clientCert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.clientCert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), tls.clientKey.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      *why = "TLS: cannot load client certificate " + tls.clientCert + ": " + opensslErrors();
      return nullptr;
    }
  }
  SSL_CTX* raw = ctx.get();
  sslCtx_.emplace(std::move(key), std::move(ctx));
  return raw;
}

void Prober::Impl::startProbe(ProbeTarget target, Callback done) {
  uint64_t id = nextId_++;
  std::unique_ptr<Probe> p;
  switch (target.check.type) {
    case conf::HealthCheckType::Tcp:
      p = std::make_unique<TcpProbe>(*this, id, std::move(target), std::move(done));
      break;
    case conf::HealthCheckType::Http:
    case conf::HealthCheckType::Https:
    case conf::HealthCheckType::NodePort:
      p = std::make_unique<HttpProbe>(*this, id, std::move(target), std::move(done));
      break;
    case conf::HealthCheckType::Udp:
    case conf::HealthCheckType::Dns:
      p = std::make_unique<DatagramProbe>(*this, id, std::move(target), std::move(done));
      break;
    case conf::HealthCheckType::Exec:
      p = std::make_unique<ExecProbe>(*this, id, std::move(target), std::move(done));
      break;
  }
  Probe* raw = p.get();
  probes_.emplace(id, std::move(p));
  ++inFlight_;
  raw->start();
  reapIfFinished(id);
}

void Prober::Impl::reapIfFinished(uint64_t id) {
  auto it = probes_.find(id);
  if (it != probes_.end() && it->second->finished()) {
    probes_.erase(it);  // closing the fd also removes it from the epoll set
  }
}

void Prober::Impl::run() {
  std::vector<epoll_event> events(256);
  while (!stop_) {
    std::vector<std::pair<ProbeTarget, Callback>> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(pending_);
    }
    for (auto& [target, done] : batch) {
      startProbe(std::move(target), std::move(done));
    }

    // Linear scan for the nearest deadline: cheap for the hundreds of probes
    // a load balancer has in flight.
    int waitMs = -1;
    auto now = Clock::now();
    for (const auto& [id, p] : probes_) {
      auto left = duration_cast<milliseconds>(p->deadline() - now).count() + 1;
      left = std::max<decltype(left)>(left, 0);
      if (waitMs < 0 || left < waitMs) {
        waitMs = static_cast<int>(left);
      }
    }
    int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), waitMs);
    for (int i = 0; i < n; ++i) {
      uint64_t id = events[i].data.u64;
      if (id == 0) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = read(wakefd_, &v, sizeof(v));
        continue;
      }
      auto it = probes_.find(id);
      if (it == probes_.end()) {
        continue;  // finished earlier in this batch
      }
      it->second->onEvents(events[i].events);
      reapIfFinished(id);
    }
    now = Clock::now();
    std::vector<uint64_t> expired;
    for (const auto& [id, p] : probes_) {
      if (p->deadline() <= now) {
        expired.push_back(id);
      }
    }
    for (uint64_t id : expired) {
      auto it = probes_.find(id);
      if (it != probes_.end() && !it->second->finished()) {
        it->second->onTimeout();
      }
      reapIfFinished(id);
    }
  }
}

Prober::Prober() : impl_(std::make_unique<Impl>()) {}
Prober::~Prober() = default;

void Prober::submit(ProbeTarget target, Callback done) {
  {
    std::lock_guard lock(impl_->mu_);
    impl_->pending_.emplace_back(std::move(target), std::move(done));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(impl_->wakefd_, &one, sizeof(one));
}

size_t Prober::inFlight() const {
  return impl_->inFlight_;
}

}  // namespace dplb::hc
