// HTTP response parsing/judging and DNS message handling on byte strings.

#include "dplb/hc/wire.h"

#include <gtest/gtest.h>

namespace dplb::hc {
namespace {

TEST(HttpParse, ContentLengthBody) {
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello";
  EXPECT_TRUE(httpResponseComplete(raw));
  std::string why;
  auto r = parseHttpResponse(raw, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->body, "hello");
  EXPECT_FALSE(httpResponseComplete(raw.substr(0, raw.size() - 1)));
  EXPECT_FALSE(parseHttpResponse(raw.substr(0, raw.size() - 1), &why));
  EXPECT_EQ(why, "truncated body (4 of 5 bytes)");
}

TEST(HttpParse, ChunkedBody) {
  std::string raw =
      "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: Chunked\r\n\r\n"
      "4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n\r\n";
  EXPECT_TRUE(httpResponseComplete(raw));
  std::string why;
  auto r = parseHttpResponse(raw, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 503u);
  EXPECT_EQ(r->body, "abcdefg");
  EXPECT_FALSE(httpResponseComplete(raw.substr(0, raw.size() - 5)));
}

TEST(HttpParse, BodyUntilCloseAndErrors) {
  std::string why;
  auto r = parseHttpResponse("HTTP/1.0 404 Not Found\r\n\r\nnope", &why);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "nope");
  EXPECT_FALSE(httpResponseComplete("HTTP/1.0 200 OK\r\n\r\nnope"));  // ends at close
  EXPECT_FALSE(parseHttpResponse("", &why));
  EXPECT_EQ(why, "empty response");
  EXPECT_FALSE(parseHttpResponse("SSH-2.0-OpenSSH\r\n\r\n", &why));
  EXPECT_EQ(why, "not an HTTP/1.x response");
  EXPECT_FALSE(parseHttpResponse("HTTP/1.1 2x0 OK\r\n\r\n", &why));
  EXPECT_EQ(why, "bad HTTP status line");
  EXPECT_FALSE(parseHttpResponse("HTTP/1.1 200 OK\r\nServer: x", &why));
  EXPECT_EQ(why, "incomplete HTTP response headers");
}

TEST(Digest, KnownVectors) {
  // RFC 1321 and FIPS 180-2 test vectors for "abc".
  EXPECT_EQ(digestHex(conf::DigestAlgo::Md5, "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(digestHex(conf::DigestAlgo::Sha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(JudgeHttp, StatusRangesDigestAndSubstring) {
  struct Case {
    const char* what;
    conf::HttpCheck check;
    HttpResponse resp;
    std::optional<std::string> expect;
  };
  conf::HttpCheck dflt;
  conf::HttpCheck list;
  list.status = {{200, 200}, {301, 302}};
  conf::HttpCheck md5;
  md5.digest = conf::BodyDigest{conf::DigestAlgo::Md5, "900150983cd24fb0d6963f7d28e17f72"};
  conf::HttpCheck sub;
  sub.contains = "ready";
  std::vector<Case> cases = {
      {"default accepts 204", dflt, {204, ""}, std::nullopt},
      {"default refuses 503", dflt, {503, ""}, "unexpected status 503"},
      {"list accepts 302", list, {302, ""}, std::nullopt},
      {"list refuses 201", list, {201, ""}, "unexpected status 201"},
      {"digest ok", md5, {200, "abc"}, std::nullopt},
      {"digest bad",
       md5,
       {200, "abd"},
       "body digest mismatch: md5 " + digestHex(conf::DigestAlgo::Md5, "abd") +
           ", expected 900150983cd24fb0d6963f7d28e17f72"},
      {"substring ok", sub, {200, "all ready!"}, std::nullopt},
      {"substring missing", sub, {200, "starting"}, "body does not contain \"ready\""},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(judgeHttp(c.check, c.resp), c.expect) << c.what;
  }
}

TEST(Dns, QueryLayout) {
  std::string q = buildDnsQuery(0xBEEF, "www.example.com.", 28);
  const std::string expected = std::string("\xBE\xEF\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12) +
                               "\x03www" +
                               "\x07"
                               "example"
                               "\x03"
                               "com" +
                               std::string("\x00\x00\x1C\x00\x01", 5);
  EXPECT_EQ(q, expected);
}

TEST(Dns, ResponseChecks) {
  std::string q = buildDnsQuery(0x1234, "a.test", 1);
  std::string why;
  std::string resp = q;
  resp[2] = static_cast<char>(0x81);  // QR + RD
  resp[3] = static_cast<char>(0x80);  // RA, rcode 0
  EXPECT_EQ(checkDnsResponse(resp, 0x1234, &why), DnsVerdict::Ok);
  EXPECT_EQ(checkDnsResponse(resp, 0x1235, &why), DnsVerdict::NotOurs);
  EXPECT_EQ(checkDnsResponse(resp.substr(0, 11), 0x1234, &why), DnsVerdict::NotOurs);
  EXPECT_EQ(checkDnsResponse(q, 0x1234, &why), DnsVerdict::Failed);
  EXPECT_EQ(why, "DNS reply has QR bit clear");
  resp[3] = static_cast<char>(0x83);
  EXPECT_EQ(checkDnsResponse(resp, 0x1234, &why), DnsVerdict::Failed);
  EXPECT_EQ(why, "DNS rcode 3 (NXDOMAIN)");
  resp[3] = static_cast<char>(0x8F);
  EXPECT_EQ(checkDnsResponse(resp, 0x1234, &why), DnsVerdict::Failed);
  EXPECT_EQ(why, "DNS rcode 15");
}

}  // namespace
}  // namespace dplb::hc
