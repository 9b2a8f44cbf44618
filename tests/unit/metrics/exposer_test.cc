// The HTTP side of /metrics on loopback, port 0 (the kernel picks a port).

#include "dplb/metrics/exposer.h"

#include "dplb/metrics/exposition.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace dplb::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

conf::Endpoint loopbackAnyPort() {
  return conf::Endpoint{conf::Ipv4::fromOctets(127, 0, 0, 1), 0};
}

uint16_t portOf(const std::string& bound) {
  return static_cast<uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1)));
}

bool connectable(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// One HTTP/1.0 request; the whole response (the server closes).
std::string request(uint16_t port, const std::string& method, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    ADD_FAILURE() << "connect to port " << port;
    return {};
  }
  const std::string req = method + " " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::string bodyOf(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

// Counts its scrapes; each scrape shows the count.
struct CountingCollectable : prometheus::Collectable {
  mutable std::atomic<int> scrapes{0};
  std::vector<prometheus::MetricFamily> Collect() const override {
    FamilyWriter w;
    w.beginFamily("x_total", MetricType::Counter, "X.");
    w.sample(LabelSet(), ++scrapes);
    return w.take();
  }
};

TEST(ExposerTest, ServesMetricsOnTheBoundPortAndNothingElse) {
  auto c = std::make_shared<CountingCollectable>();
  Exposer e;
  ASSERT_EQ(e.start(loopbackAnyPort(), c), "");
  ASSERT_THAT(e.boundAddress(), StartsWith("127.0.0.1:"));
  const uint16_t port = portOf(e.boundAddress());
  ASSERT_NE(port, 0);

  const std::string r1 = request(port, "GET", "/metrics");
  EXPECT_THAT(r1, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r1, HasSubstr("Content-Type: text/plain"));
  EXPECT_THAT(bodyOf(r1), HasSubstr("# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n"));
  EXPECT_THAT(bodyOf(request(port, "GET", "/metrics")), HasSubstr("\nx_total 2\n"));
  // prometheus-cpp's own families come with the page.
  EXPECT_THAT(bodyOf(r1), HasSubstr("# TYPE exposer_scrapes_total counter"));

  for (const char* path : {"/", "/metric", "/favicon.ico"}) {
    EXPECT_THAT(request(port, "GET", path), HasSubstr(" 404 ")) << path;
  }
  EXPECT_EQ(c->scrapes.load(), 2);  // nothing for the 404s

  e.stop();
  EXPECT_FALSE(connectable(port)) << "still listening after stop()";
}

TEST(ExposerTest, AnAddressInUseIsAnErrorWithNothingLeftRunning) {
  auto c = std::make_shared<CountingCollectable>();
  Exposer first;
  ASSERT_EQ(first.start(loopbackAnyPort(), c), "");
  const uint16_t port = portOf(first.boundAddress());
  Exposer second;
  const std::string err =
      second.start(conf::Endpoint{conf::Ipv4::fromOctets(127, 0, 0, 1), port}, c);
  EXPECT_THAT(err, HasSubstr("metrics.listen"));
  EXPECT_THAT(err, HasSubstr(first.boundAddress()));
  EXPECT_EQ(second.boundAddress(), "");
  // The first one is unaffected.
  EXPECT_THAT(request(port, "GET", "/metrics"), StartsWith("HTTP/1.1 200 OK"));
}

}  // namespace
}  // namespace dplb::metrics
