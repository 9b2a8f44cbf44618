#include "dplb/hc/wire.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace dplb::hc {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Head {
  unsigned status = 0;
  std::optional<size_t> contentLength;
  bool chunked = false;
  size_t bodyOffset = 0;
};

// Parses status line and headers; nullopt when incomplete or invalid (`why`
// set only when invalid).
std::optional<Head> parseHead(std::string_view raw, std::string* why) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (why != nullptr) {
      *why = raw.empty() ? "empty response" : "incomplete HTTP response headers";
    }
    return std::nullopt;
  }
  Head head;
  head.bodyOffset = end + 4;
  std::string_view headers = raw.substr(0, end);
  size_t eol = headers.find("\r\n");
  std::string_view statusLine = headers.substr(0, eol);
  // "HTTP/1.1 200 OK"
  if (statusLine.size() < 12 || statusLine.substr(0, 7) != "HTTP/1." || statusLine[8] != ' ') {
    if (why != nullptr) {
      *why = "not an HTTP/1.x response";
    }
    return std::nullopt;
  }
  auto code = statusLine.substr(9, 3);
  auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), head.status);
  if (ec != std::errc() || ptr != code.data() + 3 || head.status < 100) {
    if (why != nullptr) {
      *why = "bad HTTP status line";
    }
    return std::nullopt;
  }
  while (eol != std::string_view::npos) {
    headers.remove_prefix(eol + 2);
    eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    std::string name = lower(trim(line.substr(0, colon)));
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      size_t len = 0;
      auto r = std::from_chars(value.data(), value.data() + value.size(), len);
      if (r.ec == std::errc()) {
        head.contentLength = len;
      }
    } else if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) {
      head.chunked = true;
    }
  }
  return head;
}

// De-chunks `in`; nullopt when incomplete or malformed.
std::optional<std::string> dechunk(std::string_view in, bool* malformed) {
  std::string out;
  *malformed = false;
  for (;;) {
    size_t eol = in.find("\r\n");
    if (eol == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view sizeText = in.substr(0, eol);
    sizeText = sizeText.substr(0, sizeText.find(';'));  // chunk extensions
    sizeText = trim(sizeText);
    size_t size = 0;
    auto r = std::from_chars(sizeText.data(), sizeText.data() + sizeText.size(), size, 16);
    if (r.ec != std::errc() || sizeText.empty()) {
      *malformed = true;
      return std::nullopt;
    }
    in.remove_prefix(eol + 2);
    if (size == 0) {
      return out;  // trailers, if any, are ignored
    }
    if (in.size() < size + 2) {
      return std::nullopt;
    }
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

}  // namespace

bool httpResponseComplete(std::string_view raw) {
  auto head = parseHead(raw, nullptr);
  if (!head) {
    return false;
  }
  std::string_view body = raw.substr(head->bodyOffset);
  if (head->chunked) {
    bool malformed = false;
    return dechunk(body, &malformed).has_value() || malformed;
  }
  if (head->contentLength) {
    return body.size() >= *head->contentLength;
  }
  // 1xx/204/304 have no body; anything else without a length ends at close.
  return head->status == 204 || head->status == 304;
}

std::optional<HttpResponse> parseHttpResponse(std::string_view raw, std::string* why) {
  auto head = parseHead(raw, why);
  if (!head) {
    return std::nullopt;
  }
  HttpResponse resp;
  resp.status = head->status;
  std::string_view body = raw.substr(head->bodyOffset);
  if (head->chunked) {
    bool malformed = false;
    auto plain = dechunk(body, &malformed);
    if (!plain) {
      if (why != nullptr) {
        *why = malformed ? "malformed chunked body" : "truncated chunked body";
      }
      return std::nullopt;
    }
    resp.body = std::move(*plain);
  } else if (head->contentLength) {
    if (body.size() < *head->contentLength) {
      if (why != nullptr) {
        *why = "truncated body (" + std::to_string(body.size()) + " of " +
               std::to_string(*head->contentLength) + " bytes)";
      }
      return std::nullopt;
    }
    resp.body = std::string(body.substr(0, *head->contentLength));
  } else {
    resp.body = std::string(body);
  }
  return resp;
}

std::string digestHex(conf::DigestAlgo algo, std::string_view data) {
  const EVP_MD* md = algo == conf::DigestAlgo::Md5 ? EVP_md5() : EVP_sha256();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 0xF]);
  }
  return hex;
}

std::optional<std::string> judgeHttp(const conf::HttpCheck& check, const HttpResponse& resp) {
  bool statusOk = std::any_of(check.status.begin(), check.status.end(),
                              [&](const conf::StatusRange& r) { return r.contains(resp.status); });
  if (!statusOk) {
    return "unexpected status " + std::to_string(resp.status);
  }
  if (check.digest) {
    std::string got = digestHex(check.digest->algo, resp.body);
    if (got != check.digest->hex) {
      return std::string("body digest mismatch: ") +
             (check.digest->algo == conf::DigestAlgo::Md5 ? "md5 " : "sha256 ") + got +
             ", expected " + check.digest->hex;
    }
  }
  if (!check.contains.empty() && resp.body.find(check.contains) == std::string::npos) {
    return "body does not contain \"" + check.contains + "\"";
  }
  return std::nullopt;
}

std::string buildDnsQuery(uint16_t id, std::string_view name, uint16_t qtype) {
  std::string q;
  auto put16 = [&q](uint16_t v) {
    q.push_back(static_cast<char>(v >> 8));
    q.push_back(static_cast<char>(v & 0xFF));
  };
  put16(id);
  put16(0x0100);  // RD
  put16(1);       // QDCOUNT
  put16(0);
  put16(0);
  put16(0);
  while (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    // Labels are at most 63 bytes (RFC 1035 2.3.4); the loader validates names.
    label = label.substr(0, 63);
    q.push_back(static_cast<char>(label.size()));
    q.append(label);
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  }
  q.push_back('\0');
  put16(qtype);
  put16(1);  // class IN
  return q;
}

DnsVerdict checkDnsResponse(std::string_view msg, uint16_t id, std::string* why) {
  if (msg.size() < 12) {
    return DnsVerdict::NotOurs;
  }
  auto u8 = [&msg](size_t i) { return static_cast<uint8_t>(msg[i]); };
  uint16_t gotId = static_cast<uint16_t>((u8(0) << 8) | u8(1));
  if (gotId != id) {
    return DnsVerdict::NotOurs;
  }
  if ((u8(2) & 0x80) == 0) {
    if (why != nullptr) {
      *why = "DNS reply has QR bit clear";
    }
    return DnsVerdict::Failed;
  }
  unsigned rcode = u8(3) & 0x0F;
  if (rcode != 0) {
    static constexpr const char* kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                             "NXDOMAIN", "NOTIMP",  "REFUSED"};
    if (why != nullptr) {
      *why = "DNS rcode " + std::to_string(rcode);
      if (rcode < std::size(kNames)) {
        *why += std::string(" (") + kNames[rcode] + ")";
      }
    }
    return DnsVerdict::Failed;
  }
  return DnsVerdict::Ok;
}

}  // namespace dplb::hc
