#pragma once

// Socket-free pieces of the checkers: HTTP response parsing and judging, body
// digests, DNS query building and answer checking. Kept apart from the event
// loop so they are unit-tested (and run under ASan) on plain byte strings.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dplb/conf/config.h"

namespace dplb::hc {

struct HttpResponse {
  unsigned status = 0;
  std::string body;  // de-chunked
};

// Parses a complete HTTP/1.x response as read until the server closed (we
// always send `Connection: close`). Handles Content-Length and chunked
// transfer coding. nullopt with `why` set when it is not a valid response.
std::optional<HttpResponse> parseHttpResponse(std::string_view raw, std::string* why);

// True when `raw` already holds a whole response (headers plus a body whose
// length is known from Content-Length or the last chunk), so the reader can
// stop before the server closes.
bool httpResponseComplete(std::string_view raw);

// Lower-case hex digest of `data`.
std::string digestHex(conf::DigestAlgo algo, std::string_view data);

// Applies an http/https check's rules (status ranges, digest, substring) to a
// response. Returns the failure reason, or nullopt when the response passes.
std::optional<std::string> judgeHttp(const conf::HttpCheck& check, const HttpResponse& resp);

// A standard recursive query (RD set, one question, class IN).
std::string buildDnsQuery(uint16_t id, std::string_view name, uint16_t qtype);

enum class DnsVerdict { Ok, NotOurs, Failed };
// Ok: id matches, QR set, rcode 0. NotOurs: too short or another id (keep
// waiting: a stray datagram must not fail the probe). Failed: ours but not a
// good answer; `why` says how.
DnsVerdict checkDnsResponse(std::string_view msg, uint16_t id, std::string* why);

}  // namespace dplb::hc
