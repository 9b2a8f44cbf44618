// The HTTP side of /metrics on loopback, port 0 (the kernel picks a port).

#include "dplb/metrics/exposer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

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

TEST(ExposerTest, ServesMetricsOnTheBoundPortAndNothingElse) {
  std::atomic<int> renders{0};
  Exposer e;
  ASSERT_EQ(e.start(loopbackAnyPort(),
                    [&] {
                      ++renders;
                      return std::string("# HELP x_total X.\n# TYPE x_total counter\nx_total ") +
                             std::to_string(renders.load()) + "\n";
                    }),
            "");
  ASSERT_THAT(e.boundAddress(), StartsWith("127.0.0.1:"));
  const uint16_t port = portOf(e.boundAddress());
  ASSERT_NE(port, 0);

  const std::string r1 = request(port, "GET", "/metrics");
  EXPECT_THAT(r1, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r1, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_EQ(bodyOf(r1), "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n");
  EXPECT_EQ(bodyOf(request(port, "GET", "/metrics")),
            "# HELP x_total X.\n# TYPE x_total counter\nx_total 2\n");
  EXPECT_EQ(e.scrapes(), 2u);

  for (const char* path : {"/", "/metric", "/metrics/x", "/favicon.ico"}) {
    // civetweb answers its own errors in the request's HTTP version.
    EXPECT_EQ(request(port, "GET", path).substr(0, 12), "HTTP/1.0 404") << path;
  }
  EXPECT_THAT(request(port, "POST", "/metrics"), StartsWith("HTTP/1.1 405"));
  const std::string head = request(port, "HEAD", "/metrics");
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(bodyOf(head), "");
  EXPECT_EQ(renders.load(), 3);  // GET, GET, HEAD; nothing for 404/405

  e.stop();
  EXPECT_FALSE(connectable(port)) << "still listening after stop()";
}

TEST(ExposerTest, AnAddressInUseIsAnErrorWithNothingLeftRunning) {
  Exposer first;
  ASSERT_EQ(first.start(loopbackAnyPort(), [] { return std::string(); }), "");
  const uint16_t port = portOf(first.boundAddress());
  Exposer second;
  const std::string err = second.start(conf::Endpoint{conf::Ipv4::fromOctets(127, 0, 0, 1), port},
                                       [] { return std::string(); });
  EXPECT_THAT(err, HasSubstr("metrics.listen"));
  EXPECT_THAT(err, HasSubstr(first.boundAddress()));
  // The first one is unaffected.
  EXPECT_THAT(request(port, "GET", "/metrics"), StartsWith("HTTP/1.1 200 OK"));
}

}  // namespace
}  // namespace dplb::metrics
