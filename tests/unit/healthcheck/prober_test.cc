// Every checker against real servers on 127.0.0.1 (port 0) started by the
// tests: in-test TCP/HTTP/UDP/DNS servers, `openssl s_server` with
// certificates made at run time, exec scripts. Each failure reason asserted.

#include "dplb/hc/prober.h"

#include <gtest/gtest.h>

#include <set>

#include "dplb/hc/wire.h"
#include "hc_test_util.h"

namespace dplb::hc {
namespace {

using namespace std::chrono_literals;
using test::HttpServer;
using test::kLoopback;
using test::probeOnce;

ProbeTarget target(conf::HealthCheckType type, uint16_t port,
                   conf::Duration timeout = conf::Duration(2000)) {
  ProbeTarget t;
  t.address = kLoopback;
  t.serverPort = port;
  t.check.type = type;
  t.check.timeout = timeout;
  t.service = "web";
  return t;
}

class ProberTest : public ::testing::Test {
 protected:
  Prober prober_;
};

// ------------------------------------------------------------------- tcp --

TEST_F(ProberTest, TcpConnectUp) {
  HttpServer srv([](const std::string&) { return HttpServer::reply(200, ""); });
  auto r = probeOnce(prober_, target(conf::HealthCheckType::Tcp, srv.port()));
  EXPECT_TRUE(r.up) << r.reason;
  EXPECT_EQ(r.reason, "connected");
  EXPECT_GT(r.latency.count(), 0);
}

TEST_F(ProberTest, TcpConnectionRefused) {
  int keep = -1;
  uint16_t dead = test::deadTcpPort(&keep);
  auto r = probeOnce(prober_, target(conf::HealthCheckType::Tcp, dead));
  close(keep);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "connection refused");
}

TEST_F(ProberTest, CheckPortOverridesServerPort) {
  HttpServer srv([](const std::string&) { return HttpServer::reply(200, ""); });
  int keep = -1;
  auto t = target(conf::HealthCheckType::Tcp, test::deadTcpPort(&keep));
  t.check.port = srv.port();
  auto r = probeOnce(prober_, t);
  close(keep);
  EXPECT_TRUE(r.up) << r.reason;
}

// ------------------------------------------------------------------ http --

TEST_F(ProberTest, HttpGetSendsAProperRequest) {
  HttpServer srv([](const std::string&) { return HttpServer::reply(200, "fine"); });
  auto t = target(conf::HealthCheckType::Http, srv.port());
  t.check.http.path = "/health?full=1";
  auto r = probeOnce(prober_, t);
  EXPECT_TRUE(r.up) << r.reason;
  EXPECT_EQ(r.reason, "status 200");
  std::string req = srv.lastRequest();
  EXPECT_EQ(req.rfind("GET /health?full=1 HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) + "\r\n"),
            std::string::npos)
      << req;
  EXPECT_NE(req.find("\r\nConnection: close\r\n"), std::string::npos) << req;
}

TEST_F(ProberTest, HttpVirtualHost) {
  HttpServer srv([](const std::string& req) {
    return HttpServer::reply(
        req.find("\r\nHost: shop.example\r\n") != std::string::npos ? 200 : 404, "");
  });
  auto t = target(conf::HealthCheckType::Http, srv.port());
  EXPECT_EQ(probeOnce(prober_, t).reason, "unexpected status 404");
  t.check.http.host = "shop.example";
  EXPECT_TRUE(probeOnce(prober_, t).up);
}

TEST_F(ProberTest, HttpStatusRanges) {
  int status = 503;
  HttpServer srv([&status](const std::string&) { return HttpServer::reply(status, "x"); });
  auto t = target(conf::HealthCheckType::Http, srv.port());
  auto r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "unexpected status 503");
  t.check.http.status = {{200, 200}, {300, 399}};
  status = 302;
  EXPECT_TRUE(probeOnce(prober_, t).up);
  status = 204;
  EXPECT_EQ(probeOnce(prober_, t).reason, "unexpected status 204");
}

TEST_F(ProberTest, HttpBodyDigestAndSubstring) {
  bool chunked = false;
  HttpServer srv([&chunked](const std::string&) {
    return HttpServer::reply(200, "service is ready", chunked);
  });
  auto t = target(conf::HealthCheckType::Http, srv.port());
  t.check.http.digest = conf::BodyDigest{conf::DigestAlgo::Sha256,
                                         digestHex(conf::DigestAlgo::Sha256, "service is ready")};
  EXPECT_TRUE(probeOnce(prober_, t).up);
  chunked = true;  // digest is over the de-chunked body
  EXPECT_TRUE(probeOnce(prober_, t).up);
  t.check.http.digest = conf::BodyDigest{conf::DigestAlgo::Md5, std::string(32, '0')};
  auto r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "body digest mismatch: md5 " +
                          digestHex(conf::DigestAlgo::Md5, "service is ready") + ", expected " +
                          std::string(32, '0'));
  t.check.http.digest.reset();
  t.check.http.contains = "ready";
  EXPECT_TRUE(probeOnce(prober_, t).up);
  t.check.http.contains = "degraded";
  EXPECT_EQ(probeOnce(prober_, t).reason, "body does not contain \"degraded\"");
}

TEST_F(ProberTest, HttpTimeoutWaitingForTheResponse) {
  HttpServer srv([](const std::string&) { return std::string(); });  // never answers
  auto r = probeOnce(prober_, target(conf::HealthCheckType::Http, srv.port(), 300ms));
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "timeout after 300 ms waiting for the response");
  EXPECT_GE(r.latency, 300ms);
  EXPECT_LT(r.latency, 3s);
}

TEST_F(ProberTest, HttpAgainstPythonHttpServer) {
  test::TempDir dir;
  std::ofstream(dir.file("ready.txt")) << "db ok\ncache ok\n";
  auto srv = test::startPythonHttp(dir.path.string());
  auto t = target(conf::HealthCheckType::Http, srv->port());
  t.check.http.path = "/ready.txt";
  t.check.http.digest = conf::BodyDigest{conf::DigestAlgo::Sha256,
                                         digestHex(conf::DigestAlgo::Sha256, "db ok\ncache ok\n")};
  t.check.http.contains = "cache ok";
  auto r = probeOnce(prober_, t);
  EXPECT_TRUE(r.up) << r.reason;
  t.check.http.path = "/missing.txt";
  EXPECT_EQ(probeOnce(prober_, t).reason, "unexpected status 404");
}

TEST_F(ProberTest, HttpGarbageAndRefused) {
  HttpServer srv([](const std::string&) { return std::string("SSH-2.0-OpenSSH_9\r\n\r\n"); });
  EXPECT_EQ(probeOnce(prober_, target(conf::HealthCheckType::Http, srv.port())).reason,
            "not an HTTP/1.x response");
  int keep = -1;
  uint16_t dead = test::deadTcpPort(&keep);
  EXPECT_EQ(probeOnce(prober_, target(conf::HealthCheckType::Http, dead)).reason,
            "connection refused");
  close(keep);
}

// ----------------------------------------------------------------- https --

class HttpsTest : public ProberTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    test::KeyPair ca, good, wrong, expired, self, client, otherCa, stranger;
    test::makeCert(ca, "dplb test CA", nullptr, true);
    test::makeCert(good, "good.test", &ca, false);
    test::makeCert(wrong, "other.test", &ca, false);
    test::makeCert(expired, "good.test", &ca, false, -2 * 86400, -86400);
    test::makeCert(self, "good.test", nullptr, false);
    test::makeCert(client, "dplb-client", &ca, false);
    test::makeCert(otherCa, "other CA", nullptr, true);
    test::makeCert(stranger, "dplb-client", &otherCa, false);
    for (auto [kp, name] : {std::pair{&ca, "ca"},
                            {&good, "good"},
                            {&wrong, "wrong"},
                            {&expired, "expired"},
                            {&self, "self"},
                            {&client, "client"},
                            {&stranger, "stranger"}}) {
      test::writePem(*kp, file(std::string(name) + ".pem"), file(std::string(name) + ".key"));
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string file(const std::string& n) { return dir_->file(n); }

  static std::unique_ptr<test::SpawnedServer> serve(const std::string& cert,
                                                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"-cert", file(cert + ".pem"), "-key", file(cert + ".key")};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::startSServer(args);
  }

  ProbeTarget https(uint16_t port, const std::string& name = "good.test") {
    auto t = target(conf::HealthCheckType::Https, port);
    t.check.tls.caFile = file("ca.pem");
    t.check.tls.serverName = name;
    return t;
  }

  static test::TempDir* dir_;
};
test::TempDir* HttpsTest::dir_ = nullptr;

TEST_F(HttpsTest, VerifiedCertificateIsUp) {
  auto srv = serve("good");
  auto r = probeOnce(prober_, https(srv->port()));
  EXPECT_TRUE(r.up) << r.reason;
  EXPECT_EQ(r.reason, "status 200");
}

TEST_F(HttpsTest, NameComesFromTheHostHeaderWhenNoServerName) {
  auto srv = serve("good");
  auto t = https(srv->port(), "");
  t.check.http.host = "good.test:8443";
  auto r = probeOnce(prober_, t);
  EXPECT_TRUE(r.up) << r.reason;
  t.check.http.host = "other.test";
  EXPECT_EQ(probeOnce(prober_, t).reason, "TLS certificate verification failed: hostname mismatch");
}

TEST_F(HttpsTest, WrongNameIsHostnameMismatch) {
  auto srv = serve("wrong");
  auto r = probeOnce(prober_, https(srv->port()));
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "TLS certificate verification failed: hostname mismatch");
}

TEST_F(HttpsTest, ExpiredCertificate) {
  auto srv = serve("expired");
  auto r = probeOnce(prober_, https(srv->port()));
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "TLS certificate verification failed: certificate has expired");
}

TEST_F(HttpsTest, SelfSignedCertificate) {
  auto srv = serve("self");
  auto r = probeOnce(prober_, https(srv->port()));
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "TLS certificate verification failed: self-signed certificate");
}

TEST_F(HttpsTest, UnknownAuthorityWithTheSystemStore) {
  auto srv = serve("good");
  auto t = https(srv->port());
  t.check.tls.caFile.clear();  // the system store does not know our test CA
  auto r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason,
            "TLS certificate verification failed: unable to get local issuer certificate");
}

TEST_F(HttpsTest, VerifyFalseIsHonouredAndSaidSo) {
  auto srv = serve("self");
  auto t = https(srv->port(), "whatever.test");
  t.check.tls.verify = false;
  auto r = probeOnce(prober_, t);
  EXPECT_TRUE(r.up) << r.reason;
  EXPECT_EQ(r.reason, "status 200 (certificate NOT verified: verify is false)");
}

TEST_F(HttpsTest, MutualTls) {
  auto srv = serve("good", {"-Verify", "1", "-CAfile", file("ca.pem"), "-verify_return_error"});
  auto t = https(srv->port());
  auto r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "TLS alert from the server: tlsv13 alert certificate required");

  t.check.tls.clientCert = file("stranger.pem");
  t.check.tls.clientKey = file("stranger.key");
  r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "TLS alert from the server: tlsv1 alert unknown ca");

  t.check.tls.clientCert = file("client.pem");
  t.check.tls.clientKey = file("client.key");
  r = probeOnce(prober_, t);
  EXPECT_TRUE(r.up) << r.reason;
}

TEST_F(HttpsTest, PlainHttpServerTimesOutInTheHandshake) {
  // A plain HTTP server waits for a request line that never comes.
  HttpServer srv([](const std::string&) { return HttpServer::reply(200, ""); });
  auto t = https(srv.port());
  t.check.timeout = 300ms;
  auto r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "timeout after 300 ms in the TLS handshake");
}

TEST_F(HttpsTest, MissingCaFileSaysSo) {
  auto srv = serve("good");
  auto t = https(srv->port());
  t.check.tls.caFile = file("nope.pem");
  auto r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason.rfind("TLS: cannot load CA " + file("nope.pem") + ": ", 0), 0u) << r.reason;
}

// ------------------------------------------------------------------- udp --

TEST_F(ProberTest, UdpExpectedReply) {
  test::UdpServer echo([](const std::string& d) { return std::vector<std::string>{"PONG " + d}; });
  auto t = target(conf::HealthCheckType::Udp, echo.port());
  t.check.udp.payload = "ping";
  t.check.udp.expect = "PONG ping";
  auto r = probeOnce(prober_, t);
  EXPECT_TRUE(r.up) << r.reason;
  EXPECT_EQ(r.reason, "expected reply received");
  t.check.udp.expect = "PONG";
  r = probeOnce(prober_, t);
  EXPECT_EQ(r.reason, "unexpected reply (9 bytes)");  // exact match by default
  t.check.udp.expectMatch = conf::ExpectMatch::Prefix;
  EXPECT_TRUE(probeOnce(prober_, t).up);
}

TEST_F(ProberTest, UdpSilence) {
  test::UdpServer silent([](const std::string&) { return std::vector<std::string>{}; });
  auto t = target(conf::HealthCheckType::Udp, silent.port(), 200ms);
  t.check.udp.payload = "hello";
  auto r = probeOnce(prober_, t);
  EXPECT_TRUE(r.up) << r.reason;  // no expectation: no ICMP error is enough
  EXPECT_EQ(r.reason, "no reply and no ICMP error within 200 ms");
  t.check.udp.expect = "x";
  r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "timeout after 200 ms waiting for a reply");
}

TEST_F(ProberTest, UdpIcmpPortUnreachableIsDown) {
  auto t = target(conf::HealthCheckType::Udp, test::deadUdpPort());
  t.check.udp.payload = "hello";
  auto r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "connection refused (ICMP port unreachable)");
}

// ------------------------------------------------------------------- dns --

// Answers with a stray reply (another id) first, then `rcode` for the real id,
// after checking the question it was asked.
std::vector<std::string> dnsAnswer(const std::string& q, uint8_t rcode) {
  if (q.size() < 12) {
    return {};
  }
  uint16_t id =
      static_cast<uint16_t>((static_cast<uint8_t>(q[0]) << 8) | static_cast<uint8_t>(q[1]));
  if (q != buildDnsQuery(id, "www.example.test", 28)) {
    return {};  // wrong question: say nothing, the probe times out
  }
  std::string resp = q;
  resp[2] = static_cast<char>(0x81);
  resp[3] = static_cast<char>(0x80 | rcode);
  std::string stray = resp;
  stray[1] = static_cast<char>(stray[1] ^ 0x5A);
  stray[3] = static_cast<char>(0x82);  // would be SERVFAIL if taken for ours
  return {stray, resp};
}

TEST_F(ProberTest, DnsAnswer) {
  test::UdpServer ok([](const std::string& q) { return dnsAnswer(q, 0); });
  auto t = target(conf::HealthCheckType::Dns, ok.port());
  t.check.dns.name = "www.example.test";
  t.check.dns.queryType = "AAAA";
  t.check.dns.queryTypeCode = 28;
  auto r = probeOnce(prober_, t);
  EXPECT_TRUE(r.up) << r.reason;
  EXPECT_EQ(r.reason, "DNS answer, rcode 0");

  test::UdpServer nx([](const std::string& q) { return dnsAnswer(q, 3); });
  t.serverPort = nx.port();
  r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "DNS rcode 3 (NXDOMAIN)");

  t.serverPort = test::deadUdpPort();
  EXPECT_EQ(probeOnce(prober_, t).reason, "connection refused (ICMP port unreachable)");
}

TEST_F(ProberTest, DnsTimeout) {
  test::UdpServer silent([](const std::string&) { return std::vector<std::string>{}; });
  auto t = target(conf::HealthCheckType::Dns, silent.port(), 200ms);
  t.check.dns.name = "a.test";
  EXPECT_EQ(probeOnce(prober_, t).reason, "timeout after 200 ms waiting for a reply");
}

// ------------------------------------------------------------------ exec --

class ExecTest : public ProberTest {
 protected:
  ProbeTarget exec(std::vector<std::string> argv, bool dynamic = false,
                   conf::Duration timeout = conf::Duration(3000)) {
    auto t = target(conf::HealthCheckType::Exec, 8080, timeout);
    t.address = conf::Ipv4::fromOctets(10, 0, 0, 7);  // never contacted: only passed on
    t.check.exec.command = std::move(argv);
    t.check.exec.dynamic = dynamic;
    return t;
  }
  test::TempDir dir_;
};

TEST_F(ExecTest, ExitCodes) {
  auto code = test::writeScript(dir_, "code.sh", "exit \"$1\"");
  auto r = probeOnce(prober_, exec({code, "0"}));
  EXPECT_TRUE(r.up) << r.reason;
  EXPECT_FALSE(r.weight);
  r = probeOnce(prober_, exec({code, "1"}));
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "exit status 1");
  r = probeOnce(prober_, exec({code, "7"}));
  EXPECT_FALSE(r.up);  // not dynamic: anything but 0 is down
  EXPECT_EQ(r.reason, "exit status 7");
  r = probeOnce(prober_, exec({code, "7"}, true));
  EXPECT_TRUE(r.up);
  EXPECT_EQ(r.weight, 5u);
  r = probeOnce(prober_, exec({code, "255"}, true));
  EXPECT_EQ(r.weight, 253u);
  r = probeOnce(prober_, exec({code, "1"}, true));
  EXPECT_FALSE(r.up);
}

TEST_F(ExecTest, EnvironmentAndArgvWithoutAShell) {
  auto marker = dir_.file("injected");
  auto script = test::writeScript(dir_, "env.sh",
                                  "[ \"$DPLB_SERVER_ADDRESS\" = 10.0.0.7 ] || exit 1\n"
                                  "[ \"$DPLB_SERVER_PORT\" = 8080 ] || exit 1\n"
                                  "[ \"$DPLB_SERVICE\" = web ] || exit 1\n"
                                  "[ \"$1\" = '$(touch " +
                                      marker +
                                      ")' ] || exit 1\n"
                                      "exit 0");
  auto r = probeOnce(prober_, exec({script, "$(touch " + marker + ")"}));
  EXPECT_TRUE(r.up) << r.reason;
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST_F(ExecTest, TimeoutKillsTheProgram) {
  auto pidFile = dir_.file("pid");
  auto script = test::writeScript(dir_, "hang.sh", "echo $$ > " + pidFile + "\nexec sleep 30");
  auto r = probeOnce(prober_, exec({script}, false, 300ms));
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "timeout after 300 ms (killed)");
  EXPECT_LT(r.latency, 5s);
  pid_t pid = 0;
  std::ifstream(pidFile) >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_NE(kill(pid, 0), 0);  // killed and reaped: no such process
}

// The program runs in its own process group: a timeout also kills what it
// started.
TEST_F(ExecTest, TimeoutKillsTheWholeProcessGroup) {
  auto pidFile = dir_.file("child");
  auto script = test::writeScript(
      dir_, "spawner.sh",
      "sleep 30 &\necho $! > " + pidFile + ".tmp\nmv " + pidFile + ".tmp " + pidFile + "\nwait");
  auto r = probeOnce(prober_, exec({script}, false, 500ms));
  EXPECT_EQ(r.reason, "timeout after 500 ms (killed)");
  pid_t child = 0;
  std::ifstream(pidFile) >> child;
  ASSERT_GT(child, 0);
  // The orphan is reparented; it is gone or a zombie once SIGKILL landed.
  // Bounded poll: signal delivery is asynchronous.
  auto gone = [child] {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string pid, comm, state;
    return !(stat >> pid >> comm >> state) || state == "Z";
  };
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!gone() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(gone());
}

TEST_F(ExecTest, MissingProgram) {
  auto r = probeOnce(prober_, exec({dir_.file("nope")}));
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "cannot run " + dir_.file("nope") + ": No such file or directory");
}

// -------------------------------------------------------------- nodeport --

TEST_F(ProberTest, NodePortHealthz) {
  int status = 200;
  int endpoints = 2;
  HttpServer healthz([&](const std::string&) {
    return HttpServer::reply(
        status, R"({"service":{"namespace":"default","name":"web"},"localEndpoints":)" +
                    std::to_string(endpoints) + R"(,"serviceProxyHealthy":true})");
  });
  auto t = target(conf::HealthCheckType::NodePort, 30080);
  t.check.port = healthz.port();
  t.check.http.path = "/healthz";
  auto r = probeOnce(prober_, t);
  EXPECT_TRUE(r.up) << r.reason;
  EXPECT_EQ(r.localEndpoints, 2);
  EXPECT_EQ(r.reason, "status 200, localEndpoints 2");
  EXPECT_EQ(healthz.lastRequest().rfind("GET /healthz HTTP/1.1\r\n", 0), 0u);

  status = 503;
  endpoints = 0;
  r = probeOnce(prober_, t);
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.localEndpoints, 0);
  EXPECT_EQ(r.reason, "unexpected status 503 (localEndpoints 0)");

  // Only 200 counts, even where an http check's default range would pass.
  status = 204;
  endpoints = 1;
  EXPECT_EQ(probeOnce(prober_, t).reason, "unexpected status 204 (localEndpoints 1)");
}

// ------------------------------------------------------------ event loop --

TEST_F(ProberTest, ProbesRunConcurrentlyOnOneLoopThread) {
  HttpServer hang([](const std::string&) { return std::string(); });
  HttpServer fast([](const std::string&) { return HttpServer::reply(200, ""); });
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::promise<void> slowDone;
  std::promise<void> fastDone;
  int fastLeft = 40;
  bool slowFinishedFirst = false;
  prober_.submit(target(conf::HealthCheckType::Http, hang.port(), 3000ms), [&](const ProbeResult&) {
    std::lock_guard lock(mu);
    threads.insert(std::this_thread::get_id());
    slowFinishedFirst = fastLeft > 0;
    slowDone.set_value();
  });
  for (int i = 0; i < 40; ++i) {
    prober_.submit(target(conf::HealthCheckType::Http, fast.port()), [&](const ProbeResult& r) {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
      EXPECT_TRUE(r.up) << r.reason;
      if (--fastLeft == 0) {
        fastDone.set_value();
      }
    });
  }
  // The 40 fast probes finish while the hung one is still waiting.
  ASSERT_EQ(fastDone.get_future().wait_for(2500ms), std::future_status::ready);
  EXPECT_EQ(prober_.inFlight(), 1u);
  ASSERT_EQ(slowDone.get_future().wait_for(8s), std::future_status::ready);
  std::lock_guard lock(mu);
  EXPECT_FALSE(slowFinishedFirst);
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

}  // namespace
}  // namespace dplb::hc
